"""Run the Monte Carlo studies: ``heralder study run SWEEP.toml`` or ``heralder study <name>``.

``heralder study run`` runs any study kind of :data:`heralder.studies.kinds.KINDS` from a sweep
file (add a kind there, see :mod:`heralder.studies.kinds`). A study with its own options (the
policy study's grid flags) is a module exposing ``configure_parser(parser)`` and
``run(args) -> int`` named in :data:`STUDIES`, imported only when that study is chosen.
"""

from __future__ import annotations

import argparse
import functools
import importlib

from heralder.cli import LazySubcommands

__all__ = ["STUDIES", "configure_parser", "run"]

#: Study kind -> (module with configure_parser/run, one-line help).
STUDIES: dict[str, tuple[str, str]] = {
    "run": ("heralder.studies.run_cmd",
            "run the sweep declared in a TOML file (any study kind) on Dask or in-process"),
    "policy": ("heralder.studies.policy_cmd",
               "compare the stopping policies, counts vs arrival times, on the virtual lab"),
    "timing": ("heralder.studies.timing_cmd",
               "exact vs cascade photon timing: what it does to heralding, and the fallback"),
}


def _configure(sub: argparse.ArgumentParser, module_name: str) -> None:
    module = importlib.import_module(module_name)
    module.configure_parser(sub)
    sub.set_defaults(study_run=module.run)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Attach one sub-command per study kind (its module is imported only when chosen)."""
    kinds = parser.add_subparsers(dest="study", metavar="STUDY", required=True,
                                  action=LazySubcommands)
    for name, (module_name, help_text) in STUDIES.items():
        kinds.add_lazy(name, help_text, functools.partial(_configure, module_name=module_name))


def run(args: argparse.Namespace) -> int:
    """Run the chosen study."""
    return int(args.study_run(args))
