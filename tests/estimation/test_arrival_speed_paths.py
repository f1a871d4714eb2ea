"""Prove the compiled arrival-time kernel equal to the numpy reference (arrival.py) on
randomized records: both pulse kinds, dark counts, dead time, η at its edges, photons inside dead
windows, the band and term pruning of the compiled path, and candidates far from the truth."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.estimation import DetectorModel
from heralder.estimation.arrival import log_likelihood_times
from heralder.estimation.backend import compiled_arrival_kernels

pytestmark = pytest.mark.skipif(compiled_arrival_kernels() is None, reason="numba not installed")

#: Agreement asked of the fast path: 1e-10 relative in log-likelihood, and 1e-11 absolute.
RTOL, ATOL = 1e-10, 1e-11


def assert_paths_agree(times, gate_s, S, pulse, det):
    ref = log_likelihood_times(times, gate_s, S, pulse, det, backend="numpy")
    fast = log_likelihood_times(times, gate_s, S, pulse, det, backend="numba")
    assert np.array_equal(np.isneginf(ref), np.isneginf(fast))
    finite = np.isfinite(ref)
    assert np.all(np.abs(fast[finite] - ref[finite]) <= ATOL + RTOL * np.abs(ref[finite]))
    return ref


def test_randomized_records_with_dark_counts_and_dead_time(simulate):
    rng = np.random.default_rng(2026)
    for _ in range(30):
        S = int(rng.integers(1, 30))
        pulse = int(rng.integers(0, 3))
        eta = float(rng.choice([rng.uniform(0.05, 0.95), 1.0]))
        dark = float(rng.choice([0.0, rng.uniform(0.01, 1.0)]))
        gate = float(rng.uniform(2.0, 20.0))
        dead = float(rng.choice([0.0, 10.0 ** rng.uniform(-4, -1.5)]))
        gamma = float(rng.uniform(0.5, 2.0))
        det = DetectorModel(eta=eta, dark_counts_per_gate=dark, gate_s=gate, dead_time_s=dead,
                            gamma_tc_per_s=gamma, gamma_antitc_per_s=gamma)
        _, times = simulate(rng, S, pulse, eta=eta, gamma_per_s=gamma, dark_per_gate=dark,
                            gate_s=gate, dead_time_s=dead)
        S_cand = np.unique(np.clip(S + np.array([-6, -2, 0, 2, 6]), 0, None))
        assert_paths_agree(times, gate, S_cand, pulse, det)


def test_wide_ladder_where_pruning_acts(simulate):
    """At S = 60 the band and the Poisson terms are pruned hard; the result must not move."""
    rng = np.random.default_rng(5)
    det = DetectorModel(eta=0.4, dark_counts_per_gate=0.05, gate_s=1.0, dead_time_s=2e-5,
                        gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    _, times = simulate(rng, 60, 3, eta=0.4, dark_per_gate=0.05, gate_s=1.0, dead_time_s=2e-5)
    assert times.size > 20
    assert_paths_agree(times, 1.0, np.array([52, 60, 70]), 3, det)


def test_hand_made_records_at_the_edges():
    det = DetectorModel(eta=0.6, dark_counts_per_gate=0.3, gate_s=5.0, dead_time_s=0.05,
                        gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    S = np.array([0, 1, 3, 7])
    for times in (np.empty(0), np.array([0.0]), np.array([5.0]),
                  np.array([0.1, 0.12, 0.13, 0.5]),  # the 2nd and 3rd fall in a dead window
                  np.array([0.2, 0.2, 4.9])):  # coincident times
        for pulse in (0, 1):
            assert_paths_agree(times, 5.0, S, pulse, det)


def test_impossible_records_are_minus_infinity_in_both_paths():
    """At η = 1 without dark counts S = 1 (later pulse) cannot give four photons; S = 2 can."""
    det = DetectorModel(eta=1.0, gate_s=5.0, gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    ref = assert_paths_agree(np.array([0.1, 0.2, 0.3, 0.4]), 5.0, np.array([1, 2]), 1, det)
    assert ref[0] == -np.inf and np.isfinite(ref[1])


def test_a_candidate_scores_the_same_in_any_group(simulate):
    """The kernel propagates candidates in groups of GROUP lanes sharing a band, q and the
    Poisson weights (the last group padded): at the exact tolerances a candidate's log L must
    not depend on its group mates or on the padding."""
    kernels = compiled_arrival_kernels()
    rng = np.random.default_rng(11)
    det = dict(k_mult=2, gamma=1.0, eta=0.45, dark_rate=0.2, dead_time=1e-4)
    _, times = simulate(rng, 40, 1, eta=0.45, dark_per_gate=0.2, gate_s=1.0, dead_time_s=1e-4)
    S = np.array([2, 24, 30, 36, 38, 40, 42, 44, 60])  # mixed bands in one group
    args = (det["k_mult"], det["gamma"], det["eta"], det["dark_rate"], det["dead_time"],
            kernels.EXACT_TOLS)
    alone = np.array([kernels.log_likelihood_times(times, 1.0, S[i:i + 1], *args)[0]
                      for i in range(S.size)])
    assert np.all(np.isfinite(alone))
    for size in range(1, S.size + 1):  # every padding of the last group
        grouped = kernels.log_likelihood_times(times, 1.0, S[:size], *args)
        assert np.allclose(grouped, alone[:size], rtol=1e-13, atol=1e-12)
