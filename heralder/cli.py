"""Run the ``heralder`` console script: one entry point, one subcommand per job (DESIGN §7).

Each subcommand lives in the module that owns its job and exposes two functions,
``configure_parser(parser)`` and ``run(args) -> int``. The table below names them by dotted path
with their help line, and only the module of the command chosen on the command line is imported
(:class:`LazySubcommands`): ``heralder --version`` and ``heralder --help`` import none of them
(no numba, Dask, h5py or Qt), and a part not yet installed shows up as a subcommand that says
what is missing instead of breaking the others.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from heralder import __version__
from heralder.errors import HeralderError

__all__ = ["COMMANDS", "LazySubcommands", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """Describe one subcommand: its module, a one-line help and the part that provides it."""

    module: str
    help: str
    part: str


COMMANDS: dict[str, Command] = {
    "demo": Command(
        "heralder.control.demo", "run the simulated lab end to end (what `make run` runs)",
        "the run engine (issue 8)"),
    "run": Command(
        "heralder.control.run_cmd", "run heralding shots on the devices of a config",
        "the run engine (issue 8)"),
    "gui": Command(
        "heralder.gui.cli", "open the lab window (simulated lab without a config)",
        "the GUI (issue 9)"),
    "check": Command(
        "heralder.control.check", "connect to each configured device and print its identity",
        "device checks"),
    "config": Command(
        "heralder.config_cmd", "validate or print a TOML setup file", "config tools"),
    "figures": Command(
        "heralder.physics.figures", "reproduce the paper's figures as PNG",
        "the physics core (issue 4)"),
    "validate": Command(
        "heralder.storage.validate_cmd", "check a recorded run directory",
        "storage (issue 8)"),
    "recover": Command(
        "heralder.storage.recover_cmd", "rebuild run.h5 of a run from its journal",
        "storage (issue 8)"),
    "emulate": Command(
        "heralder.simulators.emulate", "serve an instrument emulator on 127.0.0.1",
        "the instrument emulators (issue 7)"),
    "study": Command(
        "heralder.studies.cli", "run a Monte Carlo study (policies, timing, large N)",
        "the studies (issues 5 and 11)"),
    "bench": Command(
        "heralder.bench", "run the benchmarks and print one table", "benchmarks"),
}


class LazySubcommands(argparse._SubParsersAction):
    """Hold subcommands whose parsers are configured only when chosen on the command line.

    Pass it as ``action=`` to ``add_subparsers``; :meth:`add_lazy` adds a subcommand listed
    with its help, and its ``configure(subparser)`` (which may import heavy modules) runs just
    before its arguments are parsed, so ``--help`` of the parent lists every subcommand without
    importing any, and ``CMD --help`` shows the chosen one's options.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, Callable[[argparse.ArgumentParser], None]] = {}

    def add_lazy(self, name: str, help_text: str,
                 configure: Callable[[argparse.ArgumentParser], None]
                 ) -> argparse.ArgumentParser:
        """Add subcommand ``name`` and return its (not yet configured) parser."""
        self._pending[name] = configure
        return self.add_parser(name, help=help_text, description=help_text)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Sequence[str], option_string: str | None = None) -> None:
        configure = self._pending.pop(values[0], None)
        if configure is not None:
            configure(self._name_parser_map[values[0]])
        super().__call__(parser, namespace, values, option_string)


def _load(command: Command) -> ModuleType | None:
    try:
        return importlib.import_module(command.module)
    except ModuleNotFoundError as exc:
        if exc.name and command.module.startswith(exc.name):
            return None
        raise


def _missing(part: str) -> int:
    print(f"heralder: this command is not available yet: {part} is missing", file=sys.stderr)
    return 2


def _configure(sub: argparse.ArgumentParser, command: Command) -> None:
    """Import the chosen command's module and let it add its options."""
    module = _load(command)
    if module is None:
        sub.description = f"{command.help}. Not available yet: {command.part} is missing."
        sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        sub.set_defaults(handler=lambda _args: _missing(command.part))
        return
    module.configure_parser(sub)
    sub.set_defaults(handler=module.run)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser; a subcommand's module is imported only when it is chosen."""
    parser = argparse.ArgumentParser(
        prog="heralder",
        description="Herald many-body entangled states of spin-1 atoms by cavity photon "
        "counting: live estimator, drivers, simulated lab, GUI.",
    )
    parser.add_argument("--version", action="version", version=f"heralder {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v info, -vv debug)")
    parser.add_argument("--log-wire", action="store_true",
                        help="log every byte exchanged with instruments (DEBUG)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       action=LazySubcommands)
    for name, command in COMMANDS.items():
        subparsers.add_lazy(name, command.help, functools.partial(_configure, command=command))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Errors heralder raises on purpose (bad config, silent device, ...) end as one line on stderr
    with exit code 2; Ctrl-C ends with 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_wire:
        logging.getLogger("heralder.wire").setLevel(logging.DEBUG)
        logging.getLogger().setLevel(min(level, logging.DEBUG))
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except HeralderError as exc:
        print(f"heralder {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"heralder {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
