"""Run the Monte Carlo studies: ``heralder study run SWEEP.toml`` or ``heralder study <name>``.

``heralder study run`` runs any study kind of :data:`heralder.studies.kinds.KINDS` from a sweep
file (add a kind there, see :mod:`heralder.studies.kinds`). A study with its own options (the
policy study's grid flags) is a module exposing ``configure_parser(parser)`` and
``run(args) -> int`` named in :data:`STUDIES`, imported when the command line is built.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["STUDIES", "configure_parser", "run"]

#: Study kind -> (module with configure_parser/run, one-line help).
STUDIES: dict[str, tuple[str, str]] = {
    "run": ("heralder.studies.run_cmd",
            "run the sweep declared in a TOML file (any study kind) on Dask or in-process"),
    "policy": ("heralder.studies.policy_cmd",
               "compare the stopping policies, counts vs arrival times, on the virtual lab"),
}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Attach one sub-command per study kind."""
    kinds = parser.add_subparsers(dest="study", metavar="STUDY", required=True)
    for name, (module_name, help_text) in STUDIES.items():
        sub = kinds.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.configure_parser(sub)
        sub.set_defaults(study_run=module.run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen study."""
    return int(args.study_run(args))
