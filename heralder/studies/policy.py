"""Compare the stopping policies, and counts against arrival times, on the virtual lab.

Every trial draws S from |c_S|² in a :class:`heralder.simulators.lab.VirtualLab` and fires
alternating TC / anti-TC pulses (an armed switch pattern, fired in blocks) until every policy has
stopped or the cap is reached. All policies read the same record through one posterior per
estimator, so their differences are not sampling noise between records. The herald is the MAP S;
it is wrong when it differs from the atoms' true S at the stopping pulse. ``F/F̄`` is the QFI of
the heralded mixed state divided by the ideal mean Σ|c_S|² F_S.

Each cell (N, η) is one call of :func:`run_cell`, a pure function of its arguments and seed, so
a parallel runner can map cells without changing the results.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from heralder.config import AtomsConfig, PolicyConfig
from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.estimation import DetectorModel, Posterior, make_policy
from heralder.physics import mean_qfi
from heralder.physics.cavity import cascade_gammas_per_s, recommended_gate_s

__all__ = [
    "CellResult",
    "PolicyStudy",
    "StopRecord",
    "default_policies",
    "run_cell",
    "run_study",
    "summarise",
    "total_trials",
    "with_overrides",
]

#: Pulses fired per block between decisions' bookkeeping (the lab's streamed mode).
_BLOCK = 16


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


def _cell_detector(atoms: AtomsConfig, eta: float, dark: float) -> DetectorModel:
    gamma_tc, gamma_antitc = cascade_gammas_per_s(atoms)
    return DetectorModel(eta=eta, dark_counts_per_gate=dark, gate_s=recommended_gate_s(atoms),
                         gamma_tc_per_s=gamma_tc, gamma_antitc_per_s=gamma_antitc)


def _cell_seed(study: PolicyStudy, n_atoms: int, eta: float) -> int:
    return int(np.random.SeedSequence([study.seed, n_atoms, round(eta * 1000)])
               .generate_state(1)[0])


def run_cell(study: PolicyStudy, n_atoms: int, eta: float, *, with_times: bool,
             progress: Callable[[int], None] | None = None) -> CellResult:
    """Run every trial of one (N, η) cell and return where each policy stopped.

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
    # Studies are the composition layer: the lab is loaded here, never imported by core modules.
    lab_module = importlib.import_module("heralder.simulators.lab")
    atoms = AtomsConfig(n_atoms=n_atoms, preset=study.preset)
    det = _cell_detector(atoms, eta, study.dark_counts_per_gate)
    lab = lab_module.VirtualLab(atoms, det, SimClock(), _cell_seed(study, n_atoms, eta),
                                times=with_times)
    estimators = ("counts", "times") if with_times else ("counts",)
    templates = {name: Posterior(n_atoms, det, backend=study.backend) for name in estimators}
    configs = default_policies(study.cap)
    f_bar = mean_qfi(n_atoms, 1.0)
    trials = study.trials.get(n_atoms, study.default_trials)
    stops: dict[tuple[str, str], list[StopRecord]] = {
        (e, p): [] for e in estimators for p in configs}
    for _ in range(trials):
        lab.new_shot()
        lab.switch.arm_pattern([SwitchState.TC, SwitchState.ANTI_TC])
        posts = {name: t.copy() for name, t in templates.items()}
        active = {(e, p): make_policy(c, n_atoms, det) for e in estimators
                  for p, c in configs.items()}
        fired = 0
        while active and fired < study.cap:
            block = lab.fire_pulses(min(_BLOCK, study.cap - fired))
            for i in range(len(block)):
                pulse = block.pulse(i)
                fired += 1
                running = {key[0] for key in active}
                for name, post in posts.items():
                    if name not in running:  # every policy of this estimator has stopped
                        continue
                    if name == "counts":
                        post.update(pulse.count)
                    else:
                        post.update_times(pulse.times_s, pulse.gate_s)
                for key in list(active):
                    post = posts[key[0]]
                    decision = active[key].decide(post)
                    if decision.stop:
                        stops[key].append(StopRecord(
                            switches=post.pulses - 1, wrong=post.map_S != pulse.true_s_after,
                            f_ratio=post.qfi() / f_bar, capped=decision.reason == "max_pulses"))
                        del active[key]
                if not active:
                    break
        lab.switch.stop_pattern()
        if progress is not None:
            progress(1)
    return CellResult(n_atoms, eta, trials, stops)


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


def run_study(study: PolicyStudy, progress: Callable[[int], None] | None = None,
              ) -> list[dict[str, object]]:
    """Run every cell of ``study`` and return the summary rows."""
    cells = []
    for n_atoms in study.n_values:
        for eta in study.etas:
            with_times = n_atoms in study.times_n_values and eta in study.times_etas
            cells.append(run_cell(study, n_atoms, eta, with_times=with_times,
                                  progress=progress))
    return summarise(cells)


def total_trials(study: PolicyStudy) -> int:
    """Return the number of trials the study runs (for a progress bar)."""
    return sum(study.trials.get(n, study.default_trials) for n in study.n_values) * len(
        study.etas)


def with_overrides(study: PolicyStudy, **changes: object) -> PolicyStudy:
    """Return ``study`` with the given fields replaced (``None`` values are ignored)."""
    return replace(study, **{k: v for k, v in changes.items() if v is not None})
