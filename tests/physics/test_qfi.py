"""Check the QFI closed forms' algebra, the mean QFI and the bad-input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from heralder.physics import log_prior, mean_qfi, qfi_coupling, qfi_mixed, qfi_pure


def mean_qfi_by_counts(N: int, eta: float) -> float:
    """Return eqs. (12)-(13) literally: Σ_n p(n) F(ρ_n) with p(S|n) from eq. (11)."""
    S = np.arange(N % 2, N + 1, 2)
    c2 = np.exp(log_prior(N, S))
    total = 0.0
    for n in range(N + 1):
        joint = c2 * binom.pmf(n, S, eta)
        p_n = joint.sum()
        if p_n > 0:
            total += p_n * qfi_mixed(N, S, joint / p_n)
    return total


@pytest.mark.parametrize("N", [3, 10, 31, 60])
@pytest.mark.parametrize("eta", [0.0, 0.3, 0.7, 1.0])
def test_mean_qfi_equals_average_over_counts(N, eta):
    assert mean_qfi(N, eta) == pytest.approx(mean_qfi_by_counts(N, eta), rel=1e-10)


def test_ideal_mean_matches_notes_and_tends_to_8():
    # Σ|c_S|² F_S / N² (notes/estimator.md §6): 7.34, 7.73, 7.91, 7.99
    for N, expected in [(100, 7.337), (1000, 7.732), (10**4, 7.906), (10**6, 7.990)]:
        assert mean_qfi(N) / N**2 == pytest.approx(expected, abs=1e-3)
    # derived asymptote F̄/N² = 8 - 8 sqrt(π/2)/sqrt(N) + 7 ln(N)/N + O(1/N), both parities
    for N in [10**4, 10**6 + 1, 10**8, 10**9 + 1]:
        approx = 8.0 - 8.0 * math.sqrt(math.pi / 2.0 / N) + 7.0 * math.log(N) / N
        assert mean_qfi(N) / N**2 == pytest.approx(approx, abs=2.0 / N)


def test_eta_zero_is_qfi_of_prior_mixture():
    N = 40
    S = np.arange(0, N + 1, 2)
    p = np.exp(log_prior(N, S))
    assert mean_qfi(N, 0.0) == pytest.approx(qfi_mixed(N, S, p / p.sum()), rel=1e-12)


def test_pure_qfi_known_values():
    # N = 1, S = 1: |+... > has P = 0 so F = 16 S; N = 2, S = 0: the singlet-like state
    assert qfi_pure(1, 1) == pytest.approx(16.0)
    assert qfi_pure(5, 5) == pytest.approx(80.0)  # fully stretched |N,-N>: F = 16 N
    assert np.all(np.asarray(qfi_pure(100, np.arange(0, 101, 2))) > 0)


def test_mixed_of_one_state_is_pure():
    assert qfi_mixed(20, [6], [1.0]) == pytest.approx(qfi_pure(20, 6))
    # order of S does not matter
    S = np.array([2, 4, 6])
    p = np.array([0.2, 0.5, 0.3])
    assert qfi_mixed(20, S, p) == pytest.approx(qfi_mixed(20, S[::-1], p[::-1]))


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=4, max_value=400), st.floats(min_value=0.01, max_value=0.99))
def test_mixing_never_beats_the_average_and_is_monotone_in_eta(N, eta):
    S = np.arange(N % 2, N + 1, 2)
    p = np.exp(log_prior(N, S))
    mixed = qfi_mixed(N, S, p / p.sum())
    assert mixed <= np.dot(p / p.sum(), qfi_pure(N, S)) + 1e-9  # QFI is convex
    lo, hi = mean_qfi(N, eta * 0.5), mean_qfi(N, eta)
    assert mixed <= lo * (1 + 1e-12) and lo <= hi * (1 + 1e-12) <= mean_qfi(N) * (1 + 1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: qfi_pure(10, 11), r"S must lie in \[0, N=10\]"),
        (lambda: qfi_pure(10, -2), "S must be >= 0"),
        (lambda: qfi_pure(10, 3), "parity"),
        (lambda: qfi_pure(10.5, 2), "^N must"),
        (lambda: qfi_coupling(10, 10), "N-2"),
        (lambda: qfi_mixed(10, [2, 4], [0.5, 0.6]), "sum to 1"),
        (lambda: qfi_mixed(10, [2, 4], [1.5, -0.5]), "non-negative"),
        (lambda: qfi_mixed(10, [2, 4], [1.0]), "shaped like S"),
        (lambda: qfi_mixed(10, [2, 2], [0.5, 0.5]), "repeat"),
        (lambda: mean_qfi(10, 1.5), r"eta must lie in \[0, 1\]"),
        (lambda: mean_qfi(10, float("nan")), "eta"),
        (lambda: mean_qfi(-1, 0.5), "^N must"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
