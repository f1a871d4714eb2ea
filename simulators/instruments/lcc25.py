"""Emulate a Thorlabs LCC25 liquid-crystal controller on its USB serial line (115200 8N1).

Protocol (notes/instruments.md §6 and Addendum): commands end with CR; the unit echoes the command
and a CR, then the answer and a CR for a query, then the prompt ``"> "`` (with its space, no CR),
all in one write. ``*idn?`` answers ``THORLABS LCC25 vers 1.01``. Errors come back as
``CMD_NOT_DEFINED`` (unknown command) or ``CMD_ARG_INVALID`` (bad value) in place of the answer.

Switching: ``mode=1`` applies Voltage1, ``mode=2`` Voltage2 (``mode=0`` modulates at ``freq``,
not synchronised to the pulses, so the lab's switch is left alone). Output 1 drives the TC
polarisation, output 2 the anti-TC one (set ``tc_output`` to swap). ``extern=1`` hands the choice
to the TTL input, which the sequencer toggles on each pulse, starting at the level of the current
output: the lab's switch then alternates pulse by pulse from the state of ``mode``.
"""

from __future__ import annotations

import time
from typing import ClassVar

from heralder.control.records import SwitchState
from heralder.simulators.faults import FaultInjector
from heralder.simulators.instruments.base import Emulator
from heralder.simulators.instruments.lablink import LabLink

__all__ = ["LCC25Emulator"]

IDENTITY = "THORLABS LCC25 vers 1.01"
PROMPT = b"> "
_RANGES = {"volt1": (0.0, 25.0), "volt2": (0.0, 25.0), "freq": (0.0, 150.0),
           "min": (0.0, 25.0), "max": (0.0, 25.0), "increment": (0.0, 25.0),
           "dwell": (1.0, 1e6)}
_FLAGS = {"enable": (0, 1), "mode": (0, 1, 2), "extern": (0, 1), "remote": (0, 1)}


class InvalidArgument(Exception):
    """Mark a command whose value is out of range or malformed."""


def format_value(value: float) -> str:
    """Return a number as the unit prints it (``20``, ``10.5``)."""
    return f"{value:g}"


class LCC25Emulator(Emulator):
    """Hold the LCC25's voltages and mode, echo commands, drive the lab's switch.

    Parameters
    ----------
    link
        The virtual lab link whose switch follows the output.
    faults
        Fault injector of this device.
    tc_output
        The output (1 or 2) whose voltage gives the TC polarisation.
    """

    terminators: ClassVar[bytes] = b"\r"
    reply_end: ClassVar[bytes] = b"\r" + PROMPT
    model: ClassVar[str] = "lcc25"

    def __init__(self, link: LabLink, faults: FaultInjector | None = None, tc_output: int = 1
                 ) -> None:
        super().__init__(faults)
        if tc_output not in (1, 2):
            raise ValueError(f"tc_output must be 1 or 2, got {tc_output!r}")
        self.link = link
        self.tc_output = tc_output
        self.defaults()
        self.stored: dict[int, dict[str, float]] = {}
        self._late: tuple[float, int] | None = None
        self._error_pending = False

    def defaults(self) -> None:
        """Restore factory settings (``default``)."""
        self.values = {"volt1": 5.0, "volt2": 20.0, "freq": 20.0, "min": 0.0, "max": 25.0,
                       "increment": 0.5, "dwell": 1000.0, "enable": 0, "mode": 1, "extern": 0,
                       "remote": 0}

    def state_of(self, mode: int) -> SwitchState:
        """Return the polarisation output ``mode`` (1 or 2) gives."""
        return SwitchState.TC if mode == self.tc_output else SwitchState.ANTI_TC

    def error_state(self) -> None:
        """Make the next reply an argument error."""
        self._error_pending = True

    def handle(self, line: bytes) -> bytes:
        """Echo the command, then its answer or error, then the prompt."""
        self._apply_late()
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            return line + b"\rCMD_NOT_DEFINED\r" + PROMPT
        echo = text.encode("ascii") + b"\r"
        try:
            if self._error_pending:
                self._error_pending = False
                raise InvalidArgument(text)
            answer = self._execute(text)
        except InvalidArgument:
            answer = "CMD_ARG_INVALID"
        except KeyError:
            answer = "CMD_NOT_DEFINED"
        return echo + (answer.encode("ascii") + b"\r" if answer is not None else b"") + PROMPT

    def _execute(self, text: str) -> str | None:
        lowered = text.lower()
        if lowered == "*idn?":
            return IDENTITY
        if lowered in ("save", "default", "test"):
            if lowered == "default":
                self.defaults()
            return None
        name, sep, arg = lowered.partition("=")
        if name.endswith("?") and not sep:
            return self._read(name[:-1])
        if not sep:
            raise KeyError(text)
        if name in ("set", "get"):
            return self._store(name, arg)
        self._write(name, arg)
        return None

    def _read(self, name: str) -> str:
        if name in _FLAGS:
            return str(int(self.values[name]))
        if name in _RANGES:
            return format_value(self.values[name])
        raise KeyError(name)

    def _write(self, name: str, arg: str) -> None:
        try:
            value = float(arg)
        except ValueError:
            if name in _FLAGS or name in _RANGES:
                raise InvalidArgument(arg) from None
            raise KeyError(name) from None
        if name in _FLAGS:
            if value not in _FLAGS[name]:
                raise InvalidArgument(arg)
            self._set_flag(name, int(value))
        elif name in _RANGES:
            low, high = _RANGES[name]
            if not low <= value <= high or (name == "freq" and value <= 0):
                raise InvalidArgument(arg)
            self.values[name] = value
        else:
            raise KeyError(name)

    def _set_flag(self, name: str, value: int) -> None:
        kind = self.fault.kind if self.fault is not None else None
        if name == "mode" and kind == "switch_stuck":
            return  # the controller ignores the change: read-back and optics keep the old mode
        if name == "mode" and kind == "switch_late":
            self._late = (time.monotonic() + self.fault.delay_s, value)  # type: ignore[union-attr]
            if value in (1, 2) and not self.values["extern"]:
                self.link.request(self.state_of(value), late_s=self.fault.delay_s)  # type: ignore[union-attr]
            return
        self.values[name] = value
        if name == "mode" and value in (1, 2) and not self.values["extern"]:
            self.link.request(self.state_of(value))
        if name == "extern":
            if value:
                first = self.state_of(int(self.values["mode"]) if self.values["mode"] else 1)
                self.link.arm_pattern((first, first.other()))
            else:
                self.link.stop_pattern()
                if self.values["mode"] in (1, 2):
                    self.link.request(self.state_of(int(self.values["mode"])))

    def _apply_late(self) -> None:
        if self._late is not None and self._late[0] <= time.monotonic():
            self.values["mode"] = self._late[1]
            self._late = None

    def _store(self, name: str, arg: str) -> str:
        if arg not in ("1", "2", "3", "4"):
            raise InvalidArgument(arg)
        slot = int(arg)
        if name == "set":
            self.stored[slot] = dict(self.values)
        elif slot in self.stored:
            self.values = dict(self.stored[slot])
        else:
            raise InvalidArgument(arg)
        return "1"
