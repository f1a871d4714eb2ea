"""Define the immutable records that devices, the engine and storage exchange.

Records are frozen dataclasses. Array fields hold numpy arrays that the producer does not touch
again after building the record; times follow DESIGN §10 (``*_s`` float seconds on the host clock,
``*_ps`` int64 picoseconds on an instrument's time base).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class SwitchState(enum.Enum):
    """Name the polarisation a switch applies to the drive laser.

    ``TC`` is the σ− drive (Tavis–Cummings: |S,0⟩ → |S,−S⟩ and |S,+S⟩ → |S,−S⟩); ``ANTI_TC`` is the
    σ+ drive (|S,−S⟩ → |S,+S⟩). The first pulse of a shot is always TC.
    """

    TC = "tc"
    ANTI_TC = "anti_tc"

    def other(self) -> SwitchState:
        """Return the opposite polarisation."""
        return SwitchState.ANTI_TC if self is SwitchState.TC else SwitchState.TC


@dataclass(frozen=True)
class CounterSettings:
    """Hold the settings a photon counter reports back after :meth:`configure`.

    Attributes
    ----------
    gate_s
        Counting window per gate, seconds.
    threshold_v
        Discriminator level of the photon input, volts.
    trigger
        What opens a gate: ``"external"`` (the pulse marker) or ``"internal"``.
    """

    gate_s: float
    threshold_v: float
    trigger: str = "external"


@dataclass(frozen=True)
class CountBlock:
    """Hold the counts of consecutive gates read from a photon counter.

    Attributes
    ----------
    counts
        Registered photon counts, one per gate (int64).
    valid
        ``False`` where the instrument flagged the gate (overflow, missed trigger).
    first_gate
        Index of ``counts[0]`` since :meth:`PhotonCounter.arm`.
    t_read_s
        Host clock time when the block was read.
    """

    counts: np.ndarray
    valid: np.ndarray
    first_gate: int
    t_read_s: float

    def __post_init__(self) -> None:
        if self.counts.shape != self.valid.shape or self.counts.ndim != 1:
            raise ValueError(
                f"counts and valid must be 1-D arrays of one length, got shapes "
                f"{self.counts.shape} and {self.valid.shape}"
            )


@dataclass(frozen=True)
class TagBlock:
    """Hold a block of time tags as a struct of arrays (DESIGN §3).

    Attributes
    ----------
    timestamps_ps
        Tag times, int64 picoseconds on the tagger's time base, non-decreasing.
    channels
        Input channel of each tag (int32); the pulse-marker channel marks pulse starts.
    missed_events
        Number of tags the instrument reports as lost in this block.
    overflow
        ``True`` if the instrument reports an overflow inside the block (data incomplete).
    t_read_s
        Host clock time when the block was read.
    t_end_ps
        Tagger time up to which the stream is complete: no later block holds a tag before it
        (Swabian: the buffer's ``tGetData``); ``-1`` if the source does not say. It lets a
        streamed pulse count as complete once its gate has closed, not only at the next marker.
    """

    timestamps_ps: np.ndarray
    channels: np.ndarray
    missed_events: int = 0
    overflow: bool = False
    t_read_s: float = 0.0
    t_end_ps: int = -1

    def __post_init__(self) -> None:
        if self.timestamps_ps.shape != self.channels.shape or self.timestamps_ps.ndim != 1:
            raise ValueError(
                f"timestamps_ps and channels must be 1-D arrays of one length, got shapes "
                f"{self.timestamps_ps.shape} and {self.channels.shape}"
            )


@dataclass(frozen=True)
class SwitchAck:
    """Record one polarisation change with its read-back and timing.

    Attributes
    ----------
    requested
        The state the host asked for.
    read_back
        The state the instrument reports after the change.
    t_sent_s
        Host clock time when the command left.
    t_ack_s
        Host clock time when the read-back arrived; the state is valid after ``settle_time_s``.
    settle_time_s
        Time the optics need after ``t_ack_s`` before the new polarisation is clean.
    """

    requested: SwitchState
    read_back: SwitchState
    t_sent_s: float
    t_ack_s: float
    settle_time_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Return ``True`` when the read-back matches the request."""
        return self.requested is self.read_back


@dataclass(frozen=True)
class DeviceSnapshot:
    """Describe a device at one moment: what it is, where, and how it is set.

    Attributes
    ----------
    name
        The device's role in the config (``counter``, ``switch``, ...).
    driver
        The registry name of the driver.
    address
        The address it was opened on.
    identity
        The instrument's own identification string.
    settings
        Every setting that affects the data, JSON-serialisable.
    """

    name: str
    driver: str
    address: str
    identity: str
    settings: dict[str, Any] = field(default_factory=dict)
