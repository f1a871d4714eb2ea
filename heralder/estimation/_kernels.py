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

__all__ = ["count_update", "count_update_summary", "log_count_likelihood", "log_sum", "qfi_terms",
           "summary", "voi_terms"]

_NEG_INF = -np.inf
_WALK_NATS = 40.0
_WALK_FLOOR = math.exp(-_WALK_NATS)
_OK, _IMPLAUSIBLE, _SKIPPED = 0, 1, 2
# Reassociation lets LLVM vectorise sums (the result moves in the last digits).
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(cache=True, nogil=True)
def _log_binom(x, k, p, lnfact):
    if x < 0 or x > k:
        return _NEG_INF
    out = lnfact[k] - lnfact[x] - lnfact[k - x]
    if x > 0:
        out += x * math.log(p) if p > 0.0 else _NEG_INF
    if k - x > 0:
        out += (k - x) * math.log1p(-p) if p < 1.0 else _NEG_INF
    return out


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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
        return ref
    if p == 0.0 or p == 1.0:  # a single admissible dark share, the mode
        return ref
    # Walk out from the mode with term ratios (no exp or log per term); the terms are
    # log-concave, so once one falls below e^-40 of the mode's the rest are smaller still.
    odds = p / (1.0 - p)
    total = 1.0
    v = 1.0
    for m in range(mode, n):  # term(m + 1) / term(m)
        x = n - m
        v *= d / (m + 1) * x / ((k - x + 1) * odds)
        total += v
        if v < _WALK_FLOOR:
            break
    v = 1.0
    for m in range(mode, lo, -1):  # term(m − 1) / term(m)
        x = n - m
        v *= m / d * (k - x) * odds / (x + 1)
        total += v
        if v < _WALK_FLOOR:
            break
    return ref + math.log(total)


@numba.njit(cache=True, nogil=True)
def _log_add(a, b):
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def log_count_likelihood(n, S, k_mult, eta_table, leak_c, leak_r2, d, lnfact, n_limit):
    """Return log P(n | S) for each S (the model part, as CountModel.log_likelihood)."""
    out = np.empty(S.size)
    for i in range(S.size):
        out[i] = _log_like(n, S[i], k_mult, eta_table, leak_c, leak_r2, d, lnfact, n_limit)
    return out


@numba.njit(cache=True, nogil=True)
def log_sum(a):
    m = _NEG_INF
    for v in a:
        m = max(m, v)
    if m == _NEG_INF:
        return _NEG_INF
    total = 0.0
    for v in a:
        total += math.exp(v - m)
    return m + math.log(total)


@numba.njit(cache=True, nogil=True)
def summary(S, logp):
    """Return (MAP S, its probability, mean S, standard deviation of S) in two passes."""
    best = 0
    for i in range(logp.size):
        if logp[i] > logp[best]:
            best = i
    mean = 0.0
    for i in range(logp.size):
        mean += math.exp(logp[i]) * S[i]
    var = 0.0
    for i in range(logp.size):
        var += math.exp(logp[i]) * (S[i] - mean) ** 2
    return S[best], math.exp(logp[best]), mean, math.sqrt(max(var, 0.0))


@numba.njit(cache=True, nogil=True)
def qfi_terms(S, logp, F, g2, parity):
    """Return (F(ρ), Σ p_S F_S) over the family (S ascending) as QfiTables.mixed and .ideal."""
    f_ideal = 0.0
    coh = 0.0
    prev_s = -10
    prev_p = 0.0
    for i in range(S.size):
        s = S[i]
        if (s - parity) % 2 != 0:
            continue
        p_s = math.exp(logp[i])
        f_ideal += p_s * F[s]
        if s == prev_s + 2 and p_s + prev_p > 0.0:
            coh += prev_p * p_s / (prev_p + p_s) * g2[prev_s]
        prev_s, prev_p = s, p_s
    return f_ideal - 16.0 * coh, f_ideal


@numba.njit(cache=True, nogil=True)
def count_update(S, logp, n, iparams, fparams, eta_table, lnfact, memo, out_S, out_logp,
                 out_info):
    """Write the posterior after one count into ``out_S``/``out_logp``; return its size.

    iparams = (k_mult, count_limit, contiguous); fparams = (leak_c, leak_r2, dark_mean,
    log(1−ρ), log ρU, prune_nats). ``out_info`` receives (status, log_evidence); a skipped update
    returns 0 and writes nothing else. Outputs go to caller-owned buffers because boxing fresh
    arrays costs more than the update itself.

    ``memo`` (2 × spin lengths, NaN where not yet computed) memoises this count's model
    log-likelihood (row 0) and its mixture with the outlier component (row 1) per S: they
    depend only on (pulse kind, n, S), so later shots reuse them. Spin lengths beyond its
    columns (a memo of 0 columns: none) are computed each time. Either way the values and
    the arithmetic that follows are the same, so the result is too.
    """
    k_mult, n_limit, contiguous = iparams[0], iparams[1], iparams[2]
    leak_c, leak_r2, d = fparams[0], fparams[1], fparams[2]
    log1m_rho, log_rho_u, prune_nats = fparams[3], fparams[4], fparams[5]
    size = S.size
    ll = np.empty(size)
    evidence = _NEG_INF
    top = _NEG_INF
    for i in range(size):
        s = S[i]
        if s < memo.shape[1] and not math.isnan(memo[0, s]):
            model, mixed = memo[0, s], memo[1, s]
        else:
            model = _log_like(n, s, k_mult, eta_table, leak_c, leak_r2, d, lnfact, n_limit)
            mixed = _log_add(model + log1m_rho, log_rho_u)
            if s < memo.shape[1]:
                memo[0, s] = model
                memo[1, s] = mixed
        evidence = _log_add(evidence, logp[i] + model)
        ll[i] = logp[i] + mixed
        top = max(top, ll[i])
    z = log_sum(ll)
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


@numba.njit(cache=True)  # holds the GIL: see the docstring
def count_update_summary(S, logp, n, iparams, fparams, eta_table, lnfact, memo, out_S,
                         out_logp, out_info):
    """Run :func:`count_update`, then write the new posterior's :func:`summary` into
    ``out_info[2:6]`` (unless skipped): one compiled call per pulse instead of two.

    Unlike the other kernels it keeps the GIL: it runs for a few µs inside every decision, and
    releasing the GIL there hands it to any waiting thread (the run writer), which then keeps it
    for up to the switch interval while the decision waits (measured in the engine: p99 decision
    latency ~2x higher, throughput ~20 % lower).
    """
    m = count_update(S, logp, n, iparams, fparams, eta_table, lnfact, memo, out_S, out_logp,
                     out_info)
    if out_info[0] != _SKIPPED:
        map_s, pmax, mean, std = summary(out_S[:m], out_logp[:m])
        out_info[2] = map_s
        out_info[3] = pmax
        out_info[4] = mean
        out_info[5] = std
    return m


@numba.njit(cache=True, nogil=True)
def _add_component(vec, lo, weight, log_scale, k, p, pois, lnfact, inv, spread, binom):
    """Add weight·exp(log_scale)·(Pois ⊛ Bin(k, p))(n) to vec[n − lo] for every n of vec.

    Returns the first and last index of vec it touched (first > last when none). Only photon
    numbers within ``spread`` binomial deviations of the mean (plus one) enter. The binomial
    table (in the work buffer ``binom``) is built from its mode outwards by the ratio
    recurrence, with ``inv[j] = 1/j`` instead of divisions; the dark-count convolution runs as
    one long, vectorisable pass over the table per dark count.
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
    mode = min(max(math.floor((k + 1) * p), x_lo), x_hi)
    value = math.exp(math.log(weight) + log_scale + _log_binom(mode, k, p, lnfact))
    if 0.0 < p < 1.0:
        odds = p / (1.0 - p)
        inv_odds = (1.0 - p) / p
        v = value
        for x in range(mode, x_hi):
            v *= (k - x) * inv[x + 1] * odds
            binom[x + 1 - x_lo] = v
        v = value
        for x in range(mode, x_lo, -1):
            v *= x * inv[k - x + 1] * inv_odds
            binom[x - 1 - x_lo] = v
    else:
        binom[: x_hi - x_lo + 1] = 0.0
    binom[mode - x_lo] = value
    first, last = max(lo, x_lo), min(hi, x_hi + M)
    for m in range(M + 1):
        w = pois[m]
        x0 = max(x_lo, first - m)
        dst = vec[x0 + m - lo:]
        src = binom[x0 - x_lo:]
        # Unsigned indices: no negative-index wraparound, so LLVM vectorises the pass.
        for t in range(np.uint64(0), np.uint64(max(min(x_hi, last - m) + 1 - x0, 0))):
            dst[t] += w * src[t]
    return first - lo, last - lo


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _span_sum(vec, first, last):
    """Return vec[first] + … + vec[last] (0 when last < first)."""
    view = vec[first:]
    total = 0.0
    for t in range(np.uint64(0), np.uint64(max(last + 1 - first, 0))):
        total += view[t]
    return total


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _span_coherence(a, b, first, last):
    """Return Σ a_j b_j / (a_j + b_j) over j = first..last (terms with a_j + b_j = 0 are 0)."""
    va, vb = a[first:], b[first:]
    total = 0.0
    for t in range(np.uint64(0), np.uint64(max(last + 1 - first, 0))):
        # A zero denominator comes with a zero numerator: the floor makes that term 0.
        total += va[t] * vb[t] / max(va[t] + vb[t], 1e-300)
    return total


@numba.njit(cache=True)  # holds the GIL, as count_update_summary does (same reason)
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
    # Poisson pmf of the dark counts, up to where it falls below e^-36 past its mode (the rest
    # holds < 1e-15 of the mass).
    M = 0
    if d > 0.0:
        while lnfact.size - 1 > M and (d >= M or M * math.log(d) - d - lnfact[M] > -36.0):
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
    k_top = k_mult * S.max() + 3
    inv = np.empty(k_top + 1)  # inv[j] = 1/j for the binomial recurrences
    inv[0] = 0.0
    for j in range(1, k_top + 1):
        inv[j] = 1.0 / j
    binom = np.empty(k_top + 1)
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
        vec[vec_lo:vec_hi + 1] = 0.0
        vec_lo, vec_hi = vec.size, -1
        for weight, kk in ((1.0 - w - w_minus, k), (w_minus, k - 2), (w, k + 2)):
            first, last = _add_component(vec, lo, weight, logp[i], kk, p, pois, lnfact, inv,
                                         spread, binom)
            vec_lo, vec_hi = min(vec_lo, first), max(vec_hi, last)
        diag += _span_sum(vec, vec_lo, vec_hi) * F[s]
        if s == prev_s + 2:
            if p_s + prev_p > 0.0:
                coh_now += prev_p * p_s / (prev_p + p_s) * g2[prev_s]
            coh += _span_coherence(prev, vec, max(vec_lo, prev_lo),
                                   min(vec_hi, prev_hi)) * g2[prev_s]
        prev_s, prev_p = s, p_s
        prev, vec = vec, prev
        prev_lo, prev_hi, vec_lo, vec_hi = vec_lo, vec_hi, prev_lo, prev_hi
    return f_ideal - 16.0 * coh_now, f_ideal, diag - 16.0 * coh
