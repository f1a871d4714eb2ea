"""Evaluate the likelihood of one pulse's registered photon times (notes §5).

Within a pulse the collective state is a pure-death chain on the ladder j = photons emitted so
far, stepping j → j+1 at rate Γ r_{j+1}(S). Registration thins it with η' = η(1 − ε), dark counts
arrive at rate δ, and a non-paralysable dead time τ_d hides everything (emissions still happen)
for τ_d after each registered event. This is a Markovian arrival process with

    D0 = −diag(r) − δI + (1−η')R,   D1 = η'R + δI,   Q = −diag(r) + R   (dead window),
    L(S) = e₀ᵀ Π_i [exp(D0 (t_i − t_{i−1}⁺)) D1 exp(Q τ_d)] exp(D0 (T − t_n⁺)) 1,  t⁺ = t + τ_d.

Each exp(D0 Δ) acts on a row vector by uniformisation: Poisson(qΔ)-weighted powers of the
sub-stochastic bidiagonal P = I + D0/q (no subtractions), in chunks of qΔ ≤ 100. The vector is
renormalised after each event. The tail assumes the cascade finishes inside the gate:
exp(D0 τ)1 → (1−η')^{k−j} e^{−δτ}. The likelihood sums over counts, so it replaces the count
likelihood. Afterpulsing is not part of this model.
"""

from __future__ import annotations

import math

import numpy as np

from heralder.estimation.backend import compiled_arrival_kernels
from heralder.estimation.detector import DetectorModel
from heralder.estimation.efficiency import pulse_gamma_per_s
from heralder.estimation.split import split_candidates
from heralder.physics import cascade_rates

__all__ = [
    "CHUNK", "check_times", "log_likelihood_times", "log_likelihood_times_one",
]

#: Largest qΔ propagated in one uniformisation chunk (e^-100 stays far from underflow).
CHUNK = 100.0


def check_times(times_s: object, gate_s: float) -> np.ndarray:
    """Return the arrival times as float64 after checking them against the gate.

    Raises
    ------
    ValueError
        If ``gate_s`` is not a finite number > 0, or the times are not a finite, sorted 1-d
        sequence inside [0, gate_s].
    """
    if isinstance(gate_s, bool) or not isinstance(gate_s, int | float | np.floating) or not (
            math.isfinite(gate_s) and gate_s > 0):
        raise ValueError(f"gate_s must be a finite number > 0, got {gate_s!r}")
    try:
        times = np.asarray(times_s, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("times_s must be a sequence of numbers") from None
    if times.ndim != 1:
        raise ValueError(f"times_s must be 1-d, got shape {times.shape}")
    # Array methods and slices, not np.all/np.diff: this runs once per pulse.
    if not np.isfinite(times).all():
        raise ValueError("times_s must be finite")
    if not (times[1:] >= times[:-1]).all():
        raise ValueError("times_s must be sorted")
    if times.size and (times[0] < 0 or times[-1] > gate_s):
        raise ValueError(f"times_s must lie inside the gate [0, {gate_s}] s")
    return times


def _propagate(alpha: np.ndarray, diag: np.ndarray, sup: np.ndarray, q: float,
               duration_s: float) -> np.ndarray:
    """Return α·exp(q·duration·(P − I)) with P = diag(diag) + superdiag(sup), by uniformisation."""
    remaining = q * duration_s
    while remaining > 0.0:
        lam = min(remaining, CHUNK)
        remaining -= lam
        weight = math.exp(-lam)
        term = alpha
        out = weight * term
        m_max = math.ceil(lam + 10.0 * math.sqrt(lam) + 30.0)
        for m in range(1, m_max + 1):
            shifted = np.empty_like(term)
            shifted[0] = term[0] * diag[0]
            shifted[1:] = term[1:] * diag[1:] + term[:-1] * sup
            term = shifted
            weight *= lam / m
            out = out + weight * term
        alpha = out
    return alpha


def log_likelihood_times_one(times_s: np.ndarray, gate_s: float, S: int, pulse: int,
                             gamma_per_s: float, eta: float, dark_rate_hz: float,
                             dead_time_s: float) -> float:
    """Return log L(times | S) for one spin length (numpy reference; see module docstring)."""
    rates = gamma_per_s * cascade_rates(S, pulse)  # rates[j] leaves state j
    k = rates.size
    exit_rate = np.append(rates, 0.0)
    q = float(exit_rate.max()) + dark_rate_hz
    if q == 0.0:
        q = 1.0
    d0_diag = 1.0 - (exit_rate + dark_rate_hz) / q
    d0_sup = (1.0 - eta) * rates / q
    dead_diag = 1.0 - exit_rate / q
    dead_sup = rates / q
    alpha = np.zeros(k + 1)
    alpha[0] = 1.0
    log_c = 0.0
    alive_from = 0.0
    for t in times_s:
        # A time inside the previous dead window is treated as arriving at its end (notes R7).
        alpha = _propagate(alpha, d0_diag, d0_sup, q, max(t - alive_from, 0.0))
        registered = dark_rate_hz * alpha
        registered[1:] += eta * rates * alpha[:-1]
        alpha = _propagate(registered, dead_diag, dead_sup, q, dead_time_s)
        total = alpha.sum()
        if not total > 0.0:
            return -math.inf
        log_c += math.log(total)
        alpha = alpha / total
        alive_from = max(t, alive_from) + dead_time_s
    tail_s = max(gate_s - alive_from, 0.0)
    # Each photon still to come goes unregistered: (1−η')^(k−j), exactly 1 at j = k (also
    # at η' = 1, where 0·log 0 would give NaN).
    missing = k - np.arange(k + 1)
    log_survive = np.full(k + 1, -dark_rate_hz * tail_s)
    with np.errstate(divide="ignore"):
        log_survive[missing > 0] += missing[missing > 0] * np.log1p(-eta)
    with np.errstate(divide="ignore"):
        terms = np.log(alpha) + log_survive
    top = terms.max()
    if top == -math.inf:
        return -math.inf
    return log_c + float(top + np.log(np.sum(np.exp(terms - top))))


def log_likelihood_times(times_s: np.ndarray, gate_s: float, S: np.ndarray, pulse: int,
                         detector: DetectorModel, *, backend: str = "numpy",
                         exact: bool = True) -> np.ndarray:
    """Return log L(times | S) for each S of one pulse.

    Parameters
    ----------
    times_s
        Registered times in seconds from the pulse start (checked with :func:`check_times`).
    gate_s
        Gate length in seconds.
    S
        Candidate spin lengths.
    pulse
        Pulse index (0 is the first, TC pulse; Γ alternates TC/anti-TC afterwards).
    detector
        Supplies η' = η(1 − ε), the dark rate, the dead time and Γ.
    backend
        ``"numba"`` uses the compiled kernel when installed (candidates in groups of
        consecutive S, give them sorted; on two cores when there are, see split.py), else
        numpy.
    exact
        False lets the compiled kernel drop paths below 1e-13 of the filtered mass (held to
        the posterior, not to each log L; see _arrival_kernels). The numpy path is always exact.

    Raises
    ------
    ValueError
        If the pulse's cascade rate Γ is 0 (the times cannot be interpreted).
    """
    gamma = pulse_gamma_per_s(detector, pulse)
    if not gamma > 0.0:
        name = "gamma_tc_per_s" if pulse % 2 == 0 else "gamma_antitc_per_s"
        raise ValueError(f"{name} must be > 0 to use arrival times")
    eta = detector.eta * (1.0 - detector.scatter_eps)
    dark_rate_hz = detector.dark_counts_per_gate / gate_s
    S = np.asarray(S, dtype=np.int64)
    kernels = compiled_arrival_kernels() if backend == "numba" else None
    if kernels is not None:
        tols = kernels.EXACT_TOLS if exact else kernels.POSTERIOR_TOLS
        times = np.ascontiguousarray(times_s)

        def kernel(S_part: np.ndarray) -> np.ndarray:
            return kernels.log_likelihood_times(times, float(gate_s), S_part,
                                                1 if pulse == 0 else 2, gamma, eta,
                                                dark_rate_hz, detector.dead_time_s, tols)

        return split_candidates(kernel, S, kernels.GROUP)
    return np.array([log_likelihood_times_one(times_s, gate_s, int(s), pulse, gamma, eta,
                                              dark_rate_hz, detector.dead_time_s) for s in S])
