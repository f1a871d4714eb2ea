"""Command line of the timing study: ``heralder study timing [--quick] [--out DIR] ...``.

The grid: the paper's preset and the custom cavities x ∈ {0.1, 0.5, 1, 2} (x = √S λ/(κ/2) at
the prior's most probable S), N ∈ {1000, 10⁴}, η ∈ {0.5, 0.7}, data from the exact dynamics at
every cavity and from the cascade at the paper's preset (the same at every x, see
:class:`TimingStudy`). It runs on the sweep runner (``--workers``, ``--scheduler``, ``--cluster``,
``--resume`` as for ``heralder study run``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any

from heralder.errors import ConfigError
from heralder.studies.run_cmd import add_runner_options, number_list, run_study
from heralder.studies.sweep import Point, Sweep
from heralder.studies.timing import KIND, TimingParams
from heralder.studies.timing_report import write_report

__all__ = ["TimingStudy", "configure_parser", "run", "study_sweep"]


@dataclass(frozen=True)
class TimingStudy:
    """Describe the timing study's grid and trials.

    Attributes
    ----------
    x_values
        x of the custom cavities.
    presets
        Named presets run beside them (``"paper"``, ``"bad-cavity"``).
    n_values, etas
        Atom numbers and efficiencies.
    cascade_everywhere
        Run cascade data at every cavity. By default only at the presets (at the first cavity if
        there is none): the custom cavities share the paper's Γ, and cascade data depend on Γ
        alone, so one cascade point per (N, η) stands for every x.
    trials
        Trials per point, per N (a missing N uses ``default_trials``).
    cap, dead_time_s, seed, backend
        As in :class:`~heralder.studies.timing.TimingParams`; the seed roots every stream.
    """

    x_values: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0)
    presets: tuple[str, ...] = ("paper",)
    n_values: tuple[int, ...] = (1000, 10000)
    etas: tuple[float, ...] = (0.5, 0.7)
    cascade_everywhere: bool = False
    trials: dict[int, int] = field(default_factory=lambda: {1000: 12, 10000: 2})
    default_trials: int = 2
    cap: int = 300
    dead_time_s: float = 22e-9
    seed: int = 2026
    backend: str = "auto"

    @classmethod
    def quick(cls) -> TimingStudy:
        """Return a small study for smoke tests (about a minute)."""
        return cls(x_values=(0.5, 2.0), n_values=(100,), etas=(0.5,), trials={100: 4}, cap=120)


def study_sweep(study: TimingStudy) -> Sweep:
    """Return ``study`` as a sweep of the runner (points in the order N, η, cavity, data).

    Raises
    ------
    ValueError
        If a parameter is out of range (names it).
    """
    cavities = [("custom", x) for x in study.x_values] + [(p, 1.0) for p in study.presets]
    with_cascade = cavities if study.cascade_everywhere else (
        cavities[len(study.x_values):] or cavities[:1])
    points = tuple(
        Point(TimingParams(n_atoms=n, eta=eta, preset=preset, x=x, dynamics=dynamics,
                           dead_time_s=study.dead_time_s, cap=study.cap,
                           backend=study.backend),
              study.trials.get(n, study.default_trials))
        for n in study.n_values for eta in study.etas for preset, x in cavities
        for dynamics in (("exact", "cascade") if (preset, x) in with_cascade else ("exact",)))
    return Sweep(kind="timing", points=points, seed=study.seed,
                 trials_per_task=KIND.trials_per_task,
                 grid_keys=("preset", "x", "n_atoms", "eta", "dynamics"))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the timing study's options."""
    parser.add_argument("--quick", action="store_true",
                        help="a small grid in about a minute (N=100, x=0.5,2, η=0.5, 4 trials)")
    parser.add_argument("--x", type=number_list(float, "--x"), default=None,
                        help="comma-separated x of the custom cavities (default 0.1,0.5,1,2)")
    parser.add_argument("--no-paper", action="store_true", help="leave out the paper preset")
    parser.add_argument("--cascade-everywhere", action="store_true",
                        help="cascade data at every cavity (default: at the presets only, "
                             "since cascade data do not depend on x at the paper's Γ)")
    parser.add_argument("--n-atoms", type=number_list(int, "--n-atoms"), default=None,
                        help="comma-separated atom numbers (default 1000,10000)")
    parser.add_argument("--eta", type=number_list(float, "--eta"), default=None,
                        help="comma-separated efficiencies (default 0.5,0.7)")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per point for every N (default 12 at N=1000, 2 at 10⁴)")
    parser.add_argument("--cap", type=int, default=None, help="pulses per shot at most")
    parser.add_argument("--dead-time-s", type=float, default=None,
                        help="detector dead time in seconds (default 22e-9)")
    parser.add_argument("--seed", type=int, default=None, help="base seed")
    parser.add_argument("--backend", choices=("auto", "numpy", "numba"), default=None)
    add_runner_options(parser, "studies/timing")


def run(args: argparse.Namespace) -> int:
    """Run the study, write Markdown, CSV and PNG into ``--out`` and print the table."""
    study = TimingStudy.quick() if args.quick else TimingStudy()
    if args.trials is not None and args.trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {args.trials}")
    changes: dict[str, Any] = {
        "x_values": args.x, "n_values": args.n_atoms, "etas": args.eta, "cap": args.cap,
        "dead_time_s": args.dead_time_s, "seed": args.seed, "backend": args.backend,
        "presets": () if args.no_paper else None,
        "cascade_everywhere": args.cascade_everywhere or None,
        "trials": (None if args.trials is None
                   else dict.fromkeys(args.n_atoms or study.n_values, args.trials))}
    def build() -> tuple[Sweep, int]:
        chosen = replace(study, **{k: v for k, v in changes.items() if v is not None})
        return study_sweep(chosen), chosen.seed

    return run_study("Timing study", build, args, write_report)
