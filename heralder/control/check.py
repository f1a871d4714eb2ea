"""Connect to each configured device and report it (``heralder check CONFIG``)."""

from __future__ import annotations

import argparse
import json

from heralder.config import Config, load_config
from heralder.errors import HeralderError
from heralder.registry import DeviceContext, build_devices


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the config argument."""
    parser.add_argument("config", help="TOML setup file")
    parser.add_argument("--json", action="store_true", help="print each snapshot as JSON")


def check_devices(config_path: str) -> list[tuple[str, bool, str]]:
    """Open, identify and close every device of a config.

    Returns
    -------
    list of (role, ok, message)
        One entry per device, in config order; ``message`` is the identity or the error.

    Raises
    ------
    ConfigError
        If the file is invalid or names an unknown driver (before any device is touched).
    """
    return check_config(load_config(config_path))


def check_config(config: Config) -> list[tuple[str, bool, str]]:
    """Open, identify and close every device of a loaded config (see :func:`check_devices`)."""
    devices = build_devices(config, DeviceContext(seed=config.run.seed, config=config))
    results: list[tuple[str, bool, str]] = []
    for role, device in devices.items():
        try:
            device.open()
            try:
                snapshot = device.snapshot()
                results.append((role, True, json.dumps(snapshot.settings | {
                    "identity": snapshot.identity, "address": snapshot.address,
                    "driver": snapshot.driver}, default=str)))
            finally:
                device.close()
        except HeralderError as exc:
            results.append((role, False, str(exc)))
    return results


def run(args: argparse.Namespace) -> int:
    """Print one pass/fail line per device; exit 1 if any device failed."""
    results = check_devices(args.config)
    if not results:
        print(f"{args.config}: no devices configured")
        return 0
    for role, ok, message in results:
        if ok and not args.json:
            info = json.loads(message)
            head = f"{info.pop('identity')} at {info.pop('address')} ({info.pop('driver')})"
            message = head + "; " + ", ".join(f"{k}={v}" for k, v in info.items())
        print(f"{'PASS' if ok else 'FAIL'} {role}: {message}")
    return 0 if all(ok for _, ok, _ in results) else 1
