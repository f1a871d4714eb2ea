# ruff: noqa: N802  (the names mirror the Swabian API)
"""Stand in for Swabian's ``TimeTagger`` Python module, streaming the virtual lab's tags.

The real module needs hardware (its virtual tagger needs a licence), so CI tests the time-tagger
driver against this API-level fake: the names, signatures and units of notes/instruments.md §3
(Time Tagger 2.22), with ``import heralder.simulators.fake_timetagger as TT`` in place of
``from Swabian import TimeTagger as TT``. Tags are int64 picoseconds since the lab was built. The
measurement classes live in :mod:`heralder.simulators.fake_tt_measurements`.

The tagger sees the pulse marker on ``MARKER_CHANNEL`` and the detector on ``CLICK_CHANNEL`` (of
:mod:`heralder.simulators.lab`). Every data call (``getData``, ``sync``, ``waitUntilFinished``)
first fires the pulses that are due. While a trigger generator fires the pulses (it has sent
triggers through the run's :class:`~heralder.simulators.instruments.lablink.LabLink` and no switch
pattern is armed), one pulse is due per trigger. Otherwise the pulse train is free-running on the
lab's clock: due are the pulses whose gate has closed since the later of the last pulse and the
start of the streaming (pulses nobody streams are not simulated), each at its own start time; on a
simulated clock nothing is ever due unless someone advances it, so a call that finds none fires
one pulse (as if the caller had waited one period). Per-channel input settings act on the tags: a
trigger level outside (0, ``SIGNAL_HEIGHT_V``) sees nothing, ``setInputDelay`` shifts,
``setDeadtime`` drops tags closer than the dead time, ``setTestSignal`` replaces the input by an
800 kHz square wave's rising edges.
:meth:`TimeTagger.inject_overflow` (fake only) makes the next delivered chunk an overflow: its tags
are lost and the stream gets an ``OverflowBegin`` and an ``OverflowEnd`` event in their place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from heralder.control.clock import SimClock
from heralder.registry import active_context
from heralder.simulators.detector_sim import apply_dead_time
from heralder.simulators.fake_tt_measurements import (
    CHANNEL_UNUSED,
    CountBetweenMarkers,
    Countrate,
    GatedCounter,
    Measurement,
    SynchronizedMeasurements,
    TagType,
    TimeTagStream,
    TimeTagStreamBuffer,
)
from heralder.simulators.instruments.lablink import LabLink, link_from_context
from heralder.simulators.lab import VirtualLab, lab_from_context

__all__ = [
    "CHANNEL_UNUSED", "CountBetweenMarkers", "Countrate", "GatedCounter",
    "SynchronizedMeasurements",
    "TagType", "TimeTagStream", "TimeTagStreamBuffer", "TimeTagger", "createTimeTagger",
    "createTimeTaggerVirtual", "freeTimeTagger", "getVersion", "hasTimeTaggerVirtualLicense",
    "scanTimeTagger",
]

SIGNAL_HEIGHT_V = 2.0
_MIN_DEADTIME_PS = 2000
_DEADTIME_STEP_PS = 1000 / 6  # the Ultra's 6 GHz internal clock: dead times round to it
_DAC_STEP_V = 2.5 / 4096
_TEST_PERIOD_PS = 1_250_000
_SERIAL = "FAKE0001"


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


def createTimeTagger(serial: str = "", resolution: int = 0, *, lab: VirtualLab | None = None,
                     link: LabLink | None = None) -> TimeTagger:
    """Return a tagger on ``lab`` and its trigger ``link`` (default: the shared lab and link of the
    active device context; a given ``lab`` has no link unless one is given: free-running pulses).

    Raises
    ------
    RuntimeError
        If ``serial`` names a tagger that is not attached (as the real call does).
    """
    if serial not in ("", _SERIAL):
        raise RuntimeError(f"Time Tagger with serial {serial} not found")
    if lab is None:
        context = active_context()
        lab, link = lab_from_context(context), link_from_context(context)
    lab.record_times = True
    return TimeTagger(lab, link)


def freeTimeTagger(tagger: TimeTagger) -> bool:
    """Release ``tagger``; later calls on it raise ``RuntimeError``."""
    tagger._freed = True
    return True


class TimeTagger:
    """Mirror the ``TimeTagger`` object: input settings, overflows and the tag feed."""

    def __init__(self, lab: VirtualLab, link: LabLink | None = None) -> None:
        self._lab = lab
        self._link = link
        self._stream_start_s = lab.clock.now()
        self._freed = False
        self._levels: dict[int, float] = {}
        self._delays_ps: dict[int, int] = {}
        self._deadtimes_ps: dict[int, int] = {}
        self._test: set[int] = set()
        self._overflows = 0
        self._overflow_next = False
        self._measurements: list[Measurement] = []

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

    def _now_ps(self) -> int:
        """Return the lab's clock now as a tag time (ps since the lab was built)."""
        return round((self._lab.clock.now() - self._lab.t0_s) * 1e12)

    def _starting(self) -> None:
        """Note that a measurement starts: if none runs yet, streaming starts now (earlier
        pulses and triggers went unrecorded)."""
        if not any(m.isRunning() for m in self._measurements):
            self._stream_start_s = self._lab.clock.now()
            if self._link is not None:
                self._link.take_triggers()

    def _due(self) -> tuple[int, float | None]:
        """Return how many pulses are due and the first one's start (``None``: now)."""
        lab, link = self._lab, self._link
        if link is not None and link.triggers and not lab.switch.pattern_armed:
            return link.take_triggers(), None  # a triggered pulse fires when it is read
        start_s = max(lab.next_pulse_s, self._stream_start_s)
        due = math.floor((lab.clock.now() - start_s - lab.gate_s) / lab.pulse_period_s) + 1
        if due <= 0 and isinstance(lab.clock, SimClock):
            return 1, None
        return due, start_s

    def _advance(self) -> int:
        """Fire the pulses that are due, feed their tags to the running measurements and return
        how many were fired."""
        if not any(m.isRunning() for m in self._measurements):
            return 0
        lab = self._lab
        due, start_s = self._due()
        if due <= 0:
            return 0
        block = lab.fire_pulses(due, start_s)
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
