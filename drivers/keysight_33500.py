"""Drive a Keysight 33500B/33600A generator: Pockels-cell switch level, pattern and pulse trigger.

As a **switch** (role ``switch``), one channel feeds the TTL input of the Pockels cell's HV driver:
``FUNC DC`` with the offset at ``tc_level_v`` or ``anti_tc_level_v``, read back after every set.
:meth:`Keysight33500.arm_pattern` loads a strictly alternating pattern as a square burst (half a
period per pulse, ``NCYC`` = pulses/2, triggered by the pulse marker on Trig In), so the
polarisation flips in hardware, nanoseconds after each trigger. As a **trigger** (role
``trigger``), a channel bursts one pulse per ``*TRG`` (``TRIG:SOUR BUS``). Errors are drained
with ``SYST:ERR?`` after each configuration.

Example config::

    [devices.switch]
    driver = "keysight_33500"
    address = "TCPIP::192.168.1.21::5025::SOCKET"   # or "sim://33522b"
    timeout_s = 0.5

    [devices.switch.settings]
    channel = 1
    tc_level_v = 0.0          # HV driver TTL input low: TC polarisation
    anti_tc_level_v = 3.3     # high: half-wave voltage, anti-TC
    settle_time_s = 1e-6      # Pockels cell + HV driver
    pulse_period_s = 200e-6   # pattern mode: one polarisation per pulse period
    safe_state = "tc"

    [devices.trigger]
    driver = "keysight_33500"
    address = "TCPIP::192.168.1.21::5025::SOCKET"
    [devices.trigger.settings]
    channel = 2
    pulse_width_s = 10e-6
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from heralder.config import DeviceConfig
from heralder.control.clock import Clock, WallClock
from heralder.control.records import SwitchAck, SwitchState
from heralder.drivers.base import TransportDriver, check_number, check_settings, check_state
from heralder.drivers.scpi import exchange, parse_scpi_bool, parse_scpi_float
from heralder.errors import DeviceProtocolError

__all__ = ["Keysight33500", "from_config"]

_MODELS = ("335", "336")


class Keysight33500(TransportDriver):
    """Drive one channel of a 33500B/33600A (PatternSwitch and PulseTrigger).

    Parameters
    ----------
    name, address, timeout_s, transport_factory
        As for :class:`~heralder.drivers.base.TransportDriver`.
    channel
        Output channel, 1 or 2.
    tc_level_v, anti_tc_level_v
        TTL levels giving TC and anti-TC, within ±5 V and at least 1 V apart.
    settle_time_s
        Optical settling after the level changes.
    pulse_period_s
        Pulse period for the hardware pattern (square period = 2 pulse periods).
    pulse_width_s
        Width of the drive-pulse trigger (trigger role).
    safe_state
        State left by :meth:`close`.
    clock
        Host clock stamping acknowledgements.
    """

    driver_name = "keysight_33500"

    def __init__(self, name: str, address: str, *, channel: int = 1, tc_level_v: float = 0.0,
                 anti_tc_level_v: float = 3.3, settle_time_s: float = 1e-6,
                 pulse_period_s: float = 200e-6, pulse_width_s: float = 10e-6,
                 safe_state: str = "tc", clock: Clock | None = None, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        if channel not in (1, 2):
            raise ValueError(f"channel must be 1 or 2, got {channel!r}")
        self.channel = channel
        self.tc_level_v = check_number("tc_level_v", tc_level_v, -5.0, 5.0)
        self.anti_tc_level_v = check_number("anti_tc_level_v", anti_tc_level_v, -5.0, 5.0)
        if abs(self.anti_tc_level_v - self.tc_level_v) < 1.0:
            raise ValueError("tc_level_v and anti_tc_level_v must be at least 1 V apart")
        self.settle_time_s = check_number("settle_time_s", settle_time_s, 0.0, 1.0)
        self.pulse_period_s = check_number("pulse_period_s", pulse_period_s, 1e-6, 1000.0)
        self.pulse_width_s = check_number("pulse_width_s", pulse_width_s, 16e-9, 1.0)
        try:
            self.safe_state = SwitchState(safe_state)
        except ValueError:
            raise ValueError(f"safe_state must be 'tc' or 'anti_tc', got {safe_state!r}") from None
        self.clock = clock or WallClock()
        self.trigger_armed = False

    def _query(self, command: str, timeout_s: float | None = None) -> str:
        return self.transport.query(command, self._timeout(timeout_s))

    def _exchange(self, what: str, *commands: str, timeout_s: float | None = None
                  ) -> list[str]:
        return exchange(self.transport, list(commands), what, self._timeout(timeout_s))

    def _after_open(self) -> None:
        self.transport.clear_input()
        self._identity = self.identify()
        self._exchange("open", "*CLS")

    def _before_close(self) -> None:
        if self.trigger_armed:
            self._exchange("close", f"OUTP{self.channel} OFF")
            self.trigger_armed = False

    def identify(self) -> str:
        """Return ``*IDN?``.

        Raises
        ------
        DeviceProtocolError
            If the instrument is not a 33500B/33600A series generator.
        """
        identity = self._query("*IDN?")
        fields = [f.strip() for f in identity.split(",")]
        if len(fields) < 2 or not fields[1].upper().startswith(_MODELS):
            raise DeviceProtocolError(f"{self.address}: not a 33500/33600: {identity[:60]!r}")
        return identity

    def settings(self) -> dict[str, Any]:
        """Return the channel's waveform, level, burst and trigger settings."""
        ch = self.channel
        return {
            "channel": ch,
            "function": self._query(f"SOUR{ch}:FUNC?"),
            "offset_v": parse_scpi_float(self._query(f"SOUR{ch}:VOLT:OFFS?"), "offset"),
            "output": parse_scpi_bool(self._query(f"OUTP{ch}?"), "output"),
            "burst": parse_scpi_bool(self._query(f"SOUR{ch}:BURS:STAT?"), "burst state"),
            "trigger_source": self._query(f"TRIG{ch}:SOUR?"),
            "tc_level_v": self.tc_level_v,
            "anti_tc_level_v": self.anti_tc_level_v,
        }

    # -- PolarizationSwitch / PatternSwitch ----------------------------------------------------
    def _level(self, state: SwitchState) -> float:
        return self.tc_level_v if state is SwitchState.TC else self.anti_tc_level_v

    def _state_queries(self) -> tuple[str, str, str]:
        ch = self.channel
        return f"SOUR{ch}:FUNC?", f"SOUR{ch}:VOLT:OFFS?", f"OUTP{ch}?"

    def _parse_state(self, function: str, offset_text: str, output_text: str) -> SwitchState:
        function = function.strip().upper()
        offset = parse_scpi_float(offset_text, "offset")
        output = parse_scpi_bool(output_text, "output")
        level = offset if output and function == "DC" else 0.0
        for state in (SwitchState.TC, SwitchState.ANTI_TC):
            if math.isclose(level, self._level(state), abs_tol=1e-3):
                return state
        raise DeviceProtocolError(f"33500 channel {self.channel} is at {level:g} V ({function}, "
                                  f"output {'on' if output else 'off'}): neither TC nor anti-TC "
                                  "level")

    def get_state(self, timeout_s: float) -> SwitchState:
        """Return the state the channel's level gives.

        Raises
        ------
        DeviceProtocolError
            If the channel is not a DC output at one of the two levels.
        """
        return self._parse_state(*self._exchange("get_state", *self._state_queries(),
                                                 timeout_s=timeout_s))

    def set_state(self, state: SwitchState, timeout_s: float) -> SwitchAck:
        """Put the channel at the level of ``state`` and read it back (one round trip).

        Raises
        ------
        ValueError
            If ``state`` is not a :class:`SwitchState`.
        DeviceProtocolError
            If the generator reports an error.
        """
        check_state(state)
        t_sent = self.clock.now()
        replies = self._exchange(
            "set_state", f"SOUR{self.channel}:APPL:DC DEF,DEF,{self._level(state):.4f}",
            *self._state_queries(), timeout_s=timeout_s)
        return SwitchAck(requested=state, read_back=self._parse_state(*replies), t_sent_s=t_sent,
                         t_ack_s=self.clock.now(), settle_time_s=self.settle_time_s)

    def arm_pattern(self, pattern: Sequence[SwitchState], timeout_s: float) -> None:
        """Load a strictly alternating ``pattern`` as a triggered square burst.

        Raises
        ------
        ValueError
            If ``pattern`` is shorter than 2, not alternating, or too long for one burst.
        DeviceProtocolError
            If the generator reports an error or does not read back the burst.
        """
        states = list(pattern)
        if len(states) < 2 or not all(isinstance(s, SwitchState) for s in states) or any(
                a is b for a, b in itertools.pairwise(states)):
            raise ValueError("pattern must alternate TC/anti-TC and hold at least 2 states")
        if len(states) > 2e8:
            raise ValueError(f"pattern of {len(states)} states exceeds one burst (2e8)")
        ch = self.channel
        first = self._level(states[0])
        second = self._level(states[1])
        (burst,) = self._exchange(
            "arm_pattern", f"OUTP{ch} OFF", f"SOUR{ch}:FUNC SQU",
            f"SOUR{ch}:FREQ {1.0 / (2 * self.pulse_period_s):.9E}",
            f"SOUR{ch}:VOLT:HIGH {max(first, second):.4f}",
            f"SOUR{ch}:VOLT:LOW {min(first, second):.4f}", f"SOUR{ch}:BURS:MODE TRIG",
            f"SOUR{ch}:BURS:NCYC {math.ceil(len(states) / 2)}",
            f"SOUR{ch}:BURS:PHAS {0 if first > second else 180}", f"TRIG{ch}:SOUR EXT",
            f"SOUR{ch}:BURS:STAT ON", f"OUTP{ch} ON", f"SOUR{ch}:BURS:STAT?")
        if not parse_scpi_bool(burst, "burst state"):
            raise DeviceProtocolError("33500 burst did not switch on")

    def stop_pattern(self, timeout_s: float) -> SwitchAck:
        """Stop the burst and put the channel at the safe state's level."""
        self._exchange("stop_pattern", f"SOUR{self.channel}:BURS:STAT OFF")
        return self.set_state(self.safe_state, timeout_s)

    # -- PulseTrigger ----------------------------------------------------------------------------
    def arm_trigger(self) -> None:
        """Set the channel to burst one pulse per bus trigger (``*TRG``)."""
        ch = self.channel
        self._exchange("arm_trigger", f"OUTP{ch} OFF", f"SOUR{ch}:FUNC PULS",
                   f"SOUR{ch}:FUNC:PULS:PER {max(4 * self.pulse_width_s, 1e-6):.6E}",
                   f"SOUR{ch}:FUNC:PULS:WIDT {self.pulse_width_s:.6E}",
                   f"SOUR{ch}:VOLT:LOW 0", f"SOUR{ch}:VOLT:HIGH 3.3",
                   f"SOUR{ch}:BURS:MODE TRIG", f"SOUR{ch}:BURS:NCYC 1", f"TRIG{ch}:SOUR BUS",
                   f"SOUR{ch}:BURS:STAT ON", f"OUTP{ch} ON")
        self.trigger_armed = True

    def fire(self, timeout_s: float) -> float:
        """Fire one drive pulse; return the host time the trigger was sent.

        The ``*OPC?`` round trip confirms the generator took the trigger.
        """
        if not self.trigger_armed:
            self.arm_trigger()
        t_sent = self.clock.now()
        if self._query("*TRG;*OPC?", timeout_s).strip() != "1":
            raise DeviceProtocolError("33500 did not complete the trigger (*OPC? != 1)")
        return t_sent


def from_config(role: str, device: DeviceConfig, context: Any) -> Keysight33500:
    """Build a closed :class:`Keysight33500` from its ``[devices.<role>]`` table."""
    settings = check_settings(role, device.settings, {
        "channel": int, "tc_level_v": (int, float), "anti_tc_level_v": (int, float),
        "settle_time_s": (int, float), "pulse_period_s": (int, float),
        "pulse_width_s": (int, float), "safe_state": str})
    settings.setdefault("channel", 2 if role == "trigger" else 1)
    return Keysight33500(role, device.address, timeout_s=device.timeout_s, clock=context.clock,
                         **settings)
