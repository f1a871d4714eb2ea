"""Drive a Thorlabs LCC25 liquid-crystal controller as the TC/anti-TC polarisation switch.

The LC retarder sits in the drive beam: Voltage1 gives one circular polarisation, Voltage2 the
other. :meth:`LCC25.set_state` writes ``mode=1``/``mode=2`` and polls ``mode?`` until the unit
reports the new output (or the timeout passes: the acknowledgement then says the switch did not
move). :meth:`LCC25.arm_pattern` hands the choice to the rear TTL input (``extern=1``), which the
sequencer toggles on each pulse, for strictly alternating patterns. Every exchange is checked:
the unit must echo the command and end with the ``"> "`` prompt;
``CMD_NOT_DEFINED``/``CMD_ARG_INVALID`` raise :class:`DeviceProtocolError`. The LC needs
``settle_time_s`` (tens of ms) after the acknowledgement.

Example config::

    [devices.switch]
    driver = "lcc25"
    address = "/dev/ttyUSB1"          # or "sim://lcc25"; 115200 baud, CR
    timeout_s = 0.5

    [devices.switch.settings]
    voltage1_v = 1.850       # retardance for output 1
    voltage2_v = 7.300       # retardance for output 2
    tc_output = 1            # the output that gives the TC (sigma-minus) polarisation
    settle_time_s = 0.030    # LC response after the switch
    safe_state = "tc"        # state left behind by close()
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

from heralder.config import DeviceConfig
from heralder.control.clock import Clock, WallClock
from heralder.control.records import SwitchAck, SwitchState
from heralder.drivers.base import TransportDriver, check_number, check_settings, check_state
from heralder.errors import DeviceProtocolError

__all__ = ["LCC25", "from_config", "parse_exchange"]

PROMPT = b"> "
_ERRORS = ("CMD_NOT_DEFINED", "CMD_ARG_INVALID")


def parse_exchange(command: str, raw: bytes) -> str | None:
    """Return the answer inside one LCC25 exchange ``echo CR [answer CR] "> "``.

    Raises
    ------
    DeviceProtocolError
        If the echo differs from ``command``, the framing is wrong or the unit reports an error.
    """
    if not raw.endswith(PROMPT):
        raise DeviceProtocolError(f"LCC25 reply does not end with the prompt: {raw[-40:]!r}")
    try:
        text = raw[: -len(PROMPT)].decode("ascii")
    except UnicodeDecodeError:
        raise DeviceProtocolError(f"LCC25 reply is not ASCII: {raw[:40]!r}") from None
    lines = text.split("\r")
    if lines[-1] != "" or len(lines) not in (2, 3):
        raise DeviceProtocolError(f"LCC25 reply is not echo CR [answer CR] prompt: {raw!r}")
    if lines[0].strip() != command:
        raise DeviceProtocolError(f"LCC25 echoed {lines[0]!r} for {command!r}")
    answer = lines[1].strip() if len(lines) == 3 else None
    if answer in _ERRORS:
        raise DeviceProtocolError(f"LCC25 rejected {command!r}: {answer}")
    return answer


def _number(answer: str | None, what: str) -> float:
    try:
        return float(answer or "")
    except ValueError:
        raise DeviceProtocolError(f"LCC25 {what}: expected a number, got {answer!r}") from None


class LCC25(TransportDriver):
    """Switch the drive polarisation with an LCC25 (implements :class:`PatternSwitch`).

    Parameters
    ----------
    name, address, timeout_s, transport_factory
        As for :class:`~heralder.drivers.base.TransportDriver`.
    voltage1_v, voltage2_v
        Output amplitudes, 0–25 V, written and read back on :meth:`open`.
    tc_output
        The output (1 or 2) that gives the TC polarisation.
    settle_time_s
        LC response time after an acknowledged switch.
    safe_state
        State set by :meth:`close`.
    poll_interval_s
        Pause between ``mode?`` read-backs while the unit has not switched.
    clock
        Host clock stamping acknowledgements and pausing between read-backs (on a simulated
        clock polling never sleeps for real); ``timeout_s`` bounds the wait in real time.
    """

    driver_name = "lcc25"
    read_termination = "\r"
    write_termination = "\r"
    baudrate = 115200

    def __init__(self, name: str, address: str, *, voltage1_v: float = 5.0,
                 voltage2_v: float = 20.0, tc_output: int = 1, settle_time_s: float = 0.03,
                 safe_state: str = "tc", poll_interval_s: float = 1e-3,
                 clock: Clock | None = None, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self.voltage1_v = check_number("voltage1_v", voltage1_v, 0.0, 25.0)
        self.voltage2_v = check_number("voltage2_v", voltage2_v, 0.0, 25.0)
        if tc_output not in (1, 2):
            raise ValueError(f"tc_output must be 1 or 2, got {tc_output!r}")
        self.tc_output = tc_output
        self.settle_time_s = check_number("settle_time_s", settle_time_s, 0.0, 10.0)
        try:
            self.safe_state = SwitchState(safe_state)
        except ValueError:
            raise ValueError(f"safe_state must be 'tc' or 'anti_tc', got {safe_state!r}") from None
        self.poll_interval_s = check_number("poll_interval_s", poll_interval_s, 0.0, 1.0)
        self.clock = clock or WallClock()

    def exchange(self, command: str, timeout_s: float | None = None) -> str | None:
        """Send ``command``, check the echo and prompt, return the answer (if any)."""
        self.transport.write(command)
        raw = self.transport.read_until(PROMPT, self._timeout(timeout_s))
        return parse_exchange(command, raw)

    def _after_open(self) -> None:
        self.transport.clear_input()
        self._identity = self.identify()
        for index, volts in ((1, self.voltage1_v), (2, self.voltage2_v)):
            self.exchange(f"volt{index}={volts:.3f}")
            back = _number(self.exchange(f"volt{index}?"), f"volt{index}")
            if abs(back - volts) > 1e-3:
                raise DeviceProtocolError(f"LCC25 volt{index} reads back {back}, set {volts}")
        self.exchange("extern=0")
        self.exchange("enable=1")

    def _before_close(self) -> None:
        self.set_state(self.safe_state, self.timeout_s)

    def identify(self) -> str:
        """Return ``*idn?``.

        Raises
        ------
        DeviceProtocolError
            If the unit is not an LCC25.
        """
        identity = self.exchange("*idn?") or ""
        if "LCC25" not in identity.upper():
            raise DeviceProtocolError(f"{self.address}: not an LCC25: {identity[:60]!r}")
        return identity

    def settings(self) -> dict[str, Any]:
        """Return the voltages, mode and switching settings read from the unit."""
        return {
            "voltage1_v": _number(self.exchange("volt1?"), "volt1"),
            "voltage2_v": _number(self.exchange("volt2?"), "volt2"),
            "mode": int(_number(self.exchange("mode?"), "mode")),
            "enable": int(_number(self.exchange("enable?"), "enable")),
            "extern": int(_number(self.exchange("extern?"), "extern")),
            "tc_output": self.tc_output,
            "settle_time_s": self.settle_time_s,
        }

    def _mode_of(self, state: SwitchState) -> int:
        return self.tc_output if state is SwitchState.TC else 3 - self.tc_output

    def get_state(self, timeout_s: float) -> SwitchState:
        """Return the polarisation of the output the unit applies.

        Raises
        ------
        DeviceProtocolError
            If the unit modulates (``mode=0``) or answers something else.
        """
        mode = _number(self.exchange("mode?", timeout_s), "mode")
        if mode not in (1.0, 2.0):
            raise DeviceProtocolError(f"LCC25 is not on a constant output (mode {mode:g})")
        return SwitchState.TC if int(mode) == self.tc_output else SwitchState.ANTI_TC

    def set_state(self, state: SwitchState, timeout_s: float) -> SwitchAck:
        """Apply ``state`` and poll the read-back until it matches or ``timeout_s`` passes.

        Returns
        -------
        SwitchAck
            ``ok`` is False when the unit still reports the old output at the timeout.

        Raises
        ------
        ValueError
            If ``state`` is not a :class:`SwitchState`.
        """
        check_state(state)
        timeout_s = self._timeout(timeout_s)
        deadline = time.monotonic() + timeout_s
        t_sent = self.clock.now()
        self.exchange(f"mode={self._mode_of(state)}", timeout_s)
        while True:
            back = self.get_state(self.timeout_s)
            if back is state or time.monotonic() >= deadline:
                break
            self.clock.sleep(self.poll_interval_s)  # a simulated clock does not really wait
        return SwitchAck(requested=state, read_back=back, t_sent_s=t_sent,
                         t_ack_s=self.clock.now(), settle_time_s=self.settle_time_s)


    def arm_pattern(self, pattern: Sequence[SwitchState], timeout_s: float) -> None:
        """Start at ``pattern[0]`` and let the TTL input alternate the outputs on each pulse.

        Raises
        ------
        ValueError
            If ``pattern`` does not strictly alternate (the TTL can only toggle).
        DeviceProtocolError
            If the unit does not report ``extern=1``.
        """
        states = [check_state(s) for s in pattern]
        if len(states) < 2 or any(a is b for a, b in itertools.pairwise(states)):
            raise ValueError("pattern must alternate TC/anti-TC and hold at least 2 states")
        self.set_state(states[0], timeout_s)
        self.exchange("extern=1", timeout_s)
        if _number(self.exchange("extern?", timeout_s), "extern") != 1:
            raise DeviceProtocolError("LCC25 did not switch to the external TTL input")

    def stop_pattern(self, timeout_s: float) -> SwitchAck:
        """Return to software control (``extern=0``) in the safe state."""
        self.exchange("extern=0", timeout_s)
        return self.set_state(self.safe_state, timeout_s)


def from_config(role: str, device: DeviceConfig, context: Any) -> LCC25:
    """Build a closed :class:`LCC25` from its ``[devices.<role>]`` table."""
    settings = check_settings(role, device.settings, {
        "voltage1_v": (int, float), "voltage2_v": (int, float), "tc_output": int,
        "settle_time_s": (int, float), "safe_state": str, "poll_interval_s": (int, float)})
    return LCC25(role, device.address, timeout_s=device.timeout_s, clock=context.clock,
                 **settings)
