"""Map the cavity-QED parameters of an ``[atoms]`` config to cascade rates and pulse timing.

This is the one place where physical parameters become rates (the virtual lab, the estimator's
time-resolved likelihood and the GUI all use it):

* Raman coupling, paper eq. (6): λ± = g Ω± / (12 √2 Δ), with g = 2π·g_hz rad/s;
* cascade rate (adiabatic elimination of the cavity, notes/estimator.md §5): Γ = 2λ²/κ,
  κ = 2π·kappa_hz the field decay rate of eq. (2);
* validity of the cascade: x = λ √(S(S+1)) / (κ/2) at the fastest step; ≲ 0.3 for ≲ 1 % timing.

Pulse i uses λ₋ (TC) when i is even and λ₊ (anti-TC) when i is odd; pulse 0 is TC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from heralder.physics._validate import check_n
from heralder.physics.cascade import mean_pulse_duration
from heralder.physics.prior import prior_support

if TYPE_CHECKING:  # the config imports the estimation package, which imports physics
    from heralder.config import AtomsConfig

__all__ = [
    "BAD_CAVITY_X",
    "PAPER_PARAMETERS",
    "CavityParameters",
    "bad_cavity_x",
    "cascade_gamma_per_s",
    "cascade_gammas_per_s",
    "cascade_validity",
    "cavity_parameters",
    "likely_spin_range",
    "mean_pulse_duration_s",
    "raman_coupling_rad_s",
    "recommended_gate_s",
]

#: Largest validity parameter x = λ√(S(S+1))/(κ/2) the bad-cavity preset allows in the bulk.
BAD_CAVITY_X = 0.3
#: Prior mass left out on each side of the "likely" spin range.
LIKELY_TAIL = 1e-6


def raman_coupling_rad_s(g_hz: float, omega_over_delta: float) -> float:
    """Return λ = g Ω/(12√2 Δ) in rad/s (paper eq. 6) from g/2π in Hz and Ω/Δ."""
    _check_positive("g_hz", g_hz)
    _check_positive("omega_over_delta", omega_over_delta)
    return 2.0 * math.pi * g_hz * omega_over_delta / (12.0 * math.sqrt(2.0))


def cascade_gamma_per_s(lambda_rad_s: float, kappa_hz: float) -> float:
    """Return the collective cascade rate Γ = 2λ²/κ in 1/s (κ = 2π·kappa_hz)."""
    _check_positive("lambda_rad_s", lambda_rad_s)
    _check_positive("kappa_hz", kappa_hz)
    return 2.0 * lambda_rad_s**2 / (2.0 * math.pi * kappa_hz)


def bad_cavity_x(lambda_rad_s: float, kappa_hz: float, S: object) -> np.ndarray | float:
    """Return x = λ√(S(S+1))/(κ/2), the cascade's validity parameter (want x ≲ 0.3)."""
    _check_positive("lambda_rad_s", lambda_rad_s)
    _check_positive("kappa_hz", kappa_hz)
    s = np.asarray(S, dtype=np.float64)
    if np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("S must be finite and >= 0")
    x = lambda_rad_s * np.sqrt(s * (s + 1.0)) / (math.pi * kappa_hz)
    return float(x) if x.ndim == 0 else x


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class CavityParameters:
    """Hold the resolved cavity-QED parameters ({g, κ, γ}/2π in Hz, Ω±/Δ) and derived rates."""

    g_hz: float
    kappa_hz: float
    gamma_hz: float
    omega_over_delta_tc: float
    omega_over_delta_antitc: float

    @property
    def lambda_tc_rad_s(self) -> float:
        """Return λ₋ (TC pulses), rad/s."""
        return raman_coupling_rad_s(self.g_hz, self.omega_over_delta_tc)

    @property
    def lambda_antitc_rad_s(self) -> float:
        """Return λ₊ (anti-TC pulses), rad/s."""
        return raman_coupling_rad_s(self.g_hz, self.omega_over_delta_antitc)

    @property
    def gamma_tc_per_s(self) -> float:
        """Return Γ₋ = 2λ₋²/κ, 1/s."""
        return cascade_gamma_per_s(self.lambda_tc_rad_s, self.kappa_hz)

    @property
    def gamma_antitc_per_s(self) -> float:
        """Return Γ₊ = 2λ₊²/κ, 1/s."""
        return cascade_gamma_per_s(self.lambda_antitc_rad_s, self.kappa_hz)

    def gamma_for_pulse_per_s(self, pulse: int) -> float:
        """Return Γ of pulse ``pulse`` (even: TC, odd: anti-TC), 1/s."""
        if pulse < 0:
            raise ValueError(f"pulse must be >= 0, got {pulse}")
        return self.gamma_tc_per_s if pulse % 2 == 0 else self.gamma_antitc_per_s

    def max_x(self, S: object) -> np.ndarray | float:
        """Return the larger (over the two polarisations) validity parameter x at spin S."""
        lam = max(self.lambda_tc_rad_s, self.lambda_antitc_rad_s)
        return bad_cavity_x(lam, self.kappa_hz, S)


PAPER_PARAMETERS = CavityParameters(
    g_hz=10e6, kappa_hz=0.2e6, gamma_hz=6e6, omega_over_delta_tc=0.01,
    omega_over_delta_antitc=0.01,
)


def likely_spin_range(N: int, tail: float = LIKELY_TAIL) -> tuple[int, int]:
    """Return (S_lo, S_hi): the prior leaves at most ``tail`` below S_lo and above S_hi."""
    n = check_n(N)
    if not 0.0 < tail < 0.5:
        raise ValueError(f"tail must lie in (0, 0.5), got {tail!r}")
    S, log_p = prior_support(n)
    p = np.exp(log_p)
    cdf = np.cumsum(p) / p.sum()
    lo = int(np.searchsorted(cdf, tail, side="right"))
    upper = np.cumsum(p[::-1])[::-1] / p.sum()  # P(S' >= S)
    hi = int(np.flatnonzero(upper > tail)[-1])
    return int(S[lo]), int(S[hi])


@lru_cache(maxsize=64)
def cascade_validity(atoms: AtomsConfig, spin: int | None = None) -> tuple[float, int, bool]:
    """Return (y, S, valid): the bad-cavity cascade's validity parameter y = λ√(S(S+1))/(κ/2)
    of the faster polarisation at spin ``spin`` (default: the prior's largest likely S), that S,
    and whether y ≤ :data:`BAD_CAVITY_X` (the bad-cavity preset sits exactly at the bound and
    counts as valid)."""
    s_hi = max(likely_spin_range(atoms.n_atoms)[1], 1) if spin is None else spin
    y = float(cavity_parameters(atoms).max_x(s_hi))
    return y, s_hi, y <= BAD_CAVITY_X * (1.0 + 1e-9)


def cavity_parameters(atoms: AtomsConfig) -> CavityParameters:
    """Return the parameters of an ``[atoms]`` section with its preset applied.

    * ``paper``: {g, κ, γ}/2π = {10, 0.2, 6} MHz, Ω±/Δ = 0.01 (the paper's example; the cascade
      is outside its validity there, x ≈ 3 at S = 100, so photon *times* are approximate);
    * ``bad-cavity``: the paper's cavity with both Ω/Δ lowered until x = 0.3 at the largest
      likely S of ``atoms.n_atoms`` (so the cascade model of the photon times holds);
    * ``custom``: the section's own fields.
    """
    if atoms.preset == "custom":
        return CavityParameters(atoms.g_hz, atoms.kappa_hz, atoms.gamma_hz,
                                atoms.omega_over_delta_tc, atoms.omega_over_delta_antitc)
    if atoms.preset == "paper":
        return PAPER_PARAMETERS
    if atoms.preset == "bad-cavity":
        _, s_hi = likely_spin_range(atoms.n_atoms)
        s_hi = max(s_hi, 1)
        p = PAPER_PARAMETERS
        lam = BAD_CAVITY_X * math.pi * p.kappa_hz / math.sqrt(s_hi * (s_hi + 1.0))
        ratio = lam * 12.0 * math.sqrt(2.0) / (2.0 * math.pi * p.g_hz)
        return CavityParameters(p.g_hz, p.kappa_hz, p.gamma_hz, ratio, ratio)
    raise ValueError(f"preset must be 'paper', 'bad-cavity' or 'custom', got {atoms.preset!r}")


def cascade_gammas_per_s(atoms: AtomsConfig) -> tuple[float, float]:
    """Return (gamma_tc_per_s, gamma_antitc_per_s) for an ``[atoms]`` section."""
    params = cavity_parameters(atoms)
    return params.gamma_tc_per_s, params.gamma_antitc_per_s


def mean_pulse_duration_s(atoms: AtomsConfig, S: int, pulse: int) -> float:
    """Return the cascade's mean time Σ_j 1/(Γ r_j) to emit all photons of pulse ``pulse``, s."""
    gamma = cavity_parameters(atoms).gamma_for_pulse_per_s(pulse)
    return mean_pulse_duration(S, pulse) / gamma


def recommended_gate_s(atoms: AtomsConfig, factor: float = 10.0, spin: int | None = None) -> float:
    """Return a counting gate of ``factor`` × the mean full-pulse duration, in seconds.

    The mean duration 2H_{2S}/((2S+1)Γ) *falls* with S, so by default (``spin=None``) it is
    taken at the smallest likely S >= 1, the slowest pulse a shot is likely to see; pass
    ``spin`` to size the gate for one spin length instead. The slower polarisation is used,
    and notes/estimator.md R8, T >= (ln 2S + 30)/(2SΓ), is enforced at that S.
    """
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a finite number > 0, got {factor!r}")
    params = cavity_parameters(atoms)
    gamma = min(params.gamma_tc_per_s, params.gamma_antitc_per_s)
    if spin is None:
        s_lo, _ = likely_spin_range(atoms.n_atoms)
        s = max(s_lo, 1 if atoms.n_atoms % 2 else 2)
    elif isinstance(spin, int) and 1 <= spin <= atoms.n_atoms:
        s = spin
    else:
        raise ValueError(f"spin must be an integer in [1, n_atoms={atoms.n_atoms}], got {spin!r}")
    full = factor * mean_pulse_duration(s, 1) / gamma
    tail_bound = (math.log(2 * s) + 30.0) / (2 * s * gamma)
    return max(full, tail_bound)
