"""Command line of the policy study: ``heralder study policy [--quick] [--out DIR] ...``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from heralder.errors import ConfigError
from heralder.studies.policy import PolicyStudy, run_study, total_trials, with_overrides
from heralder.studies.policy_report import times_reduction, write_csv, write_markdown, write_png

__all__ = ["configure_parser", "run"]


def _numbers(kind: type, name: str) -> Callable[[str], tuple]:
    """Return an argparse type that reads a comma-separated list of ``kind``."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(float(v)) if kind is int else kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a comma-separated list") from None
    return parse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the policy study's options."""
    parser.add_argument("--quick", action="store_true",
                        help="a small grid in seconds (N=100, η=0.5,0.9, 12 trials)")
    parser.add_argument("--out", type=Path, default=Path("studies/policy"),
                        help="output directory (default studies/policy)")
    parser.add_argument("--n-atoms", type=_numbers(int, "--n-atoms"), default=None,
                        help="comma-separated atom numbers (default 100,1000,10000)")
    parser.add_argument("--eta", type=_numbers(float, "--eta"), default=None,
                        help="comma-separated efficiencies (default 0.3,0.5,0.7,0.9)")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per cell for every N (default 300/200/100)")
    parser.add_argument("--times-n-atoms", type=_numbers(int, "--times-n-atoms"), default=None,
                        help="atom numbers that also run arrival times (default 100,1000)")
    parser.add_argument("--no-times", action="store_true", help="counts only")
    parser.add_argument("--cap", type=int, default=None, help="pulses per shot at most")
    parser.add_argument("--dark", type=float, default=None, help="dark counts per gate")
    parser.add_argument("--seed", type=int, default=None, help="base seed")
    parser.add_argument("--backend", choices=("auto", "numpy", "numba"), default=None)


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
    try:
        study = with_overrides(
            study, n_values=args.n_atoms, etas=args.eta, trials=trials, cap=args.cap,
            dark_counts_per_gate=args.dark, seed=args.seed, backend=args.backend,
            times_n_values=() if args.no_times else args.times_n_atoms)
        if not all(0.0 <= e <= 1.0 for e in study.etas):
            raise ValueError(f"--eta values must lie in [0, 1], got {study.etas}")
        args.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        # tqdm draws on a terminal and prints a line every ~5 % to a log file.
        total = total_trials(study)
        interactive = sys.stderr.isatty()
        with tqdm(total=total, desc="policy study", unit="trial", file=sys.stderr,
                  mininterval=0.1 if interactive else 0.0, miniters=1 if interactive
                  else max(total // 20, 1), ascii=not interactive) as bar:
            rows = run_study(study, progress=bar.update)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    elapsed = time.perf_counter() - started
    title = f"Policy study ({'quick' if args.quick else 'full'}, seed {study.seed})"
    write_csv(rows, args.out / "policy_study.csv")
    write_markdown(rows, args.out / "policy_study.md", title)
    write_png(rows, args.out / "policy_study.png")
    print((args.out / "policy_study.md").read_text())
    for r in times_reduction(rows):
        print(f"arrival times at N={r['N']}, η={r['eta']}: {100 * r['reduction']:.0f} % fewer "
              f"switches (P(wrong) {r['p_wrong_counts']:.3f} -> {r['p_wrong_times']:.3f})")
    print(f"wrote {args.out}/policy_study.{{md,csv,png}} in {elapsed:.0f} s")
    return 0
