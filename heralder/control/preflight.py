"""Check before a run that its devices and settings fit; describe the software that records it."""

from __future__ import annotations

import importlib.metadata as md
import platform
from typing import Any

from heralder import __version__
from heralder.config import Config
from heralder.control.interfaces import PatternSwitch, TagSource
from heralder.errors import ConfigError
from heralder.physics.cavity import recommended_gate_s

__all__ = ["check_roles", "gate_warning", "run_versions"]


def run_versions() -> dict[str, str]:
    """Return the versions of heralder, Python and the libraries that shape the data."""
    versions = {"heralder": __version__, "python": platform.python_version()}
    for name in ("numpy", "scipy", "h5py", "numba"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


def check_roles(config: Config, devices: dict[str, Any]) -> None:
    """Raise ConfigError unless the devices can run ``config.run.mode``."""
    if "switch" not in devices:
        raise ConfigError("a run needs a polarisation switch", key="devices.switch")
    if "counter" not in devices and "tagger" not in devices:
        raise ConfigError("a run needs a photon counter or a time tagger", key="devices.counter")
    if config.run.mode == "streamed":
        if not isinstance(devices.get("tagger"), TagSource):
            raise ConfigError("streamed mode needs a time tagger", key="devices.tagger")
        if not isinstance(devices["switch"], PatternSwitch):
            raise ConfigError(f"streamed mode needs a switch with arm_pattern/stop_pattern; "
                              f"{config.devices.switch.driver} has none", key="devices.switch")
    if config.estimator.use_arrival_times and "tagger" not in devices:
        raise ConfigError("use_arrival_times needs a time tagger",
                          key="estimator.use_arrival_times")


def gate_warning(config: Config) -> str | None:
    """Return a warning if ``[detector] gate_s`` is shorter than the cascade of ``[atoms]`` needs.

    A gate that closes before the slowest likely pulse has emitted loses its late photons, so the
    counts, and the heralded S, are biased low. ``None`` when the gate is long enough
    (:func:`heralder.physics.cavity.recommended_gate_s`).
    """
    gate_s, needed_s = config.detector.gate_s, recommended_gate_s(config.atoms)
    if gate_s >= needed_s:
        return None
    return (f"detector.gate_s = {gate_s:.3g} s is shorter than the {needed_s:.3g} s the atoms' "
            "cascade needs (recommended_gate_s): late photons miss the gate and heralds are "
            "biased low")
