"""Map a config's ``driver = "..."`` to the factory that builds the device (DESIGN §7).

Built-in drivers and simulators are named here by dotted path and imported only when used, so the
core never imports :mod:`heralder.drivers` or :mod:`heralder.simulators` on its own. Third-party
packages add drivers through the ``heralder.drivers`` entry-point group or :func:`register`.

A factory is called as ``factory(role, device_config, context)`` and returns a closed device that
implements the Protocol of its role (:mod:`heralder.control.interfaces`). ``context`` carries what
simulated devices share within one run (the clock, the virtual lab, the seed).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from heralder.config import Config, DeviceConfig
from heralder.control.clock import Clock, WallClock
from heralder.errors import ConfigError

__all__ = [
    "BUILTIN_DRIVERS",
    "DeviceContext",
    "active_context",
    "available_drivers",
    "build_device",
    "build_devices",
    "register",
]


@dataclass
class DeviceContext:
    """Carry what the devices of one run share.

    Attributes
    ----------
    clock
        The clock of the run (simulated devices advance it).
    seed
        Seed of the run, from which simulated devices spawn their random streams.
    shared
        Objects simulated devices of one run share, e.g. the virtual lab under ``"lab"``.
    config
        The whole setup, for simulated devices that need the atoms and detector sections.
    """

    clock: Clock = field(default_factory=WallClock)
    seed: int = 0
    config: Config | None = None
    shared: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[str, DeviceConfig, DeviceContext], Any]

#: Driver name -> ``"module:callable"`` of its factory.
BUILTIN_DRIVERS: dict[str, str] = {
    "sr400": "heralder.drivers.sr400:from_config",
    "keysight_53230a": "heralder.drivers.keysight_53230a:from_config",
    "swabian": "heralder.drivers.swabian:from_config",
    "lcc25": "heralder.drivers.lcc25:from_config",
    "keysight_33500": "heralder.drivers.keysight_33500:from_config",
    "virtual_counter": "heralder.simulators.devices:counter_from_config",
    "virtual_tagger": "heralder.simulators.devices:tagger_from_config",
    "virtual_switch": "heralder.simulators.devices:switch_from_config",
}

_registered: dict[str, Factory] = {}
_active_context: DeviceContext | None = None


def active_context() -> DeviceContext:
    """Return the context of the devices built last by :func:`build_devices`.

    Byte-level emulators reached through a ``sim://`` URL are opened by pyserial, not by a factory;
    they find the run's clock, seed, config and shared virtual lab here.
    """
    global _active_context
    if _active_context is None:
        _active_context = DeviceContext()
    return _active_context


def register(name: str, factory: Factory) -> None:
    """Make ``factory`` available as ``driver = name`` (overrides a built-in of that name)."""
    if not name or not callable(factory):
        raise ValueError("register() needs a non-empty name and a callable factory")
    _registered[name] = factory


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group="heralder.drivers")}


def available_drivers() -> list[str]:
    """Return every driver name a config may use, sorted."""
    return sorted(set(BUILTIN_DRIVERS) | set(_registered) | set(_entry_points()))


def _resolve(name: str, where: str) -> Factory:
    if name in _registered:
        return _registered[name]
    target = BUILTIN_DRIVERS.get(name)
    if target is None:
        entry = _entry_points().get(name)
        if entry is None:
            raise ConfigError(
                f"unknown driver '{name}' (available: {', '.join(available_drivers())})",
                key=f"{where}.driver",
            )
        return entry.load()
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(
                f"driver '{name}' is not available in this installation ({module_name} missing)",
                key=f"{where}.driver",
            ) from None
        raise
    return getattr(module, attr)


def build_device(role: str, device: DeviceConfig, context: DeviceContext | None = None) -> Any:
    """Build the (closed) device for ``role`` from its config.

    Raises
    ------
    ConfigError
        If the driver is unknown or rejects its settings; the message names the device.
    """
    where = f"devices.{role}"
    factory = _resolve(device.driver, where)
    try:
        return factory(role, device, context or DeviceContext())
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc), key=where) from None


def build_devices(config: Config, context: DeviceContext | None = None) -> dict[str, Any]:
    """Build every configured device of ``config`` (closed), sharing one context.

    The context becomes :func:`active_context`, so ``sim://`` emulators opened later share the same
    virtual lab as in-process simulated devices.

    Raises
    ------
    ConfigError
        If any driver is unknown or rejects its settings, before any device is opened.
    """
    global _active_context
    if context is None:
        context = DeviceContext(seed=config.run.seed, config=config)
    elif context.config is None:
        context.config = config
    _active_context = context
    return {role: build_device(role, device, context) for role, device in config.devices.items()}
