"""Check the engine in a child process: contract, commands, failures, timeouts (no window)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from heralder.config import updated_config
from heralder.control.engine_process import EngineProcess
from heralder.control.snapshot import RECENT_HERALDS, EngineControl, EngineState
from heralder.errors import ConfigError, HeralderError
from heralder.gui.app import simulated_config
from heralder.gui.bridge import SIMULATED_LAB_WARM_UP
from heralder.storage.journal import read_journal
from heralder.storage.recover import recover_run

RUN_FILES = {"journal.jsonl", "run.h5", "config.toml"}


@pytest.fixture
def lab(tmp_path):
    """Return the simulated lab recording under ``tmp_path`` with (nearly) endless shots."""
    return updated_config(simulated_config(), {
        "run.shots": 100_000, "storage.root": str(tmp_path / "runs")})


@pytest.fixture
def started():
    """Return a function starting an EngineProcess; every child is gone after the test."""
    made: list[EngineProcess] = []

    def start(config, **kwargs) -> EngineProcess:
        engine = EngineProcess(config, **kwargs)
        made.append(engine)
        engine.start()
        return engine

    yield start
    for engine in made:
        if engine.pid is not None and _alive(engine.pid):
            os.kill(engine.pid, signal.SIGCONT)
        engine.stop(timeout_s=30.0)
        assert engine.join(10.0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def events_of(engine: EngineProcess, seen: list) -> list:
    seen.extend(engine.drain_events())
    return seen


def run_files(engine: EngineProcess) -> set[str]:
    return {path.name for path in Path(engine.snapshot().run_dir).iterdir()}


def test_runs_a_whole_run_in_a_child_that_never_loads_qt(started, lab):
    engine = started(updated_config(lab, {"run.shots": 4}), prepare=SIMULATED_LAB_WARM_UP)
    assert isinstance(engine, EngineControl)
    assert engine.pid != os.getpid()
    assert engine.child_info == {"pid": engine.pid, "qt_loaded": False}
    assert engine.join(120.0)
    final = engine.snapshot()
    assert final.state is EngineState.FINISHED and final.heralded == 4
    kinds = [event.kind for event in engine.drain_events()]
    assert kinds.count("herald") == 4 and kinds[-1] == "state"
    assert run_files(engine) >= RUN_FILES
    assert [r["type"] for r in read_journal(Path(final.run_dir) / "journal.jsonl")][-1] == "end"


def test_the_final_snapshot_carries_the_latest_heralds_in_order(started, lab):
    # The child sends each herald once; the parent keeps the latest RECENT_HERALDS of them.
    shots = RECENT_HERALDS + 30
    engine = started(updated_config(lab, {"run.shots": shots, "policy.max_pulses": 2}))
    assert engine.join(120.0)
    final = engine.snapshot()
    assert [h.shot for h in final.recent_heralds] == list(range(30, shots))
    events = [e for e in engine.drain_events(10_000) if e.kind == "herald"]
    assert [e.data["map_s"] for e in events][30:] == [h.map_s for h in final.recent_heralds]
    assert not _alive(engine.pid)  # exited once its files were final


def test_pause_resume_parameters_and_stop_reach_the_child(started, lab):
    engine = started(lab)
    wait_for(lambda: engine.snapshot().heralded >= 2)
    engine.pause()
    wait_for(lambda: engine.snapshot().state is EngineState.PAUSED)
    paused_at = engine.snapshot().pulses_total
    time.sleep(0.3)
    assert engine.snapshot().pulses_total == paused_at
    with pytest.raises(ConfigError, match="cannot be changed during a run"):
        engine.set_parameters({"atoms.n_atoms": 10})
    with pytest.raises(ConfigError, match="eta"):
        engine.set_parameters({"detector.eta": 2.0})
    engine.set_parameters({"policy.max_pulses": 3})
    engine.resume()
    seen: list = []

    def heralds_after_the_change() -> list:
        kinds = [event.kind for event in events_of(engine, seen)]
        if "parameter" not in kinds:
            return []
        return [e for e in seen[kinds.index("parameter"):] if e.kind == "herald"]

    wait_for(lambda: len(heralds_after_the_change()) >= 3)
    assert all(event.data["pulses"] <= 3 for event in heralds_after_the_change())
    engine.stop(timeout_s=30.0)
    assert engine.join(0.0)
    final = engine.snapshot()
    assert final.state is EngineState.FINISHED and final.message == "stopped on request"
    assert run_files(engine) >= RUN_FILES


def test_a_build_failure_comes_back_with_its_type_and_message(lab):
    bad = updated_config(lab, {"devices.counter": {"driver": "nosuch", "address": "sim://x"}})
    engine = EngineProcess(bad)
    with pytest.raises(ConfigError, match="unknown driver 'nosuch'"):
        engine.start()
    assert engine.join(0.0)
    assert not _alive(engine.pid)


def test_a_killed_child_is_reported_with_its_cause_and_its_files_recover(started, lab,
                                                                        journaled_shots):
    engine = started(lab)
    wait_for(lambda: journaled_shots(engine.snapshot().run_dir) >= 3)
    os.kill(engine.pid, signal.SIGKILL)
    assert engine.join(10.0)
    final = engine.snapshot()
    assert final.state is EngineState.FAILED
    assert "the engine process was killed by SIGKILL" in final.message
    errors = [e for e in engine.drain_events() if e.level == "error"]
    assert errors and "killed by SIGKILL" in errors[-1].message
    report = recover_run(final.run_dir)
    assert report.shots >= 3 and not report.complete


def test_sigterm_stops_the_child_cleanly(started, lab):
    engine = started(lab)
    wait_for(lambda: engine.snapshot().heralded >= 1)
    os.kill(engine.pid, signal.SIGTERM)
    assert engine.join(30.0)
    assert engine.snapshot().state is EngineState.FINISHED
    records = list(read_journal(Path(engine.snapshot().run_dir) / "journal.jsonl"))
    assert records[-1]["type"] == "end" and records[-1]["message"] == "stopped on request"


def test_a_child_that_does_not_stop_in_time_is_killed_and_reported(started, lab,
                                                                    journaled_shots):
    engine = started(lab, queue_timeout_s=0.05)
    wait_for(lambda: journaled_shots(engine.snapshot().run_dir) >= 1)
    os.kill(engine.pid, signal.SIGSTOP)  # a wedged child: takes no command, sends nothing
    for _ in range(300):  # the command queue holds 256: the rest time out
        engine.pause()
    timeouts = [e for e in engine.drain_events() if "did not take 'pause'" in e.message]
    assert timeouts and timeouts[0].level == "error"
    with pytest.raises(ConfigError, match="did not take the change"):
        engine.set_parameters({"policy.max_pulses": 3})
    began = time.monotonic()
    engine.stop(timeout_s=0.5)
    assert time.monotonic() - began < 10.0
    assert engine.join(0.0) and not _alive(engine.pid)
    final = engine.snapshot()
    assert final.state is EngineState.FAILED
    assert "did not stop within 0.5 s and was killed by SIGKILL" in final.message
    assert f"heralder recover {final.run_dir}" in final.message
    assert recover_run(final.run_dir).shots >= 1


def test_a_start_that_takes_too_long_times_out_and_leaves_no_child(lab):
    engine = EngineProcess(lab, start_timeout_s=0.01)
    with pytest.raises(HeralderError, match="did not start within 0.01 s"):
        engine.start()
    assert not _alive(engine.pid)
    with pytest.raises(HeralderError, match="already started"):
        engine.start()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"start_timeout_s": 0.0}, "start_timeout_s must be positive"),
    ({"queue_timeout_s": -1.0}, "queue_timeout_s must be positive"),
    ({"publish_hz": 0.0}, "publish_hz must be positive"),
    ({"prepare": "no_colon"}, "prepare must be 'module:function'"),
])
def test_bad_arguments_are_refused_by_name(lab, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineProcess(lab, **kwargs)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here")
@pytest.mark.parametrize("pin", ["cpu", "off"])
def test_the_child_relays_on_the_engine_cpu(started, lab, pin):
    # The child's main thread relays snapshots with the GIL: with the engine thread pinned it
    # runs on the same CPU (the GIL would cross CPUs at every hand-over otherwise).
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    engine = started(updated_config(lab, {"engine.pin_cpu": str(cpu) if pin == "cpu" else pin}))
    wait_for(lambda: engine.snapshot().heralded >= 1)
    assert os.sched_getaffinity(engine.pid) == ({cpu} if pin == "cpu" else allowed)
    engine.stop(timeout_s=30.0)
    assert engine.join(10.0) and engine.snapshot().state is EngineState.FINISHED
