"""Open the lab window (``heralder gui [CONFIG] [--screenshot FILE.png --shots N]``)."""

from __future__ import annotations

import argparse

from heralder.config import load_config


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the optional config and the screenshot mode."""
    parser.add_argument("config", nargs="?", help="TOML setup file (default: the simulated lab)")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="run --shots shots offscreen, save the window as PNG and exit")
    parser.add_argument("--shots", type=int, default=20,
                        help="shots of the screenshot run (default 20)")
    parser.add_argument("--timeout-s", type=float, default=600.0,
                        help="give up a screenshot run after this long (default 600)")


def run(args: argparse.Namespace) -> int:
    """Open the window, or take the screenshot; return the exit code."""
    from heralder.gui.app import run_window, save_screenshot, simulated_config

    config = load_config(args.config) if args.config else simulated_config()
    if args.screenshot is None:
        return run_window(config)
    final = save_screenshot(config, args.screenshot, shots=args.shots, timeout_s=args.timeout_s)
    print(f"{args.screenshot}: {final.heralded} of {final.shots_total} shots heralded "
          f"({final.state.value}); run data in {final.run_dir or '(not recorded)'}")
    return 0
