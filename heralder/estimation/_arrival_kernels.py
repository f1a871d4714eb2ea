"""Compile the arrival-time likelihood with numba (extra ``fast``), as arrival.py computes it.

Same maths as the numpy reference (uniformisation of the bidiagonal generators, renormalised
after each event, closed-form tail), organised for speed:

* candidates go in groups of ``GROUP`` (consecutive S), propagated together and interleaved
  state by state: lane c of ladder state j sits at flat index (j + 2)·GROUP + c. One
  vectorised sweep then serves the whole group, and the scalar work around it (Poisson
  weights, stopping test, chunking, loop set-up), which costs more than the sweeps at S ≈ 100,
  is paid once per group. The lanes share the registration times, the band of ladder states
  that holds mass (the union of theirs) and the uniformisation rate q (the largest of theirs),
  hence the Poisson weights;
* each uniformisation chunk uses the fastest rate the band can reach within the chunk (O(1)
  per lane: the exit rates rise to one peak and fall), not the global maximum;
* the Poisson sum stops once the bound on its rest is below ``stop_tol`` of every lane's mass;
* Poisson terms go in pairs, one sweep over the band per pair (the odd term is recomputed in
  registers, never stored);
* the hot loops use unsigned indices (no negative-index checks) so that LLVM vectorises them,
  and work buffers are allocated once per group.

Everything dropped is non-negative mass, per lane: after each chunk, edge states go while their
sum stays below ``drop_tol`` of the lane's mass; and the Poisson tail beyond ``stop_tol``. Two
settings:

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

__all__ = ["EXACT_TOLS", "GROUP", "POSTERIOR_TOLS", "log_likelihood_times"]

_NEG_INF = -np.inf
_CHUNK = 100.0  # largest qΔ uniformised in one piece (arrival.CHUNK)
# Most Poisson terms a chunk can take: λ + 10√λ + 30 at λ = _CHUNK.
_MAX_TERMS = int(_CHUNK + 10.0 * math.sqrt(_CHUNK) + 31.0)
#: (drop_tol, stop_tol) at the reference's level, and held to the posterior (module docstring).
EXACT_TOLS = (1e-300, 1e-30)
POSTERIOR_TOLS = (1e-13, 1e-13)
#: Candidates propagated together: one AVX2 register of float64 per ladder state.
GROUP = 4
_PAD = 2  # zero states below the ladder: a sweep reads states j − 1 and j − 2
_FAST = {"reassoc", "contract", "nsz", "arcp"}  # reassociation lets LLVM vectorise the sums
_U1, _U2, _U3 = np.uint64(1), np.uint64(2), np.uint64(3)
_W = np.uint64(GROUP)  # lanes per state, unsigned for the flat indices


@numba.njit(cache=True, nogil=True, inline="always")
def _flat(state):
    """Return the flat index of lane 0 of ladder ``state``."""
    return np.uint64(state + _PAD) * _W


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _term(src, dst, alpha, start, stop, weight, diag, sup):
    """Write the next Poisson term dst = src·P on flat indices [start, stop), add weight·dst
    to α and return dst's mass (all lanes)."""
    mass = 0.0
    for i in range(start, stop):
        v = src[i] * diag[i] + src[i - _W] * sup[i - _W]
        dst[i] = v
        alpha[i] += weight * v
        mass += v
    return mass


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _two_terms(src, dst, alpha, start, stop, w1, w2, diag, sup):
    """Write dst = src·P² on flat indices [start, stop), add w1·src·P + w2·src·P² to α and
    return the masses (all lanes) of src·P and src·P² (src·P is recomputed, never stored)."""
    m1 = 0.0
    m2 = 0.0
    for i in range(start, stop):
        back = i - _W
        prev1 = src[back] * diag[back] + src[back - _W] * sup[back - _W]
        t1 = src[i] * diag[i] + src[back] * sup[back]
        t2 = t1 * diag[i] + prev1 * sup[back]
        dst[i] = t2
        alpha[i] += w1 * t1 + w2 * t2
        m1 += t1
        m2 += t2
    return m1, m2


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _lane_sums(x, lo, hi, out):
    """Write into ``out`` the sum of each lane of x over states lo..hi."""
    s0 = s1 = s2 = s3 = 0.0
    for row in range(_flat(lo), _flat(hi + 1), _W):
        s0 += x[row]
        s1 += x[row + _U1]
        s2 += x[row + _U2]
        s3 += x[row + _U3]
    out[0], out[1], out[2], out[3] = s0, s1, s2, s3


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _chunk(alpha, lo, hi, top, terms, lam, diag, sup, a, b, inv, stop_tol, term_mass, out_mass):
    """Replace α (band [lo, hi]) by α·Σ_{m ≤ terms} Poisson(m; λ)·P^m on states lo..top.

    Returns the highest state any term reached; ``out_mass`` then holds each lane's
    propagated mass. The sum stops once the bound on its rest is below ``stop_tol`` of every
    lane's mass, checked lane by lane only once it holds for the lanes' total. Terms go in
    pairs; ``inv[j] = 1/j`` spares the Poisson weights their divisions.
    """
    start, end = _flat(lo), _flat(hi + 1)
    for i in range(start - _U2 * _W, start):  # the sweeps read two states below lo
        a[i] = 0.0
        b[i] = 0.0
    weight = math.exp(-lam)
    mass = 0.0
    for i in range(start, end):
        v = alpha[i]
        a[i] = v
        mass += v
        alpha[i] = weight * v
    for i in range(end, _flat(top + 1)):
        alpha[i] = 0.0
    total = weight * mass
    t_hi = hi
    m = 0
    while m < terms:
        step = 2 if m + 2 <= terms else 1
        for _ in range(step):
            if t_hi < top:
                t_hi += 1
                row = _flat(t_hi)
                a[row], a[row + _U1], a[row + _U2], a[row + _U3] = 0.0, 0.0, 0.0, 0.0
        stop = _flat(t_hi + 1)
        if step == 2:
            w1 = weight * lam * inv[m + 1]
            weight = w1 * lam * inv[m + 2]
            m1, mass = _two_terms(a, b, alpha, start, stop, w1, weight, diag, sup)
            total += w1 * m1 + weight * mass
        else:
            weight *= lam * inv[m + 1]
            mass = _term(a, b, alpha, start, stop, weight, diag, sup)
            total += weight * mass
        m += step
        a, b = b, a  # a holds the newest term
        # The rest of the Poisson weights is at most weight·λ/(m + 1 − λ) once m + 1 > λ (the
        # ratios fall geometrically); one division per pair.
        excess = m + 1.0 - lam
        rest = min(weight * lam / excess, 1.0) if excess > 0.0 else 1.0
        if rest * mass <= stop_tol * total:  # necessary for each lane: check them
            _lane_sums(alpha, lo, t_hi, out_mass)
            _lane_sums(a, lo, t_hi, term_mass)
            done = True
            for c in range(GROUP):
                done &= rest * term_mass[c] <= stop_tol * out_mass[c]
            if done:
                return t_hi
    _lane_sums(alpha, lo, t_hi, out_mass)
    return t_hi


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _coefficients(diag, sup, memo, lo, top, exit_rate, q, thin, dark_rate):
    """Make diag/sup hold P = I + D/q on states lo..top (all lanes).

    ``memo`` = (q, thin, dark, first, last) of what they hold: most chunks reuse the same q
    (the peak rate), so only states not yet covered are computed.
    """
    if memo[0] != q or memo[1] != thin or memo[2] != dark_rate or memo[3] > memo[4]:
        first, last = lo, top
    elif lo >= memo[3] and top <= memo[4]:
        return
    else:
        first, last = min(lo, int(memo[3])), max(top, int(memo[4]))
    inv_q = 1.0 / q
    for i in range(_flat(first), _flat(last + 1)):
        diag[i] = 1.0 - (exit_rate[i] + dark_rate) * inv_q
        sup[i] = thin * exit_rate[i] * inv_q
    memo[0], memo[1], memo[2], memo[3], memo[4] = q, thin, dark_rate, first, last


@numba.njit(cache=True, nogil=True, inline="always")
def _fastest(exit_rate, peak, k, lo, top):
    """Return the largest exit rate of any lane on states lo..top (lane c's rates rise to their
    maximum at state ``peak[c]`` and are 0 from state ``k[c]``)."""
    q = 0.0
    for c in range(GROUP):
        last = min(top, k[c])
        if lo <= peak[c] <= last:
            q = max(q, exit_rate[_flat(peak[c]) + c])
        else:
            q = max(q, exit_rate[_flat(lo) + c], exit_rate[_flat(last) + c])
    return q


@numba.njit(cache=True, nogil=True, inline="always")
def _droppable(alpha, state, budget):
    """Zero ``state`` in every lane and charge it to the budgets if each lane's value fits
    its budget; return whether it did."""
    row = _flat(state)
    for c in range(GROUP):
        if alpha[row + c] > budget[c]:
            return False
    for c in range(GROUP):
        budget[c] -= alpha[row + c]
        alpha[row + c] = 0.0
    return True


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _propagate(alpha, band, exit_rate, peak, k, thin, dark_rate, duration, diag, sup, memo,
               a, b, inv, tols, lane_a, lane_b):
    """Replace α by α·exp(D·duration), D = −diag(exit + δ) + thin·superdiag(exit), by
    uniformisation over the band ``band`` = [lo, hi] (updated in place), in every lane."""
    size = alpha.size // GROUP - _PAD - 1  # highest state of the longest ladder
    lo, hi = band[0], band[1]
    remaining_s = duration
    while remaining_s > 0.0:
        # Uniformise at the fastest rate reachable within the Poisson sum's length.
        reach = 30
        while True:
            top = min(hi + reach, size)
            q = _fastest(exit_rate, peak, k, lo, top) + dark_rate
            if q == 0.0:
                q = 1.0
            lam = min(q * remaining_s, _CHUNK)
            need = math.ceil(lam + 10.0 * math.sqrt(lam) + 30.0)
            if need <= reach or top == size:
                reach = max(reach, need)
                break
            reach = need
        remaining_s = 0.0 if lam < _CHUNK else remaining_s - lam / q
        _coefficients(diag, sup, memo, lo, top, exit_rate, q, thin, dark_rate)
        hi = _chunk(alpha, lo, hi, top, reach, lam, diag, sup, a, b, inv, tols[1], lane_a,
                    lane_b)
        for c in range(GROUP):  # drop edge states within each lane's budget
            lane_a[c] = tols[0] * lane_b[c]
        while lo < hi and _droppable(alpha, lo, lane_a):
            lo += 1
        while hi > lo and _droppable(alpha, hi, lane_a):
            hi -= 1
    band[0], band[1] = lo, hi


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _register(alpha, band, exit_rate, eta, dark_rate, work, totals):
    """Apply D1 = η·R + δI to α (band grows by one state), normalise each lane and write its
    mass into ``totals`` (a lane of mass 0 stays 0)."""
    lo, hi = band[0], min(band[1] + 1, alpha.size // GROUP - _PAD - 1)
    start, end = _flat(lo), _flat(hi + 1)
    for i in range(start, end):
        work[i] = dark_rate * alpha[i] + eta * exit_rate[i - _W] * alpha[i - _W]
    _lane_sums(work, lo, hi, totals)
    for c in range(GROUP):
        work[c] = 1.0 / totals[c] if totals[c] > 0.0 else 0.0  # state −2 as scratch
    s0, s1, s2, s3 = work[0], work[1], work[2], work[3]
    for row in range(start, end, _W):
        alpha[row] = work[row] * s0
        alpha[row + _U1] = work[row + _U1] * s1
        alpha[row + _U2] = work[row + _U2] * s2
        alpha[row + _U3] = work[row + _U3] * s3
    band[1] = hi


@numba.njit(cache=True, nogil=True)
def _group(times, gate_s, S, k_mult, gamma, eta, dark_rate, dead_time, tols, inv, out):
    """Write log L(times | S) for the GROUP candidates S into ``out``."""
    k = k_mult * S
    size = (k.max() + 1 + _PAD) * GROUP
    alpha, exit_rate, diag, sup = np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size)
    a, b = np.zeros(size), np.zeros(size)
    peak = np.zeros(GROUP, dtype=np.int64)
    for c in range(GROUP):
        s = S[c]
        for j in range(1, k[c] + 1):  # state j−1 emits photon j
            rate = gamma * ((s - j + 1) * (s + j) if k_mult == 1 else j * (2 * s + 1 - j))
            exit_rate[_flat(j - 1) + c] = rate
            if rate > exit_rate[_flat(peak[c]) + c]:
                peak[c] = j - 1
        alpha[_flat(0) + c] = 1.0
    band = np.zeros(2, dtype=np.int64)
    memo = np.array([0.0, 0.0, 0.0, 1.0, 0.0])  # nothing cached
    lane_a, lane_b = np.empty(GROUP), np.empty(GROUP)
    log_c = np.zeros(GROUP)
    alive_from = 0.0
    for t in times:
        _propagate(alpha, band, exit_rate, peak, k, 1.0 - eta, dark_rate,
                   max(t - alive_from, 0.0), diag, sup, memo, a, b, inv, tols, lane_a, lane_b)
        _register(alpha, band, exit_rate, eta, dark_rate, a, lane_a)
        alive = False
        for c in range(GROUP):
            log_c[c] += math.log(lane_a[c]) if lane_a[c] > 0.0 else _NEG_INF
            alive |= log_c[c] > _NEG_INF
        if not alive:
            break
        if dead_time > 0.0:  # Q conserves mass, so no renormalisation after the window
            _propagate(alpha, band, exit_rate, peak, k, 1.0, 0.0, dead_time, diag, sup, memo,
                       a, b, inv, tols, lane_a, lane_b)
        alive_from = max(t, alive_from) + dead_time
    tail = max(gate_s - alive_from, 0.0)
    log_q = math.log1p(-eta) if eta < 1.0 else _NEG_INF
    terms = np.empty(band[1] - band[0] + 1)
    for c in range(GROUP):
        if log_c[c] == _NEG_INF:
            out[c] = _NEG_INF
            continue
        for j in range(band[0], band[1] + 1):
            v = alpha[_flat(j) + c]
            survive = ((k[c] - j) * log_q if k[c] - j > 0 else 0.0) - dark_rate * tail
            terms[j - band[0]] = (math.log(v) if v > 0.0 else _NEG_INF) + survive
        out[c] = log_c[c] + log_sum(terms)


@numba.njit(cache=True, nogil=True)
def log_likelihood_times(times, gate_s, S, k_mult, gamma, eta, dark_rate, dead_time, tols):
    """Return log L(times | S) for each S, as arrival.log_likelihood_times_one.

    The candidates go in groups of GROUP consecutive entries of S (give S sorted, so that a
    group's bands nearly coincide); the last group is filled up with copies of its last one.
    """
    inv = np.empty(_MAX_TERMS + 3)  # inv[j] = 1/j for the Poisson weights
    inv[0] = 0.0
    for j in range(1, inv.size):
        inv[j] = 1.0 / j
    groups = (S.size + GROUP - 1) // GROUP
    padded = np.empty(groups * GROUP, dtype=np.int64)
    padded[: S.size] = S
    padded[S.size:] = S[-1] if S.size else 0
    out = np.empty(padded.size)
    for g in range(groups):
        _group(times, gate_s, padded[g * GROUP:(g + 1) * GROUP], k_mult, gamma, eta,
               dark_rate, dead_time, tols, inv, out[g * GROUP:(g + 1) * GROUP])
    return out[: S.size]
