"""Run heralding shots on the devices of a config (``heralder run CONFIG``).

Ctrl-C or SIGTERM stops cleanly after the current pulse: switch safe, devices closed, files
finalised. A bad config or a device that cannot be opened fails with one line before any shot.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from heralder.config import Config, load_config, updated_config
from heralder.control.clock import Clock, SimClock
from heralder.control.engine import Engine
from heralder.control.summary import format_summary, summarize, summary_figure
from heralder.errors import HeralderError

__all__ = ["configure_parser", "execute", "run", "run_clock"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the config argument and overrides."""
    parser.add_argument("config", help="TOML setup file")
    _common_options(parser)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shots", type=int, help="number of shots (overrides [run] shots)")
    parser.add_argument("--root", help="storage root (overrides [storage] root)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set policy.kind=\"pmax\" (TOML value)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-figure", action="store_true", help="do not write summary.png")


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    """Return ``config`` with the command line's overrides applied."""
    import tomllib

    changes: dict[str, Any] = {}
    if args.shots is not None:
        changes["run.shots"] = args.shots
    if args.root is not None:
        changes["storage.root"] = args.root
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise HeralderError(f"--set {item!r}: expected KEY=VALUE")
        try:
            changes[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            changes[key.strip()] = value  # a bare word is a string
    return updated_config(config, changes) if changes else config


def execute(config: Config, *, progress: bool = True, figure: bool = True,
            clock: Any = None) -> int:
    """Run ``config`` to the end with a progress bar, print the summary; return the exit code."""
    engine = Engine(config, clock=clock if clock is not None else run_clock(config))
    stop_requested = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop_requested.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    started = time.perf_counter()
    try:
        engine.start()
        engine.wait_ready()
        _follow(engine, stop_requested, progress)
    finally:
        if not engine.join(0):
            engine.stop(timeout_s=60.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    wall_s = time.perf_counter() - started
    summary = summarize(engine, wall_s)
    print(format_summary(summary))
    if figure and engine.heralds:
        print(f"summary figure      {summary_figure(engine, f'{engine.run_dir}/summary.png')}")
    if engine.error is not None:
        print(f"error: {type(engine.error).__name__}: {engine.error}", file=sys.stderr)
        return 1
    return 0


def _follow(engine: Engine, stop_requested: threading.Event, progress: bool) -> None:
    """Show progress until the engine ends; forward a stop request."""
    from tqdm import tqdm

    bar = tqdm(total=engine.config.run.shots, unit="shot", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    try:
        while not engine.join(0.1):
            if stop_requested.is_set():
                bar.write("stopping after the current pulse (switch safe, files finalised)...",
                          file=sys.stderr)
                engine.stop(timeout_s=60.0)
                break
            snap = engine.snapshot()
            bar.total = snap.shots_total
            bar.n = snap.heralded
            bar.set_postfix(pulses=snap.pulses_total, refresh=False)
            bar.refresh()
        bar.n = engine.snapshot().heralded
        bar.refresh()
    finally:
        bar.close()


def run_clock(config: Config) -> Clock | None:
    """Return the clock a run of ``config`` uses: simulated when every device is simulated and
    ``[run] realtime`` is off (the lab then runs as fast as the engine), else ``None`` (wall)."""
    if config.run.realtime is False and _all_simulated(config):
        return SimClock()
    return None


def _all_simulated(config: Config) -> bool:
    """Return ``True`` when every device is simulated (run on a simulated clock)."""
    return all(d.address.startswith("sim://") or d.driver.startswith("virtual_")
               for _, d in config.devices.items())


def run(args: argparse.Namespace) -> int:
    """Load the config and run it."""
    config = apply_overrides(load_config(args.config), args)
    return execute(config, progress=not args.no_progress, figure=not args.no_figure)
