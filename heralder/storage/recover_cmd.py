"""Rebuild ``run.h5`` of a run from its journal (``heralder recover RUN``)."""

from __future__ import annotations

import argparse

from heralder.errors import HeralderError
from heralder.storage.recover import recover_run


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the run-directory argument."""
    parser.add_argument("run", help="run directory (runs/<date>/<time>_<uid>)")


def run(args: argparse.Namespace) -> int:
    """Rebuild the file and print what it holds."""
    try:
        report = recover_run(args.run)
    except (FileNotFoundError, ValueError) as exc:
        raise HeralderError(str(exc)) from None
    print(f"rebuilt {report.path}: {report.records} records, {report.shots} shots, "
          f"{'complete run' if report.complete else 'run ended early (no end record)'}")
    if report.bad_lines:
        print(f"skipped undecodable journal line(s) {report.bad_lines}")
    return 0
