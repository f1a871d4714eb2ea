"""Compute the spin-length distribution |c_S|² of |m_F=0⟩^⊗N, exactly and fast at any N.

|c_S|² = (2S+1) 2^S N! a! / (b! (N+S+1)!), a = (N+S)/2, b = (N-S)/2 (DESIGN §1).
Differences of lnΓ values near N ln N lose ~1e-16·N ln N absolutely, so the four lnΓ terms are
combined analytically: the Stirling main parts cancel to O(S²/N) quantities written with
log1p(u) - u, and only the small Stirling remainders R(z) are differenced.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from heralder.physics._validate import check_n, check_spin_values

__all__ = ["log_prior", "peak_spin", "prior_recursion", "prior_support"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SERIES_MAX_U = 0.05  # below this |u|, log1p(u) - u comes from its Taylor series
_SERIES_TERMS = 14  # |u|^15/15 < 1e-16 u² for |u| < 0.05


def _log1p_minus_u(u: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Return log1p(u) - u without cancellation; ``ratio`` is 1 + u as an exact quotient."""
    out = np.empty_like(u)
    small = np.abs(u) < _SERIES_MAX_U
    us = u[small]
    acc = np.zeros_like(us)
    for k in range(_SERIES_TERMS, 1, -1):  # Horner: sum_{k>=2} (-1)^(k+1) u^k / k
        acc = acc * us + (-1.0) ** (k + 1) / k
    out[small] = acc * us * us
    # log1p(u) is accurate to eps relative; near u = -1 its argument's rounding is amplified,
    # so there the exactly rounded ratio 1 + u is used instead.
    mid = ~small & (u >= -0.5)
    out[mid] = np.log1p(u[mid]) - u[mid]
    low = u < -0.5
    out[low] = np.log(ratio[low]) - u[low]
    return out


def _stirling_remainder(z: np.ndarray) -> np.ndarray:
    """Return R(z) = lnΓ(z) - [(z-1/2) ln z - z + ln(2π)/2] for z >= 1."""
    out = np.empty_like(z)
    large = z >= 20.0
    zl = z[large]
    inv2 = 1.0 / (zl * zl)
    # Stirling series, Bernoulli terms B_2k / (2k(2k-1) z^(2k-1)), k = 1..5 (error < 1e-17).
    series = 1.0 / 12 + inv2 * (-1.0 / 360 + inv2 * (1.0 / 1260 + inv2 * (
        -1.0 / 1680 + inv2 * (1.0 / 1188))))
    out[large] = series / zl
    zs = z[~large]
    out[~large] = gammaln(zs) - ((zs - 0.5) * np.log(zs) - zs + _HALF_LOG_2PI)
    return out


def _log_prior_valid(N: int, S: np.ndarray) -> np.ndarray:
    """Return log|c_S|² for float64 spins S of the parity of N with 0 <= S <= N."""
    n = float(N)
    z2 = n + S + 2.0  # Γ(N+S+2)
    z3 = 0.5 * (n + S + 2.0)  # Γ(a+1)
    z4 = 0.5 * (n - S + 2.0)  # Γ(b+1)
    # (z - 1/2)(log1p(u) - u) parts of the three large lnΓ(z) against lnΓ(N+1); u = h / x.
    u2 = (S + 1.0) / (n + 1.0)
    u3 = (S + 2.0) / n
    u4 = (2.0 - S) / n
    curv = (-(z2 - 0.5) * _log1p_minus_u(u2, z2 / (n + 1.0))
            + (z3 - 0.5) * _log1p_minus_u(u3, (n + S + 2.0) / n)
            - (z4 - 0.5) * _log1p_minus_u(u4, (n - S + 2.0) / n))
    # The (z - 1/2) u parts and the -z parts sum exactly to this rational expression.
    linear = 3.0 * S / n - (S + 0.5) * (S + 1.0) / (n + 1.0)
    remainders = (_stirling_remainder(np.array([n + 1.0]))[0] - _stirling_remainder(z2)
                  + _stirling_remainder(z3) - _stirling_remainder(z4))
    return (np.log(2.0 * S + 1.0) - math.log(n + 1.0) - S * math.log1p(1.0 / n)
            + linear + curv + remainders)


def log_prior(N: int, S: object) -> np.ndarray | float:
    """Return log|c_S|², the log-probability of spin length S in |m_F=0⟩^⊗N.

    Parameters
    ----------
    N
        Number of spin-1 atoms (integer, 1 <= N <= 1e12).
    S
        Spin length(s), scalar or array of non-negative integers.

    Returns
    -------
    float or ndarray
        Same shape as ``S``; ``-inf`` where S > N or N - S is odd (probability zero).
        Accurate to ~1e-13 relative for every N (no differences of large lnΓ values).

    Raises
    ------
    ValueError
        If N is not a valid atom number or S is negative, non-integer or non-finite.
    """
    n = check_n(N)
    values = check_spin_values(S)
    flat = values.ravel()
    out = np.full(flat.shape, -np.inf)
    valid = (flat <= n) & ((n - flat) % 2 == 0)
    out[valid] = _log_prior_valid(n, flat[valid])
    out = out.reshape(values.shape)
    return float(out) if out.ndim == 0 else out


def peak_spin(N: int) -> int:
    """Return the most probable spin length of |m_F=0⟩^⊗N (≈ √N).

    The ratio |c_S|²/|c_{S-2}|² = (2S+1)(N-S+2)/((2S-3)(N+S+1)) is >= 1 exactly when
    S² - S - N - 5/4 <= 0, so the mode is the largest S of N's parity below the root.
    """
    n = check_n(N)
    s0 = n % 2
    root = (1.0 + math.sqrt(4.0 * n + 6.0)) / 2.0
    s = math.floor(root)
    if (n - s) % 2:
        s -= 1
    return max(min(s, n), s0)


def _log_prior_run(n: int, s_hi: int) -> np.ndarray:
    """Return log|c_S|² for S = N mod 2, ..., s_hi (step 2) in O(s_hi) with one log1p per S.

    Starts from the exact |c_0|² = 1/(N+1) or |c_1|² = 3/(N+2) and sums the log step ratio
    |c_S|²/|c_{S-2}|² = (2S+1)(N-S+2)/((2S-3)(N+S+1)) = 1 + (4N+5+4S-4S²)/((2S-3)(N+S+1)),
    whose numerator is exact in float64; the running sum keeps ~1e-14 relative accuracy.
    """
    s0 = n % 2
    S = np.arange(s0 + 2, s_hi + 1, 2, dtype=np.float64)
    out = np.empty(S.size + 1)
    out[0] = -math.log(n + 1.0) if s0 == 0 else math.log(3.0 / (n + 2.0))
    excess = (4.0 * n + 5.0 + 4.0 * S - 4.0 * S * S) / ((2.0 * S - 3.0) * (n + S + 1.0))
    np.cumsum(np.log1p(excess), out=out[1:])
    out[1:] += out[0]
    return out


def _upper_guess(n: int, tol_nats: float) -> int:
    """Return an S above the upper edge of the support, from log|c_S|² ≈ ln((2S+1)/N) - S²/2N."""
    if n < 400:
        return n
    peak_value = math.log((2.0 * math.sqrt(n) + 1.0) / n) - 0.5
    s = math.sqrt(2.0 * n * tol_nats)
    for _ in range(3):  # fixed point of S²/2N = tol + ln((2S+1)/N) - peak_value
        s = math.sqrt(2.0 * n * (tol_nats + math.log((2.0 * s + 1.0) / n) - peak_value))
    return min(n, int(1.05 * s) + 20)


def prior_support(N: int, tol_nats: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Return the spin lengths whose prior lies within ``tol_nats`` of the maximum.

    Parameters
    ----------
    N
        Number of atoms.
    tol_nats
        Keep S with log|c_S|² >= max - tol_nats (> 0).

    Returns
    -------
    (S, log_p)
        ``S`` ascending int64 values of N's parity (a contiguous range), ``log_p`` their
        log|c_S|² (not renormalised). Cost O(size of the support): N = 1e9 is instant.
    """
    n = check_n(N)
    if not (math.isfinite(tol_nats) and tol_nats > 0):
        raise ValueError(f"tol_nats must be a finite number > 0, got {tol_nats!r}")
    s0 = n % 2
    s_hi = _upper_guess(n, tol_nats)
    while True:
        s_hi -= (n - s_hi) % 2
        log_p = _log_prior_run(n, s_hi)
        threshold = float(log_p.max()) - tol_nats
        if s_hi >= n or log_p[-1] < threshold:
            break
        s_hi = min(n, 2 * s_hi)  # the guess fell short of the edge: widen
    keep = np.flatnonzero(log_p >= threshold)  # contiguous: the prior is unimodal
    first, last = keep[0], keep[-1]
    S = np.arange(s0 + 2 * first, s0 + 2 * last + 1, 2, dtype=np.int64)
    return S, log_p[first:last + 1]


def prior_recursion(N: int) -> np.ndarray:
    """Return |c_S|², S = 0..N, by iterating the paper's eq. (8) on probabilities.

    Adding one m=0 atom moves probability p_S to S+1 with weight (S+1)/(2S+1) and to S-1 with
    weight S/(2S+1) (the couplings are orthogonal, so probabilities add, not amplitudes).
    This is the O(N²) reference the closed form is checked against; use :func:`log_prior`.
    """
    n = check_n(N)
    p = np.zeros(n + 2)
    p[1] = 1.0  # one atom: S = 1
    s = np.arange(n + 2, dtype=np.float64)
    up = (s + 1.0) / (2.0 * s + 1.0)
    down = s / (2.0 * s + 1.0)
    for _ in range(n - 1):
        new = np.zeros_like(p)
        new[1:] += p[:-1] * up[:-1]
        new[:-1] += p[1:] * down[1:]
        p = new
    return p[: n + 1]
