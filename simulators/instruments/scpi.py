"""Parse SCPI the way Keysight instruments do, for the 53230A and 33500B emulators.

Handles what third-party drivers send (notes/instruments.md Addendum): several commands per packet
(LF-separated), ``;``-compounds with relative paths (``SOUR1:VOLT 1;OFFS 0``), short and long
mnemonics in any case with numeric suffixes (``SOURce1:FUNCtion:PULSe:WIDTh?``), ``MIN``/``MAX``/
``DEF``, booleans read back as ``0``/``1``, and the error queue (``SYST:ERR?`` drains to
``+0,"No error"``; 20 entries, then ``-350,"Queue overflow"``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from heralder.simulators.instruments.base import Emulator

__all__ = ["ScpiEmulator", "ScpiError", "Setting", "format_number"]

Handler = Callable[[tuple[int, ...], list[str], bool], str | None]
QUEUE_LENGTH = 20


class ScpiError(Exception):
    """Carry one SCPI error (code and message) from a handler to the error queue."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},{message}")
        self.code = code
        self.message = message


def format_number(value: float) -> str:
    """Return ``value`` as Keysight prints reals: ``+1.000000000000000E+03``."""
    return f"{value:+.15E}"


def _node_regex(node: str) -> str:
    suffix = node.endswith("#")
    node = node.rstrip("#")
    short = "".join(c for c in node if not c.islower() or not c.isalpha())
    forms = sorted({node.upper(), short.upper()}, key=len, reverse=True)
    body = "(?:" + "|".join(re.escape(f) for f in forms) + ")"
    return body + (r"(\d*)" if suffix else "")


def compile_header(pattern: str) -> re.Pattern[str]:
    """Return a regex matching every spelling of a SCPI header pattern.

    ``[SOURce#:]BURSt:NCYCles`` matches ``BURS:NCYC``, ``sour2:burst:ncycles`` ...; each ``#``
    captures an optional numeric suffix.
    """
    parts = re.findall(r"\[[^\]]+\]|[^:\[\]]+", pattern)
    regex = ""
    for index, part in enumerate(parts):
        optional = part.startswith("[")
        body = ":".join(_node_regex(n) for n in part.strip("[]").strip(":").split(":"))
        if index == 0:
            regex = f"(?:{body}:)?" if optional else body
        elif optional:
            regex += f"(?::{body})?"
        else:
            regex += body if regex.endswith(":)?") else f":{body}"
    return re.compile(r"^:?" + regex + r"$", re.IGNORECASE)


@dataclass(frozen=True)
class Setting:
    """Describe one stored instrument setting and how it is set and read back.

    Attributes
    ----------
    kind
        ``"float"``, ``"int"``, ``"bool"`` or ``"enum"``.
    default
        Value after ``*RST``.
    low, high
        Allowed range of numbers (``MIN``/``MAX`` give these).
    choices
        Mnemonics of an enum in their documented mixed case (``SINusoid``); read back short.
    specials
        Extra words accepted for numbers (``{"INF": 9.9e37}``).
    """

    kind: str
    default: object
    low: float = float("-inf")
    high: float = float("inf")
    choices: tuple[str, ...] = ()
    specials: tuple[tuple[str, float], ...] = ()

    def parse(self, args: list[str]) -> object:
        """Return the value of ``args``; raise :class:`ScpiError` if it is not acceptable."""
        if len(args) != 1 or not args[0]:
            raise ScpiError(-109, "Missing parameter" if not args or not args[0] else
                            "Parameter not allowed")
        token = args[0].strip().upper()
        if self.kind == "bool":
            if token in ("1", "ON"):
                return True
            if token in ("0", "OFF"):
                return False
            raise ScpiError(-224, "Illegal parameter value")
        if self.kind == "enum":
            for choice in self.choices:
                short = "".join(c for c in choice if c.isupper() or c.isdigit())
                if token in (choice.upper(), short):
                    return short
            raise ScpiError(-224, "Illegal parameter value")
        words = {"MIN": self.low, "MINIMUM": self.low, "MAX": self.high, "MAXIMUM": self.high,
                 "DEF": self.default, "DEFAULT": self.default, **dict(self.specials)}
        if token in words:
            return words[token]
        try:
            value = float(token)
        except ValueError:
            raise ScpiError(-104, "Data type error") from None
        if not self.low <= value <= self.high:
            raise ScpiError(-222, "Data out of range")
        if self.kind == "int":
            if value != int(value):
                raise ScpiError(-224, "Illegal parameter value")
            return int(value)
        return value

    def format(self, value: object) -> str:
        """Return ``value`` as the instrument prints it."""
        if self.kind == "bool":
            return "1" if value else "0"
        if self.kind == "enum":
            return str(value)
        if self.kind == "int":
            return f"{int(value):+d}"
        return format_number(float(value))  # type: ignore[arg-type]


def split_units(line: str) -> list[str]:
    """Split a program message at ``;`` outside quotes."""
    return [u for u in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', line) if u.strip()]


def split_args(text: str) -> list[str]:
    """Split a parameter list at commas outside quotes and ``(@...)`` channel lists."""
    args, depth, quote, current = [], 0, False, ""
    for c in text:
        if c == '"':
            quote = not quote
        elif not quote and c == "(":
            depth += 1
        elif not quote and c == ")":
            depth -= 1
        if c == "," and depth == 0 and not quote:
            args.append(current.strip())
            current = ""
        else:
            current += c
    if current.strip() or args:
        args.append(current.strip())
    return args


class ScpiEmulator(Emulator):
    """Dispatch SCPI program messages to registered handlers; keep the error queue.

    Subclasses set :attr:`idn`, call :meth:`add` / :meth:`add_setting` in ``__init__`` and
    implement :meth:`reset` (``*RST``).
    """

    idn: ClassVar[str] = ""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.errors: deque[tuple[int, str]] = deque()
        self._handlers: list[tuple[re.Pattern[str], Handler, str]] = []
        self._settings: dict[str, Setting] = {}
        self.values: dict[tuple[str, int], object] = {}
        self.add("*IDN", lambda s, a, q: self.idn if q else self._no_set())
        self.add("*RST", lambda s, a, q: self._no_query(q) or self.reset())
        self.add("*CLS", lambda s, a, q: self._no_query(q) or self.errors.clear())
        self.add("*OPC", lambda s, a, q: "1" if q else None)
        self.add("*WAI", lambda s, a, q: self._no_query(q))
        self.add("*ESR", lambda s, a, q: "+0" if q else self._no_set())
        self.add("*TST", lambda s, a, q: "+0" if q else self._no_set())
        self.add("SYSTem:ERRor[:NEXT]", self._system_error)
        self.add("SYSTem:VERSion", lambda s, a, q: "1999.0" if q else self._no_set())

    # -- registration -------------------------------------------------------------------------
    def add(self, pattern: str, handler: Handler) -> None:
        """Register ``handler(suffixes, args, is_query)`` for every spelling of ``pattern``."""
        self._handlers.append((compile_header(pattern), handler, pattern))

    def add_setting(self, pattern: str, name: str, setting: Setting, channels: int = 1) -> None:
        """Register a stored setting set by ``pattern value`` and read by ``pattern?``."""
        self._settings[name] = setting
        for channel in range(1, channels + 1):
            self.values[(name, channel)] = setting.default

        def handler(suffixes: tuple[int, ...], args: list[str], query: bool) -> str | None:
            channel = self.channel(suffixes, channels)
            if query:
                if args and args[0].upper() in ("MIN", "MAX", "MINIMUM", "MAXIMUM"):
                    return setting.format(setting.parse(args))
                return setting.format(self.values[(name, channel)])
            self.set_value(name, setting.parse(args), channel)
            return None

        self.add(pattern, handler)

    def set_value(self, name: str, value: object, channel: int = 1) -> None:
        """Store a setting (subclasses hook here to react, e.g. to drive the switch)."""
        self.values[(name, channel)] = value

    def reset_settings(self) -> None:
        """Put every stored setting back to its default."""
        for (name, channel) in list(self.values):
            self.values[(name, channel)] = self._settings[name].default

    def reset(self) -> None:
        """Execute ``*RST``."""
        self.reset_settings()

    @staticmethod
    def channel(suffixes: Sequence[int], channels: int) -> int:
        """Return the channel of a header's first numeric suffix (1 if absent)."""
        channel = next((s for s in suffixes if s), 1)
        if not 1 <= channel <= channels:
            raise ScpiError(-114, "Header suffix out of range")
        return channel

    @staticmethod
    def _no_query(query: bool) -> None:
        if query:
            raise ScpiError(-113, "Undefined header")

    @staticmethod
    def _no_set() -> None:
        raise ScpiError(-113, "Undefined header")

    def push_error(self, code: int, message: str) -> None:
        """Append an error to the queue (the last entry becomes -350 when it is full)."""
        if len(self.errors) >= QUEUE_LENGTH:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, message))

    def _system_error(self, suffixes: tuple[int, ...], args: list[str], query: bool) -> str:
        if not query:
            raise ScpiError(-113, "Undefined header")
        code, message = self.errors.popleft() if self.errors else (0, "No error")
        return f'{code:+d},"{message}"'

    def error_state(self) -> None:
        """Queue a device-specific error, as a real unit does after an internal fault."""
        self.push_error(-310, "System error; emulated fault")

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, line: bytes) -> bytes:
        """Execute one program message and return the joined query replies + LF."""
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            self.push_error(-101, "Invalid character")
            return b""
        replies: list[str] = []
        prefix = ""
        for unit in split_units(text):
            unit = unit.strip()
            header, _, rest = unit.partition(" ")
            header = header.strip()
            query = header.endswith("?")
            header = header.rstrip("?")
            candidates = [header]
            if prefix and not header.startswith((":", "*")):
                candidates.insert(0, prefix + header)
            try:
                reply, matched = self._dispatch(candidates, split_args(rest.strip()), query)
            except ScpiError as error:
                self.push_error(error.code, error.message)
                continue
            if not matched.startswith("*"):
                path = matched.lstrip(":")
                prefix = path.rsplit(":", 1)[0] + ":" if ":" in path else ""
            if query and reply is not None:
                replies.append(reply)
        return (";".join(replies) + "\n").encode("ascii") if replies else b""

    def _dispatch(self, candidates: list[str], args: list[str], query: bool
                  ) -> tuple[str | None, str]:
        for header in candidates:
            for regex, handler, _ in self._handlers:
                match = regex.match(header)
                if match:
                    suffixes = tuple(int(g) if g else 0 for g in match.groups())
                    return handler(suffixes, args, query), header
        raise ScpiError(-113, "Undefined header")
