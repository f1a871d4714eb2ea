"""Simulate the paper's pulse sequences (Figs. 5 and 6) with the project's Bayesian estimator.

Each pulse's registered count is Bin(k_i(S), η) with k_0 = S and k_i = 2S afterwards (the
paper's idealised detector); the posterior is :class:`heralder.estimation.Posterior`, so the
figures exercise the same estimator a run uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from heralder.physics._validate import check_eta, check_n
from heralder.physics.cascade import photons_per_pulse
from heralder.physics.prior import prior_support
from heralder.physics.qfi import qfi_pure

if TYPE_CHECKING:
    from heralder.estimation import Posterior

__all__ = ["SwitchStudy", "narrowing_sequence", "switch_study"]


def _posterior(N: int, eta: float) -> Posterior:
    # Imported here, not at module level: the estimation package imports physics.
    from heralder.estimation import DetectorModel, Posterior

    return Posterior(N, DetectorModel(eta=eta))


def narrowing_sequence(N: int, S_true: int, eta: float, pulses: int,
                       rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Return [(S, p, count)] after each of ``pulses`` pulses for a fixed true S (Fig. 5)."""
    n = check_n(N)
    eta = check_eta(eta)
    if not (0 <= S_true <= n and (n - S_true) % 2 == 0):
        raise ValueError(f"S_true must lie in [0, N] with the parity of N, got {S_true}")
    if pulses < 1:
        raise ValueError(f"pulses must be >= 1, got {pulses}")
    post = _posterior(n, eta)
    out = []
    for i in range(pulses):
        count = int(rng.binomial(photons_per_pulse(S_true, i), eta))
        post.update(count)
        out.append((post.S, post.p, count))
    return out


@dataclass(frozen=True)
class SwitchStudy:
    """Hold QFI samples of a Monte Carlo over trajectories: ``qfi[t, k]`` after k switches."""

    N: int
    eta: float
    qfi: np.ndarray
    ideal_mean: float

    @property
    def mean(self) -> np.ndarray:
        """Return the sample-mean QFI per number of switches."""
        return self.qfi.mean(axis=0)

    @property
    def sem(self) -> np.ndarray:
        """Return the standard error of the sample mean per number of switches."""
        return self.qfi.std(axis=0, ddof=1) / np.sqrt(self.qfi.shape[0])


def switch_study(N: int, eta: float, trajectories: int, switches: int,
                 rng: np.random.Generator,
                 progress: Callable[[int], None] | None = None) -> SwitchStudy:
    """Sample S from the prior and counts pulse by pulse; record F(ρ) after each (Fig. 6).

    ``qfi[:, 0]`` is after the first (TC) pulse, ``qfi[:, k]`` after k further switched pulses.
    """
    n = check_n(N)
    eta = check_eta(eta)
    if trajectories < 2 or switches < 0:
        raise ValueError("trajectories must be >= 2 and switches >= 0")
    S, log_p = prior_support(n)
    p = np.exp(log_p - log_p.max())
    spins = rng.choice(S, size=trajectories, p=p / p.sum())
    qfi = np.empty((trajectories, switches + 1))
    for t, s in enumerate(spins):
        post = _posterior(n, eta)
        for i in range(switches + 1):
            post.update(int(rng.binomial(photons_per_pulse(int(s), i), eta)))
            qfi[t, i] = post.qfi()
        if progress is not None:
            progress(1)
    ideal = float(np.dot(p / p.sum(), qfi_pure(n, S)))
    return SwitchStudy(n, eta, qfi, ideal)
