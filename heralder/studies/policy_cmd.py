"""Command line of the policy study: ``heralder study policy [--quick] [--out DIR] ...``.

The study runs on the sweep runner (``--workers``, ``--scheduler``, ``--cluster``, ``--resume``
as for ``heralder study run``); the grid comes from the options instead of a TOML file.
"""

from __future__ import annotations

import argparse
from typing import Any

from heralder.errors import ConfigError
from heralder.studies.policy import PolicyStudy, study_sweep, with_overrides, write_report
from heralder.studies.run_cmd import add_runner_options, number_list, run_study

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the policy study's options."""
    parser.add_argument("--quick", action="store_true",
                        help="a small grid in seconds (N=100, η=0.5,0.9, 12 trials)")
    parser.add_argument("--n-atoms", type=number_list(int, "--n-atoms"), default=None,
                        help="comma-separated atom numbers (default 100,1000,10000)")
    parser.add_argument("--eta", type=number_list(float, "--eta"), default=None,
                        help="comma-separated efficiencies (default 0.3,0.5,0.7,0.9)")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per cell for every N (default 300/200/100)")
    parser.add_argument("--times-n-atoms", type=number_list(int, "--times-n-atoms"), default=None,
                        help="atom numbers that also run arrival times (default 100,1000)")
    parser.add_argument("--no-times", action="store_true", help="counts only")
    parser.add_argument("--cap", type=int, default=None, help="pulses per shot at most")
    parser.add_argument("--dark", type=float, default=None, help="dark counts per gate")
    parser.add_argument("--seed", type=int, default=None, help="base seed")
    parser.add_argument("--backend", choices=("auto", "numpy", "numba"), default=None)
    add_runner_options(parser, "studies/policy")


def run(args: argparse.Namespace) -> int:
    """Run the study, write Markdown, CSV and PNG into ``--out`` and print the table."""
    study = PolicyStudy.quick() if args.quick else PolicyStudy()
    trials = None
    if args.trials is not None:
        if args.trials < 2:
            raise ConfigError(f"--trials must be >= 2, got {args.trials}")
        trials = dict.fromkeys(args.n_atoms or study.n_values, args.trials)
    if args.cap is not None and args.cap < 2:
        raise ConfigError(f"--cap must be >= 2, got {args.cap}")
    def build() -> tuple[Any, int]:
        chosen = with_overrides(
            study, n_values=args.n_atoms, etas=args.eta, trials=trials, cap=args.cap,
            dark_counts_per_gate=args.dark, seed=args.seed, backend=args.backend,
            times_n_values=() if args.no_times else args.times_n_atoms)
        return study_sweep(chosen), chosen.seed

    return run_study("Policy study", build, args, write_report)
