"""Check the count likelihood against full sums, closed forms and Monte Carlo (notes §2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln, logsumexp

from heralder.estimation import DetectorModel
from heralder.estimation.efficiency import effective_efficiency
from heralder.estimation.likelihood import CountModel, log_dark_binomial

LNFACT = gammaln(np.arange(6000) + 1.0)


def full_sum(n: int, k: int, p: float, d: float) -> float:
    m = np.arange(n + 1)
    return float(logsumexp(stats.poisson.logpmf(m, d) + stats.binom.logpmf(n - m, k, p)))


def test_dark_convolution_matches_full_sum_to_1e_12():
    rng = np.random.default_rng(7)
    worst = 0.0
    for case in range(300):
        k = int(rng.integers(0, 400))
        p = float(rng.choice([0.0, 1.0])) if case % 15 == 0 else float(rng.random())
        d = float(rng.choice([1e-6, 0.02, 0.5, 5.0, 20.0]))
        n = int(rng.integers(0, int(k * p * 2 + 3 * d + 5)))
        if case % 6 == 0:
            n = k + int(rng.integers(0, 60))  # n >> k: dark counts must explain the excess
        expected = full_sum(n, k, p, d)
        got = log_dark_binomial(n, np.array([k]), np.array([p]), d, LNFACT)[0]
        if np.isfinite(expected):
            worst = max(worst, abs(got - expected))
        else:
            assert got == -np.inf
    assert worst < 1e-12


def test_eta_zero_and_one_are_exact_and_never_nan():
    S = np.arange(0, 40)
    perfect = CountModel(DetectorModel(eta=1.0))
    ll = perfect.log_likelihood(20, S, 1)
    assert ll[10] == 0.0 and np.all(ll[S != 10] == -np.inf)
    blind = CountModel(DetectorModel(eta=0.0))
    assert np.all(blind.log_likelihood(0, S, 1) == 0.0)
    assert np.all(blind.log_likelihood(1, S, 1) == -np.inf)
    noisy = CountModel(DetectorModel(eta=1.0, dark_counts_per_gate=0.1))
    assert noisy.log_likelihood(21, np.array([10]), 1)[0] == pytest.approx(
        stats.poisson.logpmf(1, 0.1), abs=1e-13)
    for eta in (0.0, 1e-300, 0.5, 1 - 1e-16, 1.0):
        for d in (0.0, 1e-6, 3.0):
            model = CountModel(DetectorModel(eta=eta, dark_counts_per_gate=d, leak_r2=1e-4))
            for n in (0, 1, 17, 80, 5000):
                assert not np.any(np.isnan(model.log_likelihood(n, S, 0)))
                assert not np.any(np.isnan(model.log_likelihood(n, S, 3)))


def test_counts_pmf_sums_to_one_with_every_imperfection():
    det = DetectorModel(eta=0.6, dark_counts_per_gate=0.7, dead_time_s=2e-6,
                        gamma_tc_per_s=30.0, gamma_antitc_per_s=40.0, afterpulse_prob=0.02,
                        leak_r2=2e-4, scatter_eps=0.01)
    model = CountModel(det)
    S = np.array([3, 10, 25])
    counts = np.arange(0, 200)
    for pulse in (0, 1, 2):
        total = [np.exp(model.log_likelihood(counts, np.full(counts.shape, s), pulse)).sum()
                 for s in S]
        assert np.allclose(total, 1.0, atol=1e-12)


@pytest.mark.parametrize(("pulse", "S", "gamma_tau", "exact"), [
    (0, 100, 2e-5, 46.9140), (0, 100, 1e-4, 38.0383), (0, 300, 2e-5, 96.9267),
    (1, 100, 1e-4, 75.7461), (1, 300, 2e-5, 193.3819),
])
def test_dead_time_efficiency_matches_the_exact_chain(pulse, S, gamma_tau, exact):
    """Notes §2.3 table: exact embedded-chain means at η = 0.5 (printed to 4 decimals)."""
    det = DetectorModel(eta=0.5, dead_time_s=gamma_tau, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    k = S if pulse == 0 else 2 * S
    mean = effective_efficiency(det, np.array([S]), pulse)[0] * k
    assert mean == pytest.approx(exact, abs=1.5e-4)


@pytest.mark.parametrize("gamma_tau", [1e-12, 1e-9, 1e-7, 1e-4])
def test_dead_time_closed_form_equals_direct_sum(gamma_tau):
    """The digamma form and the small-a series both equal the direct sum over steps."""
    det = DetectorModel(eta=0.7, dead_time_s=gamma_tau, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    for S in (1, 2, 7, 60, 250):
        for pulse in (0, 1):
            if pulse == 0:
                r = np.array([(S - j + 1) * (S + j) for j in range(1, S + 1)], float)
            else:
                r = np.array([j * (2 * S + 1 - j) for j in range(1, 2 * S + 1)], float)
            a = 0.7 * gamma_tau
            direct = 0.7 * (1.0 + np.sum(1.0 / (1.0 + a * r[1:]))) / r.size
            got = effective_efficiency(det, np.array([S]), pulse)[0]
            assert got == pytest.approx(direct, rel=1e-13)


def test_dead_time_efficiency_matches_monte_carlo(simulate):
    """Simulate exact emission times and a non-paralysable dead time (notes §2.3 table)."""
    rng = np.random.default_rng(11)
    S, gamma_tau, pulses = 30, 1e-4, 3000
    counts = np.array([simulate(rng, S, 1, eta=0.5, dead_time_s=gamma_tau)[0]
                       for _ in range(pulses)])
    det = DetectorModel(eta=0.5, dead_time_s=gamma_tau, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    predicted = effective_efficiency(det, np.array([S]), 1)[0] * 2 * S
    se = counts.std() / np.sqrt(pulses)
    assert abs(counts.mean() - predicted) < 4 * se
    assert counts.mean() < 0.5 * 2 * S - 10 * se  # the loss is real and resolved


def test_exact_afterpulse_law_matches_enumeration():
    """η(1+p_ap) > 0.8 uses P(n|k) = Σ_x Bin(x;k,η) Bin(n−x;x,p_ap) ⊛ Poisson(d(1+p_ap))."""
    eta, p_ap, d, S = 0.9, 0.05, 0.3, 6
    model = CountModel(DetectorModel(eta=eta, afterpulse_prob=p_ap, dark_counts_per_gate=d))
    assert model.compound
    k = 2 * S
    per_photon = np.array([1 - eta, eta * (1 - p_ap), eta * p_ap])  # 0, 1 or 2 counts
    signal = np.array([1.0])
    for _ in range(k):
        signal = np.convolve(signal, per_photon)
    counts = np.arange(40)
    dark = stats.poisson.pmf(counts, d * (1 + p_ap))
    expected = np.convolve(signal, dark)[: counts.size]
    got = np.exp(model.log_likelihood(counts, np.full(counts.shape, S), 1))
    assert np.allclose(got, expected, rtol=1e-11, atol=1e-300)


def test_afterpulse_fold_and_leak_mixture():
    folded = CountModel(DetectorModel(eta=0.5, afterpulse_prob=0.01))
    assert not folded.compound
    assert folded.eta_table(1, 10)[10] == pytest.approx(0.505)
    leak = CountModel(DetectorModel(eta=1.0, leak_r2=1e-4))
    S = np.array([20])
    w_full, w_first = 1e-4 * 400, 1e-4 * 400 / 4
    assert np.exp(leak.log_likelihood(42, S, 1))[0] == pytest.approx(w_full, rel=1e-12)
    assert np.exp(leak.log_likelihood(38, S, 1))[0] == pytest.approx(w_full, rel=1e-12)
    assert np.exp(leak.log_likelihood(40, S, 1))[0] == pytest.approx(1 - 2 * w_full, rel=1e-12)
    assert np.exp(leak.log_likelihood(22, S, 0))[0] == pytest.approx(w_first, rel=1e-12)


def test_dead_time_without_gamma_is_refused():
    with pytest.raises(ValueError, match="gamma_tc_per_s"):
        CountModel(DetectorModel(eta=0.5, dead_time_s=1e-8)).log_likelihood(3, np.array([4]), 0)
