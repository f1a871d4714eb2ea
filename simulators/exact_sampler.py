"""Draw photon emission times of one pulse from the exact atom–cavity dynamics (quantum jumps).

Unravelling of eq. (2) at fixed S (model and basis: :mod:`heralder.physics.exact_dynamics`):
between emissions the state ψ lives in one excitation manifold and evolves under the non-Hermitian
H_eff = H − iκa†a; the survival ‖e^{−iH_eff t}ψ‖² is the probability that no photon has left yet,
so a waiting time is drawn by solving ‖e^{−iH_eff t}ψ‖² = u for a uniform u (inversion, no time
steps), and the emission applies a: ψ → aψ/‖aψ‖ in the next manifold. After k = q₀ + S photons
the atoms are in the dark state.

The waiting-time inversion is compiled in :mod:`heralder.simulators.exact_kernels`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from heralder.config import AtomsConfig
from heralder.control.records import SwitchState
from heralder.physics.cavity import BAD_CAVITY_X, cascade_validity, cavity_parameters
from heralder.physics.exact_dynamics import AtomCavity, check_spin, ladder_start
from heralder.simulators.exact_kernels import draw_pulse

__all__ = ["ExactPulse", "ExactSampler", "sampler_for_lab"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExactPulse:
    """Hold one pulse drawn from the exact dynamics.

    Attributes
    ----------
    times_s
        Emission times of the photons that left the cavity before ``t_max_s``, sorted, s.
    m_end
        The atoms' m after the pulse: −S (TC) or +S (anti-TC) when every photon left; otherwise
        drawn from the state at ``t_max_s`` (the drive stops there; the cavity then empties
        without changing the atoms).
    """

    times_s: np.ndarray
    m_end: int


class ExactSampler:
    """Draw pulses of the exact atom–cavity dynamics for one TC and one anti-TC model.

    Parameters
    ----------
    tc, anti_tc
        Parameters (λ, κ, ω, ω₀) of the TC and anti-TC pulses.
    n_atoms
        Atom number N; spin lengths outside [0, N] are rejected.
    """

    def __init__(self, tc: AtomCavity, anti_tc: AtomCavity, n_atoms: int | None = None) -> None:
        for name, model in (("tc", tc), ("anti_tc", anti_tc)):
            if not isinstance(model, AtomCavity):
                raise ValueError(f"{name} must be an AtomCavity, got {model!r}")
        self.models = {SwitchState.TC: tc, SwitchState.ANTI_TC: anti_tc}
        self.n_atoms = n_atoms

    def sample(self, S: int, m: int, state: SwitchState, rng: np.random.Generator,
               t_max_s: float = math.inf) -> ExactPulse:
        """Draw one pulse of polarisation ``state`` started from |S, m⟩ with an empty cavity.

        Raises
        ------
        ValueError
            If S lies outside [0, N], m outside [−S, S], or t_max_s is not > 0.
        """
        s = check_spin(S, self.n_atoms)
        q0 = ladder_start(s, m, state)
        if not t_max_s > 0.0:
            raise ValueError(f"t_max_s must be > 0, got {t_max_s!r}")
        model = self.models[state]
        sign = 1 if state is SwitchState.TC else -1
        k = q0 + s
        if k == 0:
            return ExactPulse(np.zeros(0), m)
        uniforms = 1.0 - rng.random(k)  # in (0, 1]
        times, emitted, psi = draw_pulse(s, q0, model.lambda_rad_s, model.kappa_rad_s,
                                     model.omega_rad_s, model.ladder_omega0_rad_s(state),
                                     uniforms, float(t_max_s))
        if emitted == k:
            return ExactPulse(times, -sign * s)
        # Cut by t_max: the atoms keep q = E − n with probability |ψ_n|².
        weights = np.abs(psi) ** 2
        n = int(np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(), side="right"))
        q = (q0 - emitted) - min(n, weights.size - 1)
        return ExactPulse(times[:emitted].copy(), sign * q)


def sampler_for_lab(atoms: AtomsConfig, dynamics: str) -> ExactSampler | None:
    """Return the exact sampler a virtual lab should use, or ``None`` for the cascade.

    ``"auto"`` picks exact dynamics where the cascade does not hold
    (:func:`~heralder.physics.cavity.cascade_validity` at the largest likely S, or at
    ``fixed_s``), and logs that once per lab.

    Raises
    ------
    ValueError
        If ``dynamics`` is not ``"cascade"``, ``"exact"`` or ``"auto"``.
    """
    if dynamics not in ("cascade", "exact", "auto"):
        raise ValueError(f"dynamics must be 'cascade', 'exact' or 'auto', got {dynamics!r}")
    if dynamics == "cascade":
        return None
    params = cavity_parameters(atoms)
    if dynamics == "auto":
        y, s_hi, valid = cascade_validity(atoms, atoms.fixed_s)
        if valid:
            return None
        _log.info("dynamics = auto: exact atom-cavity photon times (y = %.3g > %.2g at S = %d; "
                  "the bad-cavity cascade is outside its validity)", y, BAD_CAVITY_X, s_hi)
    return ExactSampler(AtomCavity.from_cavity(params, SwitchState.TC),
                        AtomCavity.from_cavity(params, SwitchState.ANTI_TC),
                        n_atoms=atoms.n_atoms)
