"""Tabulate F_S and g_S² of heralder.physics for fast QFI summaries of a posterior.

Jump mode can put mass on spin lengths of the wrong parity (a corrupted state). G couples S only
with S ± 2, so the state is block-diagonal in parity and F adds over the blocks; the corrupted
block is outside the family and is credited with zero QFI (a conservative herald).
"""

from __future__ import annotations

import numpy as np

from heralder.physics import qfi_coupling, qfi_pure

__all__ = ["QfiTables", "pair_coherence"]


def pair_coherence(S: np.ndarray, w: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """Return Σ_S w_S w_{S+2} / (w_S + w_{S+2}) g_S² over the last axis (S ascending, in the
    family)."""
    pair = np.flatnonzero(np.diff(S) == 2)
    a, b = w[..., pair], w[..., pair + 1]
    denom = a + b
    safe = np.where(denom > 0, denom, 1.0)
    return np.sum(np.where(denom > 0, a * b / safe, 0.0) * g2[S[pair]], axis=-1)


class QfiTables:
    """Hold F_S = qfi_pure(N, S) and g_S² = qfi_coupling(N, S)² indexed by S (0 off-family).

    Parameters
    ----------
    N
        Number of atoms.
    """

    def __init__(self, N: int) -> None:
        self.N = int(N)
        self._F = np.zeros(0)
        self._g2 = np.zeros(0)

    def tables(self, s_max: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (F, g2) arrays indexed by S and covering at least ``0..s_max`` (or N)."""
        if self._F.size <= s_max and self._F.size <= self.N:
            size = min(max(s_max + 1, 2 * self._F.size, 64), self.N + 1)
            S = np.arange(self.N % 2, size, 2)
            F = np.zeros(size)
            g2 = np.zeros(size)
            F[S] = qfi_pure(self.N, S)
            coupled = S[S <= self.N - 2]
            g2[coupled] = np.asarray(qfi_coupling(self.N, coupled)) ** 2
            self._F, self._g2 = F, g2
        return self._F, self._g2

    def in_family(self, S: np.ndarray) -> np.ndarray:
        """Return the mask of spin lengths with the parity of N."""
        return (self.N - S) % 2 == 0

    def mixed(self, S: np.ndarray, p: np.ndarray) -> float:
        """Return F(ρ) of Σ p_S |S,−S⟩⟨S,−S| for ``S`` ascending (a posterior's support).

        :func:`heralder.physics.qfi_mixed` from the tables, without its checks; the off-family
        mass counts as zero QFI.
        """
        mask = self.in_family(S)
        S, p = S[mask], p[mask]
        weight = float(p.sum())
        if weight <= 0.0:
            return 0.0
        F, g2 = self.tables(int(S[-1]))
        q = p / weight
        return weight * (float(np.dot(q, F[S])) - 16.0 * float(pair_coherence(S, q, g2)))

    def ideal(self, S: np.ndarray, p: np.ndarray) -> float:
        """Return Σ p_S F_S over the family."""
        mask = self.in_family(S)
        F, _ = self.tables(int(S[-1]))
        return float(np.dot(p[mask], F[S[mask]]))
