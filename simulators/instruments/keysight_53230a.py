"""Emulate a Keysight 53230A (or 53220A) universal counter in gated totalize.

SCPI over LF (notes/instruments.md §2): ``CONF:TOT:TIM <gate>,(@1)`` restores the trigger defaults
(``TRIG:SOUR IMM``, counts 1) as a real unit does, so input and trigger settings follow it;
``INIT`` clears reading memory and arms ``TRIG:COUN × SAMP:COUN`` gates; ``R? [max]`` reads and
erases readings as a definite-length block of ``+1.21510000000000E+004`` numbers (``#10`` when
none yet); ``-230,"Data corrupt or stale"`` when nothing is stored and no measurement runs;
``FETC?``/``READ?`` wait for completion. Only ``FORM ASC`` is emulated (``FORM REAL`` gives
``-221``). Each gate is one pulse of the virtual lab, completed when the host polls (``R?``,
``DATA:POIN?``) or all at once for ``FETC?``/``READ?``; with ``TRIG:SOUR BUS`` only ``*TRG`` arms
gates.
"""

from __future__ import annotations

from typing import ClassVar

from heralder.drivers.scpi import format_definite_block
from heralder.simulators.faults import FaultInjector
from heralder.simulators.instruments.lablink import LabLink
from heralder.simulators.instruments.scpi import ScpiEmulator, ScpiError, Setting

__all__ = ["Keysight53220AEmulator", "Keysight53230AEmulator", "format_reading"]

MEMORY = 1_000_000


def format_reading(value: float) -> str:
    """Return a reading as the counter prints it: ``+1.21510000000000E+004``."""
    mantissa, exponent = f"{value:+.14E}".split("E")
    return f"{mantissa}E{int(exponent):+04d}"


class Keysight53230AEmulator(ScpiEmulator):
    """Hold the counter's settings and reading memory; answer SCPI."""

    idn: ClassVar[str] = "Agilent Technologies,53230A,MY50000001,02.05-1519.666-1.19-4.15-127"
    model: ClassVar[str] = "53230a"
    min_gate_s: ClassVar[float] = 1e-6

    def __init__(self, link: LabLink, faults: FaultInjector | None = None) -> None:
        super().__init__(faults=faults)
        self.link = link
        gate = Setting("float", 0.1, self.min_gate_s, 1000.0, specials=(("INF", 9.9e37),))
        self.add_setting("[SENSe:]TOTalize:GATE:TIMe", "gate", gate)
        self.add_setting("[SENSe:]TOTalize:GATE:SOURce", "gate_source", Setting(
            "enum", "TIME", choices=("TIMe", "EXTernal", "INPut1", "INPut2", "ADVanced")))
        self.add_setting("[SENSe:]TOTalize:GATE:POLarity", "gate_pol", Setting(
            "enum", "NEG", choices=("POSitive", "NEGative")))
        self.add_setting("INPut#:LEVel[:ABSolute]", "level", Setting("float", 0.0, -5.0, 5.0), 2)
        self.add_setting("INPut#:SLOPe", "slope", Setting(
            "enum", "POS", choices=("POSitive", "NEGative")), 2)
        self.add_setting("INPut#:IMPedance", "impedance", Setting("float", 1e6, 50.0, 1e6), 2)
        self.add_setting("INPut#:COUPling", "coupling", Setting(
            "enum", "AC", choices=("AC", "DC")), 2)
        self.add_setting("TRIGger[:SEQuence]:SOURce", "trig_source", Setting(
            "enum", "IMM", choices=("IMMediate", "EXTernal", "BUS")))
        self.add_setting("TRIGger[:SEQuence]:COUNt", "trig_count", Setting("int", 1, 1, 1e6))
        self.add_setting("TRIGger[:SEQuence]:SLOPe", "trig_slope", Setting(
            "enum", "NEG", choices=("POSitive", "NEGative")))
        self.add_setting("TRIGger[:SEQuence]:DELay", "trig_delay", Setting("float", 0.0, 0.0,
                                                                            3600.0))
        self.add_setting("SAMPle:COUNt", "samples", Setting("int", 1, 1, 1e6))
        self.add_setting("SYSTem:TIMeout", "sys_timeout", Setting(
            "float", 9.9e37, 10e-3, 2000.0, specials=(("INF", 9.9e37),)))
        self.add("FORMat[:DATA]", self._format)
        self.add("CONFigure:TOTalize:TIMed", self._configure)
        self.add("CONFigure", self._conf_query)
        self.add("INITiate[:IMMediate]", self._init)
        self.add("ABORt", lambda s, a, q: self._no_query(q) or self._abort())
        self.add("*TRG", lambda s, a, q: self._no_query(q) or self._bus_trigger())
        self.add("R", self._r)
        self.add("FETCh", self._fetch)
        self.add("READ", self._read)
        self.add("DATA:POINts", self._points)
        self.add("DATA:REMove", self._remove)
        self.readings: list[float] = []
        self.measuring = False
        self.pending = 0
        self.channel_in_use = 1

    def reset(self) -> None:
        """Execute ``*RST``: defaults, no measurement, empty memory."""
        super().reset()
        self._abort()
        self.readings.clear()

    def _abort(self) -> None:
        self.measuring = False
        self.pending = 0

    def _format(self, suffixes, args, query):
        if query:
            return "ASC,9"
        if not args or args[0].upper() not in ("ASC", "ASCII"):
            raise ScpiError(-221, "Settings conflict;only ASCii is emulated")
        return None

    def _configure(self, suffixes, args, query):
        self._no_query(query)
        if self.measuring:
            raise ScpiError(-221, "Settings conflict;measurement in progress")
        gate_args = [a for a in args if not a.startswith("(")]
        channels = [a for a in args if a.startswith("(")]
        if channels and channels[0].replace(" ", "") not in ("(@1)", "(@2)"):
            raise ScpiError(-224, "Illegal parameter value")
        if gate_args:
            self.values[("gate", 1)] = self._settings["gate"].parse(gate_args[:1])
        self.channel_in_use = 2 if channels and "2" in channels[0] else 1
        for name in ("trig_source", "trig_count", "samples", "trig_delay", "gate_source"):
            self.values[(name, 1)] = self._settings[name].default
        self.readings.clear()
        return None

    def _conf_query(self, suffixes, args, query):
        if not query:
            raise ScpiError(-113, "Undefined header")
        gate = self._settings["gate"].format(self.values[("gate", 1)])
        return f'"TOT:TIM {gate},(@{self.channel_in_use})"'

    def _init(self, suffixes, args, query):
        self._no_query(query)
        if self.measuring:
            raise ScpiError(-213, "Init ignored")
        self.readings.clear()
        self.measuring = True
        self.pending = 0 if self.values[("trig_source", 1)] == "BUS" else self._total()
        self._triggers_left = self.values[("trig_count", 1)]
        return None

    def _total(self) -> int:
        return int(self.values[("trig_count", 1)]) * int(self.values[("samples", 1)])

    def _bus_trigger(self) -> None:
        if self.measuring and self.values[("trig_source", 1)] == "BUS" and self._triggers_left:
            self._triggers_left -= 1
            self.pending += int(self.values[("samples", 1)])
        else:
            raise ScpiError(-211, "Trigger ignored")

    def _gate(self, n: int) -> None:
        """Complete up to ``n`` pending gates, one lab pulse each."""
        for _ in range(min(n, self.pending)):
            self.pending -= 1
            if len(self.readings) >= MEMORY:
                self.readings.pop(0)
            self.readings.append(float(self.link.fire_gate()))
        if self.pending == 0 and not (self.values[("trig_source", 1)] == "BUS"
                                      and self._triggers_left):
            self.measuring = False

    def _r(self, suffixes, args, query):
        if not query:
            raise ScpiError(-113, "Undefined header")
        if self.measuring:
            self._gate(1)
        if not self.readings and not self.measuring:
            raise ScpiError(-230, "Data corrupt or stale")
        limit = len(self.readings)
        if args:
            limit = Setting("int", limit, 1, MEMORY).parse(args[:1])  # type: ignore[assignment]
        taken, self.readings = self.readings[:limit], self.readings[limit:]
        payload = ",".join(format_reading(v) for v in taken).encode("ascii")
        return format_definite_block(payload).decode("ascii")

    def _fetch(self, suffixes, args, query):
        if not query:
            raise ScpiError(-113, "Undefined header")
        self._gate(self.pending)
        if self.measuring:
            raise ScpiError(-230, "Data corrupt or stale;awaiting trigger")
        if not self.readings:
            raise ScpiError(-230, "Data corrupt or stale")
        return ",".join(format_reading(v) for v in self.readings)

    def _read(self, suffixes, args, query):
        self._init(suffixes, args, False)
        return self._fetch(suffixes, args, query)

    def _points(self, suffixes, args, query):
        if not query:
            raise ScpiError(-113, "Undefined header")
        if self.measuring:
            self._gate(1)
        return f"{len(self.readings):+d}"

    def _remove(self, suffixes, args, query):
        if not query:
            raise ScpiError(-113, "Undefined header")
        count = Setting("int", 1, 1, MEMORY).parse(args[:1])
        if count > len(self.readings):  # type: ignore[operator]
            raise ScpiError(-222, "Data out of range;fewer readings in memory")
        taken, self.readings = self.readings[:count], self.readings[count:]
        return format_definite_block(",".join(format_reading(v) for v in taken)
                                     .encode("ascii")).decode("ascii")


class Keysight53220AEmulator(Keysight53230AEmulator):
    """Emulate the 53220A: as the 53230A, with a 100 µs minimum gate."""

    idn: ClassVar[str] = "Agilent Technologies,53220A,MY50000002,02.05-1519.666-1.19-4.15-127"
    model: ClassVar[str] = "53220a"
    min_gate_s: ClassVar[float] = 1e-4
