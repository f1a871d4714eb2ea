"""Validate or print a TOML setup file (``heralder config validate|show FILE``)."""

from __future__ import annotations

import argparse

from heralder.config import dump_config, load_config


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``validate`` and ``show`` actions."""
    parser.add_argument("action", choices=("validate", "show"),
                        help="validate: check the file; show: print it with defaults filled in")
    parser.add_argument("file", help="TOML setup file")


def run(args: argparse.Namespace) -> int:
    """Load the file (raising ConfigError on any problem) and report it."""
    config = load_config(args.file)
    if args.action == "show":
        print(dump_config(config), end="")
    else:
        roles = ", ".join(
            f"{role}={dev.driver}@{dev.address}" for role, dev in config.devices.items()
        )
        print(f"{args.file}: OK (N={config.atoms.n_atoms}, policy={config.policy.kind}, "
              f"devices: {roles or 'none'})")
    return 0
