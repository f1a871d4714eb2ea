"""Emulate a Keysight 33522B two-channel function generator as Pockels-cell driver and trigger.

SCPI over LF (notes/instruments.md §8 and Addendum): per-channel ``SOURce#`` settings (function,
frequency, amplitude/offset/high/low kept consistent, pulse and square parameters, burst), per-
channel ``OUTPut#`` state and load, ``TRIGger#`` source/delay/slope/timer, ``APPLy:DC``, ``*TRG``,
``*OPC?`` and the error queue (``-211`` for a ``*TRG`` that no channel listens to). Booleans
read back ``0``/``1``; enums read back short and upper case.

Physics link: channel 1 feeds the TTL input of the Pockels cell's HV driver. Its level (``DC``
offset, or 0 V when the output is off) above :data:`TTL_THRESHOLD_V` gives the anti-TC
polarisation, below it TC. A triggered square burst on channel 1 (``BURS:STAT ON``, ``TRIG1:SOUR
EXT``) steps the polarisation on each pulse trigger: the lab's switch then follows the pattern high/
low (or low/high with ``BURS:PHAS 180``). ``*TRG`` with a channel on ``TRIG:SOUR BUS`` counts one
drive-pulse trigger.
"""

from __future__ import annotations

from typing import ClassVar

from heralder.control.records import SwitchState
from heralder.simulators.faults import FaultInjector
from heralder.simulators.instruments.lablink import LabLink
from heralder.simulators.instruments.scpi import ScpiEmulator, ScpiError, Setting

__all__ = ["TTL_THRESHOLD_V", "Keysight33500Emulator"]

TTL_THRESHOLD_V = 1.4
_FUNCTIONS = ("SINusoid", "SQUare", "TRIangle", "RAMP", "PULSe", "PRBS", "NOISe", "ARB", "DC")
_CH = 2


class Keysight33500Emulator(ScpiEmulator):
    """Hold both channels' settings; drive the lab's switch from channel 1."""

    idn: ClassVar[str] = "Agilent Technologies,33522B,MY52400001,3.05-1.19-2.00-52-00"
    model: ClassVar[str] = "33522b"

    def __init__(self, link: LabLink, faults: FaultInjector | None = None) -> None:
        super().__init__(faults=faults)
        self.link = link
        f = Setting
        src = "[SOURce#:]"
        for pattern, name, setting in (
            ("FUNCtion[:SHAPe]", "func", f("enum", "SIN", choices=_FUNCTIONS)),
            ("FREQuency[:CW]", "freq", f("float", 1e3, 1e-6, 30e6)),
            ("VOLTage[:AMPLitude]", "ampl", f("float", 0.1, 1e-3, 10.0)),
            ("VOLTage:OFFSet", "offs", f("float", 0.0, -5.0, 5.0)),
            ("VOLTage:HIGH", "high", f("float", 0.05, -5.0, 5.0)),
            ("VOLTage:LOW", "low", f("float", -0.05, -5.0, 5.0)),
            ("VOLTage:UNIT", "unit", f("enum", "VPP", choices=("VPP", "VRMS", "DBM"))),
            ("PHASe", "phase", f("float", 0.0, -360.0, 360.0)),
            ("FUNCtion:SQUare:DCYCle", "sq_dcyc", f("float", 50.0, 0.01, 99.99)),
            ("FUNCtion:RAMP:SYMMetry", "symm", f("float", 100.0, 0.0, 100.0)),
            ("FUNCtion:PULSe:PERiod", "puls_per", f("float", 1e-3, 33e-9, 1e6)),
            ("FUNCtion:PULSe:WIDTh", "puls_width", f("float", 1e-4, 16e-9, 1e6)),
            ("FUNCtion:PULSe:DCYCle", "puls_dcyc", f("float", 10.0, 0.0, 100.0)),
            ("FUNCtion:PULSe:HOLD", "puls_hold", f("enum", "WIDT", choices=("WIDTh", "DCYCle"))),
            ("FUNCtion:PULSe:TRANsition[:BOTH]", "puls_tran", f("float", 8.4e-9, 8.4e-9, 1e-6)),
            ("BURSt:STATe", "burst", f("bool", False)),
            ("BURSt:MODE", "burst_mode", f("enum", "TRIG", choices=("TRIGgered", "GATed"))),
            ("BURSt:NCYCles", "ncyc", f("float", 1.0, 1.0, 1e8, specials=(("INF", 9.9e37),))),
            ("BURSt:INTernal:PERiod", "burst_per", f("float", 1e-2, 1e-6, 8000.0)),
            ("BURSt:PHASe", "burst_phase", f("float", 0.0, -360.0, 360.0)),
            ("BURSt:GATE:POLarity", "gate_pol", f("enum", "NORM", choices=("NORMal", "INVerted"))),
            ("FREQuency:MODE", "freq_mode", f("enum", "CW",
                                              choices=("CW", "FIXed", "LIST", "SWEep"))),
            ("FUNCtion:ARBitrary:SRATe", "srate", f("float", 40e3, 1e-6, 250e6)),
            ("FUNCtion:ARBitrary:FILTer", "filter", f("enum", "STEP",
                                                       choices=("NORMal", "STEP", "OFF"))),
            ("FUNCtion:ARBitrary:ADVance", "advance", f("enum", "SRAT",
                                                         choices=("TRIGger", "SRATe"))),
        ):
            self.add_setting(src + pattern, name, setting, _CH)
        self.add_setting("OUTPut#[:STATe]", "output", f("bool", False), _CH)
        self.add_setting("OUTPut#:LOAD", "load", f("float", 50.0, 1.0, 1e4,
                                                    specials=(("INF", 9.9e37),)), _CH)
        self.add_setting("OUTPut#:POLarity", "polarity", f("enum", "NORM",
                                                           choices=("NORMal", "INVerted")), _CH)
        self.add_setting("OUTPut[1]:TRIGger[:STATe]", "trig_out", f("bool", False))
        self.add_setting("OUTPut[1]:SYNC[:STATe]", "sync", f("bool", True))
        self.add_setting("TRIGger#[:SOURce]", "trig_src", f(
            "enum", "IMM", choices=("IMMediate", "EXTernal", "TIMer", "BUS")), _CH)
        self.add_setting("TRIGger#:DELay", "trig_delay", f("float", 0.0, 0.0, 1000.0), _CH)
        self.add_setting("TRIGger#:SLOPe", "trig_slope", f(
            "enum", "POS", choices=("POSitive", "NEGative")), _CH)
        self.add_setting("TRIGger#:COUNt", "trig_count", f("int", 1, 1, 1e6), _CH)
        self.add_setting("OUTPut[1]:SYNC:SOURce", "sync_src", f("enum", "CH1",
                                                                 choices=("CH1", "CH2")))
        self.add("[SOURce#:]PHASe:SYNChronize", lambda s, a, q: self._no_query(q))
        self.add_setting("TRIGger#:TIMer", "trig_timer", f("float", 1e-3, 1e-6, 8000.0), _CH)
        self.add("[SOURce#:]FUNCtion:ARBitrary", self._arb_name)
        self.add("[SOURce#:]APPLy:DC", self._apply_dc)
        self.add("[SOURce#:]APPLy", self._apply_query)
        self.add("*TRG", lambda s, a, q: self._no_query(q) or self._bus_trigger())
        self.add("TRIGger#", lambda s, a, q: self._no_query(q) or self._bus_trigger())
        self.triggers = 0
        self._pattern = False

    # -- coupled values -----------------------------------------------------------------------
    def set_value(self, name: str, value: object, channel: int = 1) -> None:
        """Store a setting, keep amplitude/offset and high/low consistent, move the switch."""
        if channel == 1 and self._stuck():
            return  # the channel ignores the change: read-back and optics keep the old level
        v = dict(self._levels(channel))
        if name in ("ampl", "offs"):
            v[name] = float(value)  # type: ignore[arg-type]
            high, low = v["offs"] + v["ampl"] / 2, v["offs"] - v["ampl"] / 2
            self._check_window(high, low)
            self.values[("high", channel)], self.values[("low", channel)] = high, low
        elif name in ("high", "low"):
            v[name] = float(value)  # type: ignore[arg-type]
            if v["high"] <= v["low"]:
                raise ScpiError(-221, "Settings conflict;high level <= low level")
            self.values[("ampl", channel)] = v["high"] - v["low"]
            self.values[("offs", channel)] = (v["high"] + v["low"]) / 2
        elif name == "burst" and value and self.values[("func", channel)] == "DC":
            raise ScpiError(-221, "Settings conflict;DC is not allowed in burst")
        super().set_value(name, value, channel)
        if channel == 1:
            self._drive_switch()

    def _stuck(self) -> bool:
        return self.fault is not None and self.fault.kind == "switch_stuck"

    def _levels(self, channel: int) -> dict[str, float]:
        return {k: float(self.values[(k, channel)]) for k in ("ampl", "offs", "high", "low")}

    @staticmethod
    def _check_window(high: float, low: float) -> None:
        if high > 5.0 + 1e-12 or low < -5.0 - 1e-12:
            raise ScpiError(-222, "Data out of range;offset + amplitude exceed 5 V")

    def reset(self) -> None:
        """Execute ``*RST`` (outputs off, switch to the 0 V state)."""
        super().reset()
        self._drive_switch()

    def state_of(self, level_v: float) -> SwitchState:
        """Return the polarisation the HV driver gives for a TTL input level."""
        return SwitchState.ANTI_TC if level_v > TTL_THRESHOLD_V else SwitchState.TC

    def _drive_switch(self) -> None:
        ch = 1
        burst = (self.values[("output", ch)] and self.values[("burst", ch)]
                 and self.values[("func", ch)] == "SQU"
                 and self.values[("trig_src", ch)] == "EXT")
        if burst:
            high = self.state_of(float(self.values[("high", ch)]))
            low = self.state_of(float(self.values[("low", ch)]))
            shifted = abs(float(self.values[("burst_phase", ch)])) >= 90.0
            self.link.arm_pattern((low, high) if shifted else (high, low))
            self._pattern = True
            return
        if self._pattern:
            self.link.stop_pattern()
            self._pattern = False
        level = 0.0
        if self.values[("output", ch)] and self.values[("func", ch)] == "DC":
            level = float(self.values[("offs", ch)])
        late = self.fault.delay_s if self.fault is not None and self.fault.kind == "switch_late" \
            else 0.0
        self.link.request(self.state_of(level), late_s=late)

    def _arb_name(self, suffixes, args, query):
        return '"INT:\\BUILTIN\\EXP_RISE.ARB"' if query else None

    def _apply_dc(self, suffixes, args, query):
        self._no_query(query)
        channel = self.channel(suffixes, _CH)
        if channel == 1 and self._stuck():
            return
        offset = Setting("float", 0.0, -5.0, 5.0).parse(args[-1:]) if args else 0.0
        self.values[("func", channel)] = "DC"
        self.values[("burst", channel)] = False
        super().set_value("offs", offset, channel)
        self.values[("output", channel)] = True
        if channel == 1:
            self._drive_switch()

    def _apply_query(self, suffixes, args, query):
        if not query:
            raise ScpiError(-109, "Missing parameter")
        ch = self.channel(suffixes, _CH)
        return (f'"{self.values[("func", ch)]} {self.values[("freq", ch)]:+.15E},'
                f'{self.values[("ampl", ch)]:+.15E},{self.values[("offs", ch)]:+.15E}"')

    def _bus_trigger(self) -> None:
        if not any(self.values[("trig_src", ch)] == "BUS" for ch in range(1, _CH + 1)):
            raise ScpiError(-211, "Trigger ignored")
        self.triggers += 1
        self.link.trigger()
