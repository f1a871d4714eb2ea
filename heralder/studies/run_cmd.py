"""Command line of the sweep runner: ``heralder study run SWEEP.toml [--out DIR] ...``.

:func:`add_runner_options` and :func:`execute` are shared by every study command, so each runs
in-process, on all cores, on an existing Dask cluster or on SLURM/PBS jobs the same way.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from heralder.errors import ConfigError, HeralderError
from heralder.studies.cluster import BATCH_SYSTEMS, INSTALL_HINT
from heralder.studies.sweep import Sweep, load_sweep

__all__ = ["add_runner_options", "configure_parser", "execute", "run"]


def number_list(kind: type, name: str) -> Callable[[str], tuple]:
    """Return an argparse type that reads a comma-separated list of ``kind``."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(float(v)) if kind is int else kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a comma-separated list") from None
    return parse


def add_runner_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Add the options of where and how a study runs (shared by every study command)."""
    parser.add_argument("--out", type=Path, default=Path(default_out),
                        help=f"output directory (default {default_out})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the results in --out, running only unfinished tasks")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="worker processes of a local Dask cluster (default: one per core; "
                            "0 runs in this process without Dask)")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="run on an existing Dask scheduler")
    where.add_argument("--cluster", choices=BATCH_SYSTEMS, default=None,
                       help="submit Dask workers as batch jobs from the sweep's [cluster] table")
    parser.add_argument("--connect-timeout-s", type=float, default=20.0,
                        help="give up reaching the scheduler after this long (default 20 s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the sweep file argument and the runner options."""
    parser.add_argument("sweep", type=Path, help="the sweep's TOML file")
    add_runner_options(parser, "studies/sweep")


def _studies_module(name: str) -> Any:
    """Import a runner module that needs the optional extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise HeralderError(f"the study runner needs {exc.name}, part of the optional "
                            f"'studies' extra: {INSTALL_HINT}") from None


def execute(sweep: Sweep, args: argparse.Namespace, title: str,
            report: Callable[[Any, Path], str] | None = None) -> int:
    """Run ``sweep`` as ``args`` say, write the summary and print it; return the exit code.

    The exit code is 0, or 1 when a task failed (each failure was printed with its parameters
    and seed; ``--resume`` runs the failed tasks again).
    """
    runner = _studies_module("heralder.studies.runner")
    store = _studies_module("heralder.studies.store")
    cluster = _studies_module("heralder.studies.cluster")
    summary = _studies_module("heralder.studies.summary")
    with cluster.open_client(workers=args.workers, scheduler=args.scheduler,
                             cluster=args.cluster, section=sweep.cluster,
                             timeout_s=args.connect_timeout_s) as client:
        outcome = runner.run_sweep(sweep, args.out, client=client, resume=args.resume,
                                   progress=not args.no_progress)
    for failure in outcome.failures:
        print(f"failed: {failure.task.describe()}: {failure.error}", file=sys.stderr)
    if not store.finished_tasks(args.out):
        print(f"no task finished; nothing to summarise in {args.out}", file=sys.stderr)
        return 1
    frame = store.read_records(args.out)
    params = [f.name for f in fields(sweep.study.params)]
    rows, metrics = summary.summarise_records(frame, params)
    # A kind with its own report draws its own figures; the generic one would repeat them.
    written = summary.write_summary(rows, metrics, list(sweep.grid_keys), args.out, title,
                                    plot=report is None)
    if report is not None:
        print(report(frame, args.out))
    else:
        print((args.out / "summary.md").read_text())
    print(f"{outcome.written} tasks run, {outcome.skipped} already done, "
          f"{len(outcome.failures)} failed, in {outcome.elapsed_s:.1f} s "
          f"({outcome.busy_s:.1f} s of task time); records in {args.out}/tasks, "
          f"summary in {', '.join(str(p) for p in written)}")
    return 1 if outcome.failures else 0


def run_study(name: str, build: Callable[[], tuple[Sweep, int]], args: argparse.Namespace,
              write_report: Callable[[Any, Path, str], str]) -> int:
    """Build a study's sweep with ``build() -> (sweep, seed)``, run it as :func:`execute` does
    and write its own report titled after ``name``; return the exit code.

    Raises
    ------
    ConfigError
        If the study's options are invalid (``build`` raised ``ValueError``).
    """
    try:
        sweep, seed = build()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    title = f"{name} ({'quick' if args.quick else 'full'}, seed {seed})"
    return execute(sweep, args, title, lambda frame, out: write_report(frame, out, title))


def run(args: argparse.Namespace) -> int:
    """Run the sweep file's study."""
    sweep = load_sweep(args.sweep)
    kind = sweep.study
    title = f"{kind.help} ({args.sweep.name}, seed {sweep.seed})"
    report = None
    if kind.report is not None:
        def report(frame: Any, out: Path) -> str:
            return kind.report(frame, out, title)
    return execute(sweep, args, title, report)
