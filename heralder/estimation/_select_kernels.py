"""Compile the numeric steps of the arrival-time candidate selection (arrival_select.py).

One call per step instead of ~40 small numpy calls (~0.1 ms per update at S ≈ 100). The
maths and the guards are arrival_select's; its docstring explains them. Importing this module
raises ImportError without numba (see backend.py).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["selection_step", "selection_window"]


@numba.njit(cache=True, nogil=True)
def selection_window(S, lp0, mass_nats, count_nats, extrap_steps, degree):
    """Return (lo, hi, equispaced): the first scored window of candidates and whether S is
    equispaced.

    The window holds the count posterior ``lp0``'s top (within ``mass_nats`` of its maximum)
    and every candidate within ``count_nats`` that lies more than ``extrap_steps`` from the
    ends of that range; it is widened to at least ``degree + 1`` candidates.
    """
    size = S.size
    top = lp0.max()
    top_lo, top_hi, live_lo, live_hi = size, -1, size, -1
    for i in range(size):
        if lp0[i] >= top - mass_nats:
            top_lo, top_hi = min(top_lo, i), i
        if lp0[i] >= top - count_nats:
            live_lo, live_hi = min(live_lo, i), i
    lo = min(top_lo, live_lo + extrap_steps)
    hi = max(top_hi, live_hi - extrap_steps)
    while hi - lo < degree:
        if lo > 0:
            lo -= 1
        else:
            hi += 1
    equispaced = True
    for i in range(2, size):
        if S[i] - S[i - 1] != S[1] - S[0]:
            equispaced = False
    return lo, hi, equispaced


@numba.njit(cache=True, nogil=True)
def _barycentric(x, y, target):
    """Return the polynomial through (x, y) at ``target`` (outside the nodes)."""
    total, product = 0.0, 1.0
    for i in range(x.size):
        weight = 1.0
        for j in range(x.size):
            if j != i:
                weight *= x[i] - x[j]
        gap = target - x[i]
        product *= gap
        total += y[i] / (weight * gap)
    return product * total


@numba.njit(cache=True, nogil=True)
def _extend(S, f, out, err, near, count, away, equispaced, basis_hi, basis_lo):
    """Write into ``out``/``err`` the degree-D and D−1 extrapolations of f to the ``count``
    candidates beyond index ``near`` (outwards, in the direction −away) and their distance.
    The nodes are near, near + away, … (D + 1 of them; D = basis_hi.shape[1] − 1)."""
    nodes = basis_hi.shape[1]
    values = np.empty(nodes)
    x = np.empty(nodes)
    for i in range(nodes):
        values[i] = f[near + away * i]
        x[i] = S[near + away * i]
    for t in range(count):
        target = near - away * (t + 1)
        high, low = 0.0, 0.0
        if equispaced:
            for i in range(nodes):
                high += basis_hi[t, i] * values[i]
            for i in range(nodes - 1):
                low += basis_lo[t, i] * values[i]
        else:
            high = _barycentric(x, values, float(S[target]))
            low = _barycentric(x[:nodes - 1], values[:nodes - 1], float(S[target]))
        out[target] = high
        err[target] = abs(high - low)


@numba.njit(cache=True, nogil=True)
def selection_step(S, exact, ll_count, log_prior, lo, hi, equispaced, basis_hi, basis_lo,
                   mass_nats, error_tol):
    """Return (ll, new_lo, new_hi): the log-likelihoods with exact values on [lo, hi] and the
    times factor f = exact − ll_count extrapolated ``basis_hi.shape[0]`` candidates beyond
    and held further out, and the window the guards ask for (equal to [lo, hi] when done).

    new_lo is −1 when an exact value on [lo, hi] is not finite.
    """
    size = S.size
    f = np.zeros(size)
    for i in range(lo, hi + 1):
        if not math.isfinite(exact[i]):
            return f, -1, -1
        f[i] = exact[i] - ll_count[i]
    err = np.zeros(size)
    steps = basis_hi.shape[0]
    if lo > 0:
        edge = max(lo - steps, 0)
        _extend(S, f, f, err, lo, lo - edge, 1, equispaced, basis_hi, basis_lo)
        for i in range(edge):
            f[i] = f[edge]
    if hi < size - 1:
        edge = min(hi + steps, size - 1)
        _extend(S, f, f, err, hi, edge - hi, -1, equispaced, basis_hi, basis_lo)
        for i in range(edge + 1, size):
            f[i] = f[edge]
    ll = ll_count + f
    top = -np.inf
    for i in range(lo, hi + 1):
        ll[i] = exact[i]
        top = max(top, log_prior[i] + ll[i])
    new_lo, new_hi = lo, hi
    for i in range(size):
        rel = log_prior[i] + ll[i] - top
        # NaN counts as high.
        if not (rel < -mass_nats and err[i] * math.exp(min(rel, 0.0)) <= error_tol):
            new_lo, new_hi = min(new_lo, i), max(new_hi, i)
    return ll, new_lo, new_hi
