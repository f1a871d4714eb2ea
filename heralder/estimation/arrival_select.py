"""Score the arrival-time likelihood exactly only where the posterior needs it (notes §5).

The times factor f(S) = log L(times | S) − log P(n | S), the log-density of the registered times
given their number, is a smooth function of the spin length: over a pulse's candidates at S ≈ 100
its fifth differences are ~1e-6 nats and its seventh ~1e-7. So the exact kernel runs on the
candidates whose updated posterior lies within ``log(1/MASS_TOL)`` nats of the maximum, and f is
extrapolated to the others by the polynomial through the ``DEGREE + 1`` nearest exact values, for
at most ``EXTRAP_STEPS`` candidates; beyond that f is held at its last extrapolated value.

Guards, each re-run until nothing changes:

* an approximated candidate whose posterior would come out above MASS_TOL (relative to the most
  probable S) is scored exactly, so every approximated candidate ends below it;
* so is an extrapolated one whose estimated error (its distance from the extrapolation one
  degree lower) times its relative posterior exceeds ``ERROR_TOL``: near a kink of f (candidates
  the record rules out) the polynomial is not trusted;
* held (not extrapolated) values are allowed only where the count posterior before the times is
  below ``COUNT_TOL`` of its maximum. The posterior is a martingale: averaged over the times
  given the count, p(S | n, times) equals p(S | n), so those candidates carry an expected mass
  below COUNT_TOL whatever the times say.

At S ≈ 100 (N = 1e4 after 10 pulses) this scores 8–10 of 22 candidates and the normalised
posterior moves by < 1e-11 against scoring all of them (tests/estimation/test_arrival_select.py
holds it to 1e-9 on those and on randomized and mis-modelled records).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["COUNT_TOL", "DEGREE", "ERROR_TOL", "EXTRAP_STEPS", "MASS_TOL", "select_and_score"]

#: Posterior mass (relative to the maximum) below which a candidate's times factor may be
#: approximated instead of computed.
MASS_TOL = 1e-3
#: Degree of the extrapolating polynomial: its error one step beyond the exact nodes is about
#: the seventh difference of f (~1e-7 nats), ~1e-4 nats eight steps out.
DEGREE = 6
#: Candidates beyond the exact ones that get the polynomial; further out f is held constant.
EXTRAP_STEPS = 8
#: Count-posterior mass (relative to its maximum) below which a held value is allowed.
COUNT_TOL = 1e-12
#: Largest (estimated extrapolation error in nats) × (relative posterior mass) allowed.
ERROR_TOL = 1e-11


def _basis_beyond(degree: int) -> np.ndarray:
    """Return B[t − 1, i] = ℓ_i(−t): the Lagrange basis of the nodes 0..degree evaluated at
    −t, t = 1..EXTRAP_STEPS (extrapolation from equispaced nodes is then one product)."""
    out = np.ones((EXTRAP_STEPS, degree + 1))
    u = -np.arange(1.0, EXTRAP_STEPS + 1.0)
    for i in range(degree + 1):
        for j in range(degree + 1):
            if j != i:
                out[:, i] *= (u - j) / (i - j)
    return out


_BASIS = {degree: _basis_beyond(degree) for degree in (DEGREE, DEGREE - 1)}


def _extrapolate(x: np.ndarray, y: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Return the polynomial through (x, y) at ``targets``, which lie outside the nodes
    (barycentric Lagrange)."""
    weights = 1.0 / np.prod(x[:, None] - x[None, :] + np.eye(x.size), axis=1)
    gap = targets[:, None] - x[None, :]
    return np.prod(gap, axis=1) * ((weights * y) / gap).sum(axis=1)


def _outwards(S: np.ndarray, f: np.ndarray, near: int, count: int, away: int,
              equispaced: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return the extrapolations of degree DEGREE and DEGREE − 1 to the ``count`` candidates
    beyond index ``near``, ordered outwards; the nodes are near, near + away, … (``away`` = ±1
    points from the targets into the scored range, nearest nodes first)."""
    idx = near + away * np.arange(DEGREE + 1)
    values = f[idx]
    if equispaced:
        return _BASIS[DEGREE][:count] @ values, _BASIS[DEGREE - 1][:count] @ values[:DEGREE]
    x = S[idx].astype(np.float64)
    targets = S[near - away * np.arange(1, count + 1)].astype(np.float64)
    return _extrapolate(x, values, targets), _extrapolate(x[:DEGREE], values[:DEGREE], targets)


def _approximate(S: np.ndarray, f: np.ndarray, lo: int, hi: int,
                 equispaced: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return f with exact values on [lo, hi], extrapolated EXTRAP_STEPS further and held
    beyond, and an error estimate for the extrapolated values (their distance from the
    extrapolation one degree lower, through the DEGREE nodes nearest to them; 0 elsewhere)."""
    out, err = f.copy(), np.zeros(S.size)
    if lo > 0:
        edge = max(lo - EXTRAP_STEPS, 0)
        high, low = _outwards(S, f, lo, lo - edge, 1, equispaced)
        out[edge:lo], err[edge:lo] = high[::-1], np.abs(high - low)[::-1]
        out[:edge] = out[edge]
    if hi < S.size - 1:
        edge = min(hi + EXTRAP_STEPS, S.size - 1)
        high, low = _outwards(S, f, hi, edge - hi, -1, equispaced)
        out[hi + 1:edge + 1], err[hi + 1:edge + 1] = high, np.abs(high - low)
        out[edge + 1:] = out[edge]
    return out, err


def select_and_score(score: Callable[[np.ndarray], np.ndarray], S: np.ndarray,
                     log_prior: np.ndarray, ll_count: np.ndarray) -> np.ndarray:
    """Return log L(times | S) for every candidate, scoring only those the posterior needs.

    Parameters
    ----------
    score
        Returns the exact log-likelihood of the times for the candidate indices it is given.
    S
        Candidate spin lengths, ascending.
    log_prior
        Log-posterior of the candidates before this pulse.
    ll_count
        Log-likelihood of the registered count for each candidate (finite).

    Returns
    -------
    numpy.ndarray
        Exact values where scored, ``ll_count + f̂`` (the approximated times factor) elsewhere.
        Falls back to scoring every candidate when an exact value is not finite.
    """
    size = S.size
    if size <= DEGREE + 3:
        return score(np.arange(size))
    lp0 = log_prior + ll_count
    gaps = np.diff(S)
    equispaced = bool(np.all(gaps == gaps[0]))
    # The scored window: the count posterior's top, and every candidate the count posterior
    # does not rule out within EXTRAP_STEPS of it.
    top = np.flatnonzero(lp0 >= lp0.max() - math.log(1.0 / MASS_TOL))
    live = np.flatnonzero(lp0 >= lp0.max() - math.log(1.0 / COUNT_TOL))
    lo = min(int(top[0]), int(live[0]) + EXTRAP_STEPS)
    hi = max(int(top[-1]), int(live[-1]) - EXTRAP_STEPS)
    while hi - lo < DEGREE:  # enough exact nodes for the extrapolating polynomial
        lo, hi = (lo - 1, hi) if lo > 0 else (lo, hi + 1)
    exact = np.empty(size)
    done_lo, done_hi = hi + 1, hi  # the scored range (empty at first)
    while True:
        todo = np.array([i for i in range(lo, hi + 1) if not done_lo <= i <= done_hi],
                        dtype=np.int64)
        exact[todo] = score(todo)
        done_lo, done_hi = lo, hi
        if not np.all(np.isfinite(exact[lo:hi + 1])):
            rest = np.r_[0:lo, hi + 1:size].astype(np.int64)
            exact[rest] = score(rest)
            return exact
        f, err = _approximate(S, exact - ll_count, lo, hi, equispaced)
        ll = ll_count + f
        ll[lo:hi + 1] = exact[lo:hi + 1]
        lp = log_prior + ll
        rel = lp - lp[lo:hi + 1].max()
        # NaN counts as high.
        high = np.flatnonzero(~((rel < -math.log(1.0 / MASS_TOL))
                                & (err * np.exp(np.minimum(rel, 0.0)) <= ERROR_TOL)))
        new_lo, new_hi = min(lo, int(high[0])), max(hi, int(high[-1]))
        if (new_lo, new_hi) == (lo, hi):
            return ll
        lo, hi = new_lo, new_hi
