"""Relay between the engine and the Qt main thread (DESIGN §4, anchors §9.3).

The bridge owns one :class:`~heralder.control.snapshot.EngineControl` per run (by default an
:class:`~heralder.control.engine_process.EngineProcess`: the engine in a child process). A
``QTimer`` polls its latest snapshot and drains its events at the GUI's refresh rate and re-emits
them as Qt signals; commands go the other way. Nothing here waits on the engine: ``stop`` runs in
a helper thread, so even a stop that takes its whole timeout never freezes the window.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from heralder.config import Config
from heralder.control.engine_process import EngineProcess
from heralder.control.snapshot import EngineControl, EngineSnapshot
from heralder.errors import ConfigError, HeralderError

__all__ = ["SIMULATED_LAB_WARM_UP", "EngineBridge", "EngineFactory", "default_engine_factory"]

EngineFactory = Callable[[Config], EngineControl]


#: Loads the simulated lab's compiled kernels in the engine process before its run starts.
SIMULATED_LAB_WARM_UP = "heralder.simulators.emulate:warm_up"


def default_engine_factory(config: Config) -> EngineControl:
    """Return the real run engine for ``config``, in its own process.

    A CPU-bound engine in the window's process would hold the interpreter lock for tens of
    milliseconds at a time and stall the event loop; in a child process it cannot.
    """
    simulated = any(device.address.startswith("sim://") or device.driver.startswith("virtual_")
                    for _, device in config.devices.items())
    return EngineProcess(config, prepare=SIMULATED_LAB_WARM_UP if simulated else None)


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
    started()
        The engine of a run was built and started.
    start_failed(str)
        The engine could not be built or started; carries the reason.
    snapshot_changed(EngineSnapshot)
        A snapshot that differs from the last one seen.
    events_arrived(list)
        The events drained in one poll (never empty).
    run_ended(EngineSnapshot)
        The engine thread has ended; carries its final snapshot.
    """

    started = pyqtSignal()
    start_failed = pyqtSignal(str)
    snapshot_changed = pyqtSignal(object)
    events_arrived = pyqtSignal(list)
    run_ended = pyqtSignal(object)
    _built = pyqtSignal(object)

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
        self._starting = False
        self._stop_requested = False
        self._last: EngineSnapshot | None = None
        self._stopper: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000.0 / refresh_hz)))
        self._timer.timeout.connect(self.poll)
        self._built.connect(self._on_built)
        self.start_failed.connect(self._on_failed)

    @property
    def engine(self) -> EngineControl | None:
        """Return the engine of the current or last run."""
        return self._engine

    @property
    def active(self) -> bool:
        """Return ``True`` from :meth:`start` until the engine thread has ended."""
        return self._starting or (self._engine is not None and self._timer.isActive())

    @property
    def stopping(self) -> bool:
        """Return ``True`` once a stop was requested and the engine has not ended yet."""
        return self.active and (self._stopper is not None or self._stop_requested)

    def start(self, config: Config) -> None:
        """Build an engine for ``config`` and start it, in a helper thread.

        Building opens no device but may take a second (drivers, compiled estimator); the
        window keeps running meanwhile. :attr:`started` or :attr:`start_failed` follows.

        Raises
        ------
        HeralderError
            If a run is already active.
        """
        if self.active:
            raise HeralderError("a run is already active: stop it first")
        self._engine, self._last, self._stopper = None, None, None
        self._starting, self._stop_requested = True, False
        threading.Thread(
            target=self._build, args=(config,), name="heralder-gui-start", daemon=True
        ).start()

    def _build(self, config: Config) -> None:
        try:
            engine = self._factory(config)
            engine.start()
        except HeralderError as exc:
            self.start_failed.emit(str(exc))
            return
        except Exception:  # a broken engine or driver must not take the window down
            self.start_failed.emit("the engine failed to start:\n" + traceback.format_exc())
            return
        self._built.emit(engine)

    def _on_built(self, engine: EngineControl) -> None:
        self._starting = False
        self._engine = engine
        self._timer.start()
        self.started.emit()
        if self._stop_requested:
            self.stop()

    def _on_failed(self, _message: str) -> None:
        self._starting = False

    def pause(self) -> None:
        """Ask the engine to pause after the current shot."""
        if self._engine is not None and self.active:
            self._engine.pause()

    def resume(self) -> None:
        """Ask a paused engine to continue."""
        if self._engine is not None and self.active:
            self._engine.resume()

    def stop(self) -> None:
        """Ask the engine to stop, from a helper thread so the window keeps running."""
        if self._starting:
            self._stop_requested = True
            return
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
            If the engine rejects a key or value, or is still starting.
        """
        if self._starting:
            raise ConfigError("the run is still starting: change it again in a moment",
                              key=", ".join(changes))
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
