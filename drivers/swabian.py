"""Drive a Swabian Instruments Time Tagger (20 / Ultra / X) through its Python API.

The vendor module (extra ``timetagger``: ``pip install heralder[timetagger]``) is imported only
when the device opens, so heralder runs without it. A ``TimeTagStream`` on the click and marker
channels delivers every tag once; :meth:`SwabianTagger.read` returns them as a
:class:`~heralder.control.records.TagBlock` (int64 ps, channels, complete up to the buffer's
``tGetData``) with the stream's missed-event count and overflow flag (overflow events in the
stream, ``hasOverflows`` or the tagger's overflow counter). Tests and ``sim://`` addresses use
the API-level fake :mod:`heralder.simulators.fake_timetagger` (settings key ``module``).

Example config::

    [devices.tagger]
    driver = "swabian"
    address = "1910000ABC"     # serial number; "any" = first tagger found; "sim://timetagger"
    timeout_s = 1.0

    [devices.tagger.settings]
    click_channel = 1
    marker_channel = 2
    click_level_v = 0.5
    marker_level_v = 0.5
    dead_time_s = 22e-9          # rounded by the tagger, read back
    n_max_events = 1000000       # stream buffer; a full buffer is reported as overflow
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any

import numpy as np

from heralder.config import DeviceConfig
from heralder.control.clock import Clock, WallClock
from heralder.control.records import DeviceSnapshot, TagBlock
from heralder.drivers.base import check_number, check_settings
from heralder.errors import DeviceDisconnected, DeviceError, DeviceProtocolError, DeviceTimeout

__all__ = ["SwabianTagger", "from_config", "load_api"]

VENDOR_MODULES = ("Swabian.TimeTagger", "TimeTagger")
FAKE_MODULE = "heralder.simulators.fake_timetagger"
_TIME_TAG, _OVERFLOW_BEGIN, _OVERFLOW_END, _MISSED = 0, 2, 3, 4


def load_api(module: str | None) -> ModuleType:
    """Import the Time Tagger API: ``module`` if given, else the vendor's.

    Raises
    ------
    DeviceDisconnected
        If the module is not installed.
    """
    names = (module,) if module else VENDOR_MODULES
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise DeviceDisconnected(f"Time Tagger API not available ({' / '.join(names)}); install "
                             "the 'timetagger' extra: pip install 'heralder[timetagger]'")


class SwabianTagger:
    """Stream time tags from a Swabian Time Tagger (implements :class:`TagSource`).

    Parameters
    ----------
    name
        The device's role.
    address
        Serial number, ``"any"`` or ``sim://timetagger`` (the fake).
    click_channel, marker_channel
        Inputs of the detector and of the pulse marker (rising edges: positive numbers).
    click_level_v, marker_level_v
        Trigger levels, within ±2.5 V.
    dead_time_s
        Dead time of the click input (the tagger rounds it; the applied value is kept).
    n_max_events
        Size of the stream buffer between two reads.
    module
        Dotted name of the API module (default: the vendor's, or the fake for ``sim://``).
    timeout_s
        Default timeout of :meth:`read`.
    poll_interval_s
        Pause between polls while no tag has arrived.
    clock
        Host clock stamping the blocks.
    """

    driver_name = "swabian"

    def __init__(self, name: str, address: str, *, click_channel: int = 1,
                 marker_channel: int = 2, click_level_v: float = 0.5,
                 marker_level_v: float = 0.5, dead_time_s: float = 6e-9,
                 n_max_events: int = 1_000_000, module: str | None = None,
                 timeout_s: float = 1.0, poll_interval_s: float = 1e-3,
                 clock: Clock | None = None) -> None:
        if not address:
            raise ValueError("address must not be empty")
        for label, channel in (("click_channel", click_channel),
                               ("marker_channel", marker_channel)):
            if isinstance(channel, bool) or not isinstance(channel, int) or not (
                    1 <= abs(channel) <= 18):
                raise ValueError(f"{label} must be a channel number ±1..18, got {channel!r}")
        if click_channel == marker_channel:
            raise ValueError("click_channel and marker_channel must differ")
        if isinstance(n_max_events, bool) or not isinstance(n_max_events, int) or not (
                1 <= n_max_events <= 10**9):
            raise ValueError(f"n_max_events must be an integer in 1..1e9, got {n_max_events!r}")
        self.name, self.address = name, address
        self.click_channel, self.marker_channel = click_channel, marker_channel
        self.click_level_v = check_number("click_level_v", click_level_v, -2.5, 2.5)
        self.marker_level_v = check_number("marker_level_v", marker_level_v, -2.5, 2.5)
        self.dead_time_s = check_number("dead_time_s", dead_time_s, 0.0, 1e-3)
        self.n_max_events = n_max_events
        self.module = module or (FAKE_MODULE if address.startswith("sim://") else None)
        self.timeout_s = check_number("timeout_s", timeout_s, 1e-6, 3600.0)
        self.poll_interval_s = check_number("poll_interval_s", poll_interval_s, 0.0, 1.0)
        self.clock = clock or WallClock()
        self._api: ModuleType | None = None
        self._tagger: Any = None
        self._stream: Any = None
        self._applied_dead_time_ps = 0

    @property
    def is_open(self) -> bool:
        """Return ``True`` while a tagger is connected."""
        return self._tagger is not None

    def _require(self) -> Any:
        if self._tagger is None:
            raise DeviceDisconnected(f"{self.name} ({self.address}): tagger is not open")
        return self._tagger

    def open(self) -> None:
        """Connect to the tagger and set its inputs.

        Raises
        ------
        DeviceDisconnected
            If the API is missing or no tagger with that serial is attached.
        """
        if self.is_open:
            return
        api = load_api(self.module)
        serial = "" if self.address == "any" or self.address.startswith("sim://") else self.address
        try:
            tagger = api.createTimeTagger(serial)
        except (RuntimeError, OSError) as exc:
            raise DeviceDisconnected(f"{self.address}: cannot open the Time Tagger: {exc}") from exc
        self._api, self._tagger = api, tagger
        try:
            tagger.setTriggerLevel(self.click_channel, self.click_level_v)
            tagger.setTriggerLevel(self.marker_channel, self.marker_level_v)
            applied = tagger.setDeadtime(self.click_channel, round(self.dead_time_s * 1e12))
            self._applied_dead_time_ps = int(applied)
            tagger.getOverflowsAndClear()
        except (RuntimeError, ValueError) as exc:
            self.close()
            raise DeviceProtocolError(f"{self.address}: rejected the input settings: {exc}"
                                      ) from exc

    def close(self) -> None:
        """Stop streaming and free the tagger; closing a closed tagger does nothing."""
        tagger, self._tagger = self._tagger, None
        stream, self._stream = self._stream, None
        if tagger is None:
            return
        try:
            if stream is not None:
                stream.stop()
            self._api.freeTimeTagger(tagger)  # type: ignore[union-attr]
        except RuntimeError:
            pass  # already gone: nothing left to release

    def identify(self) -> str:
        """Return ``"<model>,<serial>"`` of the tagger."""
        tagger = self._require()
        return f"Swabian Instruments,{tagger.getModel()},{tagger.getSerial()}"

    def snapshot(self) -> DeviceSnapshot:
        """Return the identity and the input settings read back from the tagger."""
        tagger = self._require()
        return DeviceSnapshot(
            name=self.name, driver=self.driver_name, address=self.address,
            identity=self.identify(),
            settings={
                "click_channel": self.click_channel, "marker_channel": self.marker_channel,
                "click_level_v": float(tagger.getTriggerLevel(self.click_channel)),
                "marker_level_v": float(tagger.getTriggerLevel(self.marker_channel)),
                "dead_time_ps": int(tagger.getDeadtime(self.click_channel)),
                "n_max_events": self.n_max_events,
            })

    def start(self) -> None:
        """Start streaming the click and marker channels (a fresh stream each time)."""
        tagger = self._require()
        if self._stream is not None:
            self._stream.stop()
        self._stream = self._api.TimeTagStream(  # type: ignore[union-attr]
            tagger, self.n_max_events, [self.click_channel, self.marker_channel])
        self._stream.start()

    def stop(self) -> None:
        """Stop streaming (tags not read yet are dropped with the stream)."""
        if self._stream is not None:
            self._stream.stop()
            self._stream = None

    def read(self, timeout_s: float) -> TagBlock:
        """Return the tags streamed since the last read (at least one).

        Raises
        ------
        DeviceTimeout
            If no tag arrives within ``timeout_s``.
        DeviceProtocolError
            If the buffer's arrays are inconsistent.
        DeviceError
            If the stream is not started.
        """
        timeout_s = check_number("timeout_s", timeout_s, 1e-6, 3600.0)
        tagger = self._require()
        if self._stream is None:
            raise DeviceError(f"{self.name}: stream not started (call start())")
        deadline = time.monotonic() + timeout_s
        while True:
            buffer = self._stream.getData()
            if buffer.size:
                break
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"{self.address}: no time tag within {timeout_s:g} s")
            time.sleep(self.poll_interval_s)
        return self._block(buffer, int(tagger.getOverflowsAndClear()))

    def _block(self, buffer: Any, overflows: int) -> TagBlock:
        stamps = np.asarray(buffer.getTimestamps(), dtype=np.int64)
        channels = np.asarray(buffer.getChannels(), dtype=np.int32)
        types = np.asarray(buffer.getEventTypes(), dtype=np.int64)
        missed = np.asarray(buffer.getMissedEvents(), dtype=np.int64)
        if not stamps.shape == channels.shape == types.shape == missed.shape:
            raise DeviceProtocolError(f"{self.address}: stream arrays differ in length")
        tags = types == _TIME_TAG
        overflow = bool(buffer.hasOverflows or overflows
                        or np.any((types == _OVERFLOW_BEGIN) | (types == _OVERFLOW_END))
                        or buffer.size >= self.n_max_events)
        return TagBlock(timestamps_ps=stamps[tags], channels=channels[tags],
                        missed_events=int(missed[types == _MISSED].sum()), overflow=overflow,
                        t_read_s=self.clock.now(), t_end_ps=int(buffer.tGetData))


def from_config(role: str, device: DeviceConfig, context: Any) -> SwabianTagger:
    """Build a closed :class:`SwabianTagger` from its ``[devices.<role>]`` table."""
    settings = check_settings(role, device.settings, {
        "click_channel": int, "marker_channel": int, "click_level_v": (int, float),
        "marker_level_v": (int, float), "dead_time_s": (int, float), "n_max_events": int,
        "module": str, "poll_interval_s": (int, float)})
    return SwabianTagger(role, device.address, timeout_s=device.timeout_s, clock=context.clock,
                         **settings)
