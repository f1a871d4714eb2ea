"""Fixtures of the GUI tests: a scripted EngineControl for widget tests and a stall meter."""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, Qt

from heralder.config import Config, updated_config
from heralder.control.snapshot import EngineEvent, EngineSnapshot, EngineState, HeraldSummary
from heralder.gui.timing import StallMeter
from heralder.storage.journal import read_journal


class ScriptedEngine:
    """Implement EngineControl with made-up numbers, for tests of the widgets alone.

    Each shot has ``pulses_per_shot`` pulses, ``pulse_s`` apart on the wall clock; a fault event is
    published at shot ``fault_at_shot``; on stop a ``finalised`` file is written in ``run_dir``.
    """

    def __init__(self, config: Config, run_dir: Path, *, pulses_per_shot: int = 6,
                 pulse_s: float = 0.002, fault_at_shot: int | None = None) -> None:
        self.config = config
        self.run_dir = run_dir
        self.pulses_per_shot = pulses_per_shot
        self.pulse_s = pulse_s
        self.fault_at_shot = fault_at_shot
        self.applied: list[tuple[int, dict[str, Any]]] = []
        self._pending: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._events: list[EngineEvent] = []
        self._snap = EngineSnapshot(n_atoms=config.atoms.n_atoms)
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._pause_requested = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        self._pause_requested = True
        self._resume.clear()

    def resume(self) -> None:
        self._pause_requested = False
        self._resume.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._resume.set()
        self._thread.join(timeout_s)

    def set_parameters(self, changes: dict[str, Any]) -> None:
        updated_config(self.config, changes)
        with self._lock:
            self._pending.update(changes)

    def snapshot(self) -> EngineSnapshot:
        return self._snap

    def drain_events(self, max_events: int = 1000) -> list[EngineEvent]:
        with self._lock:
            events, self._events = self._events[:max_events], self._events[max_events:]
        return events

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _publish(self, **changes: Any) -> None:
        self._snap = dataclasses.replace(self._snap, **changes)

    def _event(self, kind: str, message: str, level: str = "info") -> None:
        with self._lock:
            self._events.append(EngineEvent(kind, message, level, time.monotonic()))

    def _run(self) -> None:
        rng = np.random.default_rng(0)
        heralds: list[HeraldSummary] = []
        pulses_total = 0
        self._publish(state=EngineState.RUNNING, shots_total=self.config.run.shots,
                      run_dir=str(self.run_dir))
        shot = 0
        while shot < self.config.run.shots and not self._stop.is_set():
            if self._pause_requested:
                self._publish(state=EngineState.PAUSED)
                self._resume.wait()
                self._publish(state=EngineState.RUNNING)
                continue
            with self._lock:
                pending, self._pending = self._pending, {}
            if pending:
                self.config = updated_config(self.config, pending)
                self.applied.append((shot, pending))
            if shot == self.fault_at_shot:
                self._event("fault", "counter: no reply within 1.0 s", "error")
                self._publish(faults=self._snap.faults + 1)
            true_s = int(rng.choice(np.arange(0, 60, 2)))
            support = np.arange(0, 80, 2)
            counts: list[int] = []
            for pulse in range(self.pulses_per_shot):
                if self._stop.is_set():
                    break
                time.sleep(self.pulse_s)
                counts.append(int(rng.poisson(0.7 * true_s * (1 if pulse == 0 else 2))))
                pulses_total += 1
                width = 20.0 / (pulse + 1)
                p = np.exp(-0.5 * ((support - true_s) / width) ** 2)
                p /= p.sum()
                self._publish(
                    shot=shot, pulses_total=pulses_total, counts=np.array(counts),
                    states=tuple("tc" if i % 2 == 0 else "anti_tc" for i in range(len(counts))),
                    posterior_s=support, posterior_p=p, true_s=true_s,
                    pmax_history=np.linspace(0.2, p.max(), len(counts)),
                    qfi_history=np.linspace(1, 7, len(counts)),
                    qfi_ideal_history=np.full(len(counts), 7.5),
                    pulses_per_s=1.0 / self.pulse_s)
            heralds.append(HeraldSummary(shot, true_s, float(p.max()), 7.0, 7.5, len(counts), -1,
                                         true_s, "pmax"))
            self._event("herald", f"shot {shot}: S = {true_s}")
            shot += 1
            self._publish(heralded=shot, recent_heralds=tuple(heralds[-50:]))
        (self.run_dir / "finalised").write_text("ok")
        self._publish(state=EngineState.FINISHED)
        self._event("state", "finished")


@pytest.fixture
def scripted(tmp_path):
    """Return a factory of ScriptedEngines (the engines it made are in ``factory.made``)."""

    def factory(config: Config, **kwargs: Any) -> ScriptedEngine:
        engine = ScriptedEngine(config, tmp_path, **(factory.options | kwargs))
        factory.made.append(engine)
        return engine

    factory.made = []
    factory.options = {}
    return factory


@pytest.fixture
def journaled_shots():
    """Return a function counting the shots a run's writer has put in its journal so far."""

    def count(run_dir: str) -> int:
        if not run_dir:
            return 0
        return sum(r["type"] == "shot" for r in read_journal(Path(run_dir) / "journal.jsonl"))

    return count


@pytest.fixture
def stall_meter():
    """Return a StallMeter of the Qt event loop (stopped at the end of the test)."""
    meter = StallMeter()
    yield meter
    meter.stop()


@pytest.fixture
def type_into(qtbot):
    """Return a function that types text into a line edit and presses Return, like a user."""

    def type_text(edit, text: str) -> None:
        edit.setFocus()
        edit.selectAll()
        qtbot.keyClicks(edit, text)
        qtbot.keyClick(edit, Qt.Key.Key_Return)

    return type_text


@pytest.fixture(autouse=True)
def collect_qt_garbage_in_the_gui_thread(qapp):
    """Keep Python's cyclic collector from destroying Qt objects outside the GUI thread.

    Left on, the collector runs in whichever thread allocates: an engine thread can then free a
    closed window's last wrapper and delete its widgets while the GUI thread paints (a crash).
    During a test it is off; afterwards the closed widgets are deleted and their garbage
    collected here, in the GUI thread.
    """
    gc.disable()
    try:
        yield
    finally:
        qapp.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        gc.enable()
