"""Build the posterior and the policy of a shot from a config (shared by the engine and replay).

The estimator's detector model is ``[detector]`` with the cascade rates Γ filled in from
``[atoms]`` when the section leaves them at 0, so arrival times and dead time are modelled with
the same Γ the cavity physics gives (:func:`heralder.physics.cavity.cascade_gammas_per_s`).

Arrival times are used only where their likelihood holds: the cascade it is built on needs
y = λ√(S(S+1))/(κ/2) ≤ 0.3 (:data:`heralder.physics.cavity.BAD_CAVITY_X`) at every plausible S.
Outside that, :func:`arrival_times_used` falls back to counts, which are exact in every regime
(``docs/timing-study`` shows the cascade time likelihood heralding wrongly there).

The same rule picks the count likelihood's dead-time efficiency η_i(S) (``[estimator]
dead_time_model = "auto"``): the cascade's closed form where it holds, the exact atom–cavity
dynamics' (:class:`heralder.estimation.exact_efficiency.ExactEfficiency`, computed once per
cavity and detector) where it does not.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import lru_cache

import numpy as np

from heralder.config import Config
from heralder.control.records import SwitchState
from heralder.estimation import DetectorModel, Policy, Posterior, make_policy
from heralder.estimation.exact_efficiency import NODE_S_MAX, NODE_TAIL, ExactEfficiency
from heralder.physics.cavity import (
    BAD_CAVITY_X,
    cascade_gammas_per_s,
    cascade_validity,
    cavity_parameters,
    likely_spin_range,
)
from heralder.physics.exact_dynamics import AtomCavity

__all__ = ["arrival_times_notice", "arrival_times_used", "cascade_validity",
           "dead_time_efficiency", "estimator_detector", "new_policy", "new_posterior",
           "warm_estimator"]

_log = logging.getLogger(__name__)


def estimator_detector(config: Config) -> DetectorModel:
    """Return the detector model the estimator uses for ``config``."""
    detector = config.detector
    if detector.gamma_tc_per_s > 0 and detector.gamma_antitc_per_s > 0:
        return detector
    gamma_tc, gamma_antitc = cascade_gammas_per_s(config.atoms)
    return replace(detector, gamma_tc_per_s=detector.gamma_tc_per_s or gamma_tc,
                   gamma_antitc_per_s=detector.gamma_antitc_per_s or gamma_antitc)


def dead_time_efficiency(config: Config) -> ExactEfficiency | None:
    """Return the exact dynamics' η_i(S) when the count likelihood should use it, else ``None``
    (the cascade's closed form): ``dead_time_model = "exact"``, or ``"auto"`` where the cascade
    is invalid for ``[atoms]`` (:func:`~heralder.physics.cavity.cascade_validity`); never
    without a dead time."""
    model = config.estimator.dead_time_model
    detector = estimator_detector(config)
    if detector.dead_time_s == 0.0 or model == "cascade" \
            or (model == "auto" and cascade_validity(config.atoms)[2]):
        return None
    params = cavity_parameters(config.atoms)
    s_top = max(likely_spin_range(config.atoms.n_atoms, NODE_TAIL)[1], 2)
    if s_top > NODE_S_MAX:
        _warn_capped(config.atoms.n_atoms, s_top)
    return ExactEfficiency(detector, AtomCavity.from_cavity(params, SwitchState.TC),
                           AtomCavity.from_cavity(params, SwitchState.ANTI_TC),
                           min(s_top, NODE_S_MAX))


@lru_cache(maxsize=16)
def _warn_capped(n_atoms: int, s_top: int) -> None:
    """Log once per N that the exact dead-time table stops below the likely spins."""
    _log.warning("dead-time efficiency: exact dynamics tabulated up to S = %d, not S = %d "
                 "(N = %d): above it the exact/cascade loss ratio of S = %d is used (the "
                 "table's large-S nodes are checked only up to S = 372)", NODE_S_MAX, s_top,
                 n_atoms, NODE_S_MAX)


def new_posterior(config: Config, backend: str) -> Posterior:
    """Return a fresh posterior for one shot, on ``backend`` (``"numpy"`` or ``"numba"``)."""
    est = config.estimator
    return Posterior(config.atoms.n_atoms, estimator_detector(config), backend=backend,
                     prune_nats=est.prune_nats, outlier_rho=est.outlier_rho,
                     efficiency=dead_time_efficiency(config))


def new_policy(config: Config) -> Policy:
    """Return the stopping policy of ``config``."""
    return make_policy(config.policy, config.atoms.n_atoms, estimator_detector(config))


def arrival_times_used(config: Config) -> bool:
    """Return whether the estimator updates with arrival times: ``[estimator]
    use_arrival_times`` is set and the cascade holds for ``[atoms]`` at the largest likely S
    (:func:`~heralder.physics.cavity.cascade_validity`; the estimator does not know S, so
    ``[atoms] fixed_s``, a simulation setting, is ignored);
    otherwise it updates with counts."""
    return config.estimator.use_arrival_times and cascade_validity(config.atoms)[2]


def arrival_times_notice(config: Config) -> str | None:
    """Return the notice for a run whose configured arrival times fall back to counts, or
    ``None`` when nothing falls back."""
    if not config.estimator.use_arrival_times:
        return None
    y, s_hi, valid = cascade_validity(config.atoms)
    if valid:
        return None
    return (f"estimator.use_arrival_times: the estimator uses counts only, since the cascade "
            f"time likelihood is outside its validity (y = λ√(S(S+1))/(κ/2) = {y:.3g} > "
            f"{BAD_CAVITY_X:g} at S = {s_hi}); photon counts are exact in every regime")


def warm_estimator(config: Config, backend: str) -> None:
    """Run a throwaway posterior and policy of ``config`` through two pulses.

    A process loads the estimator's compiled kernels on first use (10-20 ms); done before the
    first shot, that one-off cost does not make the run's first decisions late.
    """
    posterior, policy = new_posterior(config, backend), new_policy(config)
    gate_s = config.detector.gate_s
    for count in (0, 3):
        if arrival_times_used(config):
            posterior.update_times(np.linspace(0.1, 0.3, count) * gate_s, gate_s)
        else:
            posterior.update(count)
        policy.decide(posterior)
        posterior.summary()
        posterior.qfi()
