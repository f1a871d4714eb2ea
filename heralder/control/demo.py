"""Run the simulated lab end to end (``heralder demo``, what ``make run`` runs).

The default experiment: N = 1000 atoms with the paper's cavity, η = 0.7, 500 counts/s of dark
and background counts, 22 ns dead time, 0.5 % afterpulsing, the value-of-information policy,
200 shots. Devices: the real SR400 and LCC25 drivers talking to their byte-level emulators through
``sim://`` transports, on the virtual lab (``--in-process`` uses the in-process simulated
devices instead). Time is simulated, so the run takes seconds.
"""

from __future__ import annotations

import argparse

from heralder.config import config_from_dict
from heralder.control.run_cmd import _common_options, apply_overrides, execute

__all__ = ["demo_config", "run"]


def demo_config(in_process: bool = False) -> dict:
    """Return the demo's config as TOML-like data."""
    if in_process:
        devices = {"counter": {"driver": "virtual_counter", "address": "sim://lab"},
                   "switch": {"driver": "virtual_switch", "address": "sim://lab"}}
    else:
        devices = {"counter": {"driver": "sr400", "address": "sim://sr400"},
                   "switch": {"driver": "lcc25", "address": "sim://lcc25"}}
    return {
        "run": {"name": "demo", "seed": 2026, "shots": 200, "mode": "stepped"},
        "atoms": {"n_atoms": 1000, "preset": "paper"},
        "detector": {"eta": 0.7, "dark_rate_hz": 500.0, "gate_s": 4e-3,
                     "dead_time_s": 22e-9, "afterpulse_prob": 0.005},
        "policy": {"kind": "voi", "min_pulses": 2, "max_pulses": 400},
        # F(ρ) after every pulse is for the GUI's live history; the demo needs it per herald.
        "engine": {"pulse_period_s": 50e-3, "decision_deadline_s": 20e-3,
                   "qfi_every_pulse": False},
        "devices": devices,
        "storage": {"root": "runs"},
    }


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options."""
    parser.add_argument("--in-process", action="store_true",
                        help="use in-process simulated devices instead of driver + emulator")
    _common_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its summary."""
    config = apply_overrides(config_from_dict(demo_config(args.in_process)), args)
    path = "in-process virtual devices" if args.in_process else \
        "SR400 + LCC25 drivers -> sim:// emulators -> virtual lab"
    print(f"heralder demo: N = {config.atoms.n_atoms}, eta = {config.detector.eta}, "
          f"{config.run.shots} shots, policy {config.policy.kind}; {path}")
    return execute(config, progress=not args.no_progress, figure=not args.no_figure)
