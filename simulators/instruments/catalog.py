"""Build instrument emulators by model name and find the one a ``sim://`` address refers to.

A run's emulators live in ``context.shared["emulators"]`` keyed by address, so closing and
reopening a ``sim://`` port reaches the same instrument (its settings survive, like a real unit's),
and faults are those of the ``[[faults]]`` entries whose ``device`` is the role configured with
that address (or the ``?role=`` query of the URL).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from heralder.simulators.faults import FaultInjector
from heralder.simulators.instruments.base import Emulator
from heralder.simulators.instruments.lablink import link_from_context

__all__ = ["EMULATORS", "emulator_for_address", "make_emulator", "parse_sim_url"]

#: Model name -> "module:class" of its emulator.
EMULATORS: dict[str, str] = {
    "sr400": "heralder.simulators.instruments.sr400:SR400Emulator",
    "53230a": "heralder.simulators.instruments.keysight_53230a:Keysight53230AEmulator",
    "53220a": "heralder.simulators.instruments.keysight_53230a:Keysight53220AEmulator",
    "lcc25": "heralder.simulators.instruments.lcc25:LCC25Emulator",
    "33522b": "heralder.simulators.instruments.keysight_33500:Keysight33500Emulator",
}
#: Driver names and other spellings accepted for a model.
ALIASES = {"keysight_53230a": "53230a", "keysight_33500": "33522b", "33500b": "33522b"}
_LOCK = threading.Lock()


def parse_sim_url(url: str) -> tuple[str, str | None]:
    """Return ``(model, role)`` of ``sim://<model>[?role=<role>]``.

    Raises
    ------
    ValueError
        If the URL is not a ``sim://`` URL of a known model.
    """
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise ValueError(f"expected a sim://<instrument> URL, got {url!r}")
    model = ALIASES.get(parts.netloc.lower(), parts.netloc.lower())
    if model not in EMULATORS:
        raise ValueError(f"unknown instrument {parts.netloc!r} in {url!r} "
                         f"(known: {', '.join(sorted(EMULATORS))})")
    roles = parse_qs(parts.query).get("role")
    return model, roles[0] if roles else None


def make_emulator(model: str, context: Any, role: str | None = None,
                  auto_alternate: bool = False) -> Emulator:
    """Return a new emulator of ``model`` on the context's lab, with the role's faults."""
    model = ALIASES.get(model.lower(), model.lower())
    if model not in EMULATORS:
        raise ValueError(f"unknown instrument {model!r} (known: {', '.join(sorted(EMULATORS))})")
    module_name, cls_name = EMULATORS[model].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    config = getattr(context, "config", None)
    faults = FaultInjector.for_role(config.faults if config else (), context.seed, role or "")
    return cls(link_from_context(context, auto_alternate=auto_alternate), faults=faults)


def _role_of(context: Any, url: str) -> str | None:
    config = getattr(context, "config", None)
    if config is None:
        return None
    for role, device in config.devices.items():
        if device.address.split("?")[0] == url.split("?")[0]:
            return role
    return None


def emulator_for_address(url: str, context: Any) -> Emulator:
    """Return the run's emulator behind ``url`` (made on first use)."""
    model, role = parse_sim_url(url)
    with _LOCK:
        emulators = context.shared.setdefault("emulators", {})
        if url not in emulators:
            emulators[url] = make_emulator(model, context, role or _role_of(context, url))
        return emulators[url]
