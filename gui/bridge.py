"""Relay between the engine thread and the Qt main thread (DESIGN §4, anchors §9.3).

The bridge owns one :class:`~heralder.control.snapshot.EngineControl` per run. A ``QTimer`` polls
its latest snapshot and drains its events at the GUI's refresh rate and re-emits them as Qt
signals; commands go the other way. Nothing here waits on the engine: ``stop`` runs in a helper
thread, so even a stop that takes its whole timeout never freezes the window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from heralder.config import Config
from heralder.control.snapshot import EngineControl, EngineSnapshot
from heralder.errors import HeralderError

__all__ = ["EngineBridge", "EngineFactory", "default_engine_factory"]

EngineFactory = Callable[[Config], EngineControl]


def default_engine_factory(config: Config) -> EngineControl:
    """Return the real run engine for ``config`` (imported only when a run starts)."""
    from heralder.control.engine import Engine

    return Engine(config)


class EngineBridge(QObject):
    """Poll one engine at a fixed rate and forward user commands to it.

    Parameters
    ----------
    factory
        Builds the engine of a run from its config.
    refresh_hz
        Polling rate of snapshots and events.
    stop_timeout_s
        Timeout handed to ``EngineControl.stop``.

    Signals
    -------
    snapshot_changed(EngineSnapshot)
        A snapshot that differs from the last one seen.
    events_arrived(list)
        The events drained in one poll (never empty).
    run_ended(EngineSnapshot)
        The engine thread has ended; carries its final snapshot.
    """

    snapshot_changed = pyqtSignal(object)
    events_arrived = pyqtSignal(list)
    run_ended = pyqtSignal(object)

    def __init__(
        self,
        factory: EngineFactory = default_engine_factory,
        *,
        refresh_hz: float = 25.0,
        stop_timeout_s: float = 5.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory = factory
        self._stop_timeout_s = stop_timeout_s
        self._engine: EngineControl | None = None
        self._last: EngineSnapshot | None = None
        self._stopper: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000.0 / refresh_hz)))
        self._timer.timeout.connect(self.poll)

    @property
    def engine(self) -> EngineControl | None:
        """Return the engine of the current or last run."""
        return self._engine

    @property
    def active(self) -> bool:
        """Return ``True`` while an engine thread is alive (running, paused or stopping)."""
        return self._engine is not None and self._timer.isActive()

    @property
    def stopping(self) -> bool:
        """Return ``True`` once a stop was requested and the engine has not ended yet."""
        return self.active and self._stopper is not None

    def start(self, config: Config) -> None:
        """Build an engine for ``config`` and start it.

        Raises
        ------
        HeralderError
            If a run is already active, or the engine rejects the config or its devices.
        """
        if self.active:
            raise HeralderError("a run is already active: stop it first")
        engine = self._factory(config)
        engine.start()
        self._engine, self._last, self._stopper = engine, None, None
        self._timer.start()

    def pause(self) -> None:
        """Ask the engine to pause after the current shot."""
        if self.active:
            self._engine.pause()

    def resume(self) -> None:
        """Ask a paused engine to continue."""
        if self.active:
            self._engine.resume()

    def stop(self) -> None:
        """Ask the engine to stop, from a helper thread so the window keeps running."""
        if not self.active or self._stopper is not None:
            return
        self._stopper = threading.Thread(
            target=self._engine.stop, kwargs={"timeout_s": self._stop_timeout_s},
            name="heralder-gui-stop", daemon=True,
        )
        self._stopper.start()

    def abandon(self) -> None:
        """Stop polling an engine that did not end within its stop timeout (window closing)."""
        self._timer.stop()

    def set_parameters(self, changes: dict[str, Any]) -> None:
        """Send dotted config changes to the running engine (from its next shot).

        Raises
        ------
        ConfigError
            If the engine rejects a key or value.
        """
        if self.active:
            self._engine.set_parameters(changes)

    def poll(self) -> None:
        """Forward the latest snapshot and events; notice the end of the run."""
        engine = self._engine
        if engine is None:
            return
        snapshot = engine.snapshot()
        if snapshot is not self._last:
            self._last = snapshot
            self.snapshot_changed.emit(snapshot)
        events = engine.drain_events()
        if events:
            self.events_arrived.emit(events)
        if engine.join(0.0):
            self._timer.stop()
            tail = engine.drain_events()
            if tail:
                self.events_arrived.emit(tail)
            final = engine.snapshot()
            if final is not self._last:
                self._last = final
                self.snapshot_changed.emit(final)
            self.run_ended.emit(final)
