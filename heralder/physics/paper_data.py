"""Compute the numbers behind the paper's Figs. 2-4 and their large-N limits (no plotting).

Asymptotes derived here (checked in tests/physics and plotted by ``heralder figures``):

* ideal detector: F̄/N² = 8 - 8√(π/2)/√N + 7 ln N / N + O(1/N). F_S = 8N²(1 - 1/S) + O(N) and
  the prior is Rayleigh in S/√N, so E[1/S] = √(π/(2N)).
* one pulse with η < 1: F̄ → 8√(π/2) η/(1-η) N^{3/2}. With G coupling only S±2,
  F(ρ) = Σp_S[F_S - 4(g_S² + g_{S-2}²)] + 4Σ(p_S - p_{S+2})²/(p_S + p_{S+2}) g_S²; the first
  sum is O(N²/S²), the second is 8N² × (Fisher information of the posterior in S)
  = 8N² η/((1-η)S), averaged with E[1/S] = √(π/(2N)). The paper's exponents (1.91, 1.58) are
  finite-N crossovers towards 3/2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

from heralder.physics.prior import log_prior
from heralder.physics.qfi import mean_qfi

__all__ = [
    "PAPER_FITS",
    "PowerLawFit",
    "fit_power_law",
    "ideal_asymptote",
    "one_pulse_asymptote",
    "prior_tail",
    "qfi_curve",
]

#: Numbers printed in the paper (Fig. 2 caption; Fig. 3 and Fig. 4 text).
PAPER_FITS = {
    "fig2_tail_above_200": 1.34e-9,
    "fig3_even": (6.52, 2.02),
    "fig3_odd": (5.17, 2.09),
    "fig4_eta0.9": (7.56, 1.91),
    "fig4_eta0.5_exponent": 1.58,
}


@dataclass(frozen=True)
class PowerLawFit:
    """Hold a least-squares fit F = prefactor · N^exponent in log-log space."""

    prefactor: float
    exponent: float
    n_min: int
    n_max: int
    n_points: int
    max_rel_residual: float

    def as_dict(self) -> dict[str, float | int]:
        """Return the fit as a JSON-ready dict."""
        return asdict(self)


def fit_power_law(N: Iterable[int], F: Iterable[float]) -> PowerLawFit:
    """Fit log F = log a + b log N by unweighted least squares (as a log-log plot suggests)."""
    n = np.asarray(list(N), dtype=np.float64)
    f = np.asarray(list(F), dtype=np.float64)
    if n.size < 2 or n.shape != f.shape or np.any(n <= 0) or np.any(f <= 0):
        raise ValueError("N and F must be equal-length positive sequences of >= 2 points")
    slope, intercept = np.polyfit(np.log(n), np.log(f), 1)
    model = np.exp(intercept) * n**slope
    return PowerLawFit(float(np.exp(intercept)), float(slope), int(n.min()), int(n.max()),
                       int(n.size), float(np.max(np.abs(model / f - 1.0))))


def prior_tail(N: int, s_cut: int) -> float:
    """Return Σ_{S > s_cut} |c_S|² (Fig. 2's caption quantity)."""
    S = np.arange(s_cut + 1, N + 1)
    return math.fsum(np.exp(log_prior(N, S))) if S.size else 0.0


def qfi_curve(Ns: Iterable[int], eta: float = 1.0,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Return mean_qfi(N, eta) for each N (calls ``progress(1)`` after each, if given)."""
    out = []
    for n in Ns:
        out.append(mean_qfi(int(n), eta))
        if progress is not None:
            progress(1)
    return np.asarray(out)


def ideal_asymptote(N: np.ndarray | float) -> np.ndarray | float:
    """Return the large-N expansion of F̄/N² for an ideal detector (see module docstring)."""
    n = np.asarray(N, dtype=np.float64)
    out = 8.0 - 8.0 * np.sqrt(np.pi / 2.0 / n) + 7.0 * np.log(n) / n
    return float(out) if out.ndim == 0 else out


def one_pulse_asymptote(eta: float) -> float:
    """Return lim F̄/N^{3/2} after one pulse read with efficiency 0 < η < 1."""
    if not 0.0 < eta < 1.0:
        raise ValueError(f"eta must lie in (0, 1) for the N^3/2 law, got {eta!r}")
    return 8.0 * math.sqrt(math.pi / 2.0) * eta / (1.0 - eta)
