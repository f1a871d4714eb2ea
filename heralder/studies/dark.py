"""Study how well a dark-count calibration run pins down the dark counts per gate.

One trial records ``gates`` dark gates (no atoms: Poisson counts of mean
``dark_counts_per_gate``) and estimates the mean from them, as a calibration before a run does.
Its spread answers "how many dark gates do I need for a given precision": the estimate's
standard deviation is sqrt(d / gates). Each trial costs microseconds, so this kind is also the
runner's probe of its own scheduling overhead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heralder.studies.kinds import Record, StudyKind

__all__ = ["KIND", "DarkParams", "dark_trial"]


@dataclass(frozen=True)
class DarkParams:
    """Set the true dark counts per gate and the length of the calibration run.

    Attributes
    ----------
    dark_counts_per_gate
        True mean dark (plus background) counts in one gate.
    gates
        Dark gates recorded by one calibration.
    """

    dark_counts_per_gate: float = 0.02
    gates: int = 1000

    def __post_init__(self) -> None:
        if not self.dark_counts_per_gate >= 0.0:
            raise ValueError(
                f"dark_counts_per_gate must be >= 0, got {self.dark_counts_per_gate}")
        if self.gates < 1:
            raise ValueError(f"gates must be >= 1, got {self.gates}")


def dark_trial(params: DarkParams, rng: np.random.Generator) -> Record:
    """Record one calibration run and return its estimate and the fraction of empty gates."""
    counts = rng.poisson(params.dark_counts_per_gate, size=params.gates)
    return {"estimate": float(counts.mean()), "empty_fraction": float(np.mean(counts == 0))}


KIND = StudyKind("dark", DarkParams, dark_trial,
                 "dark-count calibration: precision of the estimated dark counts per gate",
                 trials_per_task=200)
