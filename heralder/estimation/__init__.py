"""Estimate the spin length S from photon counts and decide when to herald (DESIGN §1, §4).

>>> from heralder.estimation import DetectorModel, Posterior
>>> post = Posterior(100, DetectorModel(eta=0.5, dark_counts_per_gate=0.02))
>>> post.update(6)
"""

from heralder.estimation.detector import DetectorModel
from heralder.estimation.policy import (
    FixedPulses,
    PmaxThreshold,
    Policy,
    PolicyDecision,
    QfiFraction,
    ValueOfInformation,
    make_policy,
)
from heralder.estimation.posterior import Flag, Posterior

__all__ = [
    "DetectorModel",
    "FixedPulses",
    "Flag",
    "PmaxThreshold",
    "Policy",
    "PolicyDecision",
    "Posterior",
    "QfiFraction",
    "ValueOfInformation",
    "make_policy",
]
