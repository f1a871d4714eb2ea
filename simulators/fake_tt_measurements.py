# ruff: noqa: N802  (the names mirror the Swabian API)
"""Mirror the measurement classes of Swabian's ``TimeTagger`` module for the API-level fake.

Each measurement registers with a :class:`heralder.simulators.fake_timetagger.TimeTagger` and is fed
time-ordered chunks of events (int64 ps timestamps, int32 channels, :class:`TagType` values) by the
tagger's ``_advance``; every data call first asks the tagger to deliver the tags that are due.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "CHANNEL_UNUSED", "CountBetweenMarkers", "Countrate", "GatedCounter", "Measurement",
    "SynchronizedMeasurements", "TagType", "TimeTagStream", "TimeTagStreamBuffer",
]

CHANNEL_UNUSED = -134217728


class TagType(enum.IntEnum):
    """Name the kinds of stream event."""

    TimeTag = 0
    Error = 1
    OverflowBegin = 2
    OverflowEnd = 3
    MissedEvents = 4


class Measurement:
    """Share start/stop/clear and the tag feed of every measurement."""

    def __init__(self, tagger: Any, autostart: bool = True) -> None:
        tagger._check()
        self._tagger = tagger
        self._running = False
        self._stop_at_ps: int | None = None
        self._first_ps: int | None = None
        self._last_ps = 0
        tagger._measurements.append(self)
        if autostart:
            self.start()

    def start(self) -> None:
        self._tagger._starting()
        self._running = True
        self._stop_at_ps = None

    def startFor(self, capture_duration: int, clear: bool = True) -> None:
        if clear:
            self.clear()
        self.start()
        self._stop_at_ps = int(capture_duration)

    def stop(self) -> None:
        self._running = False

    def abort(self) -> None:
        self._running = False

    def isRunning(self) -> bool:
        return self._running

    def clear(self) -> None:
        self._first_ps = None
        self._reset()

    def getCaptureDuration(self) -> int:
        return 0 if self._first_ps is None else self._last_ps - self._first_ps

    def waitUntilFinished(self, timeout: int = -1) -> bool:
        """Feed data until a ``startFor`` capture ends or ``timeout`` ms pass on the lab's clock.

        Returns ``False`` at once for a measurement without a capture duration (the real call
        would wait for a ``stop()`` from another thread).
        """
        if self._stop_at_ps is None:
            return not self._running
        lab = self._tagger._lab
        deadline_s = lab.clock.now() + timeout * 1e-3 if timeout >= 0 else math.inf
        while self._running and lab.clock.now() <= deadline_s:
            if not self._tagger._advance():
                lab.clock.sleep(lab.pulse_period_s)
        return not self._running

    def _feed(self, stamps: np.ndarray, channels: np.ndarray, types: np.ndarray) -> None:
        if stamps.size:
            if self._first_ps is None:
                self._first_ps = int(stamps[0])
            if self._stop_at_ps is not None:
                keep = stamps < self._first_ps + self._stop_at_ps
                if not keep.all():
                    self._running = False
                stamps, channels, types = stamps[keep], channels[keep], types[keep]
            if stamps.size:
                self._last_ps = int(stamps[-1])
        self._process(stamps, channels, types)

    def _reset(self) -> None:
        raise NotImplementedError

    def _process(self, stamps: np.ndarray, channels: np.ndarray, types: np.ndarray) -> None:
        """Take a time-ordered chunk of events (``types`` are :class:`TagType` values)."""
        raise NotImplementedError


class TimeTagStreamBuffer:
    """Hold the tags one ``TimeTagStream.getData`` call delivered."""

    def __init__(self, stamps, channels, types, missed, overflow, t_start, t_get) -> None:
        self._stamps, self._channels, self._types, self._missed = stamps, channels, types, missed
        self.hasOverflows = overflow
        self.size = int(stamps.size)
        self.tStart = t_start
        self.tGetData = t_get

    def getTimestamps(self) -> np.ndarray:
        return self._stamps

    def getChannels(self) -> np.ndarray:
        return self._channels

    def getEventTypes(self) -> np.ndarray:
        return self._types

    def getMissedEvents(self) -> np.ndarray:
        return self._missed


class TimeTagStream(Measurement):
    """Stream raw tags of ``channels``; each ``getData`` returns and clears the buffer."""

    def __init__(self, tagger: Any, n_max_events: int, channels: Iterable[int]) -> None:
        if n_max_events < 1:
            raise ValueError("n_max_events must be >= 1")
        self._n_max = int(n_max_events)
        self._channels = np.asarray(list(channels), np.int32)
        self._reset()
        super().__init__(tagger)

    def _reset(self) -> None:
        self._t: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._types: list[np.ndarray] = []
        self._held = 0
        self._dropped = 0
        self._overflow = False
        self._total = 0

    def _process(self, stamps, channels, types) -> None:
        mine = np.isin(channels, self._channels) | (types != TagType.TimeTag)
        stamps, channels, types = stamps[mine], channels[mine], types[mine]
        if (types != TagType.TimeTag).any():
            self._overflow = True
        room = self._n_max - self._held
        if stamps.size > room:  # the buffer is full: the rest is lost, as on the device
            self._dropped += stamps.size - room
            self._overflow = True
            stamps, channels, types = stamps[:room], channels[:room], types[:room]
        self._t.append(stamps)
        self._c.append(channels)
        self._types.append(types)
        self._held += stamps.size
        self._total += stamps.size

    def getData(self) -> TimeTagStreamBuffer:
        self._tagger._advance()
        t_get = self._tagger._now_ps()  # every pulse whose gate has closed by now was fired
        stamps = np.concatenate(self._t) if self._t else np.zeros(0, np.int64)
        channels = np.concatenate(self._c) if self._c else np.zeros(0, np.int32)
        types = np.concatenate(self._types) if self._types else np.zeros(0, np.int8)
        buffer = TimeTagStreamBuffer(stamps, channels, types,
                                     np.zeros(stamps.size, np.uint16), self._overflow,
                                     int(stamps[0]) if stamps.size else t_get, t_get)
        total = self._total
        self._reset()
        self._total = total
        return buffer

    def getCounts(self) -> int:
        return self._total


class GatedCounter(Measurement):
    """Count clicks per channel in gates opened by ``begin_channel`` (static buffer)."""

    def __init__(self, tagger: Any, click_channels: Iterable[int], begin_channel: int,
                 end_channel: int = CHANNEL_UNUSED, n_values: int = 1000) -> None:
        if n_values < 1:
            raise ValueError("n_values must be >= 1")
        self._clicks = np.asarray(list(click_channels), np.int32)
        self._begin, self._end, self._n = int(begin_channel), int(end_channel), int(n_values)
        self._reset()
        super().__init__(tagger)

    def _reset(self) -> None:
        self._data = np.zeros((self._clicks.size, self._n), np.int32)
        self._starts = np.zeros(self._n, np.int64)
        self._widths = np.zeros(self._n, np.int64)
        self._filled = 0
        self._open_at: int | None = None
        self._counting = np.zeros(self._clicks.size, np.int32)

    def _process(self, stamps, channels, types) -> None:
        if self._open_at is not None and (types != TagType.TimeTag).any():
            self._open_at = None  # an overflow inside the gate: the gate is lost
        stamps, channels = stamps[types == TagType.TimeTag], channels[types == TagType.TimeTag]
        for t, c in zip(stamps.tolist(), channels.tolist(), strict=True):
            if self._filled >= self._n:
                return
            closes = c == self._begin or (self._end != CHANNEL_UNUSED and c == self._end)
            if closes and self._open_at is not None:
                self._data[:, self._filled] = self._counting
                self._starts[self._filled] = self._open_at
                self._widths[self._filled] = t - self._open_at
                self._filled += 1
                self._open_at = None
            if c == self._begin and self._filled < self._n:
                self._open_at = t
                self._counting[:] = 0
            elif self._open_at is not None:
                self._counting += self._clicks == c

    def getData(self) -> np.ndarray:
        self._tagger._advance()
        return self._data.copy()

    def ready(self) -> bool:
        self._tagger._advance()
        return self._filled >= self._n

    def getBinWidths(self) -> np.ndarray:
        return self._widths.copy()

    def getIndex(self) -> np.ndarray:
        return self._starts - (self._starts[0] if self._filled else 0)


class CountBetweenMarkers(GatedCounter):
    """The deprecated one-channel form of :class:`GatedCounter` (1-D data)."""

    def __init__(self, tagger: Any, click_channel: int, begin_channel: int,
                 end_channel: int = CHANNEL_UNUSED, n_values: int = 1000) -> None:
        super().__init__(tagger, [click_channel], begin_channel, end_channel, n_values)

    def getData(self) -> np.ndarray:
        return super().getData()[0]


class Countrate(Measurement):
    """Average click rate per channel since start or clear, counts per second."""

    def __init__(self, tagger: Any, channels: Iterable[int]) -> None:
        self._channels = np.asarray(list(channels), np.int32)
        self._reset()
        super().__init__(tagger)

    def _reset(self) -> None:
        self._counts = np.zeros(self._channels.size, np.int64)

    def _process(self, stamps, channels, types) -> None:
        channels = channels[types == TagType.TimeTag]
        self._counts += (channels[:, None] == self._channels[None, :]).sum(axis=0)

    def getCountsTotal(self) -> np.ndarray:
        self._tagger._advance()
        return self._counts.copy()

    def getData(self) -> np.ndarray:
        self._tagger._advance()
        duration_s = self.getCaptureDuration() * 1e-12
        return self._counts / duration_s if duration_s > 0 else np.zeros(self._channels.size)


class SynchronizedMeasurements:
    """Start, stop and clear several measurements together over the same tags."""

    def __init__(self, tagger: Any) -> None:
        self._tagger = tagger
        self._members: list[Measurement] = []

    def getTagger(self) -> Any:
        return self._tagger

    def registerMeasurement(self, measurement: Measurement) -> None:
        measurement.stop()
        self._members.append(measurement)

    def start(self) -> None:
        for m in self._members:
            m.start()

    def startFor(self, capture_duration: int, clear: bool = True) -> None:
        for m in self._members:
            m.startFor(capture_duration, clear)

    def stop(self) -> None:
        for m in self._members:
            m.stop()

    def clear(self) -> None:
        for m in self._members:
            m.clear()

    def waitUntilFinished(self, timeout: int = -1) -> bool:
        return all(m.waitUntilFinished(timeout) for m in self._members)

    def isRunning(self) -> bool:
        return any(m.isRunning() for m in self._members)
