"""Compute the quantum Fisher information of the heralded states for G = Q_xx - Q_yy.

|S,-S> = (b₋†)^S (b₀†² - 2 b₊† b₋†)^P |vac>, P = (N-S)/2, so its weights over k = n₊ form a
₂F₁ series whose factorial moments have closed forms (Chu–Vandermonde; notes/estimator.md §6):
E[k] = P(2S+2)/(2S+3), E[k(k-1)] = 4P(P-1)(S+1)(S+2)/((2S+3)(2S+5)). G = 2(b₊†b₋ + h.c.) moves
M by ±2, so inside the family {|S,-S>} it couples S only to S±2.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, xlog1py, xlogy

from heralder.physics._validate import check_eta, check_n, check_state_spins
from heralder.physics.prior import prior_support

__all__ = ["mean_qfi", "qfi_coupling", "qfi_mixed", "qfi_pure"]

_PROB_SUM_TOL = 1e-8
_CHUNK_ELEMENTS = 2_000_000  # bound the (count × spin) work array of mean_qfi to ~16 MB


def _moments(n: float, S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (P, E[k], E[k(k-1)]) of |S,-S> for float arrays S."""
    P = 0.5 * (n - S)
    e1 = P * (2.0 * S + 2.0) / (2.0 * S + 3.0)
    e2 = 4.0 * P * (P - 1.0) * (S + 1.0) * (S + 2.0) / ((2.0 * S + 3.0) * (2.0 * S + 5.0))
    return P, e1, e2


def _qfi_pure(n: float, S: np.ndarray) -> np.ndarray:
    _, e1, e2 = _moments(n, S)
    return 16.0 * (2.0 * e2 + (2.0 * S + 4.0) * e1 + S)


def _coupling(n: float, S: np.ndarray) -> np.ndarray:
    """Return |<S+2,-(S+2)|G|S,-S>| for S <= N-2 (the norm ratio W_S/W_{S+2} is rational)."""
    P, e1, e2 = _moments(n, S)
    norm_ratio = (4.0 * P * (S + 1.5) * (S + 2.5)) / ((S + 1.0) * (S + 2.0) * (P + S + 1.5))
    return (e2 + (S + 2.0) * e1) / P * np.sqrt(norm_ratio)


def _scalar_or_array(values: np.ndarray) -> np.ndarray | float:
    return float(values) if values.ndim == 0 else values


def qfi_pure(N: int, S: object) -> np.ndarray | float:
    """Return F_S = 4⟨G²⟩, the QFI of |S,-S> for G = Q_xx - Q_yy (closed form).

    Parameters
    ----------
    N
        Number of atoms.
    S
        Spin length(s) in [0, N] with the parity of N; scalar or array.

    Raises
    ------
    ValueError
        If N is invalid, or an S lies outside [0, N], is not an integer or has the wrong parity.
    """
    n = check_n(N)
    values = check_state_spins(n, S)
    return _scalar_or_array(_qfi_pure(float(n), values))


def qfi_coupling(N: int, S: object) -> np.ndarray | float:
    """Return g_S = |<S+2,-(S+2)| G |S,-S>|, the only off-diagonal element of G in the family.

    Raises
    ------
    ValueError
        If an S lies outside [0, N-2] or has the wrong parity.
    """
    n = check_n(N)
    values = check_state_spins(n, S)
    if np.any(values > n - 2):
        raise ValueError(f"S must lie in [0, N-2={n - 2}] to couple to S+2, got "
                         f"{values[values > n - 2][:3]}")
    return _scalar_or_array(_coupling(float(n), values))


def qfi_mixed(N: int, S: object, p: object) -> float:
    """Return the QFI of ρ = Σ_S p_S |S,-S⟩⟨S,-S| (or the same mixture of |S,+S⟩).

    F(ρ) = Σ p_S F_S - 16 Σ_S p_S p_{S+2}/(p_S + p_{S+2}) g_S², the paper's eq. (1) reduced to the
    family (G only couples S with S±2).

    Parameters
    ----------
    N
        Number of atoms.
    S
        Distinct spin lengths (any order) in [0, N] with the parity of N.
    p
        Their probabilities: same shape as S, non-negative, summing to 1 (within 1e-8).
    """
    n = check_n(N)
    spins = np.atleast_1d(check_state_spins(n, S))
    probs = np.atleast_1d(np.asarray(p, dtype=np.float64))
    if spins.ndim != 1 or probs.shape != spins.shape:
        raise ValueError(f"p must be a 1-d array shaped like S {spins.shape}, got {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("p must be finite and non-negative")
    total = math.fsum(probs)
    if abs(total - 1.0) > _PROB_SUM_TOL:
        raise ValueError(f"p must sum to 1 (within {_PROB_SUM_TOL:g}), sums to {total!r}")
    order = np.argsort(spins)
    spins, probs = spins[order], probs[order]
    if np.any(np.diff(spins) == 0):
        raise ValueError("S must not repeat a spin length")
    diagonal = float(np.dot(probs, _qfi_pure(float(n), spins)))
    pair = np.flatnonzero(np.diff(spins) == 2.0)
    a, b = probs[pair], probs[pair + 1]
    denom = a + b
    nonzero = denom > 0
    weight = np.zeros_like(a)
    weight[nonzero] = a[nonzero] * b[nonzero] / denom[nonzero]
    return diagonal - 16.0 * float(np.dot(weight, _coupling(float(n), spins[pair]) ** 2))


def mean_qfi(N: int, eta: float = 1.0, *, tol_nats: float = 50.0) -> float:
    """Return the mean QFI after one TC pulse read with efficiency η (paper eqs. 9, 12, 13).

    F̄ = Σ_n p(n) F(ρ_n). Writing J(S, n) = |c_S|² Bin(n; S, η) (so p(n) p(S|n) = J), the
    diagonal part is Σ|c_S|² F_S for every η, and the coherence part is
    16 Σ_n Σ_S J_S J_{S+2} / (J_S + J_{S+2}) g_S², evaluated in log space.

    Parameters
    ----------
    N
        Number of atoms.
    eta
        Detection efficiency in [0, 1]; 1 gives Σ|c_S|² F_S, 0 the QFI of the unread mixture.
    tol_nats
        Prior support kept (S within this many nats of the most likely).
    """
    n = check_n(N)
    eta = check_eta(eta)
    S_int, log_c2 = prior_support(n, tol_nats)
    S = S_int.astype(np.float64)
    c2 = np.exp(log_c2)
    diagonal = float(np.dot(c2, _qfi_pure(float(n), S))) / math.fsum(c2)
    if eta == 1.0 or S.size < 2:
        return diagonal
    g2 = _coupling(float(n), S[:-1]) ** 2
    log_fact = gammaln(np.arange(S_int[-1] + 1, dtype=np.float64) + 1.0)
    counts = np.arange(int(S_int[-1]) + 1) if eta > 0.0 else np.zeros(1, dtype=np.int64)
    rows = max(1, _CHUNK_ELEMENTS // S.size)
    coherence = 0.0
    for start in range(0, counts.size, rows):
        nn = counts[start:start + rows, None].astype(np.float64)
        first = int(np.searchsorted(S_int, counts[start]))  # columns with S >= smallest n
        s_cols = S[max(first - 1, 0):]
        k = s_cols[None, :] - nn
        with np.errstate(invalid="ignore", divide="ignore"):
            log_binom = np.where(
                k >= 0,
                log_fact[s_cols.astype(np.int64)][None, :] - log_fact[nn.astype(np.int64)]
                - log_fact[np.maximum(k, 0).astype(np.int64)]
                + xlogy(nn, eta) + xlog1py(k, -eta),
                -np.inf,
            )
            J = log_c2[max(first - 1, 0):][None, :] + log_binom
            a, b = J[:, :-1], J[:, 1:]
            term = np.exp(a + b - np.logaddexp(a, b))
        term[~np.isfinite(term)] = 0.0
        coherence += float(np.sum(term @ g2[max(first - 1, 0):]))
    return diagonal - 16.0 * coherence / math.fsum(c2)
