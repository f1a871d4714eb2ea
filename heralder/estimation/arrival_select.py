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
holds it to 1e-9 on those and on randomized and mis-modelled records). The numeric steps are
compiled (_select_kernels.py): the selection serves the compiled backend only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from heralder.estimation.backend import compiled_select_kernels

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
_MASS_NATS = math.log(1.0 / MASS_TOL)
_COUNT_NATS = math.log(1.0 / COUNT_TOL)


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

    Raises
    ------
    ValueError
        If numba is not installed (the numeric steps are compiled, _select_kernels.py).
    """
    size = S.size
    if size <= DEGREE + 3:
        return score(np.arange(size))
    kernels = compiled_select_kernels()
    if kernels is None:
        raise ValueError("select_and_score needs numba: pip install 'heralder[fast]'")
    S = np.ascontiguousarray(S, dtype=np.int64)
    log_prior = np.ascontiguousarray(log_prior, dtype=np.float64)
    ll_count = np.ascontiguousarray(ll_count, dtype=np.float64)
    # The scored window: the count posterior's top, and every candidate the count posterior
    # does not rule out within EXTRAP_STEPS of it.
    lo, hi, equispaced = kernels.selection_window(S, log_prior + ll_count, _MASS_NATS,
                                                  _COUNT_NATS, EXTRAP_STEPS, DEGREE)
    exact = np.empty(size)
    todo = np.arange(lo, hi + 1)
    while True:
        exact[todo] = score(todo)
        ll, new_lo, new_hi = kernels.selection_step(S, exact, ll_count, log_prior, lo, hi,
                                                    equispaced, _BASIS[DEGREE],
                                                    _BASIS[DEGREE - 1], _MASS_NATS, ERROR_TOL)
        if new_lo < 0:  # an exact value is not finite: score everything
            rest = np.concatenate((np.arange(lo), np.arange(hi + 1, size)))
            exact[rest] = score(rest)
            return exact
        if (new_lo, new_hi) == (lo, hi):
            return ll
        # The window only grows: score what it adds on either side.
        todo = np.concatenate((np.arange(new_lo, lo), np.arange(hi + 1, new_hi + 1)))
        lo, hi = new_lo, new_hi
