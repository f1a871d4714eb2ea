"""Compile the count update and the rule (d) preposterior with numba (extra ``fast``).

The maths is the numpy reference's (likelihood.py, posterior.combine_update, voi.py), written as
loops: per row the dark-count sum starts at its mode and walks outwards until the terms fall 40
nats below the mode (the terms are log-concave), where the numpy path uses a doubling window.
Both agree to ~1e-15. Importing this module raises ImportError without numba; the package then
runs on numpy (backend.py).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numba
import numpy as np

if not os.environ.get("NUMBA_CACHE_DIR"):
    # cache=True would otherwise write beside the installed sources (DESIGN §9).
    _base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    numba.config.CACHE_DIR = str(Path(_base) / "heralder" / "numba")

__all__ = ["count_update", "log_count_likelihood", "voi_terms"]

_NEG_INF = -np.inf
_WALK_NATS = 40.0
_CHUNK = 100.0  # largest qΔ uniformised in one piece (arrival.CHUNK)
# Ladder states below this fraction of the peak leave the band: each event then changes L by
# < 1e-18 relative, far below the 1e-11 agreement with the numpy reference.
_BAND_TOL = 1e-20
_OK, _IMPLAUSIBLE, _SKIPPED = 0, 1, 2


@numba.njit(cache=True)
def _log_binom(x, k, p, lnfact):
    if x < 0 or x > k:
        return _NEG_INF
    out = lnfact[k] - lnfact[x] - lnfact[k - x]
    if x > 0:
        out += x * math.log(p) if p > 0.0 else _NEG_INF
    if k - x > 0:
        out += (k - x) * math.log1p(-p) if p < 1.0 else _NEG_INF
    return out


@numba.njit(cache=True)
def _dark_term(m, n, k, log_d, d, log_p, log_q, lnfact):
    """Return log Pois(m; d) + log Bin(n − m; k, p) given log d, log p and log(1 − p)."""
    x = n - m
    if x < 0 or x > k:
        return _NEG_INF
    # Same order of operations as the numpy reference, so both round alike.
    out = lnfact[k] - lnfact[x] - lnfact[k - x]
    if x > 0:
        out += x * log_p
    if k - x > 0:
        out += (k - x) * log_q
    return ((m * log_d if m > 0 else 0.0) - d - lnfact[m]) + out


@numba.njit(cache=True)
def _log_dark_binom(n, k, p, d, lnfact):
    if d == 0.0:
        return _log_binom(n, k, p, lnfact)
    lo = max(0, n - k)
    if lo > n:
        return _NEG_INF
    log_d = math.log(d)
    log_p = math.log(p) if p > 0.0 else _NEG_INF
    log_q = math.log1p(-p) if p < 1.0 else _NEG_INF
    b = p * (k - n) + d * (1.0 - p)
    c = d * (1.0 - p) * (n + 1)
    disc = math.sqrt(b * b + 4.0 * p * c)
    x = 2.0 * c / (b + disc) if b > 0 else (disc - b) / (2.0 * p)
    mode = min(max(int(np.rint(x - 1.0)), lo), n)
    ref = _dark_term(mode, n, k, log_d, d, log_p, log_q, lnfact)
    if ref == _NEG_INF:  # only at p = 0 or 1 with a rounded mode: scan the (short) range
        for m in range(lo, n + 1):
            ref = max(ref, _dark_term(m, n, k, log_d, d, log_p, log_q, lnfact))
        if ref == _NEG_INF:
            return _NEG_INF
    total = 0.0
    for m in range(mode, n + 1):
        t = _dark_term(m, n, k, log_d, d, log_p, log_q, lnfact)
        total += math.exp(t - ref)
        if t < ref - _WALK_NATS:
            break
    for m in range(mode - 1, lo - 1, -1):
        t = _dark_term(m, n, k, log_d, d, log_p, log_q, lnfact)
        total += math.exp(t - ref)
        if t < ref - _WALK_NATS:
            break
    return ref + math.log(total)


@numba.njit(cache=True)
def _log_add(a, b):
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@numba.njit(cache=True)
def _log_like(n, s, k_mult, eta_table, leak_c, leak_r2, d, lnfact, n_limit):
    if n > n_limit:
        return _NEG_INF
    k = k_mult * s
    p = eta_table[s]
    v = _log_dark_binom(n, k, p, d, lnfact)
    if leak_r2 > 0.0:
        w = min(leak_c * leak_r2 * s * s, 0.25)
        w_minus = w if k >= 2 else 0.0
        v = math.log1p(-w - w_minus) + v
        if w_minus > 0.0:
            v = _log_add(v, math.log(w_minus) + _log_dark_binom(n, k - 2, p, d, lnfact))
        if w > 0.0:
            v = _log_add(v, math.log(w) + _log_dark_binom(n, k + 2, p, d, lnfact))
    return v


@numba.njit(cache=True)
def log_count_likelihood(n, S, k_mult, eta_table, leak_c, leak_r2, d, lnfact, n_limit):
    """Return log P(n | S) for each S (the model part, as CountModel.log_likelihood)."""
    out = np.empty(S.size)
    for i in range(S.size):
        out[i] = _log_like(n, S[i], k_mult, eta_table, leak_c, leak_r2, d, lnfact, n_limit)
    return out


@numba.njit(cache=True)
def _log_sum(a):
    m = _NEG_INF
    for v in a:
        m = max(m, v)
    if m == _NEG_INF:
        return _NEG_INF
    total = 0.0
    for v in a:
        total += math.exp(v - m)
    return m + math.log(total)


@numba.njit(cache=True)
def count_update(S, logp, n, iparams, fparams, eta_table, lnfact, out_S, out_logp,
                 out_info):
    """Write the posterior after one count into ``out_S``/``out_logp``; return its size.

    iparams = (k_mult, count_limit, contiguous); fparams = (leak_c, leak_r2, dark_mean,
    log(1−ρ), log ρU, prune_nats). ``out_info`` receives (status, log_evidence); a skipped update
    returns 0 and writes nothing else. Outputs go to caller-owned buffers because boxing fresh
    arrays costs more than the update itself.
    """
    k_mult, n_limit, contiguous = iparams[0], iparams[1], iparams[2]
    leak_c, leak_r2, d = fparams[0], fparams[1], fparams[2]
    log1m_rho, log_rho_u, prune_nats = fparams[3], fparams[4], fparams[5]
    size = S.size
    ll = log_count_likelihood(n, S, k_mult, eta_table, leak_c, leak_r2, d, lnfact, n_limit)
    evidence = _NEG_INF
    top = _NEG_INF
    for i in range(size):
        evidence = _log_add(evidence, logp[i] + ll[i])
        ll[i] = logp[i] + _log_add(ll[i] + log1m_rho, log_rho_u)
        top = max(top, ll[i])
    z = _log_sum(ll)
    out_info[0] = _IMPLAUSIBLE if evidence < log_rho_u else _OK
    out_info[1] = z
    if z == _NEG_INF:
        out_info[0] = _SKIPPED
        return 0
    threshold = top - z - prune_nats
    if contiguous:
        first = size
        last = -1
        for i in range(size):
            if ll[i] - z >= threshold:
                first = min(first, i)
                last = i
        lo = max(first - 2, 0)
        hi = min(last + 3, size)
        for i in range(lo, hi):
            out_S[i - lo] = S[i]
            out_logp[i - lo] = ll[i] - z
        return hi - lo
    m = 0
    for i in range(size):
        v = ll[i] - z
        if v >= threshold:
            out_S[m] = S[i]
            out_logp[m] = v
            m += 1
    return m


@numba.njit(cache=True)
def _add_component(vec, lo, weight, log_scale, k, p, pois, lnfact, spread):
    """Add weight·exp(log_scale)·(Pois ⊛ Bin(k, p))(n) to vec[n − lo] for every n of vec.

    Returns the first and last index of vec it touched (first > last when none). Only photon
    numbers within ``spread`` binomial deviations of the mean (plus one) enter;
    the binomial table is built from its mode outwards by the ratio recurrence.
    """
    if weight <= 0.0 or k < 0:
        return vec.size, -1
    hi = lo + vec.size - 1
    M = pois.size - 1
    half = spread * math.sqrt(k * p * (1.0 - p)) + 1.0
    x_lo = max(0, lo - M, math.floor(k * p - half))
    x_hi = min(k, hi, math.ceil(k * p + half))
    if x_hi < x_lo:
        return vec.size, -1
    binom = np.zeros(x_hi - x_lo + 1)
    mode = min(max(math.floor((k + 1) * p), x_lo), x_hi)
    value = math.exp(math.log(weight) + log_scale + _log_binom(mode, k, p, lnfact))
    binom[mode - x_lo] = value
    if 0.0 < p < 1.0:
        odds = p / (1.0 - p)
        v = value
        for x in range(mode, x_hi):
            v *= (k - x) / (x + 1.0) * odds
            binom[x + 1 - x_lo] = v
        v = value
        for x in range(mode, x_lo, -1):
            v *= x / ((k - x + 1.0) * odds)
            binom[x - 1 - x_lo] = v
    first, last = max(lo, x_lo), min(hi, x_hi + M)
    for n in range(first, last + 1):
        total = 0.0
        for m in range(max(0, n - x_hi), min(M, n - x_lo) + 1):
            total += pois[m] * binom[n - m - x_lo]
        vec[n - lo] += total
    return first - lo, last - lo


@numba.njit(cache=True)
def voi_terms(S, logp, iparams, fparams, eta_table, lnfact, F, g2, parity, live_nats,
              spread):
    """Return (F_now, F_ideal, E_n[F after the next count]) as voi.voi_terms_numpy.

    For each live S the predictive weights a_S(n) = p_S P(n | S) over all counts at once are a
    linear-space convolution of one binomial table with the Poisson dark-count pmf.
    """
    k_mult = iparams[0]
    leak_c, leak_r2, d = fparams[0], fparams[1], fparams[2]
    top = _NEG_INF
    for v in logp:
        top = max(top, v)
    lo_f = np.inf
    hi_f = -np.inf
    for i in range(S.size):
        if logp[i] >= top - live_nats:
            s = S[i]
            k = k_mult * s
            p = eta_table[s]
            mean = k * p + d
            var = k * p * (1.0 - p) + d + 1.0
            if leak_r2 > 0.0:
                var += 8.0 * p * p * min(leak_c * leak_r2 * s * s, 0.25)
            lo_f = min(lo_f, mean - spread * math.sqrt(var))
            hi_f = max(hi_f, mean + spread * math.sqrt(var))
    lo = max(0, math.floor(lo_f) - 2)
    hi = math.ceil(hi_f) + 2
    # Poisson pmf of the dark counts, up to where it falls below e^-45 past its mode.
    M = 0
    if d > 0.0:
        while lnfact.size - 1 > M and (d >= M or M * math.log(d) - d - lnfact[M] > -45.0):
            M += 1
    pois = np.empty(M + 1)
    for m in range(M + 1):
        pois[m] = math.exp((m * math.log(d) if m > 0 else 0.0) - d - lnfact[m])
    f_ideal = 0.0
    coh_now = 0.0
    diag = 0.0
    coh = 0.0
    prev_s = -10
    prev_p = 0.0
    prev = np.zeros(hi - lo + 1)
    vec = np.zeros(hi - lo + 1)
    vec_lo, vec_hi, prev_lo, prev_hi = 0, -1, 0, -1  # where each buffer holds non-zeros
    for i in range(S.size):
        s = S[i]
        if logp[i] < top - live_nats or (s - parity) % 2 != 0:
            continue
        p_s = math.exp(logp[i])
        f_ideal += p_s * F[s]
        k = k_mult * s
        p = eta_table[s]
        w = min(leak_c * leak_r2 * s * s, 0.25) if leak_r2 > 0.0 else 0.0
        w_minus = w if k >= 2 else 0.0
        for j in range(vec_lo, vec_hi + 1):
            vec[j] = 0.0
        vec_lo, vec_hi = vec.size, -1
        for weight, kk in ((1.0 - w - w_minus, k), (w_minus, k - 2), (w, k + 2)):
            first, last = _add_component(vec, lo, weight, logp[i], kk, p, pois, lnfact,
                                         spread)
            vec_lo, vec_hi = min(vec_lo, first), max(vec_hi, last)
        for j in range(vec_lo, vec_hi + 1):
            diag += vec[j] * F[s]
        if s == prev_s + 2:
            if p_s + prev_p > 0.0:
                coh_now += prev_p * p_s / (prev_p + p_s) * g2[prev_s]
            for j in range(max(vec_lo, prev_lo), min(vec_hi, prev_hi) + 1):
                if vec[j] + prev[j] > 0.0:
                    coh += prev[j] * vec[j] / (prev[j] + vec[j]) * g2[prev_s]
        prev_s, prev_p = s, p_s
        prev, vec = vec, prev
        prev_lo, prev_hi, vec_lo, vec_hi = vec_lo, vec_hi, prev_lo, prev_hi
    return f_ideal - 16.0 * coh_now, f_ideal, diag - 16.0 * coh


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
        out[c] = log_c + _log_sum(terms)
    return out
