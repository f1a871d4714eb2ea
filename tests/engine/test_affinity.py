"""[engine] pin_cpu: which CPU the engine thread and its writer run on, and bad values."""

from __future__ import annotations

import os
import threading

import pytest

from heralder.control import affinity
from heralder.control.clock import SimClock
from heralder.control.engine import Engine
from heralder.control.snapshot import EngineState
from heralder.errors import ConfigError

needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"),
                                    reason="threads cannot be pinned on this platform")


@pytest.mark.parametrize("value", ["", "x", "-1", "1.5", "AUTO", "²"])
def test_a_bad_pin_cpu_is_a_config_error_naming_the_key(make_config, value):
    with pytest.raises(ConfigError, match="engine.pin_cpu"):
        make_config(engine={"pin_cpu": value})


def test_auto_pins_a_counts_run_to_the_last_cpu_when_there_are_two(make_config, monkeypatch):
    monkeypatch.setattr(affinity, "_allowed_cpus", lambda: {0, 2, 5})
    assert affinity.engine_cpu(make_config()) == 5
    monkeypatch.setattr(affinity, "_allowed_cpus", lambda: {3})  # one CPU: nothing to gain
    assert affinity.engine_cpu(make_config()) is None
    monkeypatch.setattr(affinity, "_allowed_cpus", lambda: None)  # a platform without pinning
    assert affinity.engine_cpu(make_config()) is None
    with pytest.raises(ConfigError, match="cannot pin"):
        affinity.engine_cpu(make_config(engine={"pin_cpu": "0"}))


def test_auto_leaves_arrival_times_free_and_off_is_off(make_config, monkeypatch):
    monkeypatch.setattr(affinity, "_allowed_cpus", lambda: {0, 1})
    monkeypatch.setattr(affinity, "arrival_times_used", lambda config: True)
    assert affinity.engine_cpu(make_config()) is None  # its estimator splits over two cores
    monkeypatch.setattr(affinity, "arrival_times_used", lambda config: False)
    assert affinity.engine_cpu(make_config(engine={"pin_cpu": "off"})) is None
    assert affinity.engine_cpu(make_config(engine={"pin_cpu": "1"})) == 1


@needs_affinity
def test_a_cpu_the_process_may_not_use_fails_before_the_run(make_config, tmp_path):
    outside = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ConfigError, match=f"engine.pin_cpu.*CPU {outside} is not one"):
        Engine(make_config(engine={"pin_cpu": str(outside)}), clock=SimClock())
    assert not (tmp_path / "runs").exists()


@needs_affinity
def test_engine_and_writer_threads_run_on_the_pinned_cpu_the_caller_does_not(make_config):
    cpu = min(os.sched_getaffinity(0))
    caller_cpus = os.sched_getaffinity(0)
    engine = Engine(make_config(run={"shots": 100000}, engine={"pin_cpu": str(cpu)}),
                    clock=SimClock())
    engine.start()
    engine.wait_ready()
    try:
        threads = {t.name: t.native_id for t in threading.enumerate()}
        assert os.sched_getaffinity(threads["heralder-engine"]) == {cpu}
        assert os.sched_getaffinity(threads["heralder-writer"]) == {cpu}
        assert os.sched_getaffinity(0) == caller_cpus  # the calling thread is left alone
    finally:
        engine.stop()
        assert engine.join(10)
    assert engine.snapshot().state is EngineState.FINISHED
    events = [e for e in engine.drain_events(10000) if e.kind == "affinity"]
    assert len(events) == 1 and events[0].data == {"cpu": cpu}
