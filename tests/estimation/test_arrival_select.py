"""Hold the compiled arrival-time update to the posterior: scoring only the candidates the
posterior needs (arrival_select) with the kernel's posterior tolerances must leave the
normalised posterior within 1e-9 of scoring every candidate exactly, on records from the bench's
S ≈ 100 case, randomized records (dark counts, dead time, η near 1, jump mode) and records the
model does not fit (Γ off by 30 %), and within 1e-9 of the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.estimation import DetectorModel, Posterior, arrival, arrival_select, posterior
from heralder.estimation._arrival_kernels import EXACT_TOLS
from heralder.estimation.arrival_select import select_and_score
from heralder.estimation.backend import compiled_arrival_kernels

pytestmark = pytest.mark.skipif(compiled_arrival_kernels() is None, reason="numba not installed")

#: Largest change allowed in any normalised posterior probability.
POSTERIOR_TOL = 1e-9


def _score_all(score, S, log_prior, ll_count):
    return score(np.arange(S.size))


@pytest.fixture
def exact_scoring(monkeypatch):
    """Return a function that updates a copy of a posterior scoring every candidate exactly."""

    def update(post: Posterior, times: np.ndarray, gate_s: float) -> Posterior:
        ref = post.copy()
        with monkeypatch.context() as patch:
            patch.setattr(posterior, "select_and_score", _score_all)
            patch.setattr(compiled_arrival_kernels(), "POSTERIOR_TOLS", EXACT_TOLS)
            ref.update_times(times, gate_s)
        return ref

    return update


def _max_posterior_change(a: Posterior, b: Posterior) -> float:
    support = np.union1d(a.S, b.S)
    pa, pb = np.zeros(support.size), np.zeros(support.size)
    pa[np.searchsorted(support, a.S)] = a.p
    pb[np.searchsorted(support, b.S)] = b.p
    return float(np.max(np.abs(pa - pb)))


def _count_scored(monkeypatch) -> list[int]:
    scored: list[int] = []
    original = arrival.log_likelihood_times

    def counting(times_s, gate_s, S, *args, **kwargs):
        scored.append(len(S))
        return original(times_s, gate_s, S, *args, **kwargs)

    monkeypatch.setattr(arrival, "log_likelihood_times", counting)
    return scored


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bench_case_at_s_100_scores_few_candidates_and_keeps_the_posterior(
        seed, simulate, exact_scoring, monkeypatch):
    det = DetectorModel(eta=0.5, dark_counts_per_gate=0.02, gate_s=1.0, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    rng = np.random.default_rng(seed)
    post = Posterior(10_000, det, backend="numba")
    for pulse in range(10):
        post.update(simulate(rng, 100, pulse, eta=0.5, dark_per_gate=0.02, gate_s=1.0)[0])
    _, times = simulate(rng, 100, 10, eta=0.5, dark_per_gate=0.02, gate_s=1.0)
    ref = exact_scoring(post, times, 1.0)
    scored = _count_scored(monkeypatch)
    post.update_times(times, 1.0)
    assert _max_posterior_change(post, ref) <= POSTERIOR_TOL
    candidates = ref.S.size
    assert sum(scored) < candidates / 2, (scored, candidates)


def test_randomized_records_keep_the_posterior(simulate, exact_scoring):
    rng = np.random.default_rng(77)
    for trial in range(8):
        N = int(rng.choice([900, 1600, 2500]))
        eta = float(rng.choice([0.3, 0.5, 0.8, 0.95]))
        dark = float(rng.choice([0.0, 0.05, 0.5]))
        dead = float(rng.choice([0.0, 1e-4]))
        gamma_true = float(rng.choice([1.0, 1.3]))  # 1.3: the model's Γ is 30 % off
        det = DetectorModel(eta=eta, dark_counts_per_gate=dark, gate_s=2.0, dead_time_s=dead,
                            gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0,
                            jump_eps=1e-5 if trial == 3 else 0.0)
        post = Posterior(N, det, backend="numba")
        S = int(rng.choice(post.S, p=post.p))
        for pulse in range(3):
            post.update(simulate(rng, S, pulse, eta=eta, dark_per_gate=dark, gate_s=2.0,
                                 dead_time_s=dead)[0])
        for pulse in range(3, 6):
            _, times = simulate(rng, S, pulse, eta=eta, gamma_per_s=gamma_true,
                                dark_per_gate=dark, gate_s=2.0, dead_time_s=dead)
            ref = exact_scoring(post, times, 2.0)
            post.update_times(times, 2.0)
            change = _max_posterior_change(post, ref)
            assert change <= POSTERIOR_TOL, (trial, pulse, N, eta, dark, dead, change)


def test_first_pulses_on_a_broad_posterior_keep_the_posterior(simulate, exact_scoring):
    """From the prior on (many candidates; the martingale guard scores most of them)."""
    rng = np.random.default_rng(3)
    det = DetectorModel(eta=0.5, dark_counts_per_gate=0.05, gate_s=2.0, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    post = Posterior(900, det, backend="numba")
    S = int(rng.choice(post.S, p=post.p))
    for pulse in range(3):
        _, times = simulate(rng, S, pulse, eta=0.5, dark_per_gate=0.05, gate_s=2.0)
        ref = exact_scoring(post, times, 2.0)
        post.update_times(times, 2.0)
        assert _max_posterior_change(post, ref) <= POSTERIOR_TOL


def test_compiled_update_agrees_with_the_numpy_reference(simulate):
    det = DetectorModel(eta=0.6, dark_counts_per_gate=0.05, gate_s=2.0, dead_time_s=5e-5,
                        gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    rng = np.random.default_rng(5)
    fast, ref = Posterior(1600, det, backend="numba"), Posterior(1600, det, backend="numpy")
    for pulse in range(2):
        count, _ = simulate(rng, 40, pulse, eta=0.6, dark_per_gate=0.05, gate_s=2.0,
                            dead_time_s=5e-5)
        fast.update(count)
        ref.update(count)
    _, times = simulate(rng, 40, 2, eta=0.6, dark_per_gate=0.05, gate_s=2.0, dead_time_s=5e-5)
    assert ref.S.size > arrival_select.DEGREE + 3  # the selection is exercised
    fast.update_times(times, 2.0)
    ref.update_times(times, 2.0)
    assert _max_posterior_change(fast, ref) <= POSTERIOR_TOL


@pytest.mark.parametrize("gap", [False, True])
def test_selection_extrapolates_a_smooth_factor(gap):
    """A cubic times factor is reproduced exactly beyond the scored candidates, on equispaced
    candidates (precomputed basis) and with a candidate missing (barycentric path)."""
    S = np.arange(40, 120, 2)
    if gap:
        S = np.delete(S, 17)
    f = 0.03 * (S - 80) - 0.01 * (S - 80) ** 2 + 1e-6 * (S - 80) ** 3
    ll_count = -0.2 * (S - 80) ** 2
    log_prior = np.zeros(S.size)
    calls = []

    def score(idx):
        calls.append(idx.copy())
        return ll_count[idx] + f[idx]

    got = select_and_score(score, S, log_prior, ll_count)
    scored = np.concatenate(calls)
    assert np.unique(scored).size == scored.size < S.size / 2
    lp = log_prior + got
    high = lp >= lp.max() - np.log(1.0 / arrival_select.MASS_TOL)
    assert np.all(np.isin(np.flatnonzero(high), scored))  # every high candidate is exact
    near = np.abs(np.arange(S.size) - scored.mean()) <= (scored.size / 2
                                                          + arrival_select.EXTRAP_STEPS)
    assert np.allclose(got[near], (ll_count + f)[near], atol=1e-8)


def test_selection_falls_back_on_infinities():
    S = np.arange(40, 120, 2)
    f = 0.03 * (S - 80) - 0.01 * (S - 80) ** 2
    ll_count = -0.2 * (S - 80) ** 2
    log_prior = np.zeros(S.size)

    def score_with_hole(idx):
        out = ll_count[idx] + f[idx]
        out[S[idx] == 80] = -np.inf
        return out

    got = select_and_score(score_with_hole, S, log_prior, ll_count)
    expected = ll_count + f
    expected[S == 80] = -np.inf
    assert np.array_equal(got, expected)


def test_two_core_split_changes_no_result(monkeypatch):
    """The compiled kernel on candidate halves (helper thread) equals one call on all of them."""
    from heralder.estimation import split

    det = DetectorModel(eta=0.5, dark_counts_per_gate=0.1, gate_s=1.0, dead_time_s=1e-4,
                        gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    times = np.sort(np.random.default_rng(4).uniform(0.0, 0.3, 25))
    S = np.arange(20, 42, 2)
    both = arrival.log_likelihood_times(times, 1.0, S, 3, det, backend="numba", exact=False)
    monkeypatch.setattr(split, "_cores", lambda: 1)
    one = arrival.log_likelihood_times(times, 1.0, S, 3, det, backend="numba", exact=False)
    assert np.array_equal(both, one)
    assert split.split_candidates(lambda s: s * 2.0, np.arange(3)).tolist() == [0.0, 2.0, 4.0]


def test_selection_without_numba_names_it(monkeypatch):
    """The selection's steps are compiled: without numba it says so (the numpy backend never
    calls it; it scores every candidate)."""
    monkeypatch.setattr(arrival_select, "compiled_select_kernels", lambda: None)
    S = np.arange(40, 120, 2)
    with pytest.raises(ValueError, match="numba"):
        select_and_score(lambda idx: np.zeros(idx.size), S, np.zeros(S.size), np.zeros(S.size))
