"""Compiled kernels of the exact sampler: one pulse of quantum jumps, waiting times by inversion.

The survival is evaluated in a Krylov subspace of H_eff (Arnoldi, at most ``_KRYLOV`` vectors, the
whole manifold when it is smaller, restricted to the state's support since H_eff is tridiagonal).
Within it e^{−iH_m t} is tabulated on a doubling ladder of times by squaring one scaled Taylor
exponential (compiled loops: a LAPACK eigen-decomposition of the small matrix costs more than a
whole photon), the root is bracketed on the ladder and solved by safeguarded Newton on the Taylor
series of the last step. The subspace is trusted up to the time where Saad's a-posteriori error
estimate β h_{m+1,m} |e_mᵀ t φ₁(−iH_m t) e₁| reaches ``_TOL``, then rebuilt from the propagated
state. Nothing is prepared or cached per S: each photon costs O(m² w + m³ log t) for a support
of width w. Compiled with numba when installed (extra ``fast``); the same code runs as plain
Python otherwise (slowly).
"""

from __future__ import annotations

import math

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without the `fast` extra
    def njit(*_args, **_kwargs):  # type: ignore[no-redef]
        """Return the function unchanged (numba is not installed)."""
        return lambda func: func

__all__ = ["draw_pulse"]

_KRYLOV = 8  # largest Krylov subspace per restart
_TOL = 1e-10  # error allowed on the propagated state (norm 1 at each photon's start)
_DEGREE = 14  # Taylor degree for ‖δA‖₁ ≤ 1/2: truncation < 0.5¹⁵/15! ≈ 2e-17
_LADDER = 64  # doubling steps: 2⁶³ δ outlasts any waiting time


@njit(cache=True)
def _manifold(S, level, lam, kappa, omega, omega0, diag, off):
    """Fill diag/off (length ≥ d) with H_eff of manifold ``level``; return its dimension d."""
    d = level + S + 1
    for n in range(d):
        q = level - n
        diag[n] = complex(omega * n + omega0 * q, -kappa * n)
        if n < d - 1:
            off[n] = lam * math.sqrt((n + 1.0) * (S + q) * (S - q + 1.0))
    return d


@njit(cache=True)
def _support(psi, d):
    """Return [lo, hi) outside which |ψ_n| ≤ 1e-15 ‖ψ‖ (dropping those costs < 1e-13 ≪ _TOL)."""
    total = 0.0
    for n in range(d):
        total += psi[n].real * psi[n].real + psi[n].imag * psi[n].imag
    cut = 1e-30 * total
    lo, hi = 0, d
    while lo < d - 1 and abs(psi[lo]) ** 2 <= cut:
        lo += 1
    while hi > lo + 1 and abs(psi[hi - 1]) ** 2 <= cut:
        hi -= 1
    return lo, hi


@njit(cache=True, fastmath=True)
def _arnoldi(diag, off, d, psi, m_max, basis, hess, w):
    """Build an orthonormal Krylov basis of H_eff from psi; return (m, β, h_{m+1,m}, lo, hi).

    H_eff is tridiagonal, so the j-th basis vector lives on psi's support widened by j on each
    side; every operation is restricted to that range and the whole basis to [lo, hi).
    Written as plain loops: slicing temporaries cost more than the arithmetic at these sizes.
    """
    lo0, hi0 = _support(psi, d)
    m = min(m_max, d)
    lo_all, hi_all = max(lo0 - m, 0), min(hi0 + m, d)
    for n in range(lo_all, hi_all):
        psi[n] = psi[n] if lo0 <= n < hi0 else 0.0
        w[n] = 0.0
        for j in range(m_max):
            basis[j, n] = 0.0
    beta = math.sqrt(_norm2(psi[lo0:hi0], hi0 - lo0))
    for n in range(lo0, hi0):
        basis[0, n] = psi[n] / beta
    hess[:, :] = 0.0
    for j in range(m):
        lo = max(lo0 - j - 1, 0)
        hi = min(hi0 + j + 1, d)
        scale = 0.0
        for i in range(lo, hi):
            acc = diag[i] * basis[j, i]
            if i > 0:
                acc += off[i - 1] * basis[j, i - 1]
            if i < d - 1:
                acc += off[i] * basis[j, i + 1]
            w[i] = acc
            scale += acc.real * acc.real + acc.imag * acc.imag
        scale = math.sqrt(scale)
        norm = scale
        for _ in range(2):  # Gram–Schmidt, repeated only when cancellation was strong
            for i in range(j + 1):
                h = 0j
                for n in range(lo, hi):
                    h += basis[i, n].conjugate() * w[n]
                hess[i, j] += h
                for n in range(lo, hi):
                    w[n] -= h * basis[i, n]
            previous = norm
            norm = math.sqrt(_norm2(w[lo:hi], hi - lo))
            if norm > 0.7 * previous:
                break
        if norm <= 1e-12 * max(scale, 1e-300) or j + 1 == d:
            return j + 1, beta, 0.0, lo_all, hi_all  # invariant subspace: exact
        hess[j + 1, j] = norm
        if j + 1 < m:
            for n in range(lo, hi):
                basis[j + 1, n] = w[n] / norm
                w[n] = 0.0
        else:
            return m, beta, norm, lo_all, hi_all
    return m, beta, 0.0, lo_all, hi_all


@njit(cache=True, fastmath=True)
def _matmul(a, b, out, n):
    """Write the n×n product a @ b into out (no allocation; the sizes here are ≤ 9)."""
    for i in range(n):
        for j in range(n):
            acc = 0j
            for k in range(n):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc


@njit(cache=True, fastmath=True)
def _matvec(a, x, out, n):
    """Write the n-vector a[:n, :n] @ x[:n] into out."""
    for i in range(n):
        acc = 0j
        for k in range(n):
            acc += a[i, k] * x[k]
        out[i] = acc


@njit(cache=True, fastmath=True)
def _norm2(y, n):
    """Return ‖y[:n]‖²."""
    acc = 0.0
    for i in range(n):
        acc += y[i].real * y[i].real + y[i].imag * y[i].imag
    return acc


@njit(cache=True, fastmath=True)
def _add_block(a, powers, n, r, out):
    """Add B_r = Σ_{i<4} A^i/(4r+i)! (terms up to ``_DEGREE``) to out; powers = [A², A³, A⁴]."""
    for i in range(4):
        degree = 4 * r + i
        if degree > _DEGREE:
            break
        coef = 1.0 / math.gamma(degree + 1.0)
        if i == 0:
            for j in range(n):
                out[j, j] += coef
            continue
        src = a if i == 1 else powers[i - 2]
        for j in range(n):
            for k in range(n):
                out[j, k] += coef * src[j, k]


@njit(cache=True)
def _expm_taylor(a, n, out, powers, work):
    """Write e^a into out for ‖a‖₁ ≤ 1/2 (Taylor degree ``_DEGREE``: error < 1e-17).

    Scaled Taylor in compiled loops instead of LAPACK (an 8×8 eigen-decomposition costs ~0.1 ms
    on the target machine, more than a whole photon should), evaluated Paterson–Stockmeyer style
    as Horner in A⁴ over blocks of four terms: 6 matrix products instead of 14.
    """
    _matmul(a, a, powers[0], n)
    _matmul(powers[0], a, powers[1], n)
    _matmul(powers[1], a, powers[2], n)
    top = _DEGREE // 4
    out[:n, :n] = 0.0
    _add_block(a, powers, n, top, out)
    for r in range(top - 1, -1, -1):  # out ← B_r + A⁴ out
        _matmul(powers[2], out, work, n)
        out[:n, :n] = work[:n, :n]
        _add_block(a, powers, n, r, out)


@njit(cache=True)
def _taylor_vectors(a, n, y, w):
    """Fill w[i] = a^i y / i! for i = 0.._DEGREE (so e^{σa} y = Σ σ^i w[i] for 0 ≤ σ ≤ 1)."""
    w[0, :n] = y[:n]
    for i in range(1, _DEGREE + 1):
        _matvec(a, w[i - 1], w[i], n)
        w[i, :n] /= i


@njit(cache=True, fastmath=True)
def _taylor_eval(w, n, sigma, y):
    """Write Σ σ^i w[i] into y; return (‖y‖², d‖y‖²/dσ)."""
    y[:n] = 0.0
    dy = np.zeros(n, np.complex128)
    power = 1.0
    for i in range(_DEGREE + 1):
        for k in range(n):
            y[k] += power * w[i, k]
            if i < _DEGREE:
                dy[k] += (i + 1) * power * w[i + 1, k]
        power *= sigma
    p = _norm2(y, n)
    dp = 0.0
    for k in range(n):
        dp += 2.0 * (y[k].real * dy[k].real + y[k].imag * dy[k].imag)
    return p, dp


@njit(cache=True, fastmath=True)
def _combine(basis, m, lo, hi, d, y, psi):
    """Write ψ = Σ_i y_i v_i (the Krylov basis vectors, zero outside [lo, hi)) into psi[:d]."""
    psi[:d] = 0.0
    for n in range(lo, hi):
        acc = 0j
        for i in range(m):
            acc += y[i] * basis[i, n]
        psi[n] = acc


@njit(cache=True)
def _wait(diag, off, d, psi, u, t_max, basis, hess, ladder, work, w, w_full):
    """Propagate psi until ‖ψ(t)‖² = u or t = t_max; return (t, emitted?) and leave ψ(t) in psi.

    In the Krylov basis, e^{tA} (A = −iH_m) is tabulated on the doubling ladder t_k = 2^k δ,
    ‖δA‖₁ ≤ 1/2, by squaring one Taylor exponential of the augmented matrix [[δA, e₁], [0, 0]],
    whose last column gives t φ₁(tA) e₁ for Saad's error estimate. The root is bracketed by
    walking up the ladder, narrowed to one δ by walking down it, and solved by safeguarded
    Newton on the Taylor series inside that last step.
    """
    t_done = 0.0
    y = np.zeros(_KRYLOV + 1, np.complex128)
    y_try = np.zeros(_KRYLOV + 1, np.complex128)
    aug = work[0]
    while True:
        m, beta, h_next, lo, hi = _arnoldi(diag, off, d, psi, _KRYLOV, basis, hess, w_full)
        n = m + 1
        limit = t_max - t_done
        shrink = 1.0
        while True:  # δ itself must be trusted (almost always at once)
            aug[:n, :n] = 0.0
            aug[:m, :m] = -1j * hess[:m, :m]
            aug[0, m] = 1.0
            norm1 = 0.0
            for j in range(n):
                norm1 = max(norm1, np.abs(aug[:n, j]).sum())
            delta = 0.5 * shrink / norm1
            aug[:n, :n] *= delta
            _expm_taylor(aug, n, ladder[0], work[1:4], work[4])
            if beta * h_next * abs(ladder[0, m - 1, m]) <= _TOL:
                break
            shrink *= 0.5
        # Walk up until the root is bracketed or the limit passed, while the basis is trusted.
        k = 0
        restart = False
        while beta * beta * _norm2(ladder[k, :, 0], m) > u and delta * 2.0**k < limit:
            if k + 1 == ladder.shape[0]:
                restart = True
                break
            _matmul(ladder[k], ladder[k], ladder[k + 1], n)
            if beta * h_next * abs(ladder[k + 1, m - 1, m]) > _TOL:
                restart = True
                break
            k += 1
        if restart:  # trusted up to t_k only: rebuild the Krylov basis from ψ(t_k)
            for i in range(m):
                y[i] = beta * ladder[k, i, 0]
            _combine(basis, m, lo, hi, d, y, psi)
            t_done += delta * 2.0**k
            continue
        # Walk down: the largest sum T_a of ladder times with ‖ψ(T_a)‖² > u and T_a < limit.
        y[:m] = 0.0
        y[0] = beta
        t_a = 0.0
        for j in range(k, -1, -1):
            t_j = delta * 2.0**j
            if t_a + t_j >= limit:
                continue
            _matvec(ladder[j], y, y_try, m)
            if _norm2(y_try, m) > u:
                y[:m] = y_try[:m]
                t_a += t_j
        # The crossing (or the limit) lies in (T_a, T_a + δ]: Taylor series in σ = s/δ.
        _taylor_vectors(aug, m, y, w)
        sigma_end = min(1.0, (limit - t_a) / delta)
        p_end, _ = _taylor_eval(w, m, sigma_end, y_try)
        if p_end > u:  # no emission before the limit
            _combine(basis, m, lo, hi, d, y_try, psi)
            return t_max, False
        s_lo, s_hi = 0.0, sigma_end
        sigma = 0.5 * sigma_end
        log_u = math.log(u)
        for _ in range(100):
            p, dp = _taylor_eval(w, m, sigma, y_try)
            g = math.log(p) - log_u
            if g > 0.0:
                s_lo = sigma
            else:
                s_hi = sigma
            if abs(g) < 1e-13 or s_hi - s_lo <= 1e-15 * s_hi:
                break
            s_new = sigma - g * p / dp if dp < 0.0 else 0.5 * (s_lo + s_hi)
            sigma = s_new if s_lo < s_new < s_hi else 0.5 * (s_lo + s_hi)
        _taylor_eval(w, m, sigma, y_try)
        _combine(basis, m, lo, hi, d, y_try, psi)
        return t_done + t_a + sigma * delta, True


@njit(cache=True)
def draw_pulse(S, q0, lam, kappa, omega, omega0, uniforms, t_max):
    """Emit the photons of one pulse; return (times, photons emitted, final state vector)."""
    k = q0 + S
    size = 2 * S + 1
    diag = np.zeros(size, np.complex128)
    off = np.zeros(size, np.float64)
    basis = np.zeros((_KRYLOV, size), np.complex128)
    hess = np.zeros((_KRYLOV + 1, _KRYLOV), np.complex128)
    ladder = np.zeros((_LADDER, _KRYLOV + 1, _KRYLOV + 1), np.complex128)
    work = np.zeros((5, _KRYLOV + 1, _KRYLOV + 1), np.complex128)
    w = np.zeros((_DEGREE + 1, _KRYLOV + 1), np.complex128)
    w_full = np.zeros(size, np.complex128)
    psi = np.zeros(size, np.complex128)
    psi[0] = 1.0
    times = np.zeros(k, np.float64)
    t = 0.0
    for j in range(k):
        d = _manifold(S, q0 - j, lam, kappa, omega, omega0, diag, off)
        wait, emitted = _wait(diag, off, d, psi, uniforms[j], t_max - t, basis, hess,
                              ladder, work, w, w_full)
        t += wait
        if not emitted:
            return times, j, psi[:d].copy()
        times[j] = t
        for n in range(d - 1):  # ψ → aψ/‖aψ‖ in the next manifold
            psi[n] = math.sqrt(n + 1.0) * psi[n + 1]
        psi[d - 1] = 0.0
        norm = math.sqrt((np.abs(psi[:d - 1]) ** 2).sum())
        psi[:d - 1] /= norm
    final = np.zeros(1, np.complex128)
    final[0] = 1.0
    return times, k, final
