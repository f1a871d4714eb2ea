"""Drive the window by clicks over the real engine and the simulated lab (issue 9's checks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from heralder.config import updated_config
from heralder.control.snapshot import EngineState
from heralder.gui.app import simulated_config
from heralder.gui.main_window import MainWindow
from heralder.storage.recover import recover_run

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def lab(tmp_path):
    """Return the built-in simulated lab, recording under ``tmp_path``, with many shots."""
    return updated_config(simulated_config(), {
        "run.shots": 100_000, "storage.root": str(tmp_path / "runs")})


def open_window(qtbot, config):
    window = MainWindow(config)
    qtbot.addWidget(window)
    window.show()
    return window


def wait_state(qtbot, window, state, timeout_ms=90_000):
    qtbot.waitUntil(lambda: window.last_snapshot.state is state, timeout=timeout_ms)


def start_and_wait_for_heralds(qtbot, window, heralds=2):
    window.start_run()
    # The engine process starts in a few seconds (longer when numba recompiles a changed kernel).
    qtbot.waitUntil(lambda: window.last_snapshot.heralded >= heralds, timeout=90_000)


def run_files(snapshot):
    run_dir = Path(snapshot.run_dir)
    return {path.name for path in run_dir.iterdir()} if run_dir.is_dir() else set()


def test_start_pause_resume_stop_by_clicks(qtbot, lab, stall_meter):
    window = open_window(qtbot, lab)
    panel = window.run_panel
    stall_meter.start()
    qtbot.mouseClick(panel.start_button, LEFT)
    wait_state(qtbot, window, EngineState.RUNNING)
    qtbot.waitUntil(lambda: window.last_snapshot.heralded >= 3, timeout=60_000)
    assert not panel.start_button.isEnabled() and panel.pause_button.isEnabled()

    qtbot.mouseClick(panel.pause_button, LEFT)
    wait_state(qtbot, window, EngineState.PAUSED)
    assert panel.resume_button.isEnabled() and not panel.pause_button.isEnabled()
    paused_at = window.last_snapshot.pulses_total
    qtbot.wait(300)
    assert window.last_snapshot.pulses_total == paused_at

    qtbot.mouseClick(panel.resume_button, LEFT)
    qtbot.waitUntil(lambda: window.last_snapshot.pulses_total > paused_at, timeout=20_000)

    with qtbot.waitSignal(window.bridge.run_ended, timeout=60_000):
        qtbot.mouseClick(panel.stop_button, LEFT)
    stall_meter.stop()
    final = window.last_snapshot
    assert final.state is EngineState.FINISHED
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    assert final.heralded < 100_000
    assert {"journal.jsonl", "run.h5", "config.toml"} <= run_files(final)
    assert stall_meter.ticks > 20
    print(f"worst event-loop stall during the run: {stall_meter.max_gap_s * 1e3:.1f} ms")


def test_parameter_change_between_shots_reaches_the_engine(qtbot, lab, type_into):
    window = open_window(qtbot, lab)
    events = []
    window.bridge.events_arrived.connect(events.extend)
    start_and_wait_for_heralds(qtbot, window)
    form = window.setup.form
    type_into(form.edit("policy.max_pulses"), "5")
    assert form.error_text("policy.max_pulses") == "✓ from the next shot"

    def heralds_after_the_change():
        kinds = [event.kind for event in events]
        if "parameter" not in kinds:
            return []
        return [e for e in events[kinds.index("parameter"):] if e.kind == "herald"]

    qtbot.waitUntil(lambda: len(heralds_after_the_change()) >= 3, timeout=60_000)
    # The engine applies the change between shots: every later shot obeys it.
    assert all(event.data["pulses"] <= 5 for event in heralds_after_the_change())
    assert "parameters changed" in window.log.text()
    with qtbot.waitSignal(window.bridge.run_ended, timeout=60_000):
        window.stop_run()


def test_engine_refusal_is_shown_beside_the_field(qtbot, lab):
    window = open_window(qtbot, lab)
    window.start_run()
    wait_state(qtbot, window, EngineState.RUNNING)
    assert not window.apply_change("detector.eta", -1.0)  # refused by the config
    assert "eta must lie in [0, 1]" in window.setup.form.error_text("detector.eta")
    assert not window.apply_change("atoms.n_atoms", 500)  # valid, but refused by the engine
    assert "cannot be changed during a run" in window.setup.form.error_text("atoms.n_atoms")
    assert window.config.atoms.n_atoms == 1000
    with qtbot.waitSignal(window.bridge.run_ended, timeout=60_000):
        window.stop_run()


def test_injected_device_fault_appears_in_the_log_without_freezing(qtbot, lab, stall_meter):
    config = updated_config(lab, {
        "devices.counter": {"driver": "sr400", "address": "sim://sr400", "timeout_s": 0.2},
        "faults": [{"device": "counter", "kind": "no_reply", "after_commands": 40}],
        "engine.on_device_error": "stop"})
    window = open_window(qtbot, config)
    stall_meter.start()
    with qtbot.waitSignal(window.bridge.run_ended, timeout=60_000):
        window.start_run()
    stall_meter.stop()
    log = window.log.text()
    assert "ERROR" in log and "fault: " in log and "DeviceTimeout" in log
    assert window.notice.isVisible() and "DeviceTimeout" in window.notice.label.text()
    assert window.last_snapshot.faults >= 1
    assert window.run_panel.start_button.isEnabled()
    assert stall_meter.ticks > 10
    print(f"worst event-loop stall around the fault: {stall_meter.max_gap_s * 1e3:.1f} ms")


def test_closing_the_window_stops_the_run_and_finalises_its_files(qtbot, lab):
    window = open_window(qtbot, lab)
    start_and_wait_for_heralds(qtbot, window)
    engine = window.bridge.engine
    window.close()
    qtbot.waitUntil(lambda: not window.bridge.active, timeout=60_000)
    assert engine.join(0.0)
    final = engine.snapshot()
    assert final.state is EngineState.FINISHED
    files = run_files(final)
    assert {"journal.jsonl", "run.h5", "config.toml"} <= files
    assert not any(name.endswith(".tmp") for name in files)
    assert not window.isVisible()


def test_a_killed_engine_process_shows_its_cause_and_leaves_recoverable_files(qtbot, lab,
                                                                             journaled_shots):
    window = open_window(qtbot, lab)
    start_and_wait_for_heralds(qtbot, window)
    qtbot.waitUntil(lambda: journaled_shots(window.last_snapshot.run_dir) >= 1, timeout=60_000)
    with qtbot.waitSignal(window.bridge.run_ended, timeout=60_000):
        os.kill(window.bridge.engine.pid, signal.SIGKILL)
    final = window.last_snapshot
    assert final.state is EngineState.FAILED
    assert window.notice.isVisible() and "killed by SIGKILL" in window.notice.label.text()
    assert "ERROR" in window.log.text() and "killed by SIGKILL" in window.log.text()
    assert window.run_panel.start_button.isEnabled()
    assert recover_run(final.run_dir).shots >= 1


def test_screenshot_command_runs_shots_and_writes_a_png(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    png = tmp_path / "window.png"
    result = subprocess.run(
        [sys.executable, "-m", "heralder.cli", "gui", "--screenshot", str(png), "--shots", "3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "3 of 3 shots heralded" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
