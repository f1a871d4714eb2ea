"""Emulate the SRS SR400 gated photon counter on its RS-232 line (echo off).

Protocol (notes/instruments.md §1, SR400 manual pp. 37–47): two-letter commands, parameters
after optional spaces separated by commas, several commands per line separated by ``;`` (each
reply on its own line); commands end with CR, LF or both; replies end with CR (changeable with
``SE``, reset by ``CL``). No ``*IDN?``. An unknown command sets status bit 7 and discards the rest
of its line. ``SS`` reads and clears the status byte. ``QA``/``QB`` answer ``-1`` while no point is
complete; ``QA m`` answers ``-1`` for a point not yet complete (an assumption: the manual only
says "most recent complete point"). Presets keep one significant digit (``CP2,12`` → ``1E1``);
gate delays/widths are rounded to 4 significant digits (1 ns below 1 µs).

Counting: with ``CS`` the scan runs ``NP`` count periods; each period is one lab pulse (one gate).
The emulator completes one pending period whenever the host polls (``SS``, ``SI``, ``QA``, ``QB``,
``XA``, ``XB``, ``EA``, ``EB``, ``ET``), so the switch state at the poll is the one the atoms see.
"""

from __future__ import annotations

import math
from typing import ClassVar

from heralder.simulators.faults import FaultInjector
from heralder.simulators.instruments.base import Emulator
from heralder.simulators.instruments.lablink import LabLink

__all__ = ["SR400Emulator"]

OVERFLOW_COUNTS = 10**9 - 1
_ALLOWED_INPUTS = {0: (0, 1), 1: (1, 2), 2: (0, 2, 3)}
_POLLS = {"SS", "SI", "QA", "QB", "XA", "XB", "EA", "EB", "ET"}


class CommandError(Exception):
    """Mark an illegal command or parameter (status bit 7; rest of line discarded)."""


def one_digit(value: float) -> float:
    """Return ``value`` truncated to its most significant digit (the SR400 preset rule)."""
    exponent = math.floor(math.log10(value))
    return math.floor(value / 10**exponent) * 10**exponent


def four_digits(value: float) -> float:
    """Return a gate time rounded to 4 significant digits (1 ns resolution below 1 µs)."""
    if value < 1e-6:
        return round(value * 1e9) * 1e-9
    exponent = math.floor(math.log10(value)) - 3
    return round(value / 10**exponent) * 10**exponent


def format_time(value: float) -> str:
    """Return a time as the emulator prints it (``1.000E-6``)."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    return f"{value / 10**exponent:.3f}E{exponent}"


def format_preset(value: float) -> str:
    """Return a one-digit preset as ``1E1``."""
    exponent = math.floor(math.log10(value))
    return f"{round(value / 10**exponent)}E{exponent}"


class SR400Emulator(Emulator):
    """Hold the SR400's settings, scan buffer and status byte; answer its commands.

    Parameters
    ----------
    link
        The virtual lab link that fires one pulse per count period.
    faults
        Fault injector of this device.
    """

    terminators: ClassVar[bytes] = b"\r\n"
    model: ClassVar[str] = "sr400"

    def __init__(self, link: LabLink, faults: FaultInjector | None = None) -> None:
        super().__init__(faults)
        self.link = link
        self.stored: dict[int, dict] = {}
        self.defaults()

    # -- state --------------------------------------------------------------------------------
    def defaults(self) -> None:
        """Recall the factory defaults (``CL``, ``RC 0``): resets counters and the terminator."""
        self.s = {
            "CM": 0, "CI": [1, 2, 0], "CP": [1e3, 1e7], "NP": 1, "NE": 0, "DT": 2e-3,
            "GM": [0, 0], "GD": [0.0, 0.0], "GW": [1e-6, 1e-6], "DS": [0, 0],
            "DL": [-0.01, -0.01], "DM": [0, 0], "TS": 0, "TL": 0.0, "SW": 6,
        }
        self.reply_end = b"\r"
        self.status = 0
        self.reset_counters()

    def reset_counters(self) -> None:
        """Reset the counters and the scan buffer (``CR``)."""
        self.running = False
        self.points_a: list[int] = []
        self.points_b: list[int] = []

    def error_state(self) -> None:
        """Flag a command error and a rate error, as after a missed gate."""
        self.status |= 0x90

    # -- framing ------------------------------------------------------------------------------
    def handle(self, line: bytes) -> bytes:
        """Execute one line of ``;``-separated commands; return their replies."""
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self.status |= 0x80
            return b""
        replies: list[str] = []
        for command in text.split(";"):
            command = command.replace(" ", "").upper()
            if not command:
                continue
            try:
                reply = self._command(command[:2], [p for p in command[2:].split(",") if p != ""]
                                      if command[2:] else [])
            except CommandError:
                self.status |= 0x80
                break
            if reply is not None:
                replies.extend(reply if isinstance(reply, list) else [reply])
        return b"".join(r.encode("ascii") + self.reply_end for r in replies)

    # -- commands -----------------------------------------------------------------------------
    def _command(self, name: str, args: list[str]) -> str | list[str] | None:
        if name in _POLLS and self.running:
            self._advance()
        handler = getattr(self, f"_cmd_{name.lower()}", None) if name.isalpha() else None
        if handler is None:
            raise CommandError(name)
        try:
            return handler(args)
        except (ValueError, IndexError, OverflowError):
            raise CommandError(name) from None

    @staticmethod
    def _index(args: list[str], allowed: range) -> int:
        index = int(args[0])
        if index not in allowed:
            raise ValueError(index)
        return index

    def _indexed(self, key: str, args: list[str], allowed: range, low: float, high: float,
                 fmt=format_time, rounder=four_digits):
        i = self._index(args, allowed)
        if len(args) == 1:
            return fmt(self.s[key][i - allowed.start])
        value = float(args[1])
        if not low <= value <= high or len(args) > 2:
            raise ValueError(value)
        self._pause_if_counting()
        self.s[key][i - allowed.start] = rounder(value)
        return None

    def _plain(self, key: str, args: list[str], choices=None, low=None, high=None, fmt=str):
        if not args:
            return fmt(self.s[key])
        value = float(args[0]) if low is not None else int(args[0])
        if choices is not None and value not in choices:
            raise ValueError(value)
        if low is not None and not low <= value <= high:
            raise ValueError(value)
        self.s[key] = value
        return None

    def _pause_if_counting(self) -> None:
        self.running = False  # gate/preset changes while counting pause the counters

    def _cmd_cm(self, args):
        reply = self._plain("CM", args, choices=range(4))
        if args:
            self.reset_counters()
        return reply

    def _cmd_ci(self, args):
        i = self._index(args, range(3))
        if len(args) == 1:
            return str(self.s["CI"][i])
        j = int(args[1])
        if j not in _ALLOWED_INPUTS[i]:
            raise ValueError(j)
        self.s["CI"][i] = j
        return None

    def _cmd_cp(self, args):
        return self._indexed("CP", args, range(1, 3), 1, 9e11, format_preset, one_digit)

    def _cmd_np(self, args):
        return self._plain("NP", args, choices=range(1, 2001))

    def _cmd_ne(self, args):
        return self._plain("NE", args, choices=(0, 1))

    def _cmd_dt(self, args):
        if args and float(args[0]) != 0 and not 2e-3 <= float(args[0]) <= 60:
            raise ValueError(args[0])
        if args:
            self.s["DT"] = one_digit(float(args[0])) if float(args[0]) else 0.0
            return None
        return format_time(self.s["DT"])

    def _cmd_gm(self, args):
        i = self._index(args, range(2))
        if len(args) == 1:
            return str(self.s["GM"][i])
        if int(args[1]) not in (0, 1, 2):
            raise ValueError(args[1])
        self.s["GM"][i] = int(args[1])
        return None

    def _cmd_gd(self, args):
        return self._indexed("GD", args, range(2), 0.0, 999.2e-3)

    def _cmd_gw(self, args):
        return self._indexed("GW", args, range(2), 5e-9, 999.2e-3)

    def _cmd_ds(self, args):
        i = self._index(args, range(2))
        if len(args) == 1:
            return str(self.s["DS"][i])
        if int(args[1]) not in (0, 1):
            raise ValueError(args[1])
        self.s["DS"][i] = int(args[1])
        return None

    def _cmd_dl(self, args):
        return self._indexed("DL", args, range(2), -0.3, 0.3, lambda v: f"{v:.4f}",
                             lambda v: round(v / 2e-4) * 2e-4)

    def _cmd_ts(self, args):
        return self._plain("TS", args, choices=(0, 1))

    def _cmd_tl(self, args):
        return self._plain("TL", args, low=-2.0, high=2.0, fmt=lambda v: f"{v:.3f}")

    def _cmd_sw(self, args):
        return self._plain("SW", args, choices=range(26))

    def _cmd_se(self, args):
        codes = [int(a) for a in args]
        if len(codes) != 4 or not all(0 <= c < 128 for c in codes):
            raise ValueError(args)
        self.reply_end = bytes(c for c in codes if c) or b"\r"
        return None

    def _cmd_cl(self, args):
        self.defaults()
        return None

    def _cmd_cs(self, args):
        if len(self.points_a) >= self.s["NP"]:
            self.reset_counters()
        self.running = True
        return None

    def _cmd_ch(self, args):
        self.running = False
        return None

    def _cmd_cr(self, args):
        self.reset_counters()
        return None

    def _advance(self) -> None:
        """Complete one count period: fire one lab pulse and buffer its counts."""
        count = self.link.fire_gate()
        a_in, b_in = self.s["CI"][0], self.s["CI"][1]
        a = count if a_in == 1 else round(1e7 * self.s["GW"][0])
        b = count if b_in == 1 else 0
        mode = self.s["CM"]
        a = {0: a, 1: a - b, 2: a + b, 3: a}[mode]
        if max(a, b) >= OVERFLOW_COUNTS:
            self.status |= 0x08
            a, b = min(a, OVERFLOW_COUNTS), min(b, OVERFLOW_COUNTS)
        self.points_a.append(a)
        self.points_b.append(-1 if mode == 3 else b)
        self.status |= 0x02
        if len(self.points_a) >= self.s["NP"]:
            if self.s["NE"] == 0:
                self.running = False
                self.status |= 0x04
            else:
                self.points_a, self.points_b = [], []

    def _point(self, points: list[int], args: list[str]) -> str:
        if not args:
            return str(points[-1]) if points else "-1"
        m = int(args[0])
        if not 1 <= m <= 2000:
            raise ValueError(m)
        return str(points[m - 1]) if m <= len(points) else "-1"

    def _cmd_qa(self, args):
        return self._point(self.points_a, args)

    def _cmd_qb(self, args):
        return self._point(self.points_b, args)

    def _cmd_xa(self, args):
        return "0"

    def _cmd_xb(self, args):
        return "0"

    def _cmd_ea(self, args):
        return [str(v) for v in self.points_a]

    def _cmd_eb(self, args):
        return [str(v) for v in self.points_b]

    def _cmd_et(self, args):
        return [str(v) for pair in zip(self.points_a, self.points_b, strict=True) for v in pair]

    def _cmd_ss(self, args):
        if args:
            bit = self._index(args, range(8))
            value = (self.status >> bit) & 1
            self.status &= ~(1 << bit)
            return str(value)
        value, self.status = self.status, 0
        return str(value)

    def _cmd_si(self, args):
        return str(0x04 if self.running else 0)

    def _cmd_st(self, args):
        self.stored[self._index(args, range(1, 10))] = {
            k: list(v) if isinstance(v, list) else v for k, v in self.s.items()}
        return None

    def _cmd_rc(self, args):
        m = self._index(args, range(10))
        if m == 0:
            self.defaults()
        elif m in self.stored:
            self.s = {k: list(v) if isinstance(v, list) else v for k, v in self.stored[m].items()}
            self.reset_counters()
        else:
            self.status |= 0x20  # recall error
        return None

    def _cmd_mi(self, args):
        return None

    def _cmd_sv(self, args):
        return None
