"""Define the typed error hierarchy shared by every part of heralder.

Every error a user can meet is a subclass of :class:`HeralderError`, so a caller (the CLI, the
engine, the GUI) can catch one base class and still tell a bad config from a silent instrument.
"""

from __future__ import annotations


class HeralderError(Exception):
    """Base class of every error heralder raises on purpose."""


class ConfigError(HeralderError, ValueError):
    """Report a configuration file or value that cannot be used.

    Parameters
    ----------
    message
        What is wrong, in one line.
    path
        The file the value came from, if any.
    key
        The dotted key (``devices.counter.timeout_s``), if any.
    line
        The 1-based line of the key in the file, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.key = key
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.key is not None:
            where = f"{where}: {self.key}" if where else self.key
        return f"{where}: {self.message}" if where else self.message


class DeviceError(HeralderError):
    """Report a failure talking to an instrument (real or emulated)."""


class DeviceTimeout(DeviceError, TimeoutError):
    """Report an instrument that did not answer within its timeout."""


class DeviceProtocolError(DeviceError):
    """Report a reply that breaks the instrument's protocol (garbage, wrong format, error state)."""


class DeviceDisconnected(DeviceError, ConnectionError):
    """Report a connection that is closed, lost, or was never opened."""


class DataLossError(HeralderError):
    """Report data that could not be recorded (full queue, overflow, failed write)."""


class DeadlineMissed(HeralderError):
    """Report a decision or switch acknowledgement that came after its deadline."""
