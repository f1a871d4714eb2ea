"""Drive a Stanford Research Systems SR400 gated photon counter (RS-232 or GPIB, ASCII).

The SR400 counts input A during a gate opened by each trigger; with ``T = TRIG`` and a T preset of
1, every count period is one gate (one cavity pulse), and a scan of ``NP`` periods buffers one
count per pulse, read back point by point with ``QA m`` (``-1`` while not complete). Status bits
(``SS``, read-and-clear) flag overflow (3), missed gates (4) and command errors (7).

Example config::

    [devices.counter]
    driver = "sr400"
    address = "ASRL/dev/ttyUSB0::INSTR"    # "sim://sr400" for the emulator, GPIB0::23::INSTR
    timeout_s = 1.0

    [devices.counter.settings]
    gate_delay_s = 0.0        # gate opens this long after the trigger
    slope = "fall"            # discriminator slope: "rise" or "fall" (negative APD pulses)
    read_termination = "\\r"   # "\\r" on RS-232 with echo off, "\\r\\n" on GPIB
    poll_interval_s = 0.002   # pause between polls while no gate is complete

Before use set the RS-232 echo OFF on the front panel (there is no remote command for it).
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from heralder.config import DeviceConfig
from heralder.control.clock import Clock, WallClock
from heralder.control.records import CountBlock, CounterSettings
from heralder.drivers.base import TransportDriver, check_count, check_number, check_settings
from heralder.errors import DeviceError, DeviceProtocolError, DeviceTimeout

__all__ = ["SR400", "from_config"]

MAX_PERIODS = 2000
OVERFLOW_COUNTS = 10**9 - 1
_STATUS_OVERFLOW, _STATUS_RATE, _STATUS_COMMAND = 0x08, 0x10, 0x80
_SLOPES = {"rise": 0, "fall": 1}
_INTEGER = re.compile(r"[+-]?[0-9]{1,15}")


def parse_int(text: str, what: str) -> int:
    """Return the integer of an SR400 reply.

    Raises
    ------
    DeviceProtocolError
        Naming ``what`` if the reply is not an integer.
    """
    token = text.strip()
    if not _INTEGER.fullmatch(token):
        raise DeviceProtocolError(f"SR400 {what}: expected an integer, got {text[:40]!r}")
    return int(token)


def parse_float(text: str, what: str) -> float:
    """Return the number of an SR400 reply (``1.000E-6``, ``1E1``, ``-0.0100``).

    Raises
    ------
    DeviceProtocolError
        Naming ``what`` if the reply is not a finite number.
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise DeviceProtocolError(f"SR400 {what}: expected a number, got {text[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DeviceProtocolError(f"SR400 {what}: not a finite number: {text[:40]!r}")
    return value


class SR400(TransportDriver):
    """Count photons per gate with an SR400 (implements :class:`PhotonCounter`).

    Parameters
    ----------
    name, address, timeout_s, transport_factory
        As for :class:`~heralder.drivers.base.TransportDriver`.
    gate_delay_s
        Delay of the gate after its trigger, 0–999.2 ms.
    slope
        Discriminator slope, ``"rise"`` or ``"fall"``.
    read_termination
        ``"\\r"`` (RS-232, echo off) or ``"\\r\\n"`` (GPIB).
    poll_interval_s
        Pause between polls while waiting for a gate.
    clock
        Host clock stamping the blocks read and pausing between polls (on a simulated clock
        polling never sleeps for real); ``timeout_s`` bounds the wait in real time.
    """

    driver_name = "sr400"
    read_termination = "\r"
    write_termination = "\r"

    def __init__(self, name: str, address: str, *, gate_delay_s: float = 0.0,
                 slope: str = "fall", read_termination: str = "\r",
                 poll_interval_s: float = 2e-3, clock: Clock | None = None, **kwargs: Any
                 ) -> None:
        super().__init__(name, address, **kwargs)
        self.gate_delay_s = check_number("gate_delay_s", gate_delay_s, 0.0, 999.2e-3)
        if slope not in _SLOPES:
            raise ValueError(f"slope must be 'rise' or 'fall', got {slope!r}")
        if read_termination not in ("\r", "\r\n"):
            raise ValueError(f"read_termination must be CR or CR LF, got {read_termination!r}")
        self.slope = slope
        self.read_termination = read_termination  # type: ignore[misc]
        self.poll_interval_s = check_number("poll_interval_s", poll_interval_s, 0.0, 1.0)
        self.clock = clock or WallClock()
        self._n_gates = 0
        self._next_point = 1

    # -- low level ----------------------------------------------------------------------------
    def _query(self, command: str, timeout_s: float | None = None) -> str:
        return self.transport.query(command, self._timeout(timeout_s))

    def _lines(self, commands: list[str], n_replies: int) -> list[str]:
        """Send ``commands`` as one ``;``-joined line and return their ``n_replies`` replies.

        One write per exchange keeps Nagle's algorithm from delaying back-to-back writes on
        TCP bridges, and the SR400 answers the queries of a line in order.
        """
        self.transport.write(";".join(commands))
        return [self.transport.read(self.timeout_s) for _ in range(n_replies)]

    def _check_status(self, text: str) -> int:
        """Parse a status byte (reading it cleared it); raise on a command error."""
        status = parse_int(text, "status byte")
        if not 0 <= status <= 255:
            raise DeviceProtocolError(f"SR400 status byte out of range: {status}")
        if status & _STATUS_COMMAND:
            raise DeviceProtocolError(f"{self.address}: SR400 reports a command error "
                                      f"(status byte {status})")
        return status

    def _after_open(self) -> None:
        # SW0: no inter-character delay (the factory default is ~20 ms per character)
        mode, status = self._lines(["SW0", "CM", "SS"], 2)
        self._identity = self._identity_from(mode)
        self._check_status(status)

    def _before_close(self) -> None:
        self.transport.write("CH")

    # -- Device -------------------------------------------------------------------------------
    def identify(self) -> str:
        """Return the identity (the SR400 has no ``*IDN?``; ``CM`` proves it answers)."""
        return self._identity_from(self._query("CM"))

    @staticmethod
    def _identity_from(mode_text: str) -> str:
        mode = parse_int(mode_text, "counting mode")
        if not 0 <= mode <= 3:
            raise DeviceProtocolError(f"SR400 counting mode out of range: {mode}")
        return "Stanford Research Systems,SR400"

    def settings(self) -> dict[str, Any]:
        """Return the counting settings read from the instrument."""
        return {
            "counting_mode": parse_int(self._query("CM"), "CM"),
            "inputs": [parse_int(self._query(f"CI{i}"), f"CI{i}") for i in range(3)],
            "t_preset": parse_float(self._query("CP2"), "CP2"),
            "periods": parse_int(self._query("NP"), "NP"),
            "gate_mode_a": parse_int(self._query("GM0"), "GM0"),
            "gate_delay_s": parse_float(self._query("GD0"), "GD0"),
            "gate_s": parse_float(self._query("GW0"), "GW0"),
            "slope_a": parse_int(self._query("DS0"), "DS0"),
            "threshold_v": parse_float(self._query("DL0"), "DL0"),
        }

    # -- PhotonCounter ------------------------------------------------------------------------
    def configure(self, gate_s: float, threshold_v: float = -0.01, trigger: str = "external"
                  ) -> CounterSettings:
        """Set one gate per trigger, the discriminator and the trigger; return the read-back.

        Raises
        ------
        ValueError
            For a gate outside 5 ns–999.2 ms, a threshold outside ±0.3 V or an unknown trigger.
        DeviceProtocolError
            If a setting does not read back as set.
        """
        gate_s = check_number("gate_s", gate_s, 5e-9, 999.2e-3)
        threshold_v = check_number("threshold_v", threshold_v, -0.3, 0.3)
        if trigger not in ("external", "internal"):
            raise ValueError(f"trigger must be 'external' or 'internal', got {trigger!r}")
        external = trigger == "external"
        commands = ["CH", "CR", "CM0", "CI0,1", "CI1,2",
                    "CI2,3" if external else "CI2,0", "CP2,1" if external else "CP2,1E7",
                    "GM0,1", f"GD0,{self.gate_delay_s:.4E}", f"GW0,{gate_s:.4E}",
                    f"DS0,{_SLOPES[self.slope]}", f"DL0,{threshold_v:.4f}", "NE0",
                    "DT0" if external else "DT2E-3"]
        status, gate_text, level_text, t_text = self._lines(
            [*commands, "SS", "GW0", "DL0", "CI2"], 4)
        self._check_status(status)
        gate_back = parse_float(gate_text, "gate width")
        level_back = parse_float(level_text, "discriminator level")
        t_input = parse_int(t_text, "T input")
        if abs(gate_back - gate_s) > max(1e-9, 1e-3 * gate_s):
            raise DeviceProtocolError(f"SR400 gate width reads back {gate_back}, set {gate_s}")
        if abs(level_back - threshold_v) > 2e-4 + 1e-9:
            raise DeviceProtocolError(
                f"SR400 discriminator reads back {level_back}, set {threshold_v}")
        if t_input != (3 if external else 0):
            raise DeviceProtocolError(f"SR400 T input reads back {t_input}")
        return CounterSettings(gate_s=gate_back, threshold_v=level_back, trigger=trigger)

    def arm(self, n_gates: int) -> None:
        """Reset the counters and start a scan of ``n_gates`` gates (1–2000).

        Raises
        ------
        ValueError
            If ``n_gates`` is not an integer in 1–2000.
        """
        n_gates = check_count("n_gates", n_gates, 1, MAX_PERIODS)
        periods_text, status = self._lines(["CR", f"NP{n_gates}", "NP", "SS", "CS"], 2)
        periods = parse_int(periods_text, "N PERIODS")
        self._check_status(status)
        if periods != n_gates:
            self.transport.write("CH")
            raise DeviceProtocolError(f"SR400 N PERIODS reads back {periods}, set {n_gates}")
        self._n_gates, self._next_point = n_gates, 1

    def read(self, timeout_s: float) -> CountBlock:
        """Return the gates completed since the last read (at least one).

        Raises
        ------
        DeviceTimeout
            If no new gate completes within ``timeout_s``.
        DeviceProtocolError
            On a malformed reply or a command error flagged in the status byte.
        DeviceError
            If nothing is armed or every armed gate was already read.
        """
        timeout_s = self._timeout(timeout_s)
        if self._next_point > self._n_gates:
            raise DeviceError(f"{self.name}: no armed gates left to read (call arm())")
        deadline = time.monotonic() + timeout_s
        first = self._next_point
        counts: list[int] = []
        status = 0
        while self._next_point <= self._n_gates:
            # each exchange gets the device timeout; ``timeout_s`` bounds the wait for a gate
            status_text, value_text = self._lines(["SS", f"QA{self._next_point}"], 2)
            status |= self._check_status(status_text)
            value = parse_int(value_text, "count")
            if value >= 0:
                counts.append(value)
                self._next_point += 1
                continue
            if value != -1:
                raise DeviceProtocolError(f"SR400 count is negative: {value}")
            if counts:
                break
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"{self.address}: no gate completed within {timeout_s:g} s")
            self.clock.sleep(self.poll_interval_s)  # a simulated clock does not really wait
        values = np.asarray(counts, dtype=np.int64)
        flagged = bool(status & (_STATUS_OVERFLOW | _STATUS_RATE))
        valid = (values < OVERFLOW_COUNTS) & (not flagged)
        return CountBlock(counts=values, valid=valid, first_gate=first - 1,
                          t_read_s=self.clock.now())


def from_config(role: str, device: DeviceConfig, context: Any) -> SR400:
    """Build a closed :class:`SR400` from its ``[devices.<role>]`` table."""
    settings = check_settings(role, device.settings, {
        "gate_delay_s": (int, float), "slope": str, "read_termination": str,
        "poll_interval_s": (int, float)})
    return SR400(role, device.address, timeout_s=device.timeout_s, clock=context.clock,
                 **settings)
