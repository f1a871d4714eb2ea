"""Provide the clocks the engine and the simulators run on.

The engine and the virtual lab never call :func:`time.monotonic` or :func:`time.sleep` directly;
they receive a :class:`Clock`. :class:`WallClock` is real time; :class:`SimClock` is simulated time
that advances only when someone sleeps or advances it, so tests are deterministic and run faster
than real time.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Tell the time and wait, in seconds."""

    def now(self) -> float:
        """Return the current time in seconds (monotonic, arbitrary origin)."""
        ...

    def sleep(self, duration_s: float) -> None:
        """Wait for ``duration_s`` seconds of this clock's time."""
        ...


def _check_duration(duration_s: float) -> float:
    duration_s = float(duration_s)
    if not duration_s >= 0.0:  # also rejects NaN
        raise ValueError(f"duration_s must be a finite number >= 0, got {duration_s!r}")
    if duration_s == float("inf"):
        raise ValueError("duration_s must be finite, got inf")
    return duration_s


class WallClock:
    """Run on the machine's monotonic clock."""

    def now(self) -> float:
        """Return :func:`time.monotonic` in seconds."""
        return time.monotonic()

    def sleep(self, duration_s: float) -> None:
        """Sleep for ``duration_s`` seconds of real time."""
        time.sleep(_check_duration(duration_s))


class SimClock:
    """Keep simulated time that advances only by :meth:`sleep` or :meth:`advance`.

    Parameters
    ----------
    start_s
        The initial reading of the clock in seconds.

    Notes
    -----
    The clock is thread-safe; sleeping returns at once, so a simulated run is as fast as its code.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the simulated time in seconds."""
        return self._now_s  # one attribute read is atomic: no lock (now() is called per pulse)

    def sleep(self, duration_s: float) -> None:
        """Advance the simulated time by ``duration_s`` without waiting."""
        self.advance(duration_s)

    def advance(self, duration_s: float) -> float:
        """Advance the simulated time by ``duration_s`` and return the new reading."""
        duration_s = _check_duration(duration_s)
        with self._lock:
            self._now_s += duration_s
            return self._now_s

    def advance_to(self, time_s: float) -> float:
        """Move the clock forward to ``time_s`` (never backwards) and return the new reading."""
        if time_s.__class__ is not float:
            time_s = float(time_s)
        lock = self._lock  # acquire/release, not `with`, and no max(): a third of the cost
        lock.acquire()  # (the virtual lab calls this once per pulse)
        try:
            if time_s > self._now_s:
                self._now_s = time_s
            return self._now_s
        finally:
            lock.release()
