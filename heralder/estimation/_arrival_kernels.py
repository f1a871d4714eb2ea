"""Compile the arrival-time likelihood with numba (extra ``fast``), as arrival.py computes it.

Importing this module raises ImportError without numba (see backend.py).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from heralder.estimation._kernels import log_sum

__all__ = ["log_likelihood_times"]

_NEG_INF = -np.inf
_CHUNK = 100.0  # largest qΔ uniformised in one piece (arrival.CHUNK)
# Ladder states below this fraction of the peak leave the band: each event then changes L by
# < 1e-18 relative, far below the 1e-11 agreement with the numpy reference.
_BAND_TOL = 1e-20


@numba.njit(cache=True)
def _propagate(alpha, band, exit_rate, thin, dark_rate, duration, work):
    """Replace α by α·exp(D·duration) by uniformisation, as arrival.py, for the bidiagonal
    generator D = −diag(exit + δ) + thin·superdiag(exit).

    Only the band of ladder states holding α (``band`` = [lo, hi], updated) is touched; each
    chunk uniformises at the fastest rate the band can reach within the chunk (not the global
    maximum), stops its Poisson sum once the remaining weight is below 1e-17, and states below
    _BAND_TOL of the peak leave the band.
    """
    k = alpha.size - 1
    lo, hi = band[0], band[1]
    remaining_s = duration
    term, out, diag, sup = work[0], work[1], work[2], work[3]
    while remaining_s > 0.0:
        reach = 30
        while True:
            top = min(hi + reach, k)
            q = dark_rate
            for j in range(lo, top + 1):
                q = max(q, exit_rate[j] + dark_rate)
            if q == 0.0:
                q = 1.0
            lam = min(q * remaining_s, _CHUNK)
            need = math.ceil(lam + 10.0 * math.sqrt(lam) + 30.0)
            if need <= reach or top == k:
                reach = max(reach, need)
                break
            reach = need
        remaining_s = 0.0 if lam < _CHUNK else remaining_s - lam / q
        top = min(hi + reach, k)
        for j in range(lo, top + 1):
            diag[j] = 1.0 - (exit_rate[j] + dark_rate) / q
            sup[j] = thin * exit_rate[j] / q
            term[j] = alpha[j] if j <= hi else 0.0
        weight = math.exp(-lam)
        for j in range(lo, top + 1):
            out[j] = weight * term[j]
        used = 0
        for m in range(1, reach + 1):
            used = m
            upper = min(hi + m, k)
            for j in range(upper, lo, -1):  # in place, from the top: term[j-1] is still old
                term[j] = term[j] * diag[j] + term[j - 1] * sup[j - 1]
            term[lo] = term[lo] * diag[lo]
            weight *= lam / m
            for j in range(lo, upper + 1):
                out[j] += weight * term[j]
            # The remaining Poisson weights fall geometrically once m > λ.
            ratio = lam / (m + 1)
            if ratio < 0.5 and weight * ratio / (1.0 - ratio) < 1e-17:
                break
        hi = min(hi + used, k)
        peak = 0.0
        for j in range(lo, hi + 1):
            alpha[j] = out[j]
            peak = max(peak, out[j])
        while lo < hi and alpha[lo] < _BAND_TOL * peak:
            alpha[lo] = 0.0
            lo += 1
        while hi > lo and alpha[hi] < _BAND_TOL * peak:
            alpha[hi] = 0.0
            hi -= 1
    band[0], band[1] = lo, hi


@numba.njit(cache=True)
def log_likelihood_times(times, gate_s, S, k_mult, gamma, eta, dark_rate, dead_time):
    """Return log L(times | S) for each S, as arrival.log_likelihood_times_one."""
    out = np.empty(S.size)
    band = np.zeros(2, dtype=np.int64)
    for c in range(S.size):
        s = S[c]
        k = k_mult * s
        exit_rate = np.zeros(k + 1)  # state j (photons so far) emits photon j+1
        for j in range(1, k + 1):
            exit_rate[j - 1] = gamma * ((s - j + 1) * (s + j) if k_mult == 1
                                        else j * (2 * s + 1 - j))
        alpha = np.zeros(k + 1)
        alpha[0] = 1.0
        band[0], band[1] = 0, 0
        work = np.zeros((4, k + 1))
        log_c = 0.0
        alive_from = 0.0
        dead = False
        for t in times:
            _propagate(alpha, band, exit_rate, 1.0 - eta, dark_rate, max(t - alive_from, 0.0),
                       work)
            lo, hi = band[0], min(band[1] + 1, k)
            for j in range(hi, lo - 1, -1):  # α·D1, from the top so alpha[j-1] is still old
                alpha[j] = dark_rate * alpha[j] + (eta * exit_rate[j - 1] * alpha[j - 1]
                                                   if j > lo else 0.0)
            band[1] = hi
            _propagate(alpha, band, exit_rate, 1.0, 0.0, dead_time, work)
            total = 0.0
            for j in range(band[0], band[1] + 1):
                total += alpha[j]
            if not total > 0.0:
                dead = True
                break
            log_c += math.log(total)
            for j in range(band[0], band[1] + 1):
                alpha[j] /= total
            alive_from = max(t, alive_from) + dead_time
        if dead:
            out[c] = _NEG_INF
            continue
        tail = max(gate_s - alive_from, 0.0)
        log_q = math.log1p(-eta) if eta < 1.0 else _NEG_INF
        terms = np.full(k + 1, _NEG_INF)
        for j in range(band[0], band[1] + 1):
            survive = ((k - j) * log_q if k - j > 0 else 0.0) - dark_rate * tail
            terms[j] = (math.log(alpha[j]) if alpha[j] > 0.0 else _NEG_INF) + survive
        out[c] = log_c + log_sum(terms)
    return out
