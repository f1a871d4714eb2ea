"""Measure how long the Qt event loop goes without running (the window's worst freeze)."""

from __future__ import annotations

from PyQt6.QtCore import QElapsedTimer, QObject, QTimer

__all__ = ["StallMeter"]


class StallMeter(QObject):
    """Record the longest gap between ticks of a short QTimer.

    A tick that comes ``interval_ms`` late means the event loop was busy (or blocked) that long;
    the largest gap seen is the worst stall a user could have felt.

    Parameters
    ----------
    interval_ms
        Period of the probe timer; stalls shorter than this are not resolved.
    """

    def __init__(self, interval_ms: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_gap_s = 0.0
        self.ticks = 0
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Start (or restart) measuring from zero."""
        self.max_gap_s, self.ticks = 0.0, 0
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        """Stop measuring (the figures stay readable)."""
        self._timer.stop()

    def _tick(self) -> None:
        gap_s = self._clock.restart() / 1000.0
        self.ticks += 1
        self.max_gap_s = max(self.max_gap_s, gap_s)
