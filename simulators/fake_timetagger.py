# ruff: noqa: N802  (the names mirror the Swabian API)
"""Stand in for Swabian's ``TimeTagger`` Python module, streaming the virtual lab's tags.

The real module needs hardware (its virtual tagger needs a licence), so CI tests the time-tagger
driver against this API-level fake: the names, signatures and units of notes/instruments.md §3
(Time Tagger 2.22), with ``import heralder.simulators.fake_timetagger as TT`` in place of
``from Swabian import TimeTagger as TT``. Tags are int64 picoseconds since the lab was built.

The tagger sees the pulse marker on ``MARKER_CHANNEL`` and the detector on ``CLICK_CHANNEL`` (of
:mod:`heralder.simulators.lab`). Time passes on the lab's clock: every data call (``getData``,
``sync``, ``waitUntilFinished``) first fires the pulses that are due; on a simulated clock nothing
is ever due unless someone advances it, so a call that finds none fires one pulse (as if the
caller had waited one period). Per-channel input settings act on the tags: a trigger level outside
(0, ``SIGNAL_HEIGHT_V``) sees nothing, ``setInputDelay`` shifts, ``setDeadtime`` drops tags closer
than the dead time, ``setTestSignal`` replaces the input by an 800 kHz square wave's rising edges.
:meth:`TimeTagger.inject_overflow` (fake only) makes the next delivered chunk an overflow: its tags
are lost and the stream gets an ``OverflowBegin`` and an ``OverflowEnd`` event in their place.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

import numpy as np
from heralder.simulators.detector_sim import apply_dead_time
from heralder.simulators.lab import VirtualLab, lab_from_context

from heralder.control.clock import SimClock
from heralder.registry import active_context

__all__ = [
    "CHANNEL_UNUSED", "CountBetweenMarkers", "Countrate", "GatedCounter",
    "SynchronizedMeasurements",
    "TagType", "TimeTagStream", "TimeTagStreamBuffer", "TimeTagger", "createTimeTagger",
    "createTimeTaggerVirtual", "freeTimeTagger", "getVersion", "hasTimeTaggerVirtualLicense",
    "scanTimeTagger",
]

CHANNEL_UNUSED = -134217728
SIGNAL_HEIGHT_V = 2.0
_MIN_DEADTIME_PS = 2000
_DEADTIME_STEP_PS = 1000 / 6  # the Ultra's 6 GHz internal clock: dead times round to it
_DAC_STEP_V = 2.5 / 4096
_TEST_PERIOD_PS = 1_250_000
_SERIAL = "FAKE0001"


class TagType(enum.IntEnum):
    """Name the kinds of stream event."""

    TimeTag = 0
    Error = 1
    OverflowBegin = 2
    OverflowEnd = 3
    MissedEvents = 4


def getVersion() -> str:
    """Return the version of the API this fake mirrors."""
    return "2.22.6-heralder-fake"


def scanTimeTagger() -> list[str]:
    """Return the serials of the attached (fake) taggers."""
    return [_SERIAL]


def hasTimeTaggerVirtualLicense() -> bool:
    """Return ``False``: like a fresh machine, the fake has no virtual-tagger licence."""
    return False


def createTimeTaggerVirtual(filename: str = "", begin: int = 0, duration: int = -1):
    """Fail as the real call does without a licence."""
    raise RuntimeError("No license file found or no Time Tagger connected. Please connect a Time "
                       "Tagger if you want to use the virtual Time Tagger for the first time.")


def createTimeTagger(serial: str = "", resolution: int = 0, *,
                     lab: VirtualLab | None = None) -> TimeTagger:
    """Return a tagger on ``lab`` (default: the shared lab of the active device context).

    Raises
    ------
    RuntimeError
        If ``serial`` names a tagger that is not attached (as the real call does).
    """
    if serial not in ("", _SERIAL):
        raise RuntimeError(f"Time Tagger with serial {serial} not found")
    if lab is None:
        lab = lab_from_context(active_context())
    lab.record_times = True
    return TimeTagger(lab)


def freeTimeTagger(tagger: TimeTagger) -> bool:
    """Release ``tagger``; later calls on it raise ``RuntimeError``."""
    tagger._freed = True
    return True


class TimeTagger:
    """Mirror the ``TimeTagger`` object: input settings, overflows and the tag feed."""

    def __init__(self, lab: VirtualLab) -> None:
        self._lab = lab
        self._freed = False
        self._levels: dict[int, float] = {}
        self._delays_ps: dict[int, int] = {}
        self._deadtimes_ps: dict[int, int] = {}
        self._test: set[int] = set()
        self._overflows = 0
        self._overflow_next = False
        self._measurements: list[_Measurement] = []

    def _check(self, channel: int | None = None) -> None:
        if self._freed:
            raise RuntimeError("The Time Tagger was freed")
        if channel is not None and not 1 <= abs(channel) <= 18:
            raise ValueError(f"invalid channel {channel}")

    def getSerial(self) -> str:
        self._check()
        return _SERIAL

    def getModel(self) -> str:
        self._check()
        return "Time Tagger Ultra"

    def getConfiguration(self) -> str:
        self._check()
        return str({"serial": _SERIAL, "levels": self._levels, "delays": self._delays_ps,
                    "deadtimes": self._deadtimes_ps, "test_signal": sorted(self._test)})

    def reset(self) -> None:
        """Return every input setting to its default."""
        self._check()
        self._levels.clear()
        self._delays_ps.clear()
        self._deadtimes_ps.clear()
        self._test.clear()

    def setTriggerLevel(self, channel: int, voltage: float) -> None:
        self._check(channel)
        self._levels[channel] = round(float(voltage) / _DAC_STEP_V) * _DAC_STEP_V

    def getTriggerLevel(self, channel: int) -> float:
        self._check(channel)
        return self._levels.get(channel, 0.5)

    def setInputDelay(self, channel: int, delay: int) -> None:
        self._check(channel)
        self._delays_ps[channel] = int(delay)

    def getInputDelay(self, channel: int) -> int:
        self._check(channel)
        return self._delays_ps.get(channel, 0)

    def setDeadtime(self, channel: int, deadtime: int) -> int:
        """Set the input's dead time, ps; return the value applied (rounded, at least 2 ns)."""
        self._check(channel)
        applied = max(_MIN_DEADTIME_PS, round(round(deadtime / _DEADTIME_STEP_PS)
                                              * _DEADTIME_STEP_PS))
        self._deadtimes_ps[channel] = applied
        return applied

    def getDeadtime(self, channel: int) -> int:
        self._check(channel)
        return self._deadtimes_ps.get(channel, _MIN_DEADTIME_PS)

    def setTestSignal(self, channels: int | Iterable[int], enabled: bool) -> None:
        for channel in [channels] if isinstance(channels, int) else list(channels):
            self._check(channel)
            (self._test.add if enabled else self._test.discard)(channel)

    def getTestSignal(self, channel: int) -> bool:
        self._check(channel)
        return channel in self._test

    def getOverflows(self) -> int:
        self._check()
        return self._overflows

    def getOverflowsAndClear(self) -> int:
        self._check()
        count, self._overflows = self._overflows, 0
        return count

    def clearOverflows(self) -> None:
        self._check()
        self._overflows = 0

    def sync(self, timeout: int = -1) -> bool:
        """Deliver every tag due so far to the running measurements."""
        self._check()
        self._advance()
        return True

    def inject_overflow(self) -> None:
        """Make the next delivered data an overflow (fake only; for driver tests)."""
        self._overflow_next = True

    def _advance(self) -> int:
        """Fire the pulses that are due, feed their tags to the running measurements and return
        how many were fired."""
        lab = self._lab
        period = lab.pulse_period_s
        due = math.floor((lab.clock.now() - lab.next_pulse_s - lab.gate_s) / period) + 1
        if due <= 0 and isinstance(lab.clock, SimClock):
            due = 1
        if due <= 0 or not any(m.isRunning() for m in self._measurements):
            return 0
        block = lab.fire_pulses(due)
        stamps, channels = self._inputs(*lab.tags(block))
        types = np.zeros(stamps.size, np.int8)
        if self._overflow_next and stamps.size:
            self._overflow_next = False
            self._overflows += 1
            stamps = stamps[[0, -1]]
            channels = np.zeros(2, np.int32)
            types = np.array([TagType.OverflowBegin, TagType.OverflowEnd], np.int8)
        for measurement in self._measurements:
            if measurement.isRunning():
                measurement._feed(stamps, channels, types)
        return due

    def _inputs(self, stamps: np.ndarray, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply trigger levels, test signals, dead times and delays per input channel."""
        parts_t, parts_c = [], []
        span = (int(stamps[0]), int(stamps[-1])) if stamps.size else (0, 0)
        for channel in np.unique(np.concatenate((channels, list(self._test))).astype(np.int32)):
            if channel in self._test:
                first = -(-span[0] // _TEST_PERIOD_PS) * _TEST_PERIOD_PS
                t = np.arange(first, span[1] + 1, _TEST_PERIOD_PS, dtype=np.int64)
            else:
                level = self._levels.get(int(channel), 0.5)
                if not 0.0 < level < SIGNAL_HEIGHT_V:
                    continue
                t = stamps[channels == channel]
            t = apply_dead_time(t, self.getDeadtime(int(channel))).astype(np.int64)
            parts_t.append(t + self._delays_ps.get(int(channel), 0))
            parts_c.append(np.full(t.size, channel, np.int32))
        if not parts_t:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        t_all, c_all = np.concatenate(parts_t), np.concatenate(parts_c)
        order = np.argsort(t_all, kind="stable")
        return t_all[order], c_all[order]


class _Measurement:
    """Share start/stop/clear and the tag feed of every measurement."""

    def __init__(self, tagger: TimeTagger, autostart: bool = True) -> None:
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


class TimeTagStream(_Measurement):
    """Stream raw tags of ``channels``; each ``getData`` returns and clears the buffer."""

    def __init__(self, tagger: TimeTagger, n_max_events: int, channels: Iterable[int]) -> None:
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
        t_get = self._last_ps
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


class GatedCounter(_Measurement):
    """Count clicks per channel in gates opened by ``begin_channel`` (static buffer)."""

    def __init__(self, tagger: TimeTagger, click_channels: Iterable[int], begin_channel: int,
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

    def __init__(self, tagger: TimeTagger, click_channel: int, begin_channel: int,
                 end_channel: int = CHANNEL_UNUSED, n_values: int = 1000) -> None:
        super().__init__(tagger, [click_channel], begin_channel, end_channel, n_values)

    def getData(self) -> np.ndarray:
        return super().getData()[0]


class Countrate(_Measurement):
    """Average click rate per channel since start or clear, counts per second."""

    def __init__(self, tagger: TimeTagger, channels: Iterable[int]) -> None:
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

    def __init__(self, tagger: TimeTagger) -> None:
        self._tagger = tagger
        self._members: list[_Measurement] = []

    def getTagger(self) -> TimeTagger:
        return self._tagger

    def registerMeasurement(self, measurement: _Measurement) -> None:
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
