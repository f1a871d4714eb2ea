"""Compile the dead window of :mod:`heralder.estimation.exact_efficiency` with numba (``fast``).

One block of e^{Lτ}𝒥σ̂, as the numpy reference ``exact_efficiency._dead_window_numpy`` computes
it, in plain loops: the tridiagonal products and the jump of the block above cost O(d²) per
Taylor term without numpy's per-call overhead (≈ 80 numpy calls per term at d ≈ 33).

Importing this module raises ImportError without numba.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["dead_window"]


@numba.njit(cache=True, nogil=True)
def dead_window(diag: np.ndarray, off: np.ndarray, kappa: float, fed: np.ndarray,
                prev: np.ndarray, step: float, out: np.ndarray) -> np.ndarray:
    """Return block j of e^{Lτ}𝒥σ̂ and fill ``out[stage, m]`` with its Taylor terms.

    ``prev`` holds block j−1's terms (shape (stages, terms + 1, d', d'); d' = 0 for block 0),
    ``out`` has shape (stages, terms + 1, d, d); term m of a stage is
    (step/m)(𝓗 term_{m−1} + 𝒥 prev[stage, m−1]) and the stage's sum feeds the next stage.
    ``fed`` and ``prev`` are Hermitian, and 𝓗, 𝒥 keep that, so only the upper triangle of each
    term is computed and the lower one mirrored.
    """
    stages, n_terms, d = out.shape[0], out.shape[1] - 1, diag.size
    dp = prev.shape[2]
    u = fed.copy()
    for st in range(stages):
        total = u.copy()
        out[st, 0] = u
        for m in range(1, n_terms + 1):
            x = out[st, m - 1]
            y = out[st, m]
            scale = step / m
            for a in range(d):
                for b in range(a, d):
                    hx = diag[a] * x[a, b]
                    xh = x[a, b] * diag[b].conjugate()
                    if a < d - 1:
                        hx += off[a] * x[a + 1, b]
                    if a > 0:
                        hx += off[a - 1] * x[a - 1, b]
                    if b < d - 1:
                        xh += x[a, b + 1] * off[b]
                    if b > 0:
                        xh += x[a, b - 1] * off[b - 1]
                    v = -1j * (hx - xh)
                    if a + 1 < dp and b + 1 < dp:
                        v += (2.0 * kappa * math.sqrt((a + 1.0) * (b + 1.0))
                              * prev[st, m - 1, a + 1, b + 1])
                    y[a, b] = scale * v
                    total[a, b] += y[a, b]
                    if b > a:
                        y[b, a] = y[a, b].conjugate()
                        total[b, a] += y[b, a]
        u = total
    return u
