"""Check the arrival-time likelihood against matrix exponentials, closed forms, the count
likelihood it must marginalise to, and Monte Carlo of the cascade (notes §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.linalg import expm

from heralder.estimation import DetectorModel, Posterior
from heralder.estimation.arrival import log_likelihood_times, log_likelihood_times_one
from heralder.estimation.backend import compiled_kernels
from heralder.physics import cascade_rates

FAST = "numba" if compiled_kernels() is not None else "numpy"


def expm_reference(times, gate, S, pulse, gamma, eta, delta, tau):
    r = gamma * cascade_rates(S, pulse)
    k = r.size
    R = np.zeros((k + 1, k + 1))
    R[np.arange(k), np.arange(1, k + 1)] = r
    exit_rate = np.append(r, 0.0)
    D0 = -np.diag(exit_rate) - delta * np.eye(k + 1) + (1 - eta) * R
    D1 = eta * R + delta * np.eye(k + 1)
    Q = -np.diag(exit_rate) + R
    alpha = np.eye(k + 1)[0]
    alive = 0.0
    for t in times:
        alpha = alpha @ expm(D0 * max(t - alive, 0.0)) @ D1 @ expm(Q * tau)
        alive = max(t, alive) + tau
    return math.log(alpha @ expm(D0 * max(gate - alive, 0.0)) @ np.ones(k + 1))


@pytest.mark.parametrize(("S", "pulse"), [(1, 0), (2, 1), (5, 0), (5, 1), (8, 2)])
def test_matches_matrix_exponentials_with_dark_counts_and_dead_time(S, pulse):
    rng = np.random.default_rng(S + 10 * pulse)
    n = int(rng.integers(1, 2 * S + 2))
    times = np.sort(rng.uniform(0, 2.0, n))
    got = log_likelihood_times_one(times, 40.0, S, pulse, 1.3, 0.6, 0.003, 0.02)
    assert got == pytest.approx(expm_reference(times, 40.0, S, pulse, 1.3, 0.6, 0.003, 0.02),
                                abs=1e-11)


def test_single_photon_density_is_analytic():
    """S = 1, pulse 0: one photon at rate 2Γ, so the density is η·2Γ·e^{−2Γt}."""
    for t in (0.01, 0.3, 2.0):
        got = log_likelihood_times_one(np.array([t]), 80.0, 1, 0, 1.0, 0.4, 0.0, 0.0)
        assert got == pytest.approx(math.log(0.4 * 2 * math.exp(-2 * t)), abs=1e-13)


def test_no_photon_equals_the_count_likelihood_of_zero():
    det = DetectorModel(eta=0.3, dark_counts_per_gate=0.2, gate_s=50.0, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    S = np.array([0, 2, 5, 9])
    got = log_likelihood_times(np.empty(0), 50.0, S, 1, det)
    expected = 2 * S * math.log1p(-0.3) - 0.2
    assert np.allclose(got, expected, atol=1e-12)


def test_times_marginalise_to_the_count_likelihood():
    """∫ L(t₁…t_n | S) dt = P(n | S) for n = 1 and 2 (dark counts, no dead time)."""
    gate, eta, d = 12.0, 0.55, 0.3
    det = DetectorModel(eta=eta, dark_counts_per_gate=d, gate_s=gate, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    S = 1

    def density(*times):
        return math.exp(log_likelihood_times(np.array(times), gate, np.array([S]), 1, det,
                                             backend=FAST)[0])

    # Gauss–Legendre on [0, gate] and on the triangle t1 < t2 (smooth integrands).
    x, w = np.polynomial.legendre.leggauss(48)
    nodes, weights = gate * (x + 1) / 2, gate * w / 2
    p1 = sum(wi * density(ti) for ti, wi in zip(nodes, weights, strict=True))
    p2 = 0.0
    for t1, w1 in zip(nodes, weights, strict=True):
        inner_t, inner_w = t1 + (gate - t1) * (x + 1) / 2, (gate - t1) * w / 2
        p2 += w1 * sum(wi * density(t1, ti) for ti, wi in zip(inner_t, inner_w, strict=True))
    m = np.arange(3)
    count = [float(np.sum(stats.poisson.pmf(m[: n + 1], d)
                          * stats.binom.pmf(n - m[: n + 1], 2 * S, eta))) for n in (1, 2)]
    assert p1 == pytest.approx(count[0], rel=1e-9)
    assert p2 == pytest.approx(count[1], rel=1e-9)
    from heralder.estimation.likelihood import CountModel

    assert np.exp(CountModel(det).log_likelihood(1, np.array([S]), 1))[0] == pytest.approx(
        count[0], rel=1e-12)


def test_likelihood_ratio_has_unit_mean_under_the_cascade(simulate):
    """E_S[L(S')/L(S)] = 1 on records simulated from the cascade with dark counts and dead
    time: the time likelihood is a normalised density of what the detector records."""
    rng = np.random.default_rng(17)
    det = DetectorModel(eta=0.5, dark_counts_per_gate=0.1, gate_s=15.0, dead_time_s=0.01,
                        gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    S, records = 3, 800
    ratios = []
    for _ in range(records):
        _, times = simulate(rng, S, 1, eta=0.5, dark_per_gate=0.1, gate_s=15.0,
                            dead_time_s=0.01)
        ll = log_likelihood_times(times, 15.0, np.array([S, S - 1, S + 1]), 1, det,
                                  backend=FAST)
        ratios.append(np.exp(ll[1:] - ll[0]))
    ratios = np.asarray(ratios)
    mean = ratios.mean(axis=0)
    se = ratios.std(axis=0) / math.sqrt(records)
    assert np.all(np.abs(mean - 1.0) < 4 * se + 1e-3)


def test_arrival_times_carry_more_information_than_counts(simulate):
    """On the same records the time-resolved posterior scores the true S higher on average."""
    rng = np.random.default_rng(23)
    det = DetectorModel(eta=0.3, dark_counts_per_gate=0.02, gate_s=40.0, gamma_tc_per_s=1.0,
                        gamma_antitc_per_s=1.0)
    gains = []
    for _ in range(40):
        post_counts = Posterior(100, det, backend=FAST)
        post_times = Posterior(100, det, backend=FAST)
        S = int(rng.choice(post_counts.S, p=post_counts.p))
        for pulse in range(6):
            count, times = simulate(rng, S, pulse, eta=0.3, dark_per_gate=0.02, gate_s=40.0)
            post_counts.update(count)
            post_times.update_times(times, 40.0)

        def log_score(post, s=S):
            hit = s == post.S
            return float(post.log_p[hit][0]) if hit.any() else -50.0

        gains.append(log_score(post_times) - log_score(post_counts))
    gains = np.asarray(gains)
    assert gains.mean() > 2 * gains.std() / math.sqrt(gains.size)


def test_update_times_validates_its_input():
    det = DetectorModel(eta=0.5, gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    post = Posterior(100, det)
    for times, gate, match in [([0.2, 0.1], 1.0, "sorted"), ([0.1, 2.0], 1.0, "gate"),
                               ([np.nan], 1.0, "finite"), ([[0.1]], 1.0, "1-d"),
                               ([-0.1], 1.0, "gate"), ([0.1], 0.0, "gate_s"),
                               (["a"], 1.0, "times_s")]:
        with pytest.raises(ValueError, match=match):
            post.update_times(times, gate)
    with pytest.raises(ValueError, match="gamma_tc_per_s"):
        Posterior(100, DetectorModel(eta=0.5)).update_times([0.1], 1.0)
    assert post.pulses == 0
