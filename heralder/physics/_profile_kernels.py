"""Compile the deterministic emission profile's integrator (exact_dynamics.py) with numba.

The blocks ρ_j (j = photons emitted) are advanced one grid interval at a time by the Taylor
series of the exact propagator, e^{hL} ρ = Σ_k (hL)^k ρ / k!, summed until a term falls below
``tol`` (and past the point where terms can still grow). L acts on each block through the
tridiagonal H_eff, so one application costs O(d²) per block with no sparse-matrix overhead.
Every term is Hermitian, so only the upper triangle is stored and computed (the two lower
neighbours of a diagonal element are conjugates of upper ones).

Windows, in blocks and in photon levels:
* the one-way jump 2κ a ρ_{j−1} a† lets term k reach only k blocks above the highest one
  holding population, so the block window grows with k and needs no margin; a block whose
  population falls below ``skip`` at the bottom, or below ``top_drop`` at the top, is dropped;
* block j integrates only its photon levels n < a_j. a_j grows by two whenever the
  population of level a_j − 1 exceeds ``grow_tol`` after an interval, up to the storage
  dimension d_j, and a_j ≥ a_{j−1} − 1 always holds, so no jump from the block below is lost.

Layout: block j is a (d_j + 2)² row-major array from ``offsets[j]`` whose first row and column
stay zero, as does everything outside its active levels, so the tridiagonal neighbours of an
edge element read zeros (no branches in the inner loop). Importing this module raises
ImportError without numba.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["propagate_blocks"]

_SUBSTEP_NORM = 10.0  # ‖hL‖ bound per Taylor sub-step: terms grow at most 10¹⁰/10! ≈ 3e3
_GROW = 2  # fewest photon levels added to a block at a time
_NEAR = 0.01  # a block is widened ahead of need once its top level holds this much of it


@numba.njit(cache=True, nogil=True)
def _apply(src, dst, acc, lo, hi, offsets, dims, active, coef, offp, kappa2, root, scale):
    """Write ``scale · L src`` into ``dst`` and add it to ``acc`` on blocks lo..hi−1.

    Returns the largest |re| or |im| of the new term (the series' stopping test).
    """
    big = 0.0
    for j in range(lo, hi):
        w = dims[j] + 2
        a = active[j]
        base = offsets[j] + w + 1  # element (0, 0)
        feed = kappa2 if j > lo else 0.0  # the block below the window is empty
        below = j - 1 if j > 0 else j
        wp = dims[below] + 2
        pbase = offsets[below] + 2 * wp + 2  # element (1, 1) of the block below
        for n in range(a):
            an = coef[j, n]
            up = offp[j, n]
            dn = offp[j, n + 1]
            jn = feed * root[n]
            r = base + n * w
            pr = pbase + n * wp
            # diagonal: ρ[n+1, n] and ρ[n, n−1] are conjugates of ρ[n, n+1] and ρ[n−1, n]
            val = scale * (2.0 * an.real * src[r + n].real
                           + 2.0 * (up * src[r - w + n].imag - dn * src[r + n + 1].imag)
                           + jn * root[n] * src[pr + n].real)
            dst[r + n] = val
            acc[r + n] += val
            big = max(big, abs(val))
            for m in range(n + 1, a):
                hop = (up * src[r - w + m] + dn * src[r + w + m]
                       - offp[j, m] * src[r + m - 1] - offp[j, m + 1] * src[r + m + 1])
                val = scale * ((an + coef[j, m].conjugate()) * src[r + m]
                               + complex(hop.imag, -hop.real) + jn * root[m] * src[pr + m])
                dst[r + m] = val
                acc[r + m] += val
                big = max(big, abs(val.real), abs(val.imag))
    return big


@numba.njit(cache=True, nogil=True)
def _clear(buf, start, stop):
    for p in range(start, stop):
        buf[p] = 0.0


@numba.njit(cache=True, nogil=True)
def _bound(j, a, coef, offp, kappa2):
    """Return an upper bound of ‖L‖_∞ on block j's active levels (row sums)."""
    diag, hop = 0.0, 0.0
    for n in range(a):
        diag = max(diag, abs(coef[j, n]))
        hop = max(hop, offp[j, n + 1])
    return 2.0 * diag + 4.0 * hop + kappa2 * (a + 1)


@numba.njit(cache=True, nogil=True)
def _widen(j, top, active, dims, grow):
    """Give block j ``grow`` more levels and keep a_i ≥ a_{i−1} − 1 above it."""
    active[j] = min(dims[j], active[j] + grow)
    for i in range(j + 1, top + 1):
        if active[i] >= active[i - 1] - 1:
            break
        active[i] = min(dims[i], active[i - 1] - 1)


@numba.njit(cache=True, nogil=True)
def _widen_where_needed(y, lo, top, offsets, dims, active, grow_tol):
    """Widen the blocks whose top active level nears ``grow_tol``; return if one exceeded it.

    A block is widened once its top level holds ``_NEAR`` of the threshold, before it must
    be, so that an interval is redone (the caller's job) only when a level fills fast.
    """
    if grow_tol <= 0.0:
        return False
    over = False
    for j in range(lo, top + 1):
        d = dims[j]
        a = active[j]
        if a < d:
            level = y[offsets[j] + d + 3 + (a - 1) * (d + 3)].real
            if level > _NEAR * grow_tol:
                over = over or level > grow_tol
                _widen(j, top, active, dims, max(_GROW, a // 8))
    return over


@numba.njit(cache=True, nogil=True)
def _interval(h, y, term, nxt, lo, top, offsets, dims, active, coef, offp, kappa2, root, tol):
    """Advance y by h (Taylor sub-steps); return the new top block and the block matvecs."""
    n_blocks = dims.size
    z = 0.0
    for j in range(lo, min(top + 2, n_blocks)):
        z = max(z, _bound(j, max(active[j], active[j - 1] - 1 if j else 1), coef, offp, kappa2))
    substeps = max(1, math.ceil(h * z / _SUBSTEP_NORM))
    dt = h / substeps
    matvecs = 0
    for _ in range(substeps):
        hi = top + 1
        term[offsets[lo]:offsets[hi]] = y[offsets[lo]:offsets[hi]]
        k = 0
        while True:
            k += 1
            if hi < n_blocks:  # term k reaches one block further up
                _clear(term, offsets[hi], offsets[hi + 1])
                if active[hi] < active[hi - 1] - 1:
                    active[hi] = min(dims[hi], active[hi - 1] - 1)
                hi += 1
            big = _apply(term, nxt, y, lo, hi, offsets, dims, active, coef, offp, kappa2, root,
                         dt / k)
            matvecs += hi - lo
            term, nxt = nxt, term
            if big <= tol and k >= dt * z:
                break
        top = hi - 1
    return top, matvecs


@numba.njit(cache=True, nogil=True)
def propagate_blocks(times, offsets, dims, cut, coef, offp, kappa, skip, top_drop, tol,
                     grow_tol, edge_limit, pops, flux):
    """Fill ``pops[j, i]`` = Tr ρ_j(t_i) and ``flux[i]`` = 2κ⟨a†a⟩(t_i).

    Parameters
    ----------
    times
        Grid, ``times[0]`` = 0 where ρ = |S, q₀⟩|0⟩⟨…| (block 0, element 0).
    offsets, dims
        Start of block j in the flat padded state and its storage dimension d_j.
    cut
        True where d_j is below block j's full dimension: its top level is watched (the edge).
    coef, offp
        ``coef[j, n]`` = −i·H_eff[n, n] of block j; ``offp[j, n]`` = H_eff[n−1, n] for
        n = 1..d_j − 1, zero at n = 0 and n ≥ d_j.
    skip, top_drop, tol
        Population below which a block is dropped at the bottom / top of the window, and the
        largest Taylor term left out.
    grow_tol
        Population of a block's highest active level above which it gets more levels
        (0: every block integrates all d_j levels).
    edge_limit
        Edge population at which the storage is too small: the solve stops there (the caller
        retries with more levels).

    Returns
    -------
    (edge, levels, matvecs)
        Largest population seen in the top level of a truncated block, the most photon levels
        any block used, and the number of block applications of L (a cost measure).
    """
    n_blocks = dims.size
    size = offsets[n_blocks]
    y = np.zeros(size, np.complex128)
    term = np.zeros(size, np.complex128)
    nxt = np.zeros(size, np.complex128)
    saved = np.zeros(size, np.complex128)
    root = np.sqrt(np.arange(1.0, dims.max() + 2.0))
    kappa2 = 2.0 * kappa
    active = dims.copy() if grow_tol <= 0.0 else np.minimum(dims, _GROW)
    y[offsets[0] + dims[0] + 3] = 1.0  # element (0, 0) of block 0
    lo, top = 0, 0
    edge, matvecs = 0.0, 0
    for i in range(times.size):
        if i > 0:
            start_top = top
            saved[offsets[lo]:offsets[top + 1]] = y[offsets[lo]:offsets[top + 1]]
            while True:
                top, work = _interval(times[i] - times[i - 1], y, term, nxt, lo, top, offsets,
                                      dims, active, coef, offp, kappa2, root, tol)
                matvecs += work
                if not _widen_where_needed(y, lo, top, offsets, dims, active, grow_tol):
                    break
                # a level filled above grow_tol: redo the interval with more levels
                y[offsets[lo]:offsets[start_top + 1]] = saved[offsets[lo]:offsets[start_top + 1]]
                _clear(y, offsets[start_top + 1], offsets[top + 1])
                top = start_top
        total_flux = 0.0
        new_lo, new_top = -1, lo
        for j in range(lo, top + 1):
            d = dims[j]
            first = offsets[j] + d + 3  # element (0, 0); the diagonal has stride d + 3
            pop = 0.0
            for n in range(active[j]):
                value = y[first + n * (d + 3)].real
                pop += value
                total_flux += n * value
            pops[j, i] = pop
            if cut[j] and active[j] == d:
                edge = max(edge, abs(y[first + (d - 1) * (d + 3)].real))
                if edge > edge_limit:
                    return edge, active.max(), matvecs
            if new_lo < 0 and pop > skip:
                new_lo = j
            if pop > top_drop:
                new_top = j
        flux[i] = kappa2 * total_flux
        if new_lo < 0:
            new_lo = top
        new_top = max(new_top, new_lo)
        _clear(y, offsets[lo], offsets[new_lo])  # dropped at the bottom
        _clear(y, offsets[new_top + 1], offsets[top + 1])  # dropped at the top
        lo, top = new_lo, new_top
    return edge, active.max(), matvecs
