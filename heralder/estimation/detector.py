"""Describe the photon detector and the imperfections the likelihood models (DESIGN §10)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _check_probability(name: str, value: float, *, open_top: bool = False) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0) or (open_top and value == 1.0):
        top = "1)" if open_top else "1]"
        raise ValueError(f"{name} must lie in [0, {top}, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class DetectorModel:
    """Hold what the estimator knows about detection, validated on construction.

    Attributes
    ----------
    eta
        Probability that an emitted cavity photon is registered (collection × quantum efficiency).
    dark_counts_per_gate
        Mean dark plus background counts in one gate (Poisson).
    gate_s
        Counting window per pulse, seconds.
    dead_time_s
        Non-paralysable detector dead time, seconds.
    afterpulse_prob
        Probability that a registered photon causes one extra (after)pulse.
    scatter_eps
        Probability per Raman cycle that the photon is scattered into free space instead.
    leak_r2
        Residual wrong-polarisation coupling r² of the switch.
    gamma_tc_per_s
        Collective cascade rate Γ = 2λ₋²/κ of a TC pulse, 1/s.
    gamma_antitc_per_s
        Collective cascade rate Γ = 2λ₊²/κ of an anti-TC pulse, 1/s.
    jump_eps
        Per-photon probability that S jumps, used by the optional jump (HMM) mode; 0 disables it.
    """

    eta: float = 1.0
    dark_counts_per_gate: float = 0.0
    gate_s: float = 100e-6
    dead_time_s: float = 0.0
    afterpulse_prob: float = 0.0
    scatter_eps: float = 0.0
    leak_r2: float = 0.0
    gamma_tc_per_s: float = 0.0
    gamma_antitc_per_s: float = 0.0
    jump_eps: float = 0.0

    def __post_init__(self) -> None:
        _check_probability("eta", self.eta)
        _check_non_negative("dark_counts_per_gate", self.dark_counts_per_gate)
        if not (math.isfinite(self.gate_s) and self.gate_s > 0.0):
            raise ValueError(f"gate_s must be a finite number > 0, got {self.gate_s!r}")
        _check_non_negative("dead_time_s", self.dead_time_s)
        _check_probability("afterpulse_prob", self.afterpulse_prob, open_top=True)
        _check_probability("scatter_eps", self.scatter_eps, open_top=True)
        _check_probability("leak_r2", self.leak_r2)
        _check_non_negative("gamma_tc_per_s", self.gamma_tc_per_s)
        _check_non_negative("gamma_antitc_per_s", self.gamma_antitc_per_s)
        _check_probability("jump_eps", self.jump_eps, open_top=True)

    @property
    def dark_rate_hz(self) -> float:
        """Return the dark plus background rate in counts per second."""
        return self.dark_counts_per_gate / self.gate_s

    @classmethod
    def normalise_config_table(cls, table: dict[str, Any]) -> dict[str, Any]:
        """Return a config table with ``dark_rate_hz`` converted to ``dark_counts_per_gate``.

        Raises
        ------
        ValueError
            If both ``dark_rate_hz`` and ``dark_counts_per_gate`` are given.
        """
        if "dark_rate_hz" not in table:
            return table
        if "dark_counts_per_gate" in table:
            raise ValueError("give either dark_rate_hz or dark_counts_per_gate, not both")
        table = dict(table)
        rate_hz = table.pop("dark_rate_hz")
        if isinstance(rate_hz, bool) or not isinstance(rate_hz, int | float):
            raise ValueError(f"dark_rate_hz must be a number, got {rate_hz!r}")
        _check_non_negative("dark_rate_hz", float(rate_hz))
        table["dark_counts_per_gate"] = float(rate_hz) * float(table.get("gate_s", cls.gate_s))
        return table
