"""Check the virtual lab end to end: determinism, the switch the atoms see, timing, tags, memory."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

from heralder.config import AtomsConfig, Config, LabConfig, updated_config
from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.estimation.detector import DetectorModel
from heralder.physics.cavity import recommended_gate_s
from heralder.registry import DeviceContext
from heralder.simulators.lab import MARKER_CHANNEL, VirtualLab, lab_from_context

TC, ANTI = SwitchState.TC, SwitchState.ANTI_TC
ATOMS = AtomsConfig(n_atoms=1000, preset="paper")
GATE_S = recommended_gate_s(ATOMS)
DETECTOR = DetectorModel(eta=0.6, dark_counts_per_gate=0.05, gate_s=GATE_S, dead_time_s=20e-9,
                         afterpulse_prob=0.01)
PERIOD_S = 1.1 * GATE_S


def make_lab(seed: int = 1, **kwargs) -> VirtualLab:
    lab = kwargs.pop("lab", LabConfig(jitter_s=1e-10, switch_settle_s=1e-6))
    return VirtualLab(ATOMS, DETECTOR, SimClock(), seed, lab=lab, pulse_period_s=PERIOD_S,
                      **kwargs)


def run_shots(lab: VirtualLab, shots: int = 5, pulses: int = 6) -> list:
    out = []
    for _ in range(shots):
        lab.new_shot()
        state = TC
        for _ in range(pulses):
            lab.switch.request(state)
            lab.clock.sleep(lab.switch.settle_time_s)
            pulse = lab.fire_pulse()
            out.append((pulse.true_s_before, pulse.count, pulse.times_s.tobytes(),
                        pulse.state, pulse.t_start_s))
            state = state.other()
    return out


def test_same_seed_gives_an_identical_run_and_another_seed_does_not() -> None:
    assert run_shots(make_lab(seed=4)) == run_shots(make_lab(seed=4))
    assert run_shots(make_lab(seed=4)) != run_shots(make_lab(seed=5))


def test_alternating_pulses_give_s_then_2s_and_a_forgotten_switch_is_dark() -> None:
    lab = make_lab(lab=LabConfig(switch_settle_s=1e-6))
    s = lab.new_shot(40)
    assert s == 40 == lab.true_s
    first = lab.fire_pulse()
    assert (first.index, first.state, first.emitted) == (0, TC, 40)
    lab.switch.request(ANTI)
    second = lab.fire_pulse()
    assert (second.index, second.state, second.emitted) == (1, ANTI, 80)
    forgotten = lab.fire_pulse()  # nobody switched back: the atoms are dark
    assert forgotten.state is ANTI and forgotten.emitted == 0
    assert forgotten.count <= 5  # only dark counts and nothing else
    assert forgotten.true_s_before == forgotten.true_s_after == 40


def test_the_atoms_see_the_state_the_switch_is_really_in() -> None:
    stuck = make_lab(lab=LabConfig(switch_failure="stuck", switch_failure_prob=1.0))
    stuck.new_shot(30)
    stuck.fire_pulse()
    stuck.switch.request(ANTI)
    stuck.clock.sleep(1e-3)
    pulse = stuck.fire_pulse()
    assert stuck.switch.requested is ANTI and pulse.state is TC and pulse.emitted == 0
    late = make_lab(lab=LabConfig(switch_settle_s=1e-6, switch_failure="late",
                                  switch_late_s=2 * PERIOD_S))
    late.new_shot(30)
    late.fire_pulse()
    late.switch.request(ANTI)
    assert late.fire_pulse().emitted == 0  # fired before the late switch arrived
    late.clock.sleep(2 * PERIOD_S)
    assert late.fire_pulse().emitted == 60


def test_clock_advances_to_the_gate_end_and_pulses_keep_the_period() -> None:
    lab = make_lab()
    lab.new_shot()
    a = lab.fire_pulse()
    assert lab.clock.now() == pytest.approx(a.t_start_s + DETECTOR.gate_s)
    b = lab.fire_pulse()
    assert b.t_start_s - a.t_start_s == pytest.approx(PERIOD_S)
    lab.clock.sleep(1.0)
    before_s = lab.clock.now()
    assert lab.fire_pulse().t_start_s == before_s  # never fired in the past


def test_tags_put_a_marker_before_each_pulse_and_clicks_at_their_times() -> None:
    lab = make_lab()
    lab.new_shot(20)
    lab.switch.arm_pattern([TC, ANTI])
    block = lab.fire_pulses(8)
    stamps, channels = lab.tags(block)
    assert stamps.dtype == np.int64 and channels.dtype == np.int32
    assert np.all(np.diff(stamps) >= 0)
    markers = np.flatnonzero(channels == MARKER_CHANNEL)
    assert markers.size == 8
    assert np.all(np.diff(markers) - 1 == block.counts[:-1])
    expected = np.rint((block.t_start_s - lab.t0_s) * 1e12).astype(np.int64)
    assert stamps[markers].tolist() == expected.tolist()
    one = block.pulse(3)
    s1, c1 = lab.tags(one)
    assert c1[0] == MARKER_CHANNEL and s1.size == one.count + 1
    assert np.all(np.abs((s1[1:] - s1[0]) * 1e-12 - one.times_s) <= 1e-12)


def test_counts_only_lab_has_no_times_but_the_same_physics() -> None:
    lab = make_lab(times=False)
    lab.new_shot(30)
    pulse = lab.fire_pulse()
    assert pulse.times_s is None and pulse.emitted == 30
    with pytest.raises(ValueError, match="times"):
        lab.tags(pulse)


def test_true_detector_from_lab_section_overrides_the_estimators() -> None:
    truth = DetectorModel(eta=0.1, gate_s=GATE_S)
    lab = make_lab(lab=LabConfig(detector=truth), times=False)
    assert lab.detector_model is truth
    lab.new_shot(200)
    assert lab.fire_pulse().count < 60  # η = 0.1 of 200, not the model's 0.6


def test_lab_from_context_builds_once_from_the_config() -> None:
    config = updated_config(Config(), {"atoms.n_atoms": 400, "atoms.fixed_s": 20,
                                       "lab.switch_settle_s": 2e-6})
    context = DeviceContext(clock=SimClock(), seed=9, config=config)
    lab = lab_from_context(context)
    assert lab is lab_from_context(context) is context.shared["lab"]
    assert lab.switch.settle_time_s == 2e-6 and lab.new_shot() == 20
    assert lab.pulse_period_s == config.engine.pulse_period_s and not lab.record_times


def test_pace_mode_holds_simulated_time_to_the_wall_clock() -> None:
    lab = make_lab(pace=True)
    lab.new_shot()
    started = time.monotonic()
    for _ in range(10):
        lab.fire_pulse()
    assert time.monotonic() - started >= 9 * PERIOD_S


def test_memory_stays_flat_over_many_pulses() -> None:
    lab = make_lab(times=True)
    lab.switch.arm_pattern([TC, ANTI])

    def run(n_blocks: int) -> None:
        for _ in range(n_blocks):
            lab.new_shot()
            lab.fire_pulses(50)

    run(50)  # warm caches
    tracemalloc.start()
    run(100)
    first, _ = tracemalloc.get_traced_memory()
    run(300)
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert second - first < 200_000


@pytest.mark.parametrize(("kwargs", "name"), [({"seed": -1}, "seed"),
                                              ({"pulse_period_s": 0.5 * GATE_S}, "pulse_period_s")])
def test_bad_lab_arguments_raise_value_error_naming_them(kwargs: dict, name: str) -> None:
    args = {"seed": 1, "pulse_period_s": PERIOD_S} | kwargs
    with pytest.raises(ValueError, match=name):
        VirtualLab(ATOMS, DETECTOR, SimClock(), args["seed"],
                   pulse_period_s=args["pulse_period_s"])
    with pytest.raises(ValueError, match="n"):
        make_lab().fire_pulses(0)


@pytest.mark.parametrize("lab_config", [
    LabConfig(switch_settle_s=1e-6),
    LabConfig(switch_settle_s=0.5 * PERIOD_S, switch_failure="late", switch_failure_prob=0.3,
              switch_late_s=PERIOD_S, background_rate_hz=50.0)])
def test_single_pulse_path_draws_and_returns_what_the_block_path_does(lab_config) -> None:
    truth = DetectorModel(eta=0.6, dark_counts_per_gate=0.3, gate_s=GATE_S, afterpulse_prob=0.05,
                          scatter_eps=0.002)
    labs = [VirtualLab(ATOMS, DETECTOR, SimClock(), 7, pulse_period_s=PERIOD_S, times=False,
                       lab=LabConfig(**{**lab_config.__dict__, "detector": truth}))
            for _ in range(2)]
    scalar, block = labs
    fell_back = []
    scalar.fire_pulses = lambda n: fell_back.append(n)  # the scalar path must not need it
    runs: list[list] = [[], []]
    rng = np.random.default_rng(3)
    for _ in range(40):
        for lab, out in zip(labs, runs, strict=True):
            out.append(lab.new_shot())
        for _ in range(8):
            state = TC if rng.random() < 0.5 else ANTI  # sometimes forgets to switch
            for lab in labs:
                lab.switch.request(state)
            runs[0].append(scalar.fire_pulse())
            runs[1].append(block.fire_pulses(1).pulse(0))
    assert not fell_back
    assert runs[0] == runs[1]
    assert scalar.clock.now() == block.clock.now()
    assert sum(p.scattered for p in runs[0] if not isinstance(p, int)) > 0  # jumps happened


def test_the_simulated_clock_advances_safely_from_several_threads() -> None:
    """The lab advances its SimClock once per pulse (acquire/release, no max()): from several
    threads at once the clock still ends at the latest time asked for and never goes back."""
    clock = SimClock()
    seen: list[list[float]] = [[] for _ in range(4)]

    def advance(k: int) -> None:
        for i in range(5000):
            seen[k].append(clock.advance_to(i * 4 + k))  # ints are taken as floats

    threads = [threading.Thread(target=advance, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == 4999 * 4 + 3 and type(clock.now()) is float
    for readings in seen:
        assert readings == sorted(readings)  # each thread's readings never go back
    assert clock.advance_to(np.float64(1.5)) == clock.now() and type(clock.now()) is float
