"""Turn what a counter or a time tagger delivers into one pulse at a time, for the shot loop.

A :class:`CounterPulses` fires (or waits for) one gate per call; a :class:`TagPulses` splits the
tag stream at the pulse-marker channel (as Swabian's CountBetweenMarkers does): a pulse is the
marker and the clicks after it. In streamed mode a pulse is complete once its gate has closed on
the tagger's time base, i.e. when a block says the stream is complete past it
(:attr:`TagBlock.t_end_ps`), or else when the next marker has arrived (then the next pulse has
already fired: a stop decided on this pulse comes one pulse late). In stepped mode only one pulse
is in flight, so it is complete once a read after its marker returns (a :class:`TagSource` read
returns only after the tags it covers are final).
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np

from heralder.control.clock import Clock
from heralder.errors import DeviceProtocolError

__all__ = ["CounterPulses", "Pulse", "TagPulses"]

_PS = 1e-12
_new_tuple = tuple.__new__


class Pulse(NamedTuple):
    """Hold the data of one pulse (a named tuple: one is built per pulse).

    Attributes
    ----------
    counts
        Registered clicks in the gate.
    valid
        ``False`` if the instrument flagged the data as incomplete (overflow, missed events).
    t_data_s
        Run-clock time the data was read.
    marker_ps
        Tag time of the pulse marker (``-1`` from a counter).
    times_s, timestamps_ps
        Click times from the marker (seconds) and raw tags (``None`` from a counter).
    """

    counts: int
    valid: bool
    t_data_s: float
    marker_ps: int = -1
    times_s: np.ndarray | None = None
    timestamps_ps: np.ndarray | None = None


class CounterPulses:
    """Read one gate per pulse from a :class:`PhotonCounter` (firing a trigger if there is one).

    A counter whose class has a ``count_gate(timeout_s) -> (count, valid)`` method (arm one gate
    and count it; the in-process simulator has one) is read through it when no trigger has to
    fire between arming and reading: one call per pulse instead of ``arm``, ``read`` and a
    :class:`CountBlock`. Any other counter goes through the Protocol's ``arm`` and ``read``, and
    so does one whose ``arm`` or ``read`` was replaced on the instance (a wrapper, an injected
    fault), for which ``count_gate`` would no longer do the same.
    """

    def __init__(self, counter: Any, trigger: Any | None, clock: Clock) -> None:
        self.counter, self.trigger, self.clock = counter, trigger, clock
        replaced = {"arm", "read"} & getattr(counter, "__dict__", {}).keys()
        fast = trigger is None and not replaced and hasattr(type(counter), "count_gate")
        self._count_gate = counter.count_gate if fast else None
        self._now = clock.now

    def start(self, timeout_s: float) -> None:
        """Prepare for a shot (nothing to do for a counter)."""

    def stop(self, timeout_s: float) -> list[Pulse]:
        """End a shot; a counter has no pulses in flight."""
        return []

    def next_pulse(self, timeout_s: float) -> Pulse:
        """Count the next gate and return it."""
        if self._count_gate is not None:
            counts, valid = self._count_gate(timeout_s)
            # tuple.__new__: Pulse(...) runs a Python-level __new__ (one more call per pulse)
            return _new_tuple(Pulse, (counts, valid, self._now(), -1, None, None))
        self.counter.arm(1)
        if self.trigger is not None:
            self.trigger.fire(timeout_s)
        block = self.counter.read(timeout_s)
        try:
            (counts,), (valid,) = block.counts.tolist(), block.valid.tolist()
        except ValueError:
            raise DeviceProtocolError(f"{self.counter.name}: armed one gate, got "
                                      f"{len(block.counts)}") from None
        return Pulse(counts, valid, self.clock.now())


class TagPulses:
    """Split a :class:`TagSource` stream into pulses at its marker channel."""

    def __init__(self, tagger: Any, trigger: Any | None, clock: Clock, gate_s: float, *,
                 streamed: bool) -> None:
        self.tagger, self.trigger, self.clock = tagger, trigger, clock
        self.gate_ps = round(gate_s / _PS)
        self.streamed = streamed
        self._stamps = np.zeros(0, np.int64)
        self._channels = np.zeros(0, np.int32)
        self._lossy = False
        self._end_ps = -1  # the stream is complete up to here (-1: the source does not say)
        self._ready: deque[Pulse] = deque()

    def start(self, timeout_s: float) -> None:
        """Start the stream with an empty buffer."""
        self._stamps, self._channels = np.zeros(0, np.int64), np.zeros(0, np.int32)
        self._ready.clear()
        self._lossy, self._end_ps = False, -1
        self.tagger.start()

    def stop(self, timeout_s: float) -> list[Pulse]:
        """Stop the stream and return the pulses already fired but not yet handed out."""
        self.tagger.stop()
        self._split(final=True)
        rest = list(self._ready)
        self._ready.clear()
        return rest

    def next_pulse(self, timeout_s: float) -> Pulse:
        """Return the next complete pulse, reading tags as needed."""
        if not self.streamed and self.trigger is not None:
            self.trigger.fire(timeout_s)
        while not self._ready:
            block = self.tagger.read(timeout_s)
            self._lossy = self._lossy or block.overflow or block.missed_events > 0
            self._end_ps = max(self._end_ps, block.t_end_ps)
            self._stamps = np.concatenate((self._stamps, block.timestamps_ps))
            self._channels = np.concatenate((self._channels, block.channels))
            self._split(final=not self.streamed)
        return self._ready.popleft()

    def _split(self, final: bool) -> None:
        """Move every complete pulse of the buffer to the ready queue."""
        markers = np.flatnonzero(self._channels == self.tagger.marker_channel)
        complete = len(markers) if final else len(markers) - 1
        if not final and self._end_ps >= 0:  # pulses whose gate closed before the stream end
            gate_ends = self._stamps[markers] + self.gate_ps
            complete = max(complete, int(np.searchsorted(gate_ends, self._end_ps, "right")))
        if complete <= 0:
            return
        bounds = [*markers[:complete + 1].tolist(), len(self._stamps)][:complete + 1]
        now = self.clock.now()
        for i in range(complete):
            lo, hi = bounds[i], bounds[i + 1]
            marker = int(self._stamps[lo])
            sel = self._channels[lo + 1:hi] == self.tagger.click_channel
            stamps = self._stamps[lo + 1:hi][sel]
            stamps = stamps[stamps < marker + self.gate_ps]
            times = (stamps - marker) * _PS
            self._ready.append(Pulse(len(stamps), not self._lossy, now, marker, times, stamps))
            self._lossy = False
        cut = bounds[complete] if complete < len(markers) else len(self._stamps)
        self._stamps, self._channels = self._stamps[cut:], self._channels[cut:]
