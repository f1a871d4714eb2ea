"""Check the posterior against eqs. (12)–(15) by brute force, Fig. 5, flags and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from heralder.estimation import DetectorModel, Posterior
from heralder.physics import prior_recursion, qfi_mixed, qfi_pure


def brute_force_posterior(N: int, eta: float, counts: list[int]) -> np.ndarray:
    """Return p(S | counts) over S = 0..N from the paper's eqs. (12) and corrected (15)."""
    S = np.arange(N + 1)
    p = prior_recursion(N).astype(float)  # eq. (8) iterated on probabilities
    for i, n in enumerate(counts):
        k = S if i == 0 else 2 * S
        p = p * stats.binom.pmf(n, k, eta)  # exponent 2S − n_i on later pulses
        p = p / p.sum()
    return p


@pytest.mark.parametrize("N", [6, 9, 12, 40])
def test_posterior_equals_brute_force_enumeration(N):
    rng = np.random.default_rng(N)
    eta = 0.6
    true_S = N % 2 + 2
    counts = [int(rng.binomial(true_S, eta))] + [int(rng.binomial(2 * true_S, eta))
                                                 for _ in range(5)]
    post = Posterior(N, DetectorModel(eta=eta), outlier_rho=0.0, backend="numpy")
    for i, n in enumerate(counts):
        post.update(n)
        expected = brute_force_posterior(N, eta, counts[: i + 1])
        full = np.zeros(N + 1)
        full[post.S] = post.p
        assert np.max(np.abs(full - expected)) < 1e-12
        # S_min = max(n, ⌈n_j/2⌉): no mass below it
        s_min = max(counts[0], *[math.ceil(c / 2) for c in counts[1: i + 1]], 0)
        assert post.S.min() >= s_min


def test_the_typo_in_eq_15_would_give_a_different_posterior():
    """With exponent S − n_i instead of 2S − n_i the update is wrong; ours is the corrected one."""
    N, eta, counts = 20, 0.5, [3, 7]
    S = np.arange(N + 1)
    prior = prior_recursion(N)
    first = prior * stats.binom.pmf(3, S, eta)
    with np.errstate(invalid="ignore"):
        typo = first * np.array([math.comb(2 * s, 7) * eta**7 * (1 - eta) ** (s - 7)
                                 if s >= 7 else 0.0 for s in S])
    typo = typo / typo.sum()
    post = Posterior(N, DetectorModel(eta=eta), outlier_rho=0.0, backend="numpy")
    for n in counts:
        post.update(n)
    full = np.zeros(N + 1)
    full[post.S] = post.p
    assert np.allclose(full, brute_force_posterior(N, eta, counts), atol=1e-12)
    assert np.max(np.abs(full - typo)) > 0.05


def test_fig5_behaviour_posterior_narrows_to_the_true_spin():
    """Paper Fig. 5: η = 0.7, S = 30; each pulse narrows the distribution to certainty."""
    rng = np.random.default_rng(5)
    post = Posterior(1000, DetectorModel(eta=0.7), backend="numpy")
    widths = [post.std_S]
    post.update(int(rng.binomial(30, 0.7)))
    widths.append(post.std_S)
    for _ in range(40):
        post.update(int(rng.binomial(60, 0.7)))
        widths.append(post.std_S)
    assert widths[1] < widths[0] / 2
    assert widths[10] < widths[1] / 2
    assert post.map_S == 30 and post.pmax > 0.99
    assert np.mean(np.diff(widths) < 0) > 0.5  # mostly narrowing pulse by pulse


def test_summaries_agree_with_direct_formulas():
    rng = np.random.default_rng(2)
    post = Posterior(400, DetectorModel(eta=0.4, dark_counts_per_gate=0.05), backend="numpy")
    post.update(8)
    for _ in range(4):
        post.update(int(rng.binomial(40, 0.4)))
    S, p = post.S, post.p
    assert p.sum() == pytest.approx(1.0, abs=1e-13)
    assert post.map_S == S[np.argmax(p)] and post.pmax == pytest.approx(p.max())
    assert post.mean_S == pytest.approx(np.dot(p, S))
    assert post.std_S == pytest.approx(np.sqrt(np.dot(p, (S - np.dot(p, S)) ** 2)))
    assert post.qfi() == pytest.approx(qfi_mixed(400, S, p), rel=1e-14)
    lo, hi = post.credible_interval(0.9)
    inside = (lo <= S) & (hi >= S)
    assert p[inside].sum() >= 0.9
    counts, pmf = post.predictive()
    assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
    direct = sum(w * stats.binom.pmf(counts, 2 * s, 0.4) for s, w in zip(S, p, strict=True))
    assert np.allclose(pmf, direct, atol=0.01 * pmf.max())  # dark counts (d = 0.05) aside
    assert 0 < post.qfi() <= post.qfi_ideal()
    assert post.summary() == (post.map_S, post.pmax, post.mean_S, post.std_S)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_qfi_and_summary_follow_each_update(backend):
    post = Posterior(200, DetectorModel(eta=0.5, dark_counts_per_gate=0.1), backend=backend)
    for count in (6, 13, 11, 12):
        before = post.qfi(), post.qfi_ideal()
        post.update(count)
        S, p = post.S, post.p
        assert (post.qfi(), post.qfi_ideal()) != before  # not a stale value
        assert post.qfi() == pytest.approx(qfi_mixed(200, S, p), rel=1e-13)
        assert post.summary() == pytest.approx((post.map_S, post.pmax, post.mean_S, post.std_S),
                                               rel=1e-12)
        assert post.qfi_ideal() == pytest.approx(float(np.dot(p, qfi_pure(200, S))), rel=1e-13)


def test_impossible_count_is_flagged_and_leaves_the_posterior_alone():
    post = Posterior(100, DetectorModel(eta=1.0), backend="numpy")
    post.update(10)
    before = post.p.copy()
    post.update(21)  # odd: no 2S can give it with a perfect detector
    assert post.flags[-1].kind == "implausible" and post.flags[-1].pulse == 1
    assert np.allclose(post.p, before, rtol=1e-9)
    strict = Posterior(100, DetectorModel(eta=1.0), outlier_rho=0.0, backend="numpy")
    strict.update(10)
    strict_before = strict.p.copy()
    strict.update(21)
    assert strict.flags[-1].kind == "skipped"
    assert np.array_equal(strict.p, strict_before) and strict.pulses == 2
    strict.update(20)  # the next pulse carries on normally
    assert strict.map_S == 10 and not np.any(np.isnan(strict.p))


def test_huge_glitch_count_is_flagged_not_a_crash():
    post = Posterior(1000, DetectorModel(eta=0.5, dark_counts_per_gate=0.02), backend="numpy")
    post.update(15)
    before = post.p.copy()
    post.update(10**12)
    assert post.flags[-1].kind == "implausible"
    assert np.allclose(post.p, before, rtol=1e-9)


@pytest.mark.parametrize("bad", [-1, 2.5, float("nan"), float("inf"), True, "3", None])
def test_bad_count_raises_value_error_naming_it(bad):
    post = Posterior(100, DetectorModel(eta=0.5), backend="numpy")
    with pytest.raises(ValueError, match="count"):
        post.update(bad)
    assert post.pulses == 0


def test_integral_float_and_numpy_counts_are_accepted():
    post = Posterior(100, DetectorModel(eta=0.5), backend="numpy")
    post.update(np.int64(5))
    post.update(9.0)
    assert post.pulses == 2


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"eta": 1.5}, "eta"), ({"eta": -0.1}, "eta"), ({"eta": float("nan")}, "eta"),
    ({"dark_counts_per_gate": -1.0}, "dark_counts_per_gate"),
    ({"afterpulse_prob": 1.0}, "afterpulse_prob"), ({"gate_s": 0.0}, "gate_s"),
])
def test_bad_detector_raises_value_error_naming_the_field(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DetectorModel(**kwargs)


@pytest.mark.parametrize("bad_n", ["100", 100.5, None, True, 0, -5])
def test_bad_atom_number_raises_value_error_naming_n(bad_n):
    with pytest.raises(ValueError, match="N"):
        Posterior(bad_n, DetectorModel(eta=0.5))


def test_bad_settings_raise_value_error():
    det = DetectorModel(eta=0.5)
    with pytest.raises(ValueError, match="prune_nats"):
        Posterior(100, det, prune_nats=10.0)
    with pytest.raises(ValueError, match="outlier_rho"):
        Posterior(100, det, outlier_rho=1.0)
    with pytest.raises(ValueError, match="backend"):
        Posterior(100, det, backend="cuda")
    with pytest.raises(ValueError, match="detector"):
        Posterior(100, {"eta": 0.5})
    with pytest.raises(ValueError, match="level"):
        Posterior(100, det).credible_interval(1.5)


def test_pruning_keeps_values_within_the_threshold():
    post = Posterior(10000, DetectorModel(eta=0.5, dark_counts_per_gate=0.02), backend="numpy")
    full = post.S.size
    post.update(50)
    assert post.S.size < full
    assert post.log_p.min() >= post.log_p.max() - 50.0


def test_copy_is_independent_and_replay_is_bit_for_bit():
    det = DetectorModel(eta=0.5, dark_counts_per_gate=0.02)
    rng = np.random.default_rng(9)
    counts = [int(rng.binomial(30, 0.5))] + [int(rng.binomial(60, 0.5)) for _ in range(20)]
    for backend in ("numpy", "auto"):
        a = Posterior(1000, det, backend=backend)
        b = Posterior(1000, det, backend=backend)
        for n in counts[:10]:
            a.update(n)
            b.update(n)
        c = a.copy()
        for n in counts[10:]:
            a.update(n)
            b.update(n)
        assert np.array_equal(a.S, b.S) and np.array_equal(a.log_p, b.log_p)
        assert c.pulses == 10 and c.S.size >= a.S.size
        c.update(counts[10])
        assert a.pulses == 21


def test_jump_mode_follows_a_change_of_spin_length():
    """A jump 30 → 31 after pulse 15: the static filter stays wrong, the HMM mode follows."""
    rng = np.random.default_rng(4)
    eta = 0.95
    counts = [int(rng.binomial(30, eta))] + [int(rng.binomial(60, eta)) for _ in range(14)]
    counts += [int(rng.binomial(62, eta)) for _ in range(25)]
    static = Posterior(1000, DetectorModel(eta=eta), backend="numpy")
    hmm = Posterior(1000, DetectorModel(eta=eta, jump_eps=1e-4), backend="numpy")
    for i, n in enumerate(counts):
        static.update(n)
        hmm.update(n)
        if i == 14:
            assert hmm.map_S == 30
    assert static.map_S % 2 == 0 and static.pmax > 0.99  # confidently wrong (notes §2.6)
    assert hmm.map_S == 31 and hmm.pmax > 0.9
    assert abs(hmm.p.sum() - 1.0) < 1e-12
    assert np.all(np.diff(hmm.S) == 1)  # contiguous support of both parities
