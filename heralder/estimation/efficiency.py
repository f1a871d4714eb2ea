"""Compute the S-dependent effective registration efficiency of one pulse (notes §2.3, §2.6).

Within a pulse the collective state cascades down a ladder; a non-paralysable detector with dead
time τ_d registers a photon emitted on step j with probability η'/(1 + η'Γτ_d r_j), where
η' = η(1 − ε) and r_j is the step rate in units of Γ. The detector is alive when the pulse starts,
so the first photon is never lost. Averaging over the steps has a closed form in digamma functions.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from heralder.estimation.detector import DetectorModel

__all__ = ["effective_efficiency", "photons_per_pulse", "pulse_gamma_per_s"]

# Below this value of a·r_max the digamma differences lose digits; a three-term series in a·r is
# exact to (a·r_max)^3 < 1e-15 there.
_SERIES_LIMIT = 1e-5


def photons_per_pulse(S: np.ndarray, pulse: int) -> np.ndarray:
    """Return the photons emitted by a pulse: ``S`` on pulse 0 (TC), ``2S`` afterwards."""
    return np.asarray(S, dtype=np.int64) * (1 if pulse == 0 else 2)


def pulse_gamma_per_s(detector: DetectorModel, pulse: int) -> float:
    """Return the cascade rate Γ of pulse ``pulse``: even pulses are TC, odd ones anti-TC."""
    return detector.gamma_tc_per_s if pulse % 2 == 0 else detector.gamma_antitc_per_s


def _power_sum(n: np.ndarray, power: int) -> np.ndarray:
    """Return Σ_{i=1}^{n} i^power for power 1..4 (0 for n ≤ 0)."""
    n = np.maximum(n, 0).astype(np.float64)
    if power == 1:
        return n * (n + 1) / 2
    if power == 2:
        return n * (n + 1) * (2 * n + 1) / 6
    if power == 3:
        return (n * (n + 1) / 2) ** 2
    return n * (n + 1) * (2 * n + 1) * (3 * n * n + 3 * n - 1) / 30


def _range_sum(lo: np.ndarray, hi: np.ndarray, power: int) -> np.ndarray:
    return _power_sum(hi, power) - _power_sum(lo - 1, power)


def _sum_inverse_rates(lo: np.ndarray, hi: np.ndarray, M: np.ndarray, a: float) -> np.ndarray:
    """Return Σ_{i=lo}^{hi} 1/(1 + a·i(M − i)), elementwise (0 where hi < lo)."""
    lo = lo.astype(np.float64)
    hi = hi.astype(np.float64)
    M = M.astype(np.float64)
    empty = hi < lo
    r_max = M * M / 4
    out = np.zeros_like(M)
    series = (a * r_max < _SERIES_LIMIT) & ~empty
    if np.any(series):
        lo_s, h, m = lo[series], hi[series], M[series]
        s0 = h - lo_s + 1
        s1 = m * _range_sum(lo_s, h, 1) - _range_sum(lo_s, h, 2)
        s2 = (m * m * _range_sum(lo_s, h, 2) - 2 * m * _range_sum(lo_s, h, 3)
              + _range_sum(lo_s, h, 4))
        out[series] = s0 - a * s1 + a * a * s2
    exact = ~series & ~empty
    if np.any(exact):
        lo_s, h, m = lo[exact], hi[exact], M[exact]
        root = np.sqrt(m * m + 4.0 / a)
        j1 = (m - root) / 2
        j2 = (m + root) / 2
        total = (digamma(h + 1 - j1) - digamma(lo_s - j1)
                 + digamma(j2 - lo_s + 1) - digamma(j2 - h))
        out[exact] = total / (a * (j2 - j1))
    return out


def effective_efficiency(detector: DetectorModel, S: np.ndarray, pulse: int) -> np.ndarray:
    """Return η_i(S): the mean registered fraction of the photons of pulse ``pulse``.

    Includes the efficiency η, the free-space loss ε (η' = η(1 − ε)) and the dead time through
    the closed-form average over the cascade steps, with the first photon always registered.
    Afterpulsing is not included (the likelihood folds it in).

    Parameters
    ----------
    detector
        The detector model; ``dead_time_s > 0`` needs the pulse's Γ > 0.
    S
        Spin lengths (integers ≥ 0).
    pulse
        Pulse index: 0 is the first (TC, k = S) pulse, later pulses emit k = 2S.

    Raises
    ------
    ValueError
        If the dead time is set but the pulse's cascade rate Γ is 0.
    """
    S = np.asarray(S, dtype=np.int64)
    eta_prime = detector.eta * (1.0 - detector.scatter_eps)
    out = np.full(S.shape, eta_prime, dtype=np.float64)
    gamma = pulse_gamma_per_s(detector, pulse)
    if detector.dead_time_s == 0.0 or eta_prime == 0.0:
        return out
    if gamma <= 0.0:
        name = "gamma_tc_per_s" if pulse % 2 == 0 else "gamma_antitc_per_s"
        raise ValueError(f"{name} must be > 0 to model dead_time_s > 0")
    a = eta_prime * gamma * detector.dead_time_s
    k = photons_per_pulse(S, pulse)
    M = 2 * S + 1
    # In emission order the steps are i = S+1..2S (pulse 0) or 1..2S (later) of i(M − i);
    # the first photon is always registered, so the average skips the first step.
    lo = (S + 2) if pulse == 0 else np.full_like(S, 2)
    hi = 2 * S
    tail = _sum_inverse_rates(lo, hi, M, a)
    positive = k > 0
    out[positive] = eta_prime * (1.0 + tail[positive]) / k[positive]
    return out
