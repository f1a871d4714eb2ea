"""Assemble the lab window: setup on the left; run control, live plots and log on the right.

The window holds the current :class:`~heralder.config.Config` and changes it only through
``updated_config`` (so every rule is heralder.config's); a running engine gets the same dotted
change through :meth:`EngineBridge.set_parameters`. Every action here is a config key plus
``heralder run`` on the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from heralder.config import Config, dump_config, load_config, updated_config
from heralder.control.snapshot import EngineEvent, EngineSnapshot, EngineState
from heralder.errors import ConfigError
from heralder.gui.bridge import EngineBridge, EngineFactory, default_engine_factory
from heralder.gui.plots import LivePlots
from heralder.gui.run_panel import EventLog, RunPanel, StatusLine
from heralder.gui.setup_panel import DeviceChecker, SetupPanel
from heralder.gui.timing import FramePacer

__all__ = ["MainWindow", "Notice"]

_NOTICE_STYLES = {
    "warning": "background:#fdebd0; color:#7e5109; border:1px solid #f5b041; padding:4px;",
    "error": "background:#fadbd8; color:#78281f; border:1px solid #e74c3c; padding:4px;",
    "info": "background:#e8f8f5; color:#0e6655; border:1px solid #48c9b0; padding:4px;",
}
_ENDED = (EngineState.FINISHED, EngineState.FAILED)
_NOTICE_HEIGHT_PX = 34
#: Extra time, beyond the engine's stop timeout, before a close gives up waiting (an engine
#: process that does not stop in time gets 1 s after SIGTERM and 1 s after SIGKILL).
_CLOSE_MARGIN_S = 4.0


class Notice(QWidget):
    """Show the latest warning or error above the plots until dismissed (never modal)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setWordWrap(True)
        dismiss = QPushButton("✕")
        dismiss.setFixedWidth(28)
        dismiss.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(dismiss)
        # A notice coming and going must not re-layout the plots (a full, slow redraw).
        self.setFixedHeight(_NOTICE_HEIGHT_PX)
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        """Show ``text`` styled by ``level``."""
        style = _NOTICE_STYLES.get(level, _NOTICE_STYLES["error"])
        if self.label.styleSheet() != style:  # re-styling is costly; warnings can come per shot
            self.label.setStyleSheet(style)
        first = text.splitlines()[0] if text else ""
        self.label.setText(first if first == text else first + " …")
        self.label.setToolTip(text)
        self.show()


class MainWindow(QMainWindow):
    """Run the heralding experiment from one window.

    Parameters
    ----------
    config
        The setup shown at first.
    factory
        Builds the engine of each run from the config (the real engine by default).
    stop_timeout_s
        Timeout of the engine's stop (on the Stop button and when the window closes).
    """

    def __init__(
        self, config: Config, *, factory: EngineFactory = default_engine_factory,
        stop_timeout_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.setWindowTitle("heralder: cavity-QED heralding of entangled spin-1 atoms")
        self.config = config
        self._stop_timeout_s = stop_timeout_s
        self._closing = False
        self.last_snapshot = EngineSnapshot()
        self.bridge = EngineBridge(
            factory, refresh_hz=config.gui.refresh_hz, stop_timeout_s=stop_timeout_s, parent=self)
        self.checker = DeviceChecker(self)
        self.pacer = FramePacer()
        self._build(config)
        self._connect()
        self._show_config(config)

    def _build(self, config: Config) -> None:
        self.setup = SetupPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.setup)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(420)
        self.run_panel = RunPanel()
        self.notice = Notice()
        self.plots = LivePlots(
            history_pulses=config.gui.history_pulses, history_shots=config.gui.history_shots)
        self.log = EventLog()
        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(self.plots)
        right_split.addWidget(self.log)
        right_split.setStretchFactor(0, 5)
        right_split.setStretchFactor(1, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.run_panel)
        right_layout.addWidget(self.notice)
        right_layout.addWidget(right_split, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        self.setCentralWidget(split)
        self.status = StatusLine(self.statusBar())

    def _connect(self) -> None:
        self.run_panel.start_clicked.connect(self.start_run)
        self.run_panel.pause_clicked.connect(self.bridge.pause)
        self.run_panel.resume_clicked.connect(self.bridge.resume)
        self.run_panel.stop_clicked.connect(self.stop_run)
        self.run_panel.shots_changed.connect(lambda n: self.apply_change("run.shots", n))
        self.setup.form.change_requested.connect(self.apply_change)
        self.setup.load_clicked.connect(self._ask_load)
        self.setup.save_clicked.connect(self._ask_save)
        self.setup.check_clicked.connect(self.check_devices)
        self.checker.finished.connect(self._checked)
        self.checker.failed.connect(lambda text: self.report("error", text))
        self.bridge.snapshot_changed.connect(self._show_snapshot)
        self.bridge.events_arrived.connect(self._show_events)
        self.bridge.run_ended.connect(self._run_ended)
        self.bridge.start_failed.connect(self._start_failed)

    # ---------------------------------------------------------------- config

    def _show_config(self, config: Config) -> None:
        self.setup.set_config(config)
        self.run_panel.shots.blockSignals(True)
        self.run_panel.shots.setValue(min(config.run.shots, self.run_panel.shots.maximum()))
        self.run_panel.shots.blockSignals(False)
        self.plots.reset(config)

    def apply_change(self, key: str, value: Any) -> bool:
        """Validate a dotted change, send it to a running engine and keep it; report refusals.

        Returns
        -------
        bool
            ``True`` if the change was accepted.
        """
        try:
            config = updated_config(self.config, {key: value})
            self.bridge.set_parameters({key: value})
        except ConfigError as exc:
            self._refuse(key, exc.message)
            return False
        self.config = config
        live = self.bridge.active
        if key == "policy.kind":
            self.setup.form.set_config(config)
        elif self._is_form_key(key):
            self.setup.form.show_accepted(key, "✓ from the next shot" if live else "")
        self.plots.show_policy(config)
        when = " (from the next shot)" if live else ""
        self.log.message("info", f"set {key} = {value!r}{when}")
        return True

    def _is_form_key(self, key: str) -> bool:
        try:
            self.setup.form.edit(key)
        except KeyError:
            return key == "policy.kind"
        return True

    def _refuse(self, key: str, message: str) -> None:
        if self._is_form_key(key):
            self.setup.form.show_error(key, message)
        else:
            self.report("error", f"{key}: {message}")
        self.log.message("warning", f"refused {key}: {message}")

    def load_path(self, path: str | Path) -> bool:
        """Load the setup file at ``path``; keep the current one if it is invalid."""
        if self.bridge.active:
            self.report("warning", "stop the run before loading another setup")
            return False
        try:
            config = load_config(path)
        except ConfigError as exc:
            self.report("error", f"setup not loaded: {exc}")
            return False
        self.config = config
        self._show_config(config)
        self.log.message("info", f"loaded setup {path}")
        return True

    def save_path(self, path: str | Path) -> bool:
        """Write the current setup (with every accepted change) to ``path`` as TOML."""
        try:
            Path(path).write_text(dump_config(self.config), encoding="utf-8")
        except OSError as exc:
            self.report("error", f"setup not saved to {path}: {exc.strerror or exc}")
            return False
        self.log.message("info", f"saved setup to {path}")
        return True

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load setup", "", "TOML setup (*.toml)")
        if path:
            self.load_path(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save setup", "", "TOML setup (*.toml)")
        if path:
            self.save_path(path)

    # ---------------------------------------------------------------- devices

    def check_devices(self) -> None:
        """Check every device in a helper thread (not while a run owns them)."""
        if self.bridge.active:
            self.report("warning", "the devices are in use by the run; check them when it ends")
            return
        if self.checker.busy:
            return
        self.setup.set_device_states("checking…")
        self.checker.check(self.config)

    def _checked(self, results: list[tuple[str, bool, str]]) -> None:
        self.setup.show_check(results)
        for role, ok, message in results:
            self.log.message("info" if ok else "error", f"check {role}: "
                             f"{'answered' if ok else 'FAILED'}: {message}")
        failed = [role for role, ok, _ in results if not ok]
        if failed:
            self.report("error", f"device check failed: {', '.join(failed)}")

    # ---------------------------------------------------------------- run

    def start_run(self) -> None:
        """Start a run of the current setup (the engine is built off the GUI thread)."""
        if self.bridge.active:
            self.report("warning", "a run is already active: stop it first")
            return
        self.notice.hide()
        self.plots.reset(self.config)
        self.bridge.start(self.config)
        self.setup.set_device_states("in use by the run")
        self.run_panel.show_state(EngineState.RUNNING)
        self.log.message("info", f"starting a run of {self.config.run.shots} shots…")

    def _start_failed(self, message: str) -> None:
        self.run_panel.show_state(EngineState.IDLE)
        self.setup.set_device_states("not checked")
        self.report("error", f"run not started: {message}")
        if self._closing:
            self.close()

    def stop_run(self) -> None:
        """Ask the run to stop (the window keeps running while it does)."""
        self.bridge.stop()
        self.run_panel.show_state(self.last_snapshot.state, stopping=True)

    def _show_snapshot(self, snap: EngineSnapshot) -> None:
        self.last_snapshot = snap
        self.status.show(snap)
        if snap.state in _ENDED:
            self.plots.show_final(snap)
        else:
            self.plots.ingest(snap)
            if self.pacer.due():
                self.plots.draw_soon(snap)
        self.run_panel.show_state(snap.state, stopping=self.bridge.stopping)

    def _show_events(self, events: list[EngineEvent]) -> None:
        self.log.add(events)
        serious = [e for e in events if e.level in ("warning", "error")]
        if serious:
            worst = max(serious, key=lambda e: (e.level == "error", e.t_s))
            more = f" (+{len(serious) - 1} more in the log)" if len(serious) > 1 else ""
            self.notice.show_message(worst.level, f"{worst.kind}: {worst.message}{more}")

    def _run_ended(self, snap: EngineSnapshot) -> None:
        self.run_panel.show_state(snap.state)
        self.setup.set_device_states("closed")
        level = "error" if snap.state is EngineState.FAILED else "info"
        text = (f"run {snap.state.value}: {snap.heralded} shots heralded, "
                f"{snap.pulses_total} pulses; data in {snap.run_dir or '(not recorded)'}")
        if snap.message:
            text += f"; {snap.message}"
        self.log.message(level, text)
        if level == "error":
            self.notice.show_message(level, text)
        if self._closing:
            self.close()

    def report(self, level: str, text: str) -> None:
        """Show a message in the log and in the non-modal notice."""
        self.log.message(level, text)
        self.notice.show_message(level, text)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        """Stop a live run cleanly (files finalised) before the window goes."""
        if not self.bridge.active:
            event.accept()
            return
        event.ignore()
        if not self._closing:
            self._closing = True
            self.log.message("info", "stopping the run before closing…")
            self.bridge.stop()
            QTimer.singleShot(
                round((self._stop_timeout_s + _CLOSE_MARGIN_S) * 1000), self._give_up_waiting)

    def _give_up_waiting(self) -> None:
        if self.bridge.active:
            self.bridge.abandon()
            self.report("error", "the engine did not stop in time; closing anyway")
        self.close()

