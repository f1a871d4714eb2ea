"""Sum probabilities held as logs without NaN, at numpy speed.

scipy.special.logsumexp dispatches through its array-API layer (~50 µs a call here), which is
most of a posterior update's budget; this is the same max-shifted sum on plain ndarrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["log_sum_exp"]


def log_sum_exp(a: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Return log Σ exp(a) along ``axis`` (all of ``a`` when None); −inf for an all −inf slice.

    ``a`` must hold no NaN and no +inf (the likelihood code maps NaN to −inf first).
    """
    if axis is None:
        # ufunc reductions directly: np.max/np.sum wrappers cost more than the sum at this size.
        m = np.maximum.reduce(a, axis=None) if a.size else -np.inf
        if m == -np.inf:
            return -np.inf
        return float(m + np.log(np.add.reduce(np.exp(a - m), axis=None)))
    # An all −inf slice gets a finite shift (its sum is then log 0 = −inf, not NaN).
    m = np.maximum(np.maximum.reduce(a, axis=axis, keepdims=True), -1e300)
    with np.errstate(divide="ignore"):
        out = np.log(np.add.reduce(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)
