"""A Time Tagger + 33522B lab on the wall clock: every pulse is attributed to the polarisation the
atoms saw, stepped (one pulse per trigger) and streamed (a free-running, hardware-clocked train
whose pulses before the stream started belong to no shot), and the heralds are right."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import heralder.simulators.fake_timetagger as TT  # noqa: N812 (the usual alias)
from heralder.config import AtomsConfig, config_from_dict, updated_config
from heralder.control.clock import SimClock
from heralder.control.engine import Engine
from heralder.control.records import SwitchState
from heralder.control.snapshot import EngineState
from heralder.estimation.detector import DetectorModel
from heralder.simulators.instruments.lablink import LabLink
from heralder.simulators.lab import MARKER_CHANNEL, VirtualLab, lab_from_context

_PERIOD_S = 120e-6


def _tagger_lab_config(root: Path, mode: str):
    """Return the Time Tagger + 33522B example lab on the wall clock (counts-only, 3 shots)."""
    return config_from_dict({
        "run": {"seed": 2026, "shots": 3, "mode": mode, "realtime": True},
        # a fixed S: how many pulses a wall-clock shot takes must not change the next shot's S
        # (a small S would need the arrival-time model, slow to compile)
        "atoms": {"n_atoms": 1000, "preset": "paper", "fixed_s": 30},
        "detector": {"eta": 0.7, "dark_rate_hz": 500.0, "gate_s": 100e-6,
                     "dead_time_s": 22e-9},
        "estimator": {"use_arrival_times": False},
        "lab": {"switch_settle_s": 1e-6},
        "engine": {"pulse_period_s": _PERIOD_S},
        "devices": {
            "tagger": {"driver": "swabian", "address": "sim://timetagger", "timeout_s": 1.0,
                       "settings": {"click_channel": 1, "marker_channel": 2}},
            "switch": {"driver": "keysight_33500", "address": "sim://33522b", "timeout_s": 0.5,
                       "settings": {"channel": 1, "tc_level_v": 0.0, "anti_tc_level_v": 3.3,
                                    "settle_time_s": 1e-6, "pulse_period_s": _PERIOD_S}},
            "trigger": {"driver": "keysight_33500", "address": "sim://33522b", "timeout_s": 0.5,
                        "settings": {"channel": 2, "pulse_width_s": 10e-6}}},
        "storage": {"root": str(root)},
    })


def _finish(engine: Engine, table: str, *columns: str) -> list[np.ndarray]:
    """Run ``engine`` to its end and return ``columns`` of ``/user/heralder/<table>``."""
    engine.start()
    engine.wait_ready()
    assert engine.join(120)
    assert engine.snapshot().state is EngineState.FINISHED, engine.snapshot().message
    with h5py.File(Path(engine.run_dir) / "run.h5") as f:
        return [f[f"user/heralder/{table}/{column}"][:] for column in columns]


@pytest.mark.parametrize("mode", ["stepped", "streamed"])
def test_wall_clock_runs_attribute_every_pulse_and_herald_the_truth(tmp_path, mode):
    engine = Engine(_tagger_lab_config(tmp_path / "runs", mode))  # a wall clock
    lab = lab_from_context(engine.context)
    fired: list[tuple[int, np.ndarray]] = []  # (shot, TC per pulse) of every pulse the lab fired
    fire_pulses = lab.fire_pulses

    def recording(*args):
        block = fire_pulses(*args)
        fired.append((lab.shots, block.tc))
        return block

    lab.fire_pulses = recording
    shot_of, state = _finish(engine, "pulses", "shot", "state")
    for herald in engine.heralds:
        assert herald.map_s == herald.true_s, herald
        lab_tc = np.concatenate([tc for shot, tc in fired if shot == herald.shot + 1])
        # every pulse the atoms saw in this shot is in the record, in the state it was fired in
        np.testing.assert_array_equal(state[shot_of == herald.shot] == 0, lab_tc)
        assert herald.pulses == lab_tc.size
    if mode == "stepped":  # one pulse per trigger: none beyond the policy's stop
        assert all(h.pulses == np.sum(shot_of == h.shot) for h in engine.heralds)


def _lab() -> VirtualLab:
    return VirtualLab(AtomsConfig(n_atoms=10), DetectorModel(gate_s=100e-6), SimClock(), 0,
                      pulse_period_s=_PERIOD_S)


def test_triggered_pulses_fire_once_per_trigger_whatever_the_time():
    lab = _lab()
    link = LabLink(lab)
    tagger = TT.createTimeTagger(lab=lab, link=link)
    stream = TT.TimeTagStream(tagger, 10**6, [1, MARKER_CHANNEL])
    link.trigger()
    link.trigger()
    lab.clock.sleep(50 * _PERIOD_S)  # a free-running train would have fired 50
    buffer = stream.getData()
    assert np.sum(buffer.getChannels() == MARKER_CHANNEL) == 2
    assert stream.getData().size == 0  # no trigger, no pulse
    assert buffer.tGetData >= buffer.getTimestamps()[-1]


def test_a_free_running_train_streams_only_pulses_after_the_start_at_their_own_times():
    lab = _lab()
    tagger = TT.createTimeTagger(lab=lab)
    lab.clock.sleep(10 * _PERIOD_S)  # pulses before any stream: not recorded
    stream = TT.TimeTagStream(tagger, 10**6, [1, MARKER_CHANNEL])
    start_ps = round((lab.clock.now() - lab.t0_s) * 1e12)
    lab.clock.sleep(3 * _PERIOD_S)
    buffer = stream.getData()
    markers = buffer.getTimestamps()[buffer.getChannels() == MARKER_CHANNEL]
    period_ps = round(_PERIOD_S * 1e12)
    np.testing.assert_array_equal(markers, start_ps + period_ps * np.arange(3))
    assert buffer.tGetData == start_ps + 3 * period_ps


def test_a_streamed_deadline_miss_stops_the_pattern_and_keeps_every_fired_pulse(tmp_path):
    config = _tagger_lab_config(tmp_path / "runs", "streamed")
    engine = Engine(updated_config(config, {"engine.decision_deadline_s": 1e-9,
                                            "engine.on_deadline_miss": "stop", "run.shots": 2}))
    lab = lab_from_context(engine.context)
    shot_of, late, stop = _finish(engine, "decisions", "shot", "late", "stop")
    for herald in engine.heralds:  # every decision is late: each shot stops after its first pulse
        assert herald.reason == "deadline" and herald.pulses >= 1
        mine = shot_of == herald.shot
        assert late[mine].all() and mine.sum() == herald.pulses
        assert not stop[mine][0] and stop[mine][1:].all()  # the rest fired before the stop
    assert lab.pulses_fired == sum(h.pulses for h in engine.heralds)  # none unrecorded
    assert not lab.switch.pattern_armed and lab.switch.requested is SwitchState.TC  # safe
