"""Run control (start, pause, resume, stop, shots), the live status line and the event log."""

from __future__ import annotations

import html

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from heralder.control.snapshot import EngineEvent, EngineSnapshot, EngineState

__all__ = ["EventLog", "RunPanel", "StatusLine"]

#: Largest number of shots the spin box offers (a config can ask for more).
_MAX_SHOTS = 1_000_000_000
_LEVEL_COLOURS = {"info": "#333333", "warning": "#b9770e", "error": "#c0392b"}


class RunPanel(QGroupBox):
    """Hold the run buttons and the number of shots; enable what the run state allows.

    Signals
    -------
    start_clicked, pause_clicked, resume_clicked, stop_clicked
        The user pressed a button.
    shots_changed(int)
        The user set a new number of shots.
    """

    start_clicked = pyqtSignal()
    pause_clicked = pyqtSignal()
    resume_clicked = pyqtSignal()
    stop_clicked = pyqtSignal()
    shots_changed = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Run", parent)
        layout = QHBoxLayout(self)
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        for button, signal in (
            (self.start_button, self.start_clicked), (self.pause_button, self.pause_clicked),
            (self.resume_button, self.resume_clicked), (self.stop_button, self.stop_clicked),
        ):
            button.clicked.connect(signal)
            layout.addWidget(button)
        layout.addSpacing(16)
        layout.addWidget(QLabel("shots"))
        self.shots = QSpinBox()
        self.shots.setRange(1, _MAX_SHOTS)
        self.shots.setKeyboardTracking(False)
        self.shots.valueChanged.connect(self.shots_changed)
        layout.addWidget(self.shots)
        layout.addStretch(1)
        self.show_state(EngineState.IDLE)

    def show_state(self, state: EngineState, *, stopping: bool = False) -> None:
        """Enable the buttons that make sense in ``state``."""
        live = state in (EngineState.RUNNING, EngineState.PAUSED, EngineState.STOPPING)
        self.start_button.setEnabled(not live)
        self.shots.setEnabled(not live)
        self.pause_button.setEnabled(state is EngineState.RUNNING and not stopping)
        self.resume_button.setEnabled(state is EngineState.PAUSED and not stopping)
        self.stop_button.setEnabled(live and not stopping and state is not EngineState.STOPPING)


class StatusLine:
    """Fill a status bar with the run's live figures."""

    def __init__(self, bar: QStatusBar) -> None:
        self.labels: dict[str, QLabel] = {}
        for name in ("state", "shot", "rate", "latency", "heralded", "loss", "faults", "deadline"):
            label = QLabel()
            label.setObjectName(f"status_{name}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            bar.addPermanentWidget(label)
            self.labels[name] = label
        self.show(EngineSnapshot())

    def show(self, snap: EngineSnapshot) -> None:
        """Show the figures of ``snap``; counters that signal trouble turn red."""
        texts = {
            "state": f"<b>{snap.state.value}</b>",
            "shot": f"shot {snap.shot}/{snap.shots_total}",
            "rate": f"{snap.pulses_per_s:,.0f} pulses/s",
            "latency": f"decision latency p50 {snap.latency_p50_s * 1e6:.0f} µs, "
                       f"p99 {snap.latency_p99_s * 1e6:.0f} µs",
            "heralded": f"heralded {snap.heralded}",
            "loss": _counter("data loss", snap.data_loss),
            "faults": _counter("faults", snap.faults),
            "deadline": _counter("deadline misses", snap.deadline_misses),
        }
        for name, text in texts.items():
            self.labels[name].setText(text)


def _counter(name: str, value: int) -> str:
    text = f"{name} {value}"
    return f"<span style='color:#c0392b'><b>{text}</b></span>" if value else text


class EventLog(QGroupBox):
    """Show events in a bounded log, at most ``max_lines_per_batch`` lines per refresh.

    A burst of events (a fast simulated run heralds thousands of shots per second) is summarised
    instead of being written line by line, so the log never slows the window down.
    """

    def __init__(
        self, *, max_lines: int = 5000, max_lines_per_batch: int = 40,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Log", parent)
        self.max_lines_per_batch = max_lines_per_batch
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(max_lines)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        QVBoxLayout(self).addWidget(self.view)

    def add(self, events: list[EngineEvent]) -> None:
        """Append ``events``; warnings and errors always, routine events up to the batch limit."""
        important = [e for e in events if e.level != "info"]
        routine = [e for e in events if e.level == "info"]
        room = max(0, self.max_lines_per_batch - len(important))
        shown = sorted(important + routine[-room:] if room else important, key=lambda e: e.t_s)
        lines = [self._line(event) for event in shown]
        skipped = len(routine) - min(room, len(routine))
        if skipped:
            lines.insert(0, self._html("info", f"… {skipped} routine events not shown"))
        self.view.appendHtml("<br>".join(lines))

    def message(self, level: str, text: str) -> None:
        """Append one line written by the window itself."""
        self.view.appendHtml(self._html(level, text))

    def text(self) -> str:
        """Return the whole log as plain text."""
        return self.view.toPlainText()

    def _line(self, event: EngineEvent) -> str:
        return self._html(event.level, f"[{event.t_s:10.6f} s] {event.kind}: {event.message}")

    @staticmethod
    def _html(level: str, text: str) -> str:
        colour = _LEVEL_COLOURS.get(level, _LEVEL_COLOURS["info"])
        body = html.escape(text).replace("\n", "<br>")
        weight = "bold" if level == "error" else "normal"
        return f"<span style='color:{colour}; font-weight:{weight}'>{level.upper()} {body}</span>"

