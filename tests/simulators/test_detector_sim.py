"""Check the simulated detector: closed-form count moments, exact dead time, jitter, gates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from heralder.estimation.detector import DetectorModel
from heralder.estimation.efficiency import effective_efficiency
from heralder.simulators import atoms as atoms_module
from heralder.simulators import detector_sim
from heralder.simulators.atoms import CollectiveAtoms
from heralder.simulators.detector_sim import DetectorSim, apply_dead_time

GATE_S = 1e-3


def fixed_photons(k: int, n_pulses: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return k photons per pulse at evenly spread times in the first half of each gate."""
    times = np.tile(np.linspace(0.01, 0.5, k) * GATE_S, n_pulses)
    pulse_of = np.repeat(np.arange(n_pulses), k)
    starts = np.arange(n_pulses) * 2 * GATE_S
    return times, pulse_of, starts


def compound_moments(k: int, eta: float, p_ap: float, d: float) -> tuple[float, float]:
    """Return mean and variance of the count: per photon 0/1/2 clicks with 1−η, η(1−p), ηp;
    Poisson(d) dark counts, each afterpulsing with p (notes estimator §2.4)."""
    mean = (k * eta + d) * (1 + p_ap)
    var = k * (eta * (1 + 3 * p_ap) - (eta * (1 + p_ap)) ** 2) + d * (1 + 3 * p_ap)
    return mean, var


@pytest.mark.parametrize(("eta", "p_ap", "d"), [(0.5, 0.0, 0.0), (0.7, 0.05, 0.3),
                                                (0.9, 0.2, 2.0)])
def test_count_mean_and_variance_match_the_compound_law(eta: float, p_ap: float, d: float
                                                         ) -> None:
    k, n = 60, 20000
    model = DetectorModel(eta=eta, afterpulse_prob=p_ap, dark_counts_per_gate=d, gate_s=GATE_S)
    sim = DetectorSim(model, afterpulse_delay_s=1e-9)
    rng = np.random.default_rng(7)
    times, pulse_of, starts = fixed_photons(k, n)
    gate, _ = sim.register(times, pulse_of, starts, rng)
    timed = np.bincount(gate, minlength=n)
    fast = sim.count(np.full(n, k), rng)
    mean, var = compound_moments(k, eta, p_ap, d)
    for counts in (timed, fast):
        assert abs(counts.mean() - mean) < 4.5 * np.sqrt(var / n)
        assert counts.var() == pytest.approx(var, rel=0.06)


def test_moment_check_can_fail_when_afterpulsing_is_ignored() -> None:
    model = DetectorModel(eta=0.7, afterpulse_prob=0.05, gate_s=GATE_S)
    counts = DetectorSim(model).count(np.full(20000, 60), np.random.default_rng(1))
    mean_without, var = compound_moments(60, 0.7, 0.0, 0.0)
    assert abs(counts.mean() - mean_without) > 4.5 * np.sqrt(var / counts.size)


def test_dead_time_is_non_paralysable_on_a_hand_made_time_line() -> None:
    times = np.array([0.0, 1.0, 1.5, 2.2, 3.0, 3.1, 5.0])
    assert apply_dead_time(times, 1.0).tolist() == [0.0, 1.0, 2.2, 5.0]
    assert apply_dead_time(times, 0.0).tolist() == times.tolist()


@pytest.mark.parametrize(
    ("S", "gamma_tau", "first", "exact"),
    [(100, 1e-4, True, 38.0383), (100, 2e-5, True, 46.9140), (100, 1e-4, False, 75.7461),
     (300, 2e-5, False, 193.3819)],
)
def test_dead_time_loss_matches_the_notes_exact_table(S: int, gamma_tau: float, first: bool,
                                                      exact: float) -> None:
    """notes estimator §2.3 (η = 0.5, exact chain): registered mean per pulse."""
    gamma = 1000.0
    rng = np.random.default_rng(5)
    atoms = CollectiveAtoms(10000, gamma, gamma, rng)
    sim = DetectorSim(DetectorModel(eta=0.5, dead_time_s=gamma_tau / gamma, gate_s=1.0))
    n = 6000 if first else 3000
    counts = []
    if first:
        times, owners = [], []
        for i in range(n):
            atoms.prepare(S)
            block = atoms.drive(np.array([True]), 1.0, times=True)
            times.append(block.times_s)
            owners.append(np.full(block.times_s.size, i))
        times, pulse_of = np.concatenate(times), np.concatenate(owners)
    else:
        atoms.prepare(S)
        atoms.drive(np.array([True]), 1.0, times=False)
        block = atoms.drive(np.array([False, True] * (n // 2)), 1.0, times=True)
        times, pulse_of = block.times_s, block.pulse_of
    gate, _ = sim.register(times, pulse_of, np.arange(n) * 2.0, rng)
    counts = np.bincount(gate, minlength=n)
    sem = counts.std() / np.sqrt(n)
    assert abs(counts.mean() - exact) < 4.5 * sem
    # Not the uncorrected plain average, nor the dead-time-free binomial mean.
    assert abs(counts.mean() - 0.5 * (S if first else 2 * S)) > 10 * sem


def test_jitter_is_gaussian_with_the_configured_width() -> None:
    n, sigma = 20000, 2e-9
    sim = DetectorSim(DetectorModel(eta=1.0, gate_s=GATE_S), jitter_s=sigma)
    times = np.full(n, 0.5 * GATE_S)
    gate, rel = sim.register(times, np.arange(n), np.arange(n) * 2 * GATE_S,
                             np.random.default_rng(3))
    assert gate.tolist() == list(range(n))
    assert stats.kstest((rel - 0.5 * GATE_S) / sigma, "norm").pvalue > 1e-3


def test_dark_counts_are_poisson_and_uniform_over_the_gate() -> None:
    n, d = 20000, 0.8
    sim = DetectorSim(DetectorModel(eta=0.5, dark_counts_per_gate=d, gate_s=GATE_S))
    gate, rel = sim.register(np.zeros(0), np.zeros(0, np.int64), np.arange(n) * 2 * GATE_S,
                             np.random.default_rng(9))
    counts = np.bincount(gate, minlength=n)
    assert abs(counts.mean() - d) < 4.5 * np.sqrt(d / n)
    assert counts.var() == pytest.approx(d, rel=0.06)
    assert stats.kstest(rel / GATE_S, "uniform").pvalue > 1e-3


def test_clicks_are_sorted_within_gates_and_inside_them() -> None:
    model = DetectorModel(eta=0.8, dark_counts_per_gate=1.0, dead_time_s=5e-6,
                          afterpulse_prob=0.3, gate_s=GATE_S)
    sim = DetectorSim(model, jitter_s=1e-6, afterpulse_delay_s=1e-4)
    times, pulse_of, starts = fixed_photons(80, 200)
    gate, rel = sim.register(times, pulse_of, starts, np.random.default_rng(2))
    absolute = starts[gate] + rel
    assert np.all(np.diff(absolute) >= 0)
    assert rel.min() >= 0 and rel.max() < GATE_S


@pytest.mark.parametrize(("kwargs", "name"), [({"jitter_s": -1.0}, "jitter_s"),
                                              ({"background_rate_hz": np.nan},
                                               "background_rate_hz"),
                                              ({"afterpulse_delay_s": -1e-9},
                                               "afterpulse_delay_s")])
def test_bad_parameters_raise_value_error_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DetectorSim(DetectorModel(), **kwargs)


def test_unphysical_detector_model_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="eta"):
        DetectorModel(eta=1.2)
    with pytest.raises(ValueError, match="dead_time_s"):
        DetectorModel(dead_time_s=-1e-9)


def test_counts_only_refuses_when_times_matter() -> None:
    sim = DetectorSim(DetectorModel(dead_time_s=1e-9))
    with pytest.raises(ValueError, match="dead_time_s"):
        sim.count(np.array([3]), np.random.default_rng(0))


@pytest.mark.parametrize("first", [True, False])
def test_mean_count_matches_the_estimators_effective_efficiency(first: bool) -> None:
    """The simulated process (exact times, exact dead time, scattering) against η_i(S)·k."""
    gamma, S, n = 1000.0, 60, 3000
    model = DetectorModel(eta=0.5, dead_time_s=5e-5 / gamma, scatter_eps=0.01, gate_s=1.0,
                          gamma_tc_per_s=gamma, gamma_antitc_per_s=gamma)
    rng = np.random.default_rng(12)
    atoms = CollectiveAtoms(10000, gamma, gamma, rng, scatter_eps=model.scatter_eps)
    sim = DetectorSim(model)
    times, owners = [], []
    for i in range(n):  # fresh shots, so a scattering jump never changes the next pulse's S
        atoms.prepare(S)
        if not first:
            atoms.drive(np.array([True]), 1.0, times=False)
            atoms.s, atoms.m = S, -S
        block = atoms.drive(np.array([first]), 1.0, times=True)
        times.append(block.times_s)
        owners.append(np.full(block.times_s.size, i))
    gate, _ = sim.register(np.concatenate(times), np.concatenate(owners), np.arange(n) * 2.0,
                           rng)
    counts = np.bincount(gate, minlength=n)
    pulse = 0 if first else 1
    k = S if first else 2 * S
    expected = k * float(effective_efficiency(model, np.array([S]), pulse)[0])
    assert abs(counts.mean() - expected) < 4.5 * counts.std() / np.sqrt(n)


def test_compiled_kernels_equal_their_python_source() -> None:
    """Runs are the same with and without numba: the kernels' Python source gives equal output."""
    rng = np.random.default_rng(4)
    rates = np.arange(1.0, 41.0) * np.arange(40.0, 0.0, -1.0)
    firsts, lengths = np.array([20, 0, 0]), np.array([20, 40, 40])
    args = (rates, firsts, lengths, np.full(3, 1e-3), rng.standard_exponential(100),
            rng.random(100), 0.02, 0.05)
    outs = []
    for kernel in (atoms_module._cascade, atoms_module._cascade.py_func):
        buffers = (np.zeros(100), np.zeros(100, np.int64), np.zeros(3, np.int64),
                   np.zeros(3, np.int64))
        outs.append((kernel(*args, *buffers), [b.tolist() for b in buffers]))
    assert outs[0] == outs[1]
    times = np.sort(rng.random(300)) * 1e-3
    args = (times, np.zeros(300, np.int64), rng.random(300, dtype=np.float32), 0.7,
            np.sort(rng.random(5)) * 1e-3, np.zeros(5, np.int64), np.zeros(1),
            np.array([3, 10, 50, -1]), np.full(3, 2e-6), 1e-6)
    outs = []
    for kernel in (detector_sim._register, detector_sim._register.py_func):
        buffers = (np.zeros(400, np.int64), np.zeros(400))
        n = kernel(*args, *buffers)
        outs.append((n, buffers[0][:n].tolist(), buffers[1][:n].tolist()))
    assert outs[0] == outs[1] and outs[0][0] > 0
