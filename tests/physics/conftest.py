"""Brute-force symmetric-subspace model of N spin-1 atoms (three bosonic modes), for checks.

Independent of heralder.physics: builds S_z, S_±, S² and G = 2(b₊†b₋ + h.c.) as dense matrices
on the Fock basis |n₊, n₀, n₋⟩ (n₊ + n₀ + n₋ = N) and extracts the Dicke states numerically.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest


@dataclass(frozen=True)
class SpinOneEnsemble:
    N: int
    basis: list[tuple[int, int, int]]
    sz: np.ndarray
    s_plus: np.ndarray
    s2: np.ndarray
    g: np.ndarray

    def index(self, n_plus: int, n_zero: int, n_minus: int) -> int:
        return self.basis.index((n_plus, n_zero, n_minus))

    def prior_and_dicke(self) -> dict[int, tuple[float, np.ndarray]]:
        """Return {S: (|c_S|², |S,0⟩)} from diagonalising S² on |m_F=0⟩^⊗N."""
        psi = np.zeros(len(self.basis))
        psi[self.index(0, self.N, 0)] = 1.0
        m0 = np.flatnonzero(np.diag(self.sz) == 0)
        vals, vecs = np.linalg.eigh(self.s2[np.ix_(m0, m0)])
        out: dict[int, tuple[float, np.ndarray]] = {}
        for S in range(self.N + 1):
            sel = np.abs(vals - S * (S + 1)) < 1e-6
            if not sel.any():
                continue
            proj = np.zeros(len(self.basis))
            block = vecs[:, sel]
            proj[m0] = block @ (block.T @ psi[m0])
            weight = float(proj @ proj)
            if weight > 1e-300:
                out[S] = (weight, proj / np.sqrt(weight))
        return out

    def lowest(self, dicke0: np.ndarray, S: int) -> np.ndarray:
        """Return |S,-S⟩ = S₋^S |S,0⟩, normalised."""
        state = dicke0.copy()
        s_minus = self.s_plus.T
        for _ in range(S):
            state = s_minus @ state
        return state / np.linalg.norm(state)


@cache
def _ensemble(N: int) -> SpinOneEnsemble:
    basis = [(p, N - p - m, m) for p in range(N + 1) for m in range(N + 1 - p)]
    pos = {b: i for i, b in enumerate(basis)}
    dim = len(basis)
    sz = np.diag([float(p - m) for p, _, m in basis])
    s_plus = np.zeros((dim, dim))
    g = np.zeros((dim, dim))
    for i, (p, z, m) in enumerate(basis):
        if z > 0:  # b₊† b₀
            s_plus[pos[(p + 1, z - 1, m)], i] += np.sqrt(2.0 * (p + 1) * z)
        if m > 0:  # b₀† b₋
            s_plus[pos[(p, z + 1, m - 1)], i] += np.sqrt(2.0 * (z + 1) * m)
        if m > 0:  # b₊† b₋
            g[pos[(p + 1, z, m - 1)], i] += 2.0 * np.sqrt((p + 1) * m)
    g = g + g.T
    s_minus = s_plus.T
    s2 = sz @ sz + 0.5 * (s_plus @ s_minus + s_minus @ s_plus)
    return SpinOneEnsemble(N, basis, sz, s_plus, s2, g)


@pytest.fixture
def ensemble():
    """Return a factory N -> SpinOneEnsemble (cached)."""
    return _ensemble


def qfi_eq1(rho: np.ndarray, g: np.ndarray) -> float:
    """Return the QFI of ρ for generator g by the paper's eq. (1) on ρ's eigenbasis."""
    vals, vecs = np.linalg.eigh(rho)
    vals = np.clip(vals, 0.0, None)
    gm = vecs.T @ g @ vecs
    total = vals[:, None] + vals[None, :]
    diff2 = (vals[:, None] - vals[None, :]) ** 2
    mask = total > 1e-14
    return float(2.0 * np.sum(diff2[mask] / total[mask] * gm[mask] ** 2))


@pytest.fixture
def qfi_from_density():
    """Return the eq. (1) QFI function."""
    return qfi_eq1
