"""Decide after each pulse whether to switch and pulse again or stop and herald (notes §7).

Each policy is a small object with one method, ``decide(posterior) -> PolicyDecision``. Guard
rails come first: fewer than ``min_pulses`` pulses always continue, ``max_pulses`` always stops.
A policy is deterministic in the posterior, so a replay of the same counts with the same backend
reproduces every decision bit for bit.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, NamedTuple

from heralder.estimation.detector import DetectorModel
from heralder.estimation.posterior import Posterior

if TYPE_CHECKING:  # heralder.config imports this package for DetectorModel
    from heralder.config import PolicyConfig

__all__ = [
    "FixedPulses",
    "PmaxThreshold",
    "Policy",
    "PolicyDecision",
    "QfiFraction",
    "ValueOfInformation",
    "make_policy",
]


class PolicyDecision(NamedTuple):
    """Say whether to stop, why, and the figure the rule compared with its threshold (a named
    tuple: one is built per pulse, and a frozen dataclass costs several times more).

    Attributes
    ----------
    stop
        True: herald now; False: switch the polarisation and pulse again.
    reason
        ``"min_pulses"``, ``"max_pulses"`` or the rule's kind (``"fixed"``, ``"pmax"``,
        ``"qfi_fraction"``, ``"voi"``).
    value
        Pulses so far (guard rails, fixed), pmax, F(ρ)/F_ideal, or the relative value of one more
        pulse (voi).
    """

    stop: bool
    reason: str
    value: float


#: Build a decision from its (stop, reason, value) without the named tuple's Python-level
#: ``__new__`` (one call less on every decision).
_decision = functools.partial(tuple.__new__, PolicyDecision)


class Policy(ABC):
    """Apply the guard rails, then the rule of a subclass.

    Parameters
    ----------
    N
        Number of atoms the posteriors must describe.
    min_pulses, max_pulses
        Guard rails: always continue below ``min_pulses``, always stop at ``max_pulses``.
    """

    kind = ""

    def __init__(self, N: int, *, min_pulses: int = 2, max_pulses: int = 400) -> None:
        if not 1 <= min_pulses <= max_pulses:
            raise ValueError(
                f"need 1 <= min_pulses <= max_pulses, got {min_pulses} and {max_pulses}")
        self.N = N
        self.min_pulses = min_pulses
        self.max_pulses = max_pulses

    def decide(self, post: Posterior) -> PolicyDecision:
        """Return whether to stop after the pulses ``post`` has seen.

        Raises
        ------
        ValueError
            If the posterior describes a different number of atoms.
        """
        if post.N != self.N:
            raise ValueError(f"post describes N={post.N}, this policy N={self.N}")
        if post.pulses < self.min_pulses:
            return _decision((False, "min_pulses", float(post.pulses)))
        if post.pulses >= self.max_pulses:
            return _decision((True, "max_pulses", float(post.pulses)))
        return self._rule(post)

    @abstractmethod
    def _rule(self, post: Posterior) -> PolicyDecision:
        """Return the rule's decision inside the guard rails."""


class FixedPulses(Policy):
    """Stop after a fixed number of pulses (rule (a))."""

    kind = "fixed"

    def __init__(self, N: int, n_pulses: int, **rails: int) -> None:
        super().__init__(N, **rails)
        if n_pulses < 1:
            raise ValueError(f"n_pulses must be >= 1, got {n_pulses}")
        self.n_pulses = n_pulses

    def _rule(self, post: Posterior) -> PolicyDecision:
        return _decision((post.pulses >= self.n_pulses, self.kind, float(post.pulses)))


class _ThresholdPolicy(Policy):
    """Stop when a figure of the posterior reaches a threshold in (0, 1]."""

    def __init__(self, N: int, threshold: float, **rails: int) -> None:
        super().__init__(N, **rails)
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"{self.kind} threshold must lie in (0, 1], got {threshold}")
        self.threshold = threshold

    @abstractmethod
    def figure(self, post: Posterior) -> float:
        """Return the figure compared with the threshold."""

    def _rule(self, post: Posterior) -> PolicyDecision:
        value = self.figure(post)
        return _decision((value >= self.threshold, self.kind, value))


class PmaxThreshold(_ThresholdPolicy):
    """Stop when the most probable S has posterior probability ≥ threshold (rule (b))."""

    kind = "pmax"

    def figure(self, post: Posterior) -> float:
        """Return max_S p_S."""
        return post.pmax


class QfiFraction(_ThresholdPolicy):
    """Stop when F(ρ) ≥ threshold × Σ p_S F_S (rule (c); the cheap fallback of rule (d))."""

    kind = "qfi_fraction"

    def figure(self, post: Posterior) -> float:
        """Return F(ρ) / Σ p_S F_S (1 when S = 0 is certain)."""
        ideal = post.qfi_ideal()
        return post.qfi() / ideal if ideal > 0 else 1.0


class ValueOfInformation(Policy):
    """Stop when one more pulse is worth less than its cost (rule (d), the default).

    The value is (E_n[F(ρ_{+n})]·(1−ε)^k̄ − F(ρ)) / F_ideal with k̄ the posterior-mean photon
    number of the next pulse: each emitted photon corrupts the state with probability ε.

    Parameters
    ----------
    cost
        c, the price of one more pulse as a fraction of F_ideal (> 0).
    corruption_eps
        ε, the per-photon probability that free-space scattering corrupts the state.
    """

    kind = "voi"

    def __init__(self, N: int, cost: float, corruption_eps: float = 0.0, **rails: int) -> None:
        super().__init__(N, **rails)
        if not (math.isfinite(cost) and cost > 0.0):
            raise ValueError(f"cost must be > 0, got {cost}")
        if not 0.0 <= corruption_eps < 1.0:
            raise ValueError(f"corruption_eps must lie in [0, 1), got {corruption_eps}")
        self.cost = cost
        self.log_survival_per_photon = math.log1p(-corruption_eps)

    def _rule(self, post: Posterior) -> PolicyDecision:
        terms = post.voi_terms()
        if terms.f_ideal <= 0.0:  # S = 0 only: nothing left to learn
            return _decision((True, self.kind, 0.0))
        survival = 1.0
        if self.log_survival_per_photon != 0.0:
            survival = math.exp(post.mean_photons_next() * self.log_survival_per_photon)
        gain = (terms.f_next * survival - terms.f_now) / terms.f_ideal
        return _decision((gain <= self.cost, self.kind, gain))


def make_policy(policy_config: PolicyConfig, N: int, detector: DetectorModel) -> Policy:
    """Return the policy a ``[policy]`` config section describes.

    The value-of-information rule takes its per-photon corruption ε from
    ``detector.scatter_eps``.

    Raises
    ------
    ValueError
        If the arguments have the wrong types.
    """
    from heralder.config import PolicyConfig  # here: config imports this package

    if not isinstance(policy_config, PolicyConfig):
        raise ValueError(
            f"policy_config must be a PolicyConfig, got {type(policy_config).__name__}")
    if not isinstance(detector, DetectorModel):
        raise ValueError(f"detector must be a DetectorModel, got {type(detector).__name__}")
    if isinstance(N, bool) or not isinstance(N, int) or N < 1:
        raise ValueError(f"N must be an integer >= 1, got {N!r}")
    rails = {"min_pulses": policy_config.min_pulses, "max_pulses": policy_config.max_pulses}
    kind = policy_config.kind
    if kind == "fixed":
        return FixedPulses(N, policy_config.n_pulses, **rails)
    if kind == "pmax":
        return PmaxThreshold(N, policy_config.pmax_threshold, **rails)
    if kind == "qfi_fraction":
        return QfiFraction(N, policy_config.qfi_fraction, **rails)
    return ValueOfInformation(N, policy_config.voi_cost, detector.scatter_eps, **rails)
