"""Check the prior |c_S|²: exact values, eq. (8), accuracy at huge N, support, bad input."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heralder.physics import log_prior, peak_spin, prior_recursion, prior_support


def exact_prior(N: int, S: int) -> Fraction:
    """Return |c_S|² as an exact rational from the factorial closed form."""
    a, b = (N + S) // 2, (N - S) // 2
    f = math.factorial
    return Fraction((2 * S + 1) * 2**S * f(N) * f(a), f(b) * f(N + S + 1))


def mp_log_prior(N: int, S: int) -> float:
    with mpmath.workdps(60):
        n, s = mpmath.mpf(N), mpmath.mpf(S)
        return float(mpmath.log(2 * s + 1) + s * mpmath.log(2) + mpmath.loggamma(n + 1)
                     + mpmath.loggamma((n + s) / 2 + 1) - mpmath.loggamma((n - s) / 2 + 1)
                     - mpmath.loggamma(n + s + 2))


@pytest.mark.parametrize("N", [1, 2, 3, 8, 25, 100, 301])
def test_matches_exact_rationals(N):
    S = np.arange(N % 2, N + 1, 2)
    exact = np.array([math.log(exact_prior(N, int(s))) for s in S])
    assert np.allclose(log_prior(N, S), exact, rtol=1e-12, atol=1e-13)
    assert sum(exact_prior(N, int(s)) for s in S) == 1  # the closed form is normalised


@pytest.mark.parametrize("N", [10**4 + 1, 10**6, 10**8 + 1, 10**9, 10**12])
def test_relative_accuracy_at_large_n(N):
    S_sup, log_p = prior_support(N)
    picks = np.unique(np.linspace(0, S_sup.size - 1, 12).astype(int))
    spins = [*S_sup[picks], N - 2, N]  # and the far tail
    ours = log_prior(N, np.array(spins))
    ref = np.array([mp_log_prior(N, int(s)) for s in spins])
    assert np.max(np.abs(ours / ref - 1.0)) < 1e-12
    assert np.max(np.abs(log_p[picks] / ref[: picks.size] - 1.0)) < 1e-12


@pytest.mark.parametrize("N", [1, 2, 7, 40, 501, 2000])
def test_eq8_recursion_on_probabilities_agrees(N):
    rec = prior_recursion(N)
    S = np.arange(N + 1)
    closed = np.exp(log_prior(N, S))
    mask = rec > 1e-250
    assert np.allclose(rec[mask], closed[mask], rtol=1e-10, atol=0)
    assert np.all(rec[(N - S) % 2 == 1] == 0.0)
    assert rec.sum() == pytest.approx(1.0, abs=1e-12)


def test_paper_fig2_tail_above_200():
    S = np.arange(0, 1001, 2)
    p = np.exp(log_prior(1000, S))
    assert p[S > 200].sum() == pytest.approx(1.34e-9, rel=5e-3)


def test_wrong_parity_and_beyond_n_are_minus_inf():
    out = log_prior(10, [1, 3, 11, 12, 10**6])
    assert np.all(np.isneginf(out))
    assert np.isfinite(log_prior(10, 10))
    assert isinstance(log_prior(10, 2), float)
    assert log_prior(10, np.array([[0, 2], [4, 6]])).shape == (2, 2)


@pytest.mark.parametrize(
    ("S", "match"),
    [(-2, ">= 0"), (2.5, "integers"), (np.nan, "finite"), (np.inf, "finite"), ("a", "dtype")],
)
def test_bad_spin_raises(S, match):
    with pytest.raises(ValueError, match=match):
        log_prior(10, S)


@pytest.mark.parametrize("N", [0, -5, 2.5, 10**13, float("nan"), "10", True, None])
def test_bad_n_raises_naming_n(N):
    with pytest.raises(ValueError, match="^N must"):
        log_prior(N, 0)
    with pytest.raises(ValueError, match="^N must"):
        prior_support(N)


def test_support_edges_are_exactly_the_threshold():
    for N in [1, 2, 5, 99, 400, 401, 10**4, 10**6 + 1]:
        S, log_p = prior_support(N, tol_nats=30.0)
        top = log_prior(N, peak_spin(N))
        assert log_p.max() == pytest.approx(top, rel=1e-13, abs=1e-15)
        assert np.all(np.diff(S) == 2) and np.all((N - S) % 2 == 0)
        assert np.all(log_p >= top - 30.0 - 1e-9)
        for outside in (S[0] - 2, S[-1] + 2):
            if 0 <= outside <= N:
                assert log_prior(N, outside) < top - 30.0


def test_support_size_and_tol_validation():
    S, _ = prior_support(10**4)
    assert (S.size, S[-1]) == (514, 1026)  # notes/estimator.md §1
    with pytest.raises(ValueError, match="tol_nats"):
        prior_support(100, tol_nats=0.0)


def test_peak_is_near_sqrt_n():
    for N in [10, 11, 1000, 10**6, 10**9 + 1]:
        p = peak_spin(N)
        assert abs(p - math.sqrt(N)) <= 2
        assert log_prior(N, p) >= log_prior(N, p + 2)
        if p >= 2:
            assert log_prior(N, p) >= log_prior(N, p - 2)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=3000))
def test_normalised_over_all_spins(N):
    S = np.arange(0, N + 1)
    p = np.exp(log_prior(N, S))
    assert math.fsum(p) == pytest.approx(1.0, abs=1e-12)
    assert np.all(p[(N - S) % 2 == 1] == 0.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=10**9))
def test_unimodal_in_s(N):
    _, log_p = prior_support(N, tol_nats=40.0)
    k = int(np.argmax(log_p))
    assert np.all(np.diff(log_p[: k + 1]) >= 0)
    assert np.all(np.diff(log_p[k:]) <= 0)
    assert math.fsum(np.exp(log_p)) == pytest.approx(1.0, abs=1e-12)
