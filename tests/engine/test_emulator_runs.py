"""The engine through real drivers and sim:// emulators: example configs, injected faults."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from heralder.config import load_config, updated_config
from heralder.control.clock import SimClock
from heralder.control.engine import Engine
from heralder.control.snapshot import EngineState
from heralder.storage.journal import read_journal
from heralder.storage.validate import validate_run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIM_ADDRESSES = {
    "lab-sr400-lcc25.toml": {"devices.counter.address": "sim://sr400",
                             "devices.switch.address": "sim://lcc25"},
    "lab-timetagger-33500.toml": {"devices.tagger.address": "sim://timetagger",
                                  "devices.switch.address": "sim://33522b",
                                  "devices.trigger.address": "sim://33522b"},
    "simulated.toml": {},
}


@pytest.mark.parametrize("name", sorted(SIM_ADDRESSES))
def test_example_configs_load_and_build_their_devices(name, tmp_path):
    config = updated_config(load_config(EXAMPLES / name),
                            {**SIM_ADDRESSES[name], "storage.root": str(tmp_path)})
    engine = Engine(config, clock=SimClock())
    assert set(engine.devices) == {role for role, _ in config.devices.items()}


def sr400_lcc25(tmp_path, faults, on_device_error="continue", shots=4):
    config = updated_config(load_config(EXAMPLES / "lab-sr400-lcc25.toml"), {
        **SIM_ADDRESSES["lab-sr400-lcc25.toml"], "storage.root": str(tmp_path),
        "run.shots": shots, "atoms.n_atoms": 100, "policy.kind": "pmax",
        "engine.on_device_error": on_device_error, "devices.counter.timeout_s": 0.2,
        "devices.switch.timeout_s": 0.2, "engine.read_timeout_s": 0.2,
        "devices.counter.settings.poll_interval_s": 0.0,
        "devices.switch.settings.poll_interval_s": 0.0})
    return updated_config(config, {"faults": faults})


def run_to_end(config) -> Engine:
    engine = Engine(config, clock=SimClock())
    started = time.monotonic()
    engine.start()
    engine.wait_ready()
    assert engine.join(120), "engine hung"
    assert time.monotonic() - started < 120
    return engine


@pytest.mark.parametrize(("device", "kind"), [
    ("counter", "no_reply"), ("counter", "garbage"), ("counter", "disconnect"),
    ("switch", "switch_stuck")])
def test_emulator_fault_is_recorded_and_the_run_goes_on(tmp_path, device, kind):
    fault = {"device": device, "kind": kind, "after_commands": 30, "count": 1}
    engine = run_to_end(sr400_lcc25(tmp_path, [fault]))
    snap = engine.snapshot()
    assert snap.state is EngineState.FINISHED, snap.message
    assert snap.faults == 1 and len(engine.heralds) == 4
    events = [r for r in read_journal(Path(engine.run_dir) / "journal.jsonl")
              if r["type"] == "event" and r["kind"] == "fault"]
    assert len(events) == 1 and events[0]["data"]["error"].startswith("Device")
    assert validate_run(engine.run_dir).ok


def test_emulator_fault_stops_the_run_when_configured(tmp_path):
    fault = {"device": "counter", "kind": "no_reply", "after_commands": 30, "count": 1}
    engine = run_to_end(sr400_lcc25(tmp_path, [fault], on_device_error="stop"))
    snap = engine.snapshot()
    assert snap.state is EngineState.FAILED and "DeviceTimeout" in snap.message
    assert engine.context.shared["lab"].switch.requested.value == "tc"
    assert not any(d.is_open for d in engine.devices.values())
    report = validate_run(engine.run_dir)
    assert report.ok and report.complete
