"""Turn received bytes into reply bytes: the frame shared by every instrument emulator.

An :class:`Emulator` is a pure byte-in/byte-out state machine. :meth:`Emulator.feed` takes
whatever arrived on the wire, cuts it into commands at the instrument's terminators, lets the
instrument handle each command, applies the fault (if any) the :class:`FaultInjector` picks for
that command, and returns :class:`Output` pieces that a transport (the ``sim://`` URL handler or the
loopback TCP server) delivers. Instrument state survives reconnections; only the half-received
input is dropped by :meth:`Emulator.new_session`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from heralder.config import FaultConfig
from heralder.simulators.faults import FaultInjector

__all__ = ["Emulator", "Output"]

#: Longest command line kept while waiting for its terminator (a babbling client is cut off).
MAX_LINE_BYTES = 4096


@dataclass(frozen=True)
class Output:
    """Hold bytes an emulator sends back, with when and how they leave.

    Attributes
    ----------
    data
        The bytes to send.
    delay_s
        Wait this long (wall time) before sending.
    disconnect
        Drop the connection after sending ``data``.
    """

    data: bytes
    delay_s: float = 0.0
    disconnect: bool = False


class Emulator:
    """Frame commands, dispatch them to the instrument and apply injected faults.

    Subclasses implement :meth:`handle` (one command line in, its reply bytes out) and may
    override :meth:`error_state` and :meth:`is_block`.

    Parameters
    ----------
    faults
        Fault injector of this device; ``None`` for a healthy instrument.
    """

    #: Bytes that end a command (any one of them).
    terminators: ClassVar[bytes] = b"\n"
    #: Bytes that end a reply; garbage replies end with them so the host sees a whole message.
    reply_end: ClassVar[bytes] = b"\n"
    #: Model name used by ``heralder emulate`` and ``sim://<name>``.
    model: ClassVar[str] = ""

    def __init__(self, faults: FaultInjector | None = None) -> None:
        self.faults = faults or FaultInjector(())
        self.fault: FaultConfig | None = None
        self._buffer = bytearray()
        self._lock = threading.RLock()

    def new_session(self) -> None:
        """Forget half-received input (a client connected or reconnected)."""
        with self._lock:
            self._buffer.clear()

    def feed(self, data: bytes, pending: bytearray | None = None) -> list[Output]:
        """Consume received bytes and return the replies of every complete command.

        Parameters
        ----------
        data
            Bytes just received.
        pending
            The half-received command of one client session, kept by that session (so a client
            that vanishes mid-command can never complete another client's command); ``None``
            uses the emulator's own buffer (a single in-process connection).
        """
        outputs: list[Output] = []
        with self._lock:
            buffer = self._buffer if pending is None else pending
            buffer += data
            while True:
                cut = next((i for i, b in enumerate(buffer) if b in self.terminators), -1)
                if cut < 0:
                    if len(buffer) > MAX_LINE_BYTES:
                        buffer.clear()
                    return outputs
                line = bytes(buffer[:cut])
                del buffer[: cut + 1]
                if not line.strip():
                    continue  # the LF of a CR LF pair, or an empty line
                outputs.extend(self._one_command(line))

    def _one_command(self, line: bytes) -> list[Output]:
        self.fault = fault = self.faults.next_command()
        kind = fault.kind if fault is not None else None
        if kind == "no_reply":
            return []
        if kind == "error_state":
            self.error_state()
        try:
            reply = self.handle(line)
        finally:
            self.fault = None
        if kind == "slow_reply":
            return [Output(reply, delay_s=fault.delay_s)] if reply else []
        if kind == "disconnect":
            return [Output(reply[: len(reply) // 2], disconnect=True)]
        if kind == "garbage" and reply:
            junk = self.faults.rng.integers(0x80, 0x100, max(1, len(reply) - 1), dtype="u1")
            return [Output(junk.tobytes() + self.reply_end)]
        if kind == "truncated_block" and reply:
            return [Output(self._truncate(reply))]
        return [Output(reply)] if reply else []

    def _truncate(self, reply: bytes) -> bytes:
        """Return ``reply`` cut short: a block loses part of its payload, a line its end."""
        if self.is_block(reply):
            return reply[: max(3, (len(reply) * 2) // 3)]
        return reply[: len(reply) // 2]

    def handle(self, line: bytes) -> bytes:  # pragma: no cover - every emulator overrides
        """Execute one command line and return the bytes the instrument sends back."""
        raise NotImplementedError

    def error_state(self) -> None:
        """Put the instrument into its error state (the ``error_state`` fault)."""

    def is_block(self, reply: bytes) -> bool:
        """Return ``True`` if ``reply`` is a binary/definite-length block."""
        return reply.startswith(b"#")

    @staticmethod
    def wall_now() -> float:
        """Return wall time; instrument response times (late switches) run on it."""
        return time.monotonic()
