"""Check a recorded run directory (``heralder validate RUN``)."""

from __future__ import annotations

import argparse

from heralder.storage.validate import validate_run


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the run-directory argument."""
    parser.add_argument("run", help="run directory (runs/<date>/<time>_<uid>)")


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 0 if the run is valid, 1 otherwise."""
    report = validate_run(args.run)
    tags = {None: "no time tags", True: "valid Photon-HDF5", False: "NOT valid Photon-HDF5"}
    print(f"{args.run}: {report.shots} shots, {report.pulses} pulses, "
          f"{'complete' if report.complete else 'incomplete'}, {tags[report.photon_hdf5]}")
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"FAIL: {problem}")
    print("PASS" if report.ok else "FAIL")
    return 0 if report.ok else 1
