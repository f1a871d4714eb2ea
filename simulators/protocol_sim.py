"""Serve instrument emulators in-process as pyserial ports: ``sim://<instrument>``.

pyserial imports this module for ``sim://`` URLs (``heralder.transport`` registers the package)
and uses its :class:`Serial`. The port talks to the emulator of the active run
(:func:`heralder.registry.active_context`): bytes written are fed to the emulator at once, replies
become readable when their (fault-injected) delay has passed, and an injected disconnect makes the
port fail like a pulled cable until it is closed and reopened. pyvisa-py reaches the same
emulators as ``ASRLsim://sr400::INSTR``.
"""

from __future__ import annotations

import time
from collections import deque

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from heralder.simulators.instruments.catalog import emulator_for_address, parse_sim_url

__all__ = ["Serial"]


class Serial(SerialBase):
    """Expose one instrument emulator through pyserial's port API."""

    def open(self) -> None:
        """Connect to the emulator named by the URL.

        Raises
        ------
        SerialException
            If the port is already open or the URL names no known instrument.
        """
        from heralder.registry import active_context

        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        if self.is_open:
            raise SerialException("port already open")
        try:
            parse_sim_url(self._port)
            self._emulator = emulator_for_address(self._port, active_context())
        except ValueError as exc:
            raise SerialException(str(exc)) from None
        self._emulator.new_session()
        self._queue: deque[tuple[float, bytearray]] = deque()
        self._lost = False
        self.is_open = True

    def close(self) -> None:
        """Disconnect from the emulator."""
        self.is_open = False
        self._queue = deque()

    def from_url(self, url: str) -> str:
        """Return the URL unchanged (kept for pyserial's handler API)."""
        return url

    def _reconfigure_port(self) -> None:
        """Accept any serial settings (the emulator has no line to configure)."""

    @property
    def in_waiting(self) -> int:
        """Return the number of reply bytes readable now."""
        if not self.is_open:
            raise PortNotOpenError()
        now = time.monotonic()
        return sum(len(data) for ready, data in self._queue if ready <= now)

    def _check(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        if self._lost and not self._queue:
            raise SerialException(f"{self._port}: connection lost")

    def write(self, data: bytes) -> int:
        """Feed ``data`` to the emulator and queue its replies."""
        self._check()
        if self._lost:
            raise SerialException(f"{self._port}: connection lost")
        now = time.monotonic()
        for output in self._emulator.feed(bytes(data)):
            last = self._queue[-1][0] if self._queue else now
            self._queue.append((max(last, now + output.delay_s), bytearray(output.data)))
            if output.disconnect:
                self._lost = True
                break
        return len(data)

    def read(self, size: int = 1) -> bytes:
        """Return up to ``size`` reply bytes, waiting at most the port's timeout."""
        self._check()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        out = bytearray()
        while len(out) < size:
            now = time.monotonic()
            if self._queue and self._queue[0][0] <= now:
                data = self._queue[0][1]
                take = data[: size - len(out)]
                out += take
                del data[: len(take)]
                if not data:
                    self._queue.popleft()
                continue
            if out or (deadline is not None and now >= deadline):
                break
            if self._lost and not self._queue:
                raise SerialException(f"{self._port}: connection lost")
            wake = self._queue[0][0] if self._queue else now + 0.01
            if deadline is not None:
                wake = min(wake, deadline)
            time.sleep(max(0.0, min(wake - now, 0.01)))
        return bytes(out)

    def reset_input_buffer(self) -> None:
        """Drop replies not read yet."""
        self._check()
        self._queue.clear()

    def reset_output_buffer(self) -> None:
        """Do nothing: writes reach the emulator at once."""

    def flush(self) -> None:
        """Do nothing: writes reach the emulator at once."""


# pyserial looks for ``serial_class_for_url`` or ``Serial``; keep the module importable alone.
assert issubclass(Serial, serial.SerialBase)
