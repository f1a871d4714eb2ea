"""Compute the preposterior QFI terms of the value-of-information rule (d) (notes §6–7).

With a_S(n) = p_S P(n | S), the expected QFI after the next count is

    E_n[F(ρ_n)] = Σ_n Σ_S a_S(n) F_S − 16 Σ_n Σ_S a_S a_{S+2} / (a_S + a_{S+2}) g_S²,

because P(n) p(S | n) = a_S(n). Only spin lengths within ``LIVE_NATS`` of the maximum and counts
holding all but ``MASS_TOL`` of the predictive mass enter; the cut-offs change the QFI by far less
than the rule's cost c ≥ 1e-6·F_ideal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heralder.estimation.likelihood import CountModel, count_spread
from heralder.estimation.qfi_tables import QfiTables, pair_coherence

__all__ = ["LIVE_NATS", "MASS_TOL", "SPREAD", "VoiTerms", "count_bounds", "voi_terms_numpy"]

LIVE_NATS = 20.0
MASS_TOL = 1e-9
#: Standard deviations around each mean the count range spans at MASS_TOL.
SPREAD = count_spread(MASS_TOL)


@dataclass(frozen=True)
class VoiTerms:
    """Hold the QFI terms of one decision.

    Attributes
    ----------
    f_now
        F(ρ) of the current posterior.
    f_ideal
        Σ p_S F_S of the current posterior.
    f_next
        E_n[F(ρ after the next count)] without corruption.
    """

    f_now: float
    f_ideal: float
    f_next: float


def count_bounds(model: CountModel, S: np.ndarray, pulse: int) -> tuple[int, int]:
    """Return the counts (lo, hi) the preposterior sums over for live spin lengths ``S``."""
    return model.count_range(S, pulse, MASS_TOL)


def voi_terms_numpy(S: np.ndarray, logp: np.ndarray, model: CountModel, tables: QfiTables,
                    pulse: int) -> VoiTerms:
    """Return the QFI terms of rule (d) for the next pulse ``pulse`` (numpy reference)."""
    live = logp >= np.max(logp) - LIVE_NATS
    S, logp = S[live], logp[live]
    family = tables.in_family(S)
    F, g2 = tables.tables(int(S[-1]) + 2)
    p = np.exp(logp)
    Sf = S[family]
    f_ideal = float(np.dot(p[family], F[Sf]))
    f_now = f_ideal - 16.0 * float(pair_coherence(Sf, p[family], g2))
    lo, hi = count_bounds(model, S, pulse)
    counts = np.arange(lo, hi + 1, dtype=np.int64)
    n_grid, s_grid = np.meshgrid(counts, S, indexing="ij")
    ll = model.log_likelihood(n_grid.ravel(), s_grid.ravel(), pulse).reshape(n_grid.shape)
    a = np.exp(logp[None, :] + ll)[:, family]
    diag = float(np.sum(a @ F[Sf]))
    coh = float(np.sum(pair_coherence(Sf, a, g2)))
    return VoiTerms(f_now, f_ideal, diag - 16.0 * coh)
