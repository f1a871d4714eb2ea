"""Compare the stopping policies, and counts against arrival times, on the virtual lab.

Every trial draws S from |c_S|² in a :class:`heralder.simulators.lab.VirtualLab` and fires
alternating TC / anti-TC pulses (an armed switch pattern, fired in blocks) until every policy has
stopped or the cap is reached. All policies read the same record through one posterior per
estimator, so their differences are not sampling noise between records. The herald is the MAP S;
it is wrong when it differs from the atoms' true S at the stopping pulse. ``F/F̄`` is the QFI of
the heralded mixed state divided by the ideal mean Σ|c_S|² F_S.

One trial is :func:`policy_trial`, a pure function of :class:`PolicyParams` and a random
generator, so the study is the ``policy`` kind of the sweep runner (:data:`KIND`); its record
has the columns ``<estimator>_<policy letter>_<switches|wrong|f_ratio|capped>``.
:func:`run_cell` runs the trials of one cell in this process.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from heralder.config import AtomsConfig, PolicyConfig
from heralder.control.clock import SimClock
from heralder.estimation import Posterior, make_policy
from heralder.physics import mean_qfi
from heralder.studies.kinds import Record, StudyKind
from heralder.studies.policy_report import times_reduction, write_csv, write_markdown, write_png
from heralder.studies.shots import run_policies, study_detector
from heralder.studies.sweep import Point, Sweep

__all__ = [
    "KIND",
    "CellResult",
    "PolicyParams",
    "PolicyStudy",
    "StopRecord",
    "cells_from_frame",
    "default_policies",
    "policy_trial",
    "run_cell",
    "study_sweep",
    "summarise",
    "with_overrides",
    "write_report",
]

def default_policies(cap: int) -> dict[str, PolicyConfig]:
    """Return the compared policies (notes §7), each with at most ``cap`` pulses."""
    return {
        "(a) fixed 30": PolicyConfig(kind="fixed", n_pulses=30, min_pulses=1, max_pulses=cap),
        "(b) pmax>=0.99": PolicyConfig(kind="pmax", pmax_threshold=0.99, min_pulses=1,
                                       max_pulses=cap),
        "(c) F>=0.95 F_ideal": PolicyConfig(kind="qfi_fraction", qfi_fraction=0.95,
                                            min_pulses=1, max_pulses=cap),
        "(d) VOI c=1e-4": PolicyConfig(kind="voi", voi_cost=1e-4, min_pulses=2, max_pulses=cap),
    }


@dataclass(frozen=True)
class PolicyStudy:
    """Describe one study: the grid, the trials and the detector.

    Attributes
    ----------
    n_values, etas
        The grid of atom numbers and efficiencies.
    trials
        Trials per cell, per N (a missing N uses ``default_trials``).
    times_n_values, times_etas
        Cells that also run the arrival-time estimator on the same records.
    dark_counts_per_gate
        Dark plus background counts per gate (modelled).
    cap
        Largest number of pulses of a shot.
    preset
        ``[atoms] preset`` of the lab; ``"bad-cavity"`` keeps photon times inside the cascade
        model the time-resolved likelihood assumes.
    seed
        Base seed; each cell derives its own.
    backend
        Estimator backend.
    """

    n_values: tuple[int, ...] = (100, 1000, 10000)
    etas: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    trials: dict[int, int] = field(default_factory=lambda: {100: 300, 1000: 200, 10000: 100})
    default_trials: int = 100
    times_n_values: tuple[int, ...] = (100, 1000)
    times_etas: tuple[float, ...] = (0.3, 0.5, 0.7)
    dark_counts_per_gate: float = 0.02
    cap: int = 600
    preset: str = "bad-cavity"
    seed: int = 2024
    backend: str = "auto"

    @classmethod
    def quick(cls) -> PolicyStudy:
        """Return a small study for smoke tests (seconds, not minutes)."""
        return cls(n_values=(100,), etas=(0.5, 0.9), trials={100: 12}, times_n_values=(100,),
                   times_etas=(0.5,), cap=200)


@dataclass(frozen=True)
class StopRecord:
    """Record where one policy stopped in one trial."""

    switches: int
    wrong: bool
    f_ratio: float
    capped: bool


@dataclass(frozen=True)
class CellResult:
    """Hold the stops of every (estimator, policy) of one cell."""

    n_atoms: int
    eta: float
    trials: int
    stops: dict[tuple[str, str], list[StopRecord]]


def _cell_seed(study: PolicyStudy, n_atoms: int, eta: float) -> int:
    return int(np.random.SeedSequence([study.seed, n_atoms, round(eta * 1000)])
               .generate_state(1)[0])


@dataclass(frozen=True)
class PolicyParams:
    """Set one point of the policy study (the ``policy`` kind's parameters).

    Attributes
    ----------
    n_atoms, eta
        Atom number and detection efficiency.
    times
        Also run the arrival-time estimator on the same records.
    dark_counts_per_gate, cap, preset, backend
        As in :class:`PolicyStudy`.
    """

    n_atoms: int = 100
    eta: float = 0.5
    times: bool = False
    dark_counts_per_gate: float = 0.02
    cap: int = 600
    preset: Literal["paper", "bad-cavity", "custom"] = "bad-cavity"
    backend: Literal["auto", "numpy", "numba"] = "auto"

    def __post_init__(self) -> None:
        if self.n_atoms < 1:
            raise ValueError(f"n_atoms must be >= 1, got {self.n_atoms}")
        if not 0.0 < self.eta <= 1.0:
            raise ValueError(f"eta must lie in (0, 1], got {self.eta}")
        if not self.dark_counts_per_gate >= 0.0:
            raise ValueError(
                f"dark_counts_per_gate must be >= 0, got {self.dark_counts_per_gate}")
        if self.cap < 2:
            raise ValueError(f"cap must be >= 2, got {self.cap}")


def _column(estimator: str, policy: str, metric: str) -> str:
    return f"{estimator}_{policy[1]}_{metric}"  # policy names start "(a) ", "(b) ", ...


def policy_trial(params: PolicyParams, rng: np.random.Generator) -> Record:
    """Run one shot with every policy reading the same record; return where each stopped."""
    # Studies are the composition layer: the lab is loaded here, never imported by core modules.
    lab_module = importlib.import_module("heralder.simulators.lab")
    n_atoms = params.n_atoms
    atoms = AtomsConfig(n_atoms=n_atoms, preset=params.preset)
    det = study_detector(atoms, params.eta, params.dark_counts_per_gate)
    lab = lab_module.VirtualLab(atoms, det, SimClock(), int(rng.integers(2**63)),
                                times=params.times)
    posts = {name: Posterior(n_atoms, det, backend=params.backend)
             for name in (("counts", "times") if params.times else ("counts",))}
    f_bar = mean_qfi(n_atoms, 1.0)
    policies = {(e, p): make_policy(c, n_atoms, det) for e in posts
                for p, c in default_policies(params.cap).items()}
    record: Record = {}

    def stop(key: tuple[str, str], post: Posterior, decision: Any, pulse: Any) -> None:
        record[_column(*key, "switches")] = post.pulses - 1
        record[_column(*key, "wrong")] = post.map_S != pulse.true_s_after
        record[_column(*key, "f_ratio")] = post.qfi() / f_bar
        record[_column(*key, "capped")] = decision.reason == "max_pulses"

    lab.new_shot()
    run_policies(lab, posts, {"times"}, policies, params.cap, stop)
    return record


def _cell(n_atoms: int, eta: float, records: list[Mapping[str, Any]]) -> CellResult:
    """Gather the records of one cell's trials into a :class:`CellResult`."""
    stops: dict[tuple[str, str], list[StopRecord]] = {}
    for estimator in ("counts", "times"):
        for policy in default_policies(2):
            keys = [_column(estimator, policy, m) for m in ("switches", "wrong", "f_ratio",
                                                            "capped")]
            rows = [[r.get(k) for k in keys] for r in records]
            if rows and all(v is not None and v == v for row in rows for v in row):  # no NaN
                stops[(estimator, policy)] = [
                    StopRecord(int(s), bool(w), float(f), bool(c)) for s, w, f, c in rows]
    return CellResult(n_atoms, eta, len(records), stops)


def run_cell(study: PolicyStudy, n_atoms: int, eta: float, *, with_times: bool,
             progress: Callable[[int], None] | None = None) -> CellResult:
    """Run every trial of one (N, η) cell in this process; return where each policy stopped.

    Parameters
    ----------
    study
        The study settings.
    n_atoms, eta
        The cell.
    with_times
        Also run the arrival-time estimator on the same records.
    progress
        Called with 1 after each trial.
    """
    params = _params(study, n_atoms, eta, with_times)
    records = []
    seeds = np.random.SeedSequence(_cell_seed(study, n_atoms, eta))
    for child in seeds.spawn(study.trials.get(n_atoms, study.default_trials)):
        records.append(policy_trial(params, np.random.default_rng(child)))
        if progress is not None:
            progress(1)
    return _cell(n_atoms, eta, records)


def _params(study: PolicyStudy, n_atoms: int, eta: float, with_times: bool) -> PolicyParams:
    return PolicyParams(n_atoms=n_atoms, eta=eta, times=with_times,
                        dark_counts_per_gate=study.dark_counts_per_gate, cap=study.cap,
                        preset=study.preset, backend=study.backend)


def summarise(cells: Iterable[CellResult]) -> list[dict[str, object]]:
    """Return one row per (N, η, estimator, policy) with means and standard errors."""
    rows = []
    for cell in cells:
        for (estimator, policy), records in cell.stops.items():
            n = len(records)
            switches = np.array([r.switches for r in records], dtype=float)
            wrong = np.array([r.wrong for r in records], dtype=float)
            f_ratio = np.array([r.f_ratio for r in records])
            p_wrong = float(wrong.mean())
            rows.append({
                "N": cell.n_atoms, "eta": cell.eta, "estimator": estimator, "policy": policy,
                "trials": n,
                "mean_switches": float(switches.mean()),
                "se_switches": float(switches.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0,
                "p_wrong": p_wrong,
                "se_p_wrong": math.sqrt(max(p_wrong * (1 - p_wrong), 0.0) / n),
                "mean_f_ratio": float(f_ratio.mean()),
                "se_f_ratio": float(f_ratio.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0,
                "capped": int(sum(r.capped for r in records)),
            })
    return rows


def study_sweep(study: PolicyStudy) -> Sweep:
    """Return ``study`` as a sweep of the runner (cells in the order N, then η)."""
    points = tuple(
        Point(_params(study, n, eta, n in study.times_n_values and eta in study.times_etas),
              study.trials.get(n, study.default_trials))
        for n in study.n_values for eta in study.etas)
    return Sweep(kind="policy", points=points, seed=study.seed,
                 trials_per_task=KIND.trials_per_task, grid_keys=("eta", "n_atoms", "times"))


def cells_from_frame(frame: Any) -> list[CellResult]:
    """Return one :class:`CellResult` per point of the runner's records (a DataFrame)."""
    return [_cell(int(group["n_atoms"].iloc[0]), float(group["eta"].iloc[0]),
                  group.to_dict("records"))
            for _point, group in frame.groupby("point", sort=True)]


def write_report(frame: Any, out: Path, title: str) -> str:
    """Write ``policy_study.{csv,md,png}`` from the records; return the table and the
    arrival-time comparison as text."""
    rows = summarise(cells_from_frame(frame))
    write_csv(rows, out / "policy_study.csv")
    write_markdown(rows, out / "policy_study.md", title)
    write_png(rows, out / "policy_study.png")
    lines = [(out / "policy_study.md").read_text()]
    for r in times_reduction(rows):
        lines.append(f"arrival times at N={r['N']}, η={r['eta']}: {100 * r['reduction']:.0f} % "
                     f"fewer switches (P(wrong) {r['p_wrong_counts']:.3f} -> "
                     f"{r['p_wrong_times']:.3f})")
    return "\n".join(lines)


def with_overrides(study: PolicyStudy, **changes: object) -> PolicyStudy:
    """Return ``study`` with the given fields replaced (``None`` values are ignored)."""
    return replace(study, **{k: v for k, v in changes.items() if v is not None})


KIND = StudyKind("policy", PolicyParams, policy_trial,
                 "stopping policies, counts vs arrival times, on the virtual lab",
                 trials_per_task=25, report=write_report)
