"""Budget and measure the GUI thread's time: frame pacing and the event loop's worst stall."""

from __future__ import annotations

import os
import time
from collections import deque

import numpy as np
from PyQt6.QtCore import QElapsedTimer, QObject, QTimer

__all__ = ["FramePacer", "StallMeter"]


class FramePacer:
    """Decide when to redraw the plots so the window takes little CPU from a starved engine.

    The engine runs in its own process: with a core to spare the window draws every frame. On a
    saturated machine (1-minute load average at or above the number of cores) every millisecond
    of drawing is taken from someone, the engine included, so frames are spaced for the GUI
    thread to use at most ``budget`` of the wall time. A frame is always drawn after
    ``max_interval_s``.

    Parameters
    ----------
    budget
        Largest share of wall time the GUI thread may use on a saturated machine.
    max_interval_s
        Longest time between two frames.
    """

    def __init__(self, budget: float = 0.2, max_interval_s: float = 1.0) -> None:
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"budget must lie in (0, 1], got {budget}")
        if not max_interval_s > 0.0:
            raise ValueError(f"max_interval_s must be positive, got {max_interval_s}")
        self.budget = budget
        self.max_interval_s = max_interval_s
        self.frames = 0
        self._cores = os.cpu_count() or 1
        self._last: tuple[float, float] | None = None

    def due(self) -> bool:
        """Return ``True`` if a frame should be drawn now (and count it as drawn)."""
        now = (time.perf_counter(), time.thread_time())
        if self._last is not None:
            wall_s = max(now[0] - self._last[0], 1e-9)
            gui_s = now[1] - self._last[1]
            if (gui_s > self.budget * wall_s and wall_s < self.max_interval_s
                    and self._saturated()):
                return False
        self._last = now
        self.frames += 1
        return True

    def _saturated(self) -> bool:
        try:
            return os.getloadavg()[0] >= self._cores
        except (AttributeError, OSError):  # no load average (Windows): assume a core to spare
            return False


class StallMeter(QObject):
    """Record the gaps between ticks of a short QTimer, and the GUI thread's CPU time in each.

    A tick that comes late means the event loop was busy (or blocked) that long; the largest
    gap is the worst stall a user could have felt. The CPU time the GUI thread used within a gap
    tells its own work from waiting: for the interpreter lock, or for a core on a loaded machine.

    Parameters
    ----------
    interval_ms
        Period of the probe timer; stalls shorter than this are not resolved.
    max_gaps
        Number of most recent gaps kept for :meth:`percentile_s`.
    """

    def __init__(
        self, interval_ms: int = 5, max_gaps: int = 100_000, parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.max_gap_s = 0.0
        self.max_busy_s = 0.0
        self.gaps_s: deque[float] = deque(maxlen=max_gaps)
        self.busy_s: deque[float] = deque(maxlen=max_gaps)
        self._clock = QElapsedTimer()
        self._cpu_s = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    @property
    def ticks(self) -> int:
        """Return the number of ticks seen since :meth:`start` (up to ``max_gaps``)."""
        return len(self.gaps_s)

    def start(self) -> None:
        """Start (or restart) measuring from zero."""
        self.max_gap_s = self.max_busy_s = 0.0
        self.gaps_s.clear()
        self.busy_s.clear()
        self._cpu_s = time.thread_time()
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        """Stop measuring (the figures stay readable)."""
        self._timer.stop()

    def percentile_s(self, q: float) -> float:
        """Return the ``q``-th percentile of the recorded gaps (0 before any tick)."""
        return float(np.percentile(self.gaps_s, q)) if self.gaps_s else 0.0

    def busy_in_worst_gap_s(self) -> float:
        """Return the GUI thread's CPU time within the largest gap (0 before any tick)."""
        return self.busy_s[int(np.argmax(self.gaps_s))] if self.gaps_s else 0.0

    def count_over(self, limit_s: float) -> int:
        """Return how many recorded gaps exceeded ``limit_s``."""
        return sum(gap > limit_s for gap in self.gaps_s)

    def _tick(self) -> None:
        gap_s = self._clock.restart() / 1000.0
        cpu_s = time.thread_time()
        busy_s, self._cpu_s = cpu_s - self._cpu_s, cpu_s
        self.gaps_s.append(gap_s)
        self.busy_s.append(busy_s)
        self.max_gap_s = max(self.max_gap_s, gap_s)
        self.max_busy_s = max(self.max_busy_s, busy_s)
