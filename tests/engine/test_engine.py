"""The engine on the virtual lab with a simulated clock: heralds, replay, modes, faults, control."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from heralder.control.clock import SimClock
from heralder.control.engine import Engine
from heralder.control.replay import replay_run
from heralder.control.snapshot import EngineControl, EngineState
from heralder.errors import ConfigError, DeviceTimeout, HeralderError
from heralder.registry import register
from heralder.storage.journal import read_journal
from heralder.storage.schema import JOURNAL_FORMAT, decode_record, encode_record
from heralder.storage.validate import validate_run


def run_engine(config, timeout_s: float = 120.0) -> Engine:
    engine = Engine(config, clock=SimClock())
    assert isinstance(engine, EngineControl)
    engine.start()
    engine.wait_ready()
    assert engine.join(timeout_s), "engine did not finish"
    return engine


def journal(engine: Engine) -> list[dict]:
    return list(read_journal(Path(engine.run_dir) / "journal.jsonl"))


def test_heralds_converge_to_the_true_spin_and_the_run_is_recorded(make_config):
    engine = run_engine(make_config(run={"shots": 30}))
    snap = engine.snapshot()
    assert snap.state is EngineState.FINISHED, snap.message
    heralds = engine.heralds
    assert len(heralds) == 30 and all(h.true_s is not None for h in heralds)
    # pmax >= 0.99 at every herald: at most a few percent wrong; 30 shots allow 3 misses.
    assert all(h.pmax >= 0.99 or h.reason == "max_pulses" for h in heralds)
    assert sum(h.map_s != h.true_s for h in heralds) <= 3
    assert all(h.final_sign == (-1 if h.pulses % 2 else 1) for h in heralds)
    report = validate_run(engine.run_dir)
    assert report.ok, report.problems
    assert report.shots == 30 and report.pulses == sum(h.pulses for h in heralds)
    with h5py.File(Path(engine.run_dir) / "run.h5") as f:
        user = f["user/heralder"]
        np.testing.assert_array_equal(user["heralds/map_s"][:], [h.map_s for h in heralds])
        np.testing.assert_array_equal(user["heralds/true_s"][:], [h.true_s for h in heralds])
        assert user["versions"].attrs["heralder"] and user["seeds"].attrs["run"] == 11
        assert "virtual_counter" in user["config_toml"][()].decode()
        states = user["pulses/state"][:]
        index = user["pulses/index"][:]
        np.testing.assert_array_equal(states, index % 2)  # TC, anti-TC, TC, ...
    assert (Path(engine.run_dir) / "config.toml").is_file()
    assert "engine finished" in (Path(engine.run_dir) / "run.log").read_text()
    assert engine.shots_cpu_s > 0.0  # the engine thread's CPU in the shot loop, once ended
    # The final view shows the last shot whole, not the last live update within it.
    last = heralds[-1]
    assert snap.shot == last.shot + 1 and snap.pulses_total == report.pulses
    assert len(snap.counts) == last.pulses == len(snap.pmax_history)
    assert snap.posterior_s[np.argmax(snap.posterior_p)] == last.map_s


def test_same_seed_same_run_and_replay_reproduces_every_decision(make_config):
    first = run_engine(make_config())
    second = run_engine(make_config(storage={"writer": "process"}))  # the other writer
    assert [(h.map_s, h.pulses, h.true_s) for h in first.heralds] == \
        [(h.map_s, h.pulses, h.true_s) for h in second.heralds]
    shots = [[r["tables"]["pulses"].tobytes() for r in journal(engine) if r["type"] == "shot"]
             for engine in (first, second)]
    assert shots[0] == shots[1] and len(shots[1]) == 12
    assert second.writer_stats.records_written == len(journal(second))
    assert validate_run(second.run_dir).ok
    assert journal(first)[0]["journal_format"] == JOURNAL_FORMAT == 3  # joined per-pulse rows
    report = replay_run(first.run_dir)
    assert report.ok, report.mismatches[:5]
    assert report.shots == 12 and report.decisions == sum(h.pulses for h in first.heralds)


def test_replay_detects_a_tampered_count(make_config):
    engine = run_engine(make_config(run={"shots": 3}))
    path = Path(engine.run_dir) / "journal.jsonl"
    lines = path.read_text().splitlines()
    shot_line = next(i for i, line in enumerate(lines) if '"type":"shot"' in line)
    record = decode_record(lines[shot_line])
    record["tables"]["pulses"]["counts"][1] += 7
    lines[shot_line] = encode_record(record).decode().rstrip("\n")
    path.write_text("\n".join(lines) + "\n")
    assert not replay_run(engine.run_dir).ok


def test_parameter_change_between_shots_is_applied_journaled_and_replayed(make_config):
    engine = Engine(make_config(run={"shots": 40}), clock=SimClock())
    with pytest.raises(ConfigError, match="cannot be changed"):
        engine.set_parameters({"atoms.n_atoms": 10})
    with pytest.raises(ConfigError):
        engine.set_parameters({"policy.pmax_threshold": 7.0})
    engine.set_parameters({"policy.kind": "fixed", "policy.n_pulses": 4})
    engine.start()
    engine.wait_ready()
    assert engine.join(120)
    assert all(h.pulses == 4 for h in engine.heralds)
    kinds = [e.kind for e in engine.drain_events(10000)]
    assert "parameter" in kinds and kinds.count("herald") == 40
    assert replay_run(engine.run_dir).ok


def test_streamed_mode_with_time_tags_writes_photon_hdf5(make_config):
    config = make_config(
        run={"mode": "streamed", "shots": 6},
        devices={"tagger": {"driver": "virtual_tagger", "address": "sim://lab"},
                 "switch": {"driver": "virtual_switch", "address": "sim://lab"}})
    engine = run_engine(config)
    assert engine.snapshot().state is EngineState.FINISHED, engine.snapshot().message
    assert len(engine.heralds) == 6
    report = validate_run(engine.run_dir)
    assert report.ok and report.photon_hdf5 is True, report.problems
    with h5py.File(Path(engine.run_dir) / "run.h5") as f:
        assert len(f["photon_data/timestamps"]) == len(f["user/heralder/photons/times_s"]) > 0
        decisions = f["user/heralder/decisions"]
        late, stop = decisions["late"][:], decisions["stop"][:]
        policy_stop = decisions["policy_stop"][:]
    # the virtual tagger says up to where its stream is complete (as a Swabian buffer does), so
    # a pulse counts once its gate has closed and no pulse fires after a shot's stop
    assert not late.any()
    np.testing.assert_array_equal(stop, policy_stop)  # every stop was the policy's own
    assert stop.sum() == 6 and len(stop) == sum(h.pulses for h in engine.heralds)
    assert replay_run(engine.run_dir).ok


def flaky_counter(fail_after: int):
    def factory(role, device, context):
        from heralder.registry import build_device

        inner = build_device(role, type(device)("virtual_counter", device.address,
                                                device.timeout_s), context)
        reads = {"n": 0}
        original = inner.read

        def read(timeout_s):
            reads["n"] += 1
            if reads["n"] == fail_after:
                raise DeviceTimeout(f"{role}: no reply within {timeout_s} s (injected)")
            return original(timeout_s)

        inner.read = read
        return inner

    return factory


@pytest.mark.parametrize("policy", ["stop", "continue"])
def test_device_fault_is_recorded_hardware_left_safe(make_config, policy):
    register("flaky_counter", flaky_counter(fail_after=25))
    config = make_config(run={"shots": 8}, engine={"on_device_error": policy},
                         devices={"counter": {"driver": "flaky_counter", "address": "sim://lab"}})
    engine = run_engine(config)
    snap = engine.snapshot()
    lab = engine.context.shared["lab"]
    assert lab.switch.requested.value == "tc"  # safe state
    assert not any(d.is_open for d in engine.devices.values())
    assert snap.faults == 1
    faults = [r for r in journal(engine) if r["type"] == "event" and r["kind"] == "fault"]
    assert faults and "injected" in faults[0]["data"]["cause"]
    heralds = engine.heralds
    assert any(h.reason == "fault" for h in heralds)
    if policy == "stop":
        assert snap.state is EngineState.FAILED and "injected" in snap.message
        assert len(heralds) < 8
    else:
        assert snap.state is EngineState.FINISHED and len(heralds) == 8
    assert validate_run(engine.run_dir).ok


def test_stop_request_ends_within_a_timeout_and_finalises(make_config):
    engine = Engine(make_config(run={"shots": 100000}), clock=SimClock())
    engine.start()
    engine.wait_ready()
    while engine.snapshot().heralded < 3:
        assert not engine.join(0.01)
    live = engine.snapshot()
    assert live.state is EngineState.RUNNING and live.n_atoms == 100 and live.run_dir
    assert len(live.counts) == len(live.states) == len(live.pmax_history) > 0
    assert len(live.qfi_history) == len(live.counts) and live.posterior_s.shape == \
        live.posterior_p.shape and abs(live.posterior_p.sum() - 1) < 1e-9
    assert live.true_s is not None and live.recent_heralds
    engine.stop(timeout_s=10.0)
    assert engine.join(0)
    snap = engine.snapshot()
    assert snap.state is EngineState.FINISHED and "stopped" in snap.message
    report = validate_run(engine.run_dir)
    assert report.ok and report.complete and report.shots == len(engine.heralds)


def test_pause_and_resume(make_config):
    engine = Engine(make_config(run={"shots": 100000}), clock=SimClock())
    engine.pause()
    engine.start()
    engine.wait_ready()
    for _ in range(500):
        if engine.snapshot().state is EngineState.PAUSED:
            break
        engine.join(0.01)
    assert engine.snapshot().state is EngineState.PAUSED and engine.snapshot().heralded == 0
    engine.resume()
    while engine.snapshot().heralded < 2:
        assert not engine.join(0.01)
    engine.stop()
    assert engine.join(10)


def test_bad_config_and_unreachable_device_fail_before_the_run(make_config, tmp_path):
    with pytest.raises(ConfigError, match="devices.counter"):
        Engine(make_config(devices={"counter": {"driver": "nonexistent", "address": "x"}}))
    with pytest.raises(ConfigError, match="streamed mode needs a time tagger"):
        Engine(make_config(run={"mode": "streamed"}))
    config = make_config(devices={"counter": {"driver": "sr400",
                                              "address": "socket://127.0.0.1:9",
                                              "timeout_s": 0.2}})
    engine = Engine(config)
    engine.start()
    with pytest.raises(HeralderError, match=r"devices\.counter \(sr400 at socket://"):
        engine.wait_ready(10)
    assert engine.snapshot().state is EngineState.FAILED
    assert not (tmp_path / "runs").exists()  # nothing recorded: the run never started


@pytest.mark.parametrize("action", ["stop", "continue"])
def test_missed_deadlines_take_the_configured_action_and_are_recorded(make_config, action):
    engine = run_engine(make_config(run={"shots": 4}, engine={
        "decision_deadline_s": 1e-9, "on_deadline_miss": action}))
    heralds = engine.heralds
    snap = engine.snapshot()
    assert snap.deadline_misses >= 4
    with h5py.File(Path(engine.run_dir) / "run.h5") as f:
        late = f["user/heralder/decisions/late"][:]
        stop = f["user/heralder/decisions/stop"][:]
        deadline = f["user/heralder/decisions/deadline_s"][:]
        ack = f["user/heralder/decisions/t_ack_s"][:]
    np.testing.assert_array_equal(late, ack > deadline)
    if action == "stop":
        # the first decision is late: the shot heralds after pulse 1, the atoms in |S,-S>
        assert all(h.pulses == 1 and h.reason == "deadline" and h.final_sign == -1
                   for h in heralds)
        assert late.all() and not stop.any()
    else:
        assert all(h.reason != "deadline" for h in heralds)
        assert late[~stop].all()
    assert any(e.kind == "deadline_miss" for e in engine.drain_events(10000))
    assert replay_run(engine.run_dir).ok


def test_a_gate_shorter_than_the_cascade_warns_and_the_run_goes_on(make_config):
    from heralder.control.preflight import gate_warning
    from heralder.physics.cavity import recommended_gate_s

    assert gate_warning(make_config()) is None  # 4 ms covers N = 100 at the paper preset
    config = make_config(run={"shots": 2}, detector={"gate_s": 1e-4})
    needed_s = recommended_gate_s(config.atoms)
    engine = run_engine(config)
    assert engine.snapshot().state is EngineState.FINISHED and len(engine.heralds) == 2
    gate = [e for e in engine.drain_events() if e.kind == "gate"]
    assert len(gate) == 1 and gate[0].level == "warning"
    assert "0.0001 s" in gate[0].message and f"{needed_s:.3g} s" in gate[0].message
    assert gate[0].data == {"gate_s": 1e-4, "recommended_gate_s": needed_s}
    log = (Path(engine.run_dir) / "run.log").read_text()
    assert f"WARNING heralder.run: {gate[0].message}" in log
    assert any(r.get("kind") == "gate" for r in journal(engine) if r["type"] == "event")
