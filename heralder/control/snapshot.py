"""Define what the engine publishes to observers (GUI, CLI progress) and how they command it.

The engine thread publishes an immutable :class:`EngineSnapshot` in a latest-value slot and
discrete :class:`EngineEvent` s on a queue; observers poll both (the GUI at ~25 Hz) and never
call a device. Commands go the other way through :class:`EngineControl`, and are thread-safe.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

RECENT_HERALDS = 100  # the latest heralds a snapshot carries


class EngineState(enum.Enum):
    """Name the phases of a run."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class HeraldSummary:
    """Describe the end of one shot: what was heralded and how well.

    Attributes
    ----------
    shot
        Shot index within the run.
    map_s
        Heralded spin length (maximum a posteriori).
    pmax
        Posterior probability of ``map_s``.
    qfi
        F(ρ) of the heralded mixed state.
    qfi_ideal
        Σ p_S F_S of the posterior.
    pulses
        Pulses in the shot (switches = pulses − 1).
    final_sign
        ``-1`` for |S,−S⟩ (last pulse TC) or ``+1`` for |S,+S⟩ (last pulse anti-TC).
    true_s
        The simulated truth at the end of the shot (``None`` on real hardware).
    reason
        Why the policy stopped (or ``"deadline"``, ``"fault"``, ``"max_pulses"``).
    """

    shot: int
    map_s: int
    pmax: float
    qfi: float
    qfi_ideal: float
    pulses: int
    final_sign: int
    true_s: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class EngineSnapshot:
    """Hold everything an observer shows, copied so the engine never shares mutable state.

    Attributes
    ----------
    state
        Phase of the run.
    n_atoms
        N of the run (for F/N² and the prior).
    shot, shots_total
        Current shot index and the number requested.
    pulses_total
        Pulses fired since the run started.
    pulses_per_s
        Recent pulse rate on the run's clock.
    latency_p50_s, latency_p99_s
        Decision latency (data in → switch acknowledged) over recent pulses, host wall time.
    heralded
        Shots heralded so far.
    faults, data_loss, deadline_misses
        Counters of device faults, records not written, late decisions.
    counts, states
        This shot's counts per pulse and the polarisation of each (``"tc"``/``"anti_tc"``).
    posterior_s, posterior_p
        The current posterior over S (arrays on its support).
    pmax_history, qfi_history, qfi_ideal_history
        pmax, F(ρ)/N² and F_ideal/N² after each pulse of this shot.
    arrival_times_s
        Photon arrival times of the last pulse, relative to its start (empty without tags).
    true_s
        The simulated truth of this shot (``None`` on real hardware).
    recent_heralds
        The last heralds of the run (bounded).
    run_dir
        Where the run is being recorded.
    message
        Last status line (e.g. the cause of a failure).
    """

    state: EngineState = EngineState.IDLE
    n_atoms: int = 0
    shot: int = 0
    shots_total: int = 0
    pulses_total: int = 0
    pulses_per_s: float = 0.0
    latency_p50_s: float = 0.0
    latency_p99_s: float = 0.0
    heralded: int = 0
    faults: int = 0
    data_loss: int = 0
    deadline_misses: int = 0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    states: tuple[str, ...] = ()
    posterior_s: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    posterior_p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pmax_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    qfi_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    qfi_ideal_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    arrival_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    true_s: int | None = None
    recent_heralds: tuple[HeraldSummary, ...] = ()
    run_dir: str = ""
    message: str = ""


@dataclass(frozen=True)
class EngineEvent:
    """Report one discrete happening (a herald, a fault, a parameter change, a state change).

    Attributes
    ----------
    kind
        ``"state"``, ``"herald"``, ``"fault"``, ``"deadline_miss"``, ``"backpressure"``,
        ``"parameter"``, ``"log"``.
    message
        One human-readable line.
    level
        ``"info"``, ``"warning"`` or ``"error"``.
    t_s
        Run-clock time of the event.
    data
        Details, JSON-serialisable (e.g. the herald as a dict).
    """

    kind: str
    message: str
    level: str = "info"
    t_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class EngineControl(Protocol):
    """Command a run from another thread; every method returns at once (or within a timeout)."""

    def start(self) -> None:
        """Open the devices and start shooting in the engine thread."""
        ...

    def pause(self) -> None:
        """Finish the current shot, then wait."""
        ...

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        ...

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the current pulse, leave the switch safe, close devices, finalise files."""
        ...

    def set_parameters(self, changes: dict[str, Any]) -> None:
        """Apply dotted config changes (``{"policy.pmax_threshold": 0.95}``) from the next shot.

        Raises
        ------
        ConfigError
            If a key is unknown or a value invalid (checked at once, in the caller's thread).
        """
        ...

    def snapshot(self) -> EngineSnapshot:
        """Return the latest snapshot."""
        ...

    def drain_events(self, max_events: int = 1000) -> list[EngineEvent]:
        """Return and forget the events published since the last call."""
        ...

    def join(self, timeout_s: float) -> bool:
        """Wait for the engine thread to end; return ``True`` if it has."""
        ...
