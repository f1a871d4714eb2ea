"""Declare the contracts every driver, simulator and fake implements (DESIGN §3).

These are plain :class:`typing.Protocol` classes, checked at run time with ``isinstance``; one
shared contract test suite runs against every implementation. Times are host-clock seconds, except
time tags (int64 picoseconds); every blocking call takes an explicit ``timeout_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from heralder.control.clock import Clock
from heralder.control.records import (
    CountBlock,
    CounterSettings,
    DeviceSnapshot,
    SwitchAck,
    SwitchState,
    TagBlock,
)

__all__ = [
    "AtomSource",
    "Clock",
    "Device",
    "PatternSwitch",
    "PhotonCounter",
    "PolarizationSwitch",
    "PulseTrigger",
    "TagSource",
]


@runtime_checkable
class Device(Protocol):
    """Open, close, identify and describe an instrument."""

    name: str

    def open(self) -> None:
        """Connect to the instrument; opening an open device does nothing."""
        ...

    def close(self) -> None:
        """Disconnect, leaving the instrument safe; closing a closed device does nothing."""
        ...

    @property
    def is_open(self) -> bool:
        """Return ``True`` while connected."""
        ...

    def identify(self) -> str:
        """Return the instrument's identification string."""
        ...

    def snapshot(self) -> DeviceSnapshot:
        """Return the device's identity and every setting that affects the data."""
        ...


@runtime_checkable
class PhotonCounter(Device, Protocol):
    """Count photons in gates opened by the pulse marker."""

    def configure(
        self, gate_s: float, threshold_v: float = -0.01, trigger: str = "external"
    ) -> CounterSettings:
        """Set the gate, discriminator and trigger; return the settings read back."""
        ...

    def arm(self, n_gates: int) -> None:
        """Start counting the next ``n_gates`` gates."""
        ...

    def read(self, timeout_s: float) -> CountBlock:
        """Return the gates completed since the last read (at least one), or raise on timeout."""
        ...


@runtime_checkable
class TagSource(Device, Protocol):
    """Stream time tags of the photon detector and the pulse marker."""

    click_channel: int
    marker_channel: int

    def start(self) -> None:
        """Start streaming tags."""
        ...

    def stop(self) -> None:
        """Stop streaming tags."""
        ...

    def read(self, timeout_s: float) -> TagBlock:
        """Return the tags collected since the last read, or raise on timeout."""
        ...


@runtime_checkable
class PolarizationSwitch(Device, Protocol):
    """Set the drive polarisation to TC or anti-TC, with read-back."""

    settle_time_s: float
    safe_state: SwitchState

    def set_state(self, state: SwitchState, timeout_s: float) -> SwitchAck:
        """Apply ``state``, read it back and return the acknowledgement."""
        ...

    def get_state(self, timeout_s: float) -> SwitchState:
        """Return the state the instrument reports."""
        ...


@runtime_checkable
class PatternSwitch(PolarizationSwitch, Protocol):
    """Alternate the polarisation on a hardware clock (streamed mode)."""

    def arm_pattern(self, pattern: Sequence[SwitchState], timeout_s: float) -> None:
        """Load ``pattern`` and step through it on each external trigger."""
        ...

    def stop_pattern(self, timeout_s: float) -> SwitchAck:
        """Stop the pattern, go to the safe state and return its acknowledgement."""
        ...


@runtime_checkable
class PulseTrigger(Device, Protocol):
    """Fire one drive pulse (e.g. a function generator burst)."""

    def fire(self, timeout_s: float) -> float:
        """Fire one pulse and return the host time it was sent."""
        ...


@runtime_checkable
class AtomSource(Protocol):
    """Prepare the atoms of each shot and report the simulated truth (simulated labs only).

    A real lab prepares its atoms outside heralder and has no atom source. A simulated lab puts
    one in ``DeviceContext.shared["lab"]`` (the context the engine builds its devices with); after
    opening the devices the engine calls :meth:`new_shot` before the first pulse of every shot and
    reads :attr:`true_s` at the herald (stored as the herald's ``true_s``, for accuracy figures).
    """

    @property
    def true_s(self) -> int:
        """Return the atoms' spin length now (the truth the estimator tries to find)."""
        ...

    def new_shot(self, fixed_s: int | None = None) -> int:
        """Prepare |m_F=0>^⊗N for a new shot and return its spin length."""
        ...
