"""Describe the emission cascade of one pulse: step rates and mean durations (units of Γ).

In the bad-cavity limit the collective state decays |S,m> -> |S,m-1> at rate Γ(S+m)(S-m+1)
(anti-TC mirrored), one photon per step (notes/estimator.md §5). Label j = photons emitted so
far including this step, j = 1..k:

* pulse 0 (TC from |S,0>, k = S):       r_j = (S-j+1)(S+j), fastest first;
* later pulses (|S,∓S> -> |S,±S>, k = 2S): r_j = j(2S+1-j), slow-fast-slow.
"""

from __future__ import annotations

import operator

import numpy as np
from scipy.special import digamma

__all__ = ["cascade_rates", "mean_pulse_duration", "photons_per_pulse"]


def _check_spin_pulse(S: object, pulse: object) -> tuple[int, int]:
    try:
        s = operator.index(S)  # type: ignore[arg-type]
        i = operator.index(pulse)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"S and pulse must be integers, got S={S!r}, pulse={pulse!r}") from None
    if s < 0:
        raise ValueError(f"S must be >= 0, got {s}")
    if i < 0:
        raise ValueError(f"pulse must be >= 0 (0 is the first, TC pulse), got {i}")
    return s, i


def photons_per_pulse(S: int, pulse: int) -> int:
    """Return the number of photons a pulse emits: S on pulse 0, 2S on every later pulse."""
    s, i = _check_spin_pulse(S, pulse)
    return s if i == 0 else 2 * s


def cascade_rates(S: int, pulse: int) -> np.ndarray:
    """Return the step rates r_j (units of Γ) of a pulse's cascade, in emission order.

    Parameters
    ----------
    S
        Spin length (integer >= 0); S = 0 emits nothing and gives an empty array.
    pulse
        0 for the first (TC) pulse from |S,0>; >= 1 for the later switched pulses.

    Returns
    -------
    ndarray
        float64, length S (pulse 0) or 2S (later pulses); entry j-1 is the rate of the step
        that emits photon j.
    """
    s, i = _check_spin_pulse(S, pulse)
    if i == 0:
        j = np.arange(1, s + 1, dtype=np.float64)
        return (s - j + 1.0) * (s + j)
    j = np.arange(1, 2 * s + 1, dtype=np.float64)
    return j * (2.0 * s + 1.0 - j)


def mean_pulse_duration(S: int, pulse: int) -> float:
    """Return Σ_j 1/r_j, the mean time (units of 1/Γ) for the cascade to emit every photon.

    Closed form: H_{2S}/(2S+1) for pulse 0 and 2 H_{2S}/(2S+1) later (H = harmonic number);
    0 for S = 0.
    """
    s, i = _check_spin_pulse(S, pulse)
    if s == 0:
        return 0.0
    harmonic = float(digamma(2 * s + 1) - digamma(1))
    return (1.0 if i == 0 else 2.0) * harmonic / (2 * s + 1)
