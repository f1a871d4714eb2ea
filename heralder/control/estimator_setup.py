"""Build the posterior and the policy of a shot from a config (shared by the engine and replay).

The estimator's detector model is ``[detector]`` with the cascade rates Γ filled in from
``[atoms]`` when the section leaves them at 0, so arrival times and dead time are modelled with
the same Γ the cavity physics gives (:func:`heralder.physics.cavity.cascade_gammas_per_s`).
"""

from __future__ import annotations

from dataclasses import replace

from heralder.config import Config
from heralder.estimation import DetectorModel, Policy, Posterior, make_policy
from heralder.physics.cavity import cascade_gammas_per_s

__all__ = ["estimator_detector", "new_policy", "new_posterior"]


def estimator_detector(config: Config) -> DetectorModel:
    """Return the detector model the estimator uses for ``config``."""
    detector = config.detector
    if detector.gamma_tc_per_s > 0 and detector.gamma_antitc_per_s > 0:
        return detector
    gamma_tc, gamma_antitc = cascade_gammas_per_s(config.atoms)
    return replace(detector, gamma_tc_per_s=detector.gamma_tc_per_s or gamma_tc,
                   gamma_antitc_per_s=detector.gamma_antitc_per_s or gamma_antitc)


def new_posterior(config: Config, backend: str) -> Posterior:
    """Return a fresh posterior for one shot, on ``backend`` (``"numpy"`` or ``"numba"``)."""
    est = config.estimator
    return Posterior(config.atoms.n_atoms, estimator_detector(config), backend=backend,
                     prune_nats=est.prune_nats, outlier_rho=est.outlier_rho)


def new_policy(config: Config) -> Policy:
    """Return the stopping policy of ``config``."""
    return make_policy(config.policy, config.atoms.n_atoms, estimator_detector(config))
