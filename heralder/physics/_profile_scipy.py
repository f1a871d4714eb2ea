"""Integrate the profile's master equation with scipy (the path without numba, and a reference).

The blocks ρ_j of :mod:`heralder.physics.exact_dynamics` form one sparse Liouvillian, solved
with DOP853 a few grid intervals at a time on only the blocks that hold population then (BDF
where the system is stiff and small). Cavity photon numbers above a cutoff are dropped only
when the population of the highest one kept stays below ``cutoff_tol`` (the cutoff doubles
until it does, up to the exact full dimension).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp
from threadpoolctl import threadpool_limits

__all__ = ["ATOL_PER_CUTOFF_TOL", "SKIP_POPULATION", "Blocks", "Liouvillian", "integrate",
           "liouvillian", "solve"]

Blocks = list[tuple[np.ndarray, np.ndarray]]  # (diag, off) of H_eff per block j, as returned
# by exact_dynamics.manifold_hamiltonian for manifold q₀ − j

_RTOL = 1e-8
# Absolute tolerance per unit of ``cutoff_tol``: the integration error of the edge population must
# lie well below the level the cutoff is accepted at, or the check sees noise and doubles the
# cutoff needlessly. DOP853's error there is ~1e3 atol (S = 50, x = 0.3, cutoff 16: edge 1.5e-9
# at atol 1e-12, 1.6e-11 at 1e-14, true < 1e-12); S = 100 (paper) costs the same at 1e-14.
ATOL_PER_CUTOFF_TOL = 1e-4
SKIP_POPULATION = 1e-14  # a block below this population is left out of the next chunk
_CHUNK = 4  # grid intervals per windowed explicit solve (~2.5 photons at S = 100, paper)
_AHEAD = 15  # empty blocks kept past the last live one: P(≥ 15 jumps in a chunk) ≲ 1e-15
_FIRST_CUTOFF = 8  # cavity photons kept on the first try of the adaptive cutoff
_MAX_EXPLICIT_STEPS = 5000  # above this many DOP853 steps, a small system switches to BDF
_MAX_LU_SIZE = 2000  # largest system solved with BDF (sparse LU per step)


class Liouvillian:
    """Assemble the pulse's master equation on the manifold blocks ρ_j as one sparse matrix.

    Block j (photons emitted so far) has dimension d_j = min(q₀+S+1−j, cutoff+1) and is stored
    row-major; d vec(ρ)/dt = L vec(ρ) with L = ⊕_j −i(H_j ⊗ 1 − 1 ⊗ H_j*) plus the jump blocks
    2κ (A ⊗ A) from block j−1 to block j (A = a between the two photon-number ranges).
    """

    def __init__(self, blocks: Blocks, kappa_rad_s: float, cutoff: int):
        k = len(blocks) - 1
        self.kappa = kappa_rad_s
        self.dims = [min(k + 1 - j, cutoff + 1) for j in range(k + 1)]
        self.full = cutoff >= k
        self.offsets = np.concatenate(([0], np.cumsum([d * d for d in self.dims])))
        rows: list[list[sp.spmatrix | None]] = [[None] * (k + 1) for _ in range(k + 1)]
        for j, d in enumerate(self.dims):
            diag, off = blocks[j]
            h = sp.diags([off[:d - 1], diag[:d], off[:d - 1]], [-1, 0, 1], format="csr")
            eye = sp.identity(d, format="csr")
            rows[j][j] = -1j * (sp.kron(h, eye) - sp.kron(eye, h.conj()))
            if j:
                prev = self.dims[j - 1]
                n = np.arange(min(d, prev - 1))
                a = sp.csr_matrix((np.sqrt(n + 1.0), (n, n + 1)), shape=(d, prev))
                rows[j][j - 1] = 2.0 * self.kappa * sp.kron(a, a)
        self.matrix = sp.bmat(rows, format="csr").astype(np.complex128)
        size = int(self.offsets[-1])
        self.trace = sp.lil_matrix((k + 1, size))
        self.flux_row = np.zeros(size)
        self.edge = []
        for j, d in enumerate(self.dims):
            diag_idx = self.offsets[j] + np.arange(d) * (d + 1)
            self.trace[j, diag_idx] = 1.0
            self.flux_row[diag_idx] = 2.0 * self.kappa * np.arange(d)
            if d < k + 1 - j:  # this block was cut: watch its highest photon number
                self.edge.append(int(diag_idx[-1]))
        self.trace = self.trace.tocsr()

    def initial(self) -> np.ndarray:
        y = np.zeros(int(self.offsets[-1]), np.complex128)
        y[0] = 1.0  # |S, q0⟩|0⟩ in block 0
        return y


def liouvillian(blocks: Blocks, kappa_rad_s: float, cutoff: int) -> Liouvillian:
    """Return the sparse master equation of ``blocks`` with cavity photon numbers ≤ cutoff."""
    return Liouvillian(blocks, kappa_rad_s, min(cutoff, len(blocks) - 1))


def solve(blocks: Blocks, kappa_rad_s: float, times_s: np.ndarray, cutoff: int | None,
          cutoff_tol: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Integrate the blocks on ``times_s``, doubling the photon cutoff until it is safe.

    The method follows the stiffness: an explicit DOP853 step is bounded by the fastest decay
    2κ·cutoff, so when that would take more than ``_MAX_EXPLICIT_STEPS`` steps over the grid and
    the system is small enough for sparse LU, BDF with the exact Jacobian is used (measured
    60× faster at y = 0.3, S = 10); otherwise DOP853 (BDF's LU fill-in makes it 30–40× slower
    on large systems), on a moving window of blocks (:func:`integrate`).

    Returns
    -------
    (pops, flux, cutoff)
        ``pops[j, i]`` = Tr ρ_j(t_i), the flux 2κ⟨a†a⟩ on the grid and the cutoff used.
    """
    trial = cutoff if cutoff is not None else _FIRST_CUTOFF
    while True:
        liou = liouvillian(blocks, kappa_rad_s, trial)
        explicit_steps = float(times_s[-1]) * 2.0 * kappa_rad_s * liou.dims[0] / 3.0
        stiff = explicit_steps > _MAX_EXPLICIT_STEPS and liou.matrix.shape[0] <= _MAX_LU_SIZE
        pops, flux, edge = integrate(liou, times_s, stiff, ATOL_PER_CUTOFF_TOL * cutoff_tol)
        if cutoff is not None or liou.full or edge <= cutoff_tol:
            return pops, flux, liou.dims[0] - 1
        trial *= 2


def integrate(liou: Liouvillian, times_s: np.ndarray, stiff: bool, atol: float, *,
              window: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """Return block populations, flux and the largest edge population on ``times_s``.

    An explicit solve advances ``_CHUNK`` grid intervals at a time on the blocks from the first
    holding population above ``SKIP_POPULATION`` to ``_AHEAD`` past the last (at most ~23 of the
    101 blocks are live at S = 100, paper parameters); BDF solves the whole grid in one go, as
    its restarts are costly (as does DOP853 with ``window=False``). ``times_s[0]`` must be 0.
    """
    n_blocks = len(liou.dims)
    pops = np.zeros((n_blocks, times_s.size))
    flux = np.zeros(times_s.size)
    trace = liou.trace.tocsc()
    edge_idx = np.asarray(liou.edge, dtype=np.int64)
    y = liou.initial()
    pops[0, 0] = 1.0
    edge = 0.0
    whole = stiff or not window
    chunk = times_s.size - 1 if whole else _CHUNK
    start = 0
    while start < times_s.size - 1:
        stop = min(start + chunk, times_s.size - 1)
        live = np.flatnonzero((trace @ y).real > SKIP_POPULATION)
        lo, hi = (0, n_blocks) if whole else (int(live[0]), min(n_blocks, live[-1] + _AHEAD + 1))
        a, b = int(liou.offsets[lo]), int(liou.offsets[hi])
        sub = liou.matrix[a:b, a:b]
        options = {"method": "BDF", "jac": sub} if stiff else {"method": "DOP853"}
        # Thousands of small BLAS calls: with a threaded BLAS on a loaded machine each one
        # waits for its threads (measured 30x slower at S = 10, 18x at S = 20).
        with threadpool_limits(limits=1, user_api="blas"):
            sol = solve_ivp(lambda _t, v, m=sub: m @ v, (times_s[start], times_s[stop]),
                            y[a:b], t_eval=times_s[start + 1:stop + 1], rtol=_RTOL,
                            atol=atol, **options)
        if not sol.success:
            raise RuntimeError(f"exact dynamics integration failed: {sol.message}")
        cols = slice(start + 1, stop + 1)
        pops[:, cols] = (trace[:, a:b] @ sol.y).real
        flux[cols] = liou.flux_row[a:b] @ sol.y.real
        inside = edge_idx[(edge_idx >= a) & (edge_idx < b)] - a
        if inside.size:
            edge = max(edge, float(np.abs(sol.y[inside]).max()))
        y = np.zeros_like(y)
        y[a:b] = sol.y[:, -1]
        start = stop
    return pops, flux, edge
