"""Simulate the polarisation switch the atoms really see (DESIGN §5).

The switch keeps two states: what its controller *believes* (the last request, which is what a
read-back reports) and what the optics *are* at a given time. A request becomes real after the
settle time; a ``stuck`` failure never makes it real, a ``late`` failure makes it real later. The
virtual lab asks :meth:`SimulatedSwitch.state_at` the polarisation at each pulse start, so a pulse
fired before the optics settle (or after a failed switch) is driven with the old polarisation.

The polarisation changes abruptly when settling ends; a pulse sees the state at its start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from heralder.control.clock import Clock
from heralder.control.records import SwitchState

__all__ = ["SimulatedSwitch"]

Failure = Literal["none", "stuck", "late"]


class SimulatedSwitch:
    """Hold the polarisation of the drive laser as a function of time.

    Parameters
    ----------
    clock
        The lab's clock; requests take effect relative to its ``now()``.
    rng
        Random stream deciding whether a request fails.
    settle_time_s
        Time from a request until the optics are in the new state.
    failure
        ``"none"``, ``"stuck"`` (the optics ignore the request) or ``"late"`` (they change
        ``late_s`` after the settle time).
    failure_prob
        Probability per request that the failure happens.
    late_s
        Extra delay of a late request.
    initial
        The state at construction (the controller and the optics agree).

    Raises
    ------
    ValueError
        If a time is negative or not finite, the failure mode is unknown or the probability lies
        outside [0, 1]; the message names the parameter.
    """

    def __init__(
        self,
        clock: Clock,
        rng: np.random.Generator,
        *,
        settle_time_s: float = 0.0,
        failure: Failure = "none",
        failure_prob: float = 1.0,
        late_s: float = 0.0,
        initial: SwitchState = SwitchState.TC,
    ) -> None:
        for name, value in (("settle_time_s", settle_time_s), ("late_s", late_s)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if failure not in ("none", "stuck", "late"):
            raise ValueError(f"failure must be 'none', 'stuck' or 'late', got {failure!r}")
        if not 0.0 <= failure_prob <= 1.0:
            raise ValueError(f"failure_prob must lie in [0, 1], got {failure_prob!r}")
        if not isinstance(initial, SwitchState):
            raise ValueError(f"initial must be a SwitchState, got {initial!r}")
        self._clock = clock
        self._rng = rng
        self.settle_time_s = float(settle_time_s)
        self.failure: Failure = failure
        self.failure_prob = float(failure_prob)
        self.late_s = float(late_s)
        #: The state the controller was last asked for (what a read-back reports). This and
        #: :attr:`pattern_armed` are attributes, not properties: the lab reads them per pulse.
        self.requested = initial
        self._actual = initial
        self._pending: tuple[float, SwitchState] | None = None
        self._pattern: tuple[SwitchState, ...] = ()
        #: ``True`` while a hardware-clocked pattern steps the switch on each pulse.
        self.pattern_armed = False
        self._pattern_pos = 0
        self.failures = 0

    @property
    def state(self) -> SwitchState:
        """Return the state the optics are in now."""
        return self.state_at(self._clock.now())

    def state_at(self, time_s: float) -> SwitchState:
        """Return the state of the optics at ``time_s`` (queries must not go back in time)."""
        if self._pending is not None and self._pending[0] <= time_s:
            self._actual = self._pending[1]
            self._pending = None
        return self._actual

    def request(self, state: SwitchState, at_s: float | None = None) -> float:
        """Ask for ``state`` at ``at_s`` (default now); return when the optics will have it.

        Returns
        -------
        float
            The time the optics reach ``state``; ``inf`` if the request got stuck. A request for
            the state the optics already have (and nothing pending) returns ``at_s`` at once.

        Raises
        ------
        ValueError
            If ``state`` is not a :class:`SwitchState`.
        """
        if not isinstance(state, SwitchState):
            raise ValueError(f"state must be a SwitchState, got {state!r}")
        if at_s is None:
            now_s = self._clock.now()
        else:  # float() only when needed: the virtual switch requests per pulse, with a float
            now_s = at_s if at_s.__class__ is float else float(at_s)
        current = self.state_at(now_s)
        self.requested = state
        # A new request supersedes one still settling: the optics head for the latest command.
        self._pending = None
        if state is current:
            return now_s
        delay_s = self.settle_time_s
        if self.failure != "none" and self._rng.random() < self.failure_prob:
            self.failures += 1
            if self.failure == "stuck":
                return math.inf
            delay_s += self.late_s
        ready_s = now_s + delay_s
        self._pending = (ready_s, state)
        return ready_s

    def arm_pattern(self, pattern: Sequence[SwitchState]) -> None:
        """Step through ``pattern`` (cyclically), one state per pulse trigger.

        Raises
        ------
        ValueError
            If ``pattern`` is empty or holds something other than :class:`SwitchState`.
        """
        pattern = tuple(pattern)
        if not pattern or not all(isinstance(s, SwitchState) for s in pattern):
            raise ValueError("pattern must be a non-empty sequence of SwitchState")
        self._pattern = pattern
        self._pattern_pos = 0
        self.pattern_armed = True

    def stop_pattern(self) -> None:
        """Stop stepping on pulse triggers; the switch keeps its current request."""
        self._pattern = ()
        self._pattern_pos = 0
        self.pattern_armed = False

    def tc_at(self, starts_s: np.ndarray, trigger_lead_s: float) -> np.ndarray:
        """Return, for each pulse start (increasing), whether the optics are TC.

        An armed pattern steps ``trigger_lead_s`` before each start (at the previous gate's end).
        """
        n = starts_s.size
        is_tc = np.empty(n, bool)
        if self._pattern:
            simple = (self._pending is None and self.settle_time_s <= trigger_lead_s
                      and (self.failure == "none" or self.failure_prob == 0.0))
            if not simple:
                for i in range(n):
                    self.trigger(starts_s[i] - trigger_lead_s)
                    is_tc[i] = self.state_at(starts_s[i]) is SwitchState.TC
                return is_tc
            pattern_tc = np.array([s is SwitchState.TC for s in self._pattern])
            is_tc[:] = pattern_tc[(self._pattern_pos + np.arange(n)) % pattern_tc.size]
            self._pattern_pos += n
            last = SwitchState.TC if is_tc[-1] else SwitchState.ANTI_TC
            self.requested = self._actual = last
            return is_tc
        is_tc[:] = self.state_at(starts_s[0]) is SwitchState.TC
        if self._pending is not None:
            is_tc[starts_s >= self._pending[0]] = self._pending[1] is SwitchState.TC
            self.state_at(starts_s[-1])
        return is_tc

    def trigger(self, at_s: float) -> None:
        """Advance an armed pattern by one state, requested at ``at_s`` (the previous pulse end).

        Does nothing when no pattern is armed.
        """
        if not self._pattern:
            return
        state = self._pattern[self._pattern_pos % len(self._pattern)]
        self._pattern_pos += 1
        self.request(state, at_s=at_s)
