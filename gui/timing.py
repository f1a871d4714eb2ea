"""Budget and measure the GUI thread's time: frame pacing and the event loop's worst stall."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PyQt6.QtCore import QElapsedTimer, QObject, QTimer

__all__ = ["FramePacer", "StallMeter"]


class FramePacer:
    """Decide when to redraw the plots so the GUI never slows a CPU-bound engine much.

    In CPython the engine thread and the GUI thread share one interpreter lock: every
    millisecond spent drawing is a millisecond the engine cannot compute while it is busy (a
    simulated lab). While the other threads of the process are busy, frames are spaced so the
    GUI thread uses at most ``budget`` of the wall time; when they mostly wait (real hardware),
    every frame is drawn. A frame is always drawn after ``max_interval_s``.

    Parameters
    ----------
    budget
        Largest share of wall time the GUI thread may use while the engine is busy.
    max_interval_s
        Longest time between two frames.
    busy_share
        Share of wall time the other threads must use to count as busy.
    """

    def __init__(
        self, budget: float = 0.06, max_interval_s: float = 1.0, busy_share: float = 0.1,
    ) -> None:
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"budget must lie in (0, 1], got {budget}")
        self.budget = budget
        self.max_interval_s = max_interval_s
        self.busy_share = busy_share
        self.frames = 0
        self._last: tuple[float, float, float] | None = None

    def due(self) -> bool:
        """Return ``True`` if a frame should be drawn now (and count it as drawn)."""
        now = (time.perf_counter(), time.thread_time(), time.process_time())
        if self._last is not None:
            wall_s = max(now[0] - self._last[0], 1e-9)
            gui_s = now[1] - self._last[1]
            others_s = (now[2] - self._last[2]) - gui_s
            engine_busy = others_s >= self.busy_share * wall_s
            if engine_busy and gui_s > self.budget * wall_s and wall_s < self.max_interval_s:
                return False
        self._last = now
        self.frames += 1
        return True


class StallMeter(QObject):
    """Record the gaps between ticks of a short QTimer.

    A tick that comes late means the event loop was busy (or blocked) that long; the largest
    gap is the worst stall a user could have felt.

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
        self.gaps_s: deque[float] = deque(maxlen=max_gaps)
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    @property
    def ticks(self) -> int:
        """Return the number of ticks seen since :meth:`start` (up to ``max_gaps``)."""
        return len(self.gaps_s)

    def start(self) -> None:
        """Start (or restart) measuring from zero."""
        self.max_gap_s = 0.0
        self.gaps_s.clear()
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        """Stop measuring (the figures stay readable)."""
        self._timer.stop()

    def percentile_s(self, q: float) -> float:
        """Return the ``q``-th percentile of the recorded gaps (0 before any tick)."""
        return float(np.percentile(self.gaps_s, q)) if self.gaps_s else 0.0

    def count_over(self, limit_s: float) -> int:
        """Return how many recorded gaps exceeded ``limit_s``."""
        return sum(gap > limit_s for gap in self.gaps_s)

    def _tick(self) -> None:
        gap_s = self._clock.restart() / 1000.0
        self.gaps_s.append(gap_s)
        self.max_gap_s = max(self.max_gap_s, gap_s)
