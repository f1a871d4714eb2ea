"""Check the dark-count window of the numpy likelihood on many rows at once (notes §2.2)."""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import gammaln, logsumexp

from heralder.estimation.likelihood import _TAIL_LAMBDAS, _TAIL_WIDTHS, log_dark_binomial

LNFACT = gammaln(np.arange(6000) + 1.0)


def full_sums(n: np.ndarray, k: np.ndarray, p: np.ndarray, d: float) -> np.ndarray:
    """Return log Σ_m Pois(m; d)·Bin(n − m; k, p) over every m, row by row."""
    out = np.empty(k.size)
    for i in range(k.size):
        m = np.arange(n[i] + 1)
        out[i] = logsumexp(stats.poisson.logpmf(m, d) + stats.binom.logpmf(n[i] - m, k[i], p[i]))
    return out


def assert_matches(got: np.ndarray, expected: np.ndarray) -> None:
    finite = np.isfinite(expected)
    assert np.all(got[~finite] == -np.inf)
    assert np.max(np.abs(got[finite] - expected[finite]), initial=0.0) < 1e-12


def test_rows_with_different_windows_match_the_full_sum():
    # Rows whose modes sit at m = 0, inside, and at the hard limits n − k and n, evaluated
    # together: they share one window or are split into buckets.
    rng = np.random.default_rng(11)
    for d in (1e-6, 0.02, 0.7, 6.0, 40.0):
        k = rng.integers(0, 300, 60)
        p = rng.random(60)
        p[:3] = (0.0, 1.0, 1e-9)
        n = rng.integers(0, 2 * k + 3 * d + 5)
        n[-6:] = k[-6:] + rng.integers(0, 80, 6)  # the excess over k must be dark counts
        assert_matches(log_dark_binomial(n, k, p, d, LNFACT), full_sums(n, k, p, d))


def test_one_count_over_a_support_matches_the_full_sum():
    # The update's case: one count against every S of a support, near and far from its mean.
    S = np.arange(0, 400, 2)
    p = np.linspace(0.3, 0.6, S.size)
    for n, d in ((91, 0.02), (3, 0.02), (250, 0.5), (700, 5.0)):
        counts = np.full(S.size, n)
        assert_matches(log_dark_binomial(n, 2 * S, p, d, LNFACT), full_sums(counts, 2 * S, p, d))


def test_tail_widths_reach_36_nats_below_the_mode_and_no_further():
    for lam, width in zip(_TAIL_LAMBDAS, _TAIL_WIDTHS[:-1], strict=True):
        mode = np.floor(lam)
        drop = stats.poisson.logpmf(mode + np.array([width - 1, width]), lam)
        drop -= stats.poisson.logpmf(mode, lam)
        assert drop[1] < -36.0 and (width == 1 or drop[0] >= -36.0)
    assert _TAIL_WIDTHS[-1] > 1e9  # beyond the grid: the whole admissible range
