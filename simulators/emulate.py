"""Serve one instrument emulator on 127.0.0.1 (``heralder emulate INSTRUMENT``).

Any program can then connect, including third-party drivers::

    heralder emulate 33522b --port 5025
    # listening on 127.0.0.1:5025
    # pyvisa: TCPIP::127.0.0.1::5025::SOCKET    pyserial: socket://127.0.0.1:5025

The emulator runs on its own virtual lab (seeded by ``--seed``, or the config's lab and faults
with ``--config``). A counter served alone has no switch device, so its lab alternates TC/anti-TC
on every pulse and starts a new shot every ``--pulses-per-shot`` gates (see
:mod:`heralder.simulators.instruments.lablink`); pass ``--no-alternate`` to leave the switch alone.
"""

from __future__ import annotations

import argparse
import signal
import sys

from heralder.config import Config, load_config
from heralder.control.clock import SimClock, WallClock
from heralder.errors import ConfigError
from heralder.registry import DeviceContext
from heralder.simulators.instruments.catalog import ALIASES, EMULATORS, make_emulator
from heralder.simulators.instruments.lablink import LabLink
from heralder.simulators.lab import lab_from_context
from heralder.simulators.tcp_server import EmulatorServer

__all__ = ["configure_parser", "run", "serve"]

_COUNTERS = {"sr400", "53230a", "53220a"}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the instrument, port, seed and config arguments."""
    parser.add_argument("instrument", help=f"one of {', '.join(sorted(EMULATORS))}")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the virtual lab")
    parser.add_argument("--config", help="TOML setup: lab parameters and [[faults]]")
    parser.add_argument("--role", help="device role whose [[faults]] apply (with --config)")
    parser.add_argument("--pulses-per-shot", type=int, default=20,
                        help="gates per shot of a counter served alone (default 20)")
    parser.add_argument("--no-alternate", action="store_true",
                        help="do not alternate the switch on each pulse")


def warm_up(config: Config | None) -> None:
    """Fire one pulse in a throwaway lab, so compiled kernels are ready before clients connect.

    The first simulated pulse of a process compiles the lab's kernels (about a second), which
    a client with a short timeout would see as a silent instrument; the served lab's own random
    streams are not touched.
    """
    lab = lab_from_context(DeviceContext(clock=SimClock(), seed=0, config=config))
    lab.new_shot()
    lab.fire_pulse()


def serve(instrument: str, *, port: int = 0, seed: int = 0, config: Config | None = None,
          role: str | None = None, pulses_per_shot: int = 20, alternate: bool | None = None
          ) -> EmulatorServer:
    """Return a started server of ``instrument`` on its own virtual lab.

    Raises
    ------
    ConfigError
        If the instrument is unknown or the port cannot be bound.
    """
    model = ALIASES.get(instrument.lower(), instrument.lower())
    if model not in EMULATORS:
        raise ConfigError(f"unknown instrument {instrument!r} (known: "
                          f"{', '.join(sorted(EMULATORS))})")
    warm_up(config)
    context = DeviceContext(clock=WallClock(), seed=seed, config=config)
    auto = model in _COUNTERS if alternate is None else alternate
    context.shared["lab_link"] = LabLink(lab_from_context(context), auto_alternate=auto,
                                         pulses_per_shot=pulses_per_shot)
    emulator = make_emulator(model, context, role)
    try:
        server = EmulatorServer(emulator, port=port)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc}", key="--port") from None
    return server.start()


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    config = load_config(args.config) if args.config else None
    server = serve(args.instrument, port=args.port, seed=args.seed, config=config,
                   role=args.role, pulses_per_shot=args.pulses_per_shot,
                   alternate=False if args.no_alternate else None)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("stopped", file=sys.stderr)
    return 0
