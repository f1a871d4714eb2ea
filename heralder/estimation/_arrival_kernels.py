"""Compile the arrival-time likelihood with numba (extra ``fast``), as arrival.py computes it.

Same maths as the numpy reference (uniformisation of the bidiagonal generators, renormalised
after each event, closed-form tail), organised for speed:

* only the band of ladder states that holds the row vector is touched;
* each uniformisation chunk uses the fastest rate the band can reach within the chunk (O(1):
  the exit rates rise to one peak and fall), not the global maximum;
* the Poisson sum stops once the bound on its rest is below ``stop_tol`` of the mass;
* Poisson terms go in pairs, one sweep over the band per pair (the odd term is recomputed in
  registers, never stored);
* the hot loops use unsigned indices (no negative-index checks) so that LLVM vectorises them,
  and work buffers are allocated once per call, sized for the largest candidate.

Everything dropped is non-negative mass: after each chunk, edge states go while their sum stays
below ``drop_tol`` of the vector's mass; and the Poisson tail beyond ``stop_tol``. Two settings:

* ``EXACT_TOLS`` (1e-300, 1e-30), the reference's level: log L agrees with arrival.py to ~1e-13.
  A relative cut such as 1e-18 moves log L of *some* candidates by up to 3 nats: a ladder state
  that is 1e-30 of the mass now can carry the whole likelihood later (a candidate S that needs
  dark counts, or η near 1 where only the last state survives the gate).
* ``POSTERIOR_TOLS`` (1e-13, 1e-13), held to the posterior, not to each log L. Each truncation
  drops paths whose probability given the times so far is below 1e-13, so for records drawn
  from candidate S the expected relative deficit of L(S) is at most 1e-13 × (number of
  truncations), and by the same token (E[p(S | times) δ_S] = p(S) E_S[δ_S]) the expected
  total-variation error of the normalised posterior is at most twice that: a pulse at S ≈ 100
  makes ~200 truncations per candidate (two per uniformisation chunk), so ≲ 1e-10. The 3-nat
  cases above are candidates whose posterior is that improbable.
  tests/estimation/test_arrival_select.py checks the posterior against the exact kernel.

Importing this module raises ImportError without numba (see backend.py).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from heralder.estimation._kernels import log_sum

__all__ = ["EXACT_TOLS", "POSTERIOR_TOLS", "log_likelihood_times"]

_NEG_INF = -np.inf
_CHUNK = 100.0  # largest qΔ uniformised in one piece (arrival.CHUNK)
# Most Poisson terms a chunk can take: λ + 10√λ + 30 at λ = _CHUNK.
_MAX_TERMS = int(_CHUNK + 10.0 * math.sqrt(_CHUNK) + 31.0)
#: (drop_tol, stop_tol) at the reference's level, and held to the posterior (module docstring).
EXACT_TOLS = (1e-300, 1e-30)
POSTERIOR_TOLS = (1e-13, 1e-13)
_FAST = {"reassoc", "contract", "nsz", "arcp"}  # reassociation lets LLVM vectorise the sums
_ONE = np.uint64(1)


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _term(src, dst, alpha, lo, hi, weight, diag, sup):
    """Write the next Poisson term dst = src·P on states lo..hi, add weight·dst to α and
    return dst's mass."""
    first = src[lo] * diag[lo]
    dst[lo] = first
    alpha[lo] += weight * first
    mass = first
    for j in range(np.uint64(lo) + _ONE, np.uint64(hi) + _ONE):
        v = src[j] * diag[j] + src[j - _ONE] * sup[j - _ONE]
        dst[j] = v
        alpha[j] += weight * v
        mass += v
    return mass


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _two_terms(src, dst, alpha, lo, hi, w1, w2, diag, sup):
    """Write dst = src·P² on states lo..hi, add w1·src·P + w2·src·P² to α and return the
    masses of src·P and src·P² (src·P is recomputed, never stored: one sweep, not two)."""
    # States lo and lo + 1 by hand (src is zero below lo).
    t1_lo = src[lo] * diag[lo]
    t2 = t1_lo * diag[lo]
    dst[lo] = t2
    alpha[lo] += w1 * t1_lo + w2 * t2
    m1, m2 = t1_lo, t2
    if hi > lo:
        t1 = src[lo + 1] * diag[lo + 1] + src[lo] * sup[lo]
        t2 = t1 * diag[lo + 1] + t1_lo * sup[lo]
        dst[lo + 1] = t2
        alpha[lo + 1] += w1 * t1 + w2 * t2
        m1 += t1
        m2 += t2
    two = np.uint64(2)
    for j in range(np.uint64(lo) + two, np.uint64(hi) + _ONE):
        prev1 = src[j - _ONE] * diag[j - _ONE] + src[j - two] * sup[j - two]
        t1 = src[j] * diag[j] + src[j - _ONE] * sup[j - _ONE]
        t2 = t1 * diag[j] + prev1 * sup[j - _ONE]
        dst[j] = t2
        alpha[j] += w1 * t1 + w2 * t2
        m1 += t1
        m2 += t2
    return m1, m2


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _chunk(alpha, lo, hi, top, terms, lam, diag, sup, a, b, inv, stop_tol):
    """Replace α (band [lo, hi]) by α·Σ_{m ≤ terms} Poisson(m; λ)·P^m on states lo..top.

    Returns the highest state any term reached and the propagated mass. The sum stops once the
    bound on its rest is below ``stop_tol`` of the mass. Terms go in pairs; ``inv[j] = 1/j``
    spares the Poisson weights their divisions. (Trimming each term's support as well costs
    more in branches than it saves in the vectorised sweeps.)
    """
    weight = math.exp(-lam)
    mass = 0.0
    for j in range(np.uint64(lo), np.uint64(hi) + _ONE):
        v = alpha[j]
        a[j] = v
        mass += v
        alpha[j] = weight * v
    for j in range(np.uint64(hi) + _ONE, np.uint64(top) + _ONE):
        alpha[j] = 0.0
    out_mass = weight * mass
    t_lo, t_hi, reached = lo, hi, hi
    m = 0
    while m < terms:
        step = 2 if m + 2 <= terms else 1
        for _ in range(step):
            if t_hi < top:
                t_hi += 1
                a[t_hi] = 0.0
        reached = max(reached, t_hi)
        if step == 2:
            w1 = weight * lam * inv[m + 1]
            weight = w1 * lam * inv[m + 2]
            m1, mass = _two_terms(a, b, alpha, t_lo, t_hi, w1, weight, diag, sup)
            out_mass += w1 * m1 + weight * mass
        else:
            weight *= lam * inv[m + 1]
            mass = _term(a, b, alpha, t_lo, t_hi, weight, diag, sup)
            out_mass += weight * mass
        m += step
        a, b = b, a  # a holds the newest term
        # The rest of the Poisson weights is at most weight·λ/(m + 1 − λ) once m + 1 > λ (the
        # ratios fall geometrically); one division per pair, none in the drop loops.
        excess = m + 1.0 - lam
        rest = min(weight * lam / excess, 1.0) if excess > 0.0 else 1.0
        if rest * mass <= stop_tol * out_mass:
            break
    return reached, out_mass


@numba.njit(cache=True, nogil=True)
def _coefficients(diag, sup, memo, lo, top, exit_rate, q, thin, dark_rate):
    """Make diag/sup hold P = I + D/q on states lo..top.

    ``memo`` = (q, thin, first, last) of what they hold: most chunks reuse the same q (the peak
    rate) and thinning, so only states not yet covered are computed.
    """
    if memo[0] != q or memo[1] != thin or memo[2] > memo[3]:
        first, last = lo, top
    elif lo >= memo[2] and top <= memo[3]:
        return
    else:
        first, last = min(lo, int(memo[2])), max(top, int(memo[3]))
    inv_q = 1.0 / q
    for j in range(np.uint64(first), np.uint64(last) + _ONE):
        diag[j] = 1.0 - (exit_rate[j] + dark_rate) * inv_q
        sup[j] = thin * exit_rate[j] * inv_q
    memo[0], memo[1], memo[2], memo[3] = q, thin, first, last


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _propagate(alpha, band, exit_rate, peak, thin, dark_rate, duration, diag, sup, memo, a,
               b, inv, tols):
    """Replace α by α·exp(D·duration), D = −diag(exit + δ) + thin·superdiag(exit), by
    uniformisation over the band ``band`` = [lo, hi] (updated in place).

    ``exit_rate`` rises to its maximum at state ``peak`` and falls after it. ``diag``/``sup``
    hold P = I + D/q on the states ``memo`` records (see _coefficients).
    """
    k = alpha.size - 1
    lo, hi = band[0], band[1]
    remaining_s = duration
    while remaining_s > 0.0:
        # Uniformise at the fastest rate reachable within the Poisson sum's length.
        reach = 30
        while True:
            top = min(hi + reach, k)
            q = exit_rate[peak] if lo <= peak <= top else max(exit_rate[lo], exit_rate[top])
            q += dark_rate
            if q == 0.0:
                q = 1.0
            lam = min(q * remaining_s, _CHUNK)
            need = math.ceil(lam + 10.0 * math.sqrt(lam) + 30.0)
            if need <= reach or top == k:
                reach = max(reach, need)
                break
            reach = need
        remaining_s = 0.0 if lam < _CHUNK else remaining_s - lam / q
        _coefficients(diag, sup, memo, lo, top, exit_rate, q, thin, dark_rate)
        hi, mass = _chunk(alpha, lo, hi, top, reach, lam, diag, sup, a, b, inv, tols[1])
        budget = tols[0] * mass
        while lo < hi and alpha[lo] <= budget:
            budget -= alpha[lo]
            alpha[lo] = 0.0
            lo += 1
        while hi > lo and alpha[hi] <= budget:
            budget -= alpha[hi]
            alpha[hi] = 0.0
            hi -= 1
    band[0], band[1] = lo, hi


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _register(alpha, band, exit_rate, eta, dark_rate, work):
    """Apply D1 = η·R + δI to α (band grows by one state), normalise it; return the mass."""
    lo, hi = band[0], min(band[1] + 1, alpha.size - 1)
    work[lo] = dark_rate * alpha[lo]
    total = work[lo]
    for j in range(np.uint64(lo) + _ONE, np.uint64(hi) + _ONE):
        v = dark_rate * alpha[j] + eta * exit_rate[j - _ONE] * alpha[j - _ONE]
        work[j] = v
        total += v
    if total > 0.0:
        inv = 1.0 / total
        for j in range(np.uint64(lo), np.uint64(hi) + _ONE):
            alpha[j] = work[j] * inv
    band[1] = hi
    return total


@numba.njit(cache=True, nogil=True)
def log_likelihood_times(times, gate_s, S, k_mult, gamma, eta, dark_rate, dead_time, tols):
    """Return log L(times | S) for each S, as arrival.log_likelihood_times_one."""
    out = np.empty(S.size)
    band = np.zeros(2, dtype=np.int64)
    size = k_mult * S.max() + 1 if S.size else 1
    alpha, exit_rate = np.zeros(size), np.zeros(size)
    diag, sup, a, b = np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size)
    memo = np.empty(4)
    inv = np.empty(_MAX_TERMS + 3)  # inv[j] = 1/j for the Poisson weights
    inv[0] = 0.0
    for j in range(1, inv.size):
        inv[j] = 1.0 / j
    log_q = math.log1p(-eta) if eta < 1.0 else _NEG_INF
    for c in range(S.size):
        s = S[c]
        k = k_mult * s
        peak = 0
        for j in range(1, k + 1):  # state j−1 emits photon j
            exit_rate[j - 1] = gamma * ((s - j + 1) * (s + j) if k_mult == 1
                                        else j * (2 * s + 1 - j))
            if exit_rate[j - 1] > exit_rate[peak]:
                peak = j - 1
        exit_rate[k] = 0.0
        state = alpha[: k + 1]
        state[:] = 0.0
        state[0] = 1.0
        rates = exit_rate[: k + 1]
        band[0], band[1] = 0, 0
        memo[:] = (0.0, 0.0, 1.0, 0.0)  # nothing cached (a new candidate has new rates)
        log_c = 0.0
        alive_from = 0.0
        for t in times:
            _propagate(state, band, rates, peak, 1.0 - eta, dark_rate,
                       max(t - alive_from, 0.0), diag, sup, memo, a, b, inv, tols)
            total = _register(state, band, rates, eta, dark_rate, a)
            if not total > 0.0:
                log_c = _NEG_INF
                break
            log_c += math.log(total)
            # Q conserves mass, so no renormalisation after the dead window.
            _propagate(state, band, rates, peak, 1.0, 0.0, dead_time, diag, sup, memo, a, b,
                       inv, tols)
            alive_from = max(t, alive_from) + dead_time
        if log_c == _NEG_INF:
            out[c] = _NEG_INF
            continue
        tail = max(gate_s - alive_from, 0.0)
        terms = np.full(band[1] - band[0] + 1, _NEG_INF)
        for j in range(band[0], band[1] + 1):
            survive = ((k - j) * log_q if k - j > 0 else 0.0) - dark_rate * tail
            terms[j - band[0]] = (math.log(state[j]) if state[j] > 0.0 else _NEG_INF) + survive
        out[c] = log_c + log_sum(terms)
    return out
