"""In-process devices on the virtual lab, implementing the DESIGN §3 Protocols.

``driver = "virtual_counter"`` / ``"virtual_tagger"`` / ``"virtual_switch"`` in a config builds
these through :data:`heralder.registry.BUILTIN_DRIVERS`. All devices of one run share the lab of
:func:`~heralder.simulators.lab.lab_from_context`, so the counter counts the photons the atoms emit
for the polarisation the switch really has. Used while closed, every device raises
:class:`~heralder.errors.DeviceDisconnected`, as a real one would.

Settings (``[devices.<role>.settings]``):

* counter: ``gates_per_read`` (int >= 1, default 1): pulses fired per :meth:`VirtualCounter.read`;
  :meth:`VirtualCounter.count_gate` (arm one gate and count it, in one call) is the stepped run's
  fast path, which :class:`~heralder.control.pulses.CounterPulses` takes when a counter has it;
* tagger: ``pulses_per_read`` (default 1), ``click_channel`` (1), ``marker_channel`` (2);
* switch: ``latency_s`` (default 0): command round trip before the acknowledgement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from heralder import __version__
from heralder.config import DeviceConfig
from heralder.control.records import (
    CountBlock,
    CounterSettings,
    DeviceSnapshot,
    SwitchAck,
    SwitchState,
    TagBlock,
)
from heralder.errors import DeviceDisconnected, DeviceTimeout
from heralder.registry import DeviceContext
from heralder.simulators.lab import (
    CLICK_CHANNEL,
    MARKER_CHANNEL,
    PulseBlock,
    PulseData,
    VirtualLab,
    lab_from_context,
)

__all__ = [
    "VirtualCounter",
    "VirtualSwitch",
    "VirtualTagger",
    "counter_from_config",
    "switch_from_config",
    "tagger_from_config",
]


_R = TypeVar("_R")
_new = object.__new__
_INF = math.inf
_ONE_VALID = np.ones(1, bool)  # shared by the blocks of single gates, so read-only
_ONE_VALID.flags.writeable = False
_ONE_COUNT: dict[int, np.ndarray] = {}  # count -> its read-only block array (a lookup per gate)
_ONE_COUNT_MAX = 1 << 14  # counts cached (memory stays bounded whatever N is)
_COUNT = PulseData._fields.index("count")


def _one_count(count: int) -> np.ndarray:
    """Return a new read-only ``counts`` array of a single gate with ``count`` clicks, kept in
    ``_ONE_COUNT`` for counts below ``_ONE_COUNT_MAX`` (a lookup there costs a fraction of a new
    array: callers look up first)."""
    counts = np.array((count,), np.int64)
    counts.flags.writeable = False
    if count < _ONE_COUNT_MAX:
        _ONE_COUNT[count] = counts
    return counts


def _record(cls: type[_R], fields: dict[str, Any]) -> _R:
    """Return the frozen record ``cls(**fields)`` (every field given, each already valid) without
    the dataclass ``__init__``, whose one ``object.__setattr__`` per field costs 2-3 µs a record:
    as much as the rest of a simulated gate. Per-pulse records only."""
    record = _new(cls)
    record.__dict__.update(fields)
    return record


def _check_timeout(timeout_s: float) -> float:
    """Return ``timeout_s`` as a float, or raise ``ValueError`` unless it is finite and > 0.

    Per-pulse methods test the common case (``0.0 < timeout_s < _INF`` on a float) inline and
    call this only when that fails: a call costs as much as the test.
    """
    if timeout_s.__class__ is float and 0.0 < timeout_s < _INF:
        return timeout_s
    if isinstance(timeout_s, bool) or not (isinstance(timeout_s, int | float)
                                           and math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a finite number > 0, got {timeout_s!r}")
    return float(timeout_s)


def _settings(role: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Return ``defaults`` updated with ``given``, rejecting unknown keys and wrong types."""
    out = dict(defaults)
    for key, value in given.items():
        where = f"devices.{role}.settings.{key}"
        if key not in defaults:
            raise ValueError(f"{where}: unknown setting (allowed: {', '.join(sorted(defaults))})")
        kind = type(defaults[key])
        if isinstance(value, bool) or not isinstance(value, int | float if kind is float else kind):
            raise ValueError(f"{where}: expected {kind.__name__}, got {value!r}")
        if not (math.isfinite(value) and value >= (1 if kind is int else 0)):
            raise ValueError(f"{where}: must be {'>= 1' if kind is int else '>= 0'}, "
                             f"got {value!r}")
        out[key] = kind(value)
    return out


class _VirtualDevice:
    """Share open/close, identity and snapshot of the virtual devices."""

    driver = "virtual"

    def __init__(self, name: str, address: str, lab: VirtualLab, settings: dict[str, Any]):
        self.name = name
        self.address = address
        self.lab = lab
        self.settings = settings
        self._open = False

    def open(self) -> None:
        """Connect (to the in-process lab)."""
        self._open = True

    def close(self) -> None:
        """Disconnect."""
        self._open = False

    @property
    def is_open(self) -> bool:
        """Return ``True`` while connected."""
        return self._open

    def _require_open(self) -> None:
        if not self._open:
            raise DeviceDisconnected(f"{self.name}: {self.driver} at {self.address} is not open")

    def identify(self) -> str:
        """Return the identification string."""
        self._require_open()
        return f"heralder,{self.driver},0,{__version__}"

    def snapshot(self) -> DeviceSnapshot:
        """Return identity, settings and the lab's truth parameters."""
        self._require_open()
        settings = dict(self.settings) | self._state()
        settings["lab_gate_s"] = self.lab.gate_s
        settings["lab_pulse_period_s"] = self.lab.pulse_period_s
        return DeviceSnapshot(self.name, self.driver, self.address, self.identify(), settings)

    def _state(self) -> dict[str, Any]:
        return {}

    def _no_data(self, timeout_s: float, why: str) -> DeviceTimeout:
        """Wait out ``timeout_s`` on the lab's clock and return the timeout to raise."""
        self.lab.clock.sleep(timeout_s)
        return DeviceTimeout(f"{self.name}: no data within {timeout_s:g} s ({why})")


class VirtualCounter(_VirtualDevice):
    """Count the lab's clicks per gate (a :class:`~heralder.control.interfaces.PhotonCounter`).

    Each :meth:`read` fires up to ``gates_per_read`` pulses of the lab and returns their counts;
    :attr:`last_block` is the lab's record of them (the truth, for tests and studies).
    """

    driver = "virtual_counter"

    def __init__(self, name: str, address: str, lab: VirtualLab, settings: dict[str, Any]):
        super().__init__(name, address, lab, settings)
        self._counter_settings = CounterSettings(lab.gate_s, -0.01, "external")
        self._gates_per_read: int = settings["gates_per_read"]
        self._remaining = 0
        self._next_gate = 0
        self._last: PulseBlock | PulseData | None = None
        self._fire_pulse, self._now = lab.fire_pulse, lab.clock.now  # bound once: per pulse

    def configure(self, gate_s: float, threshold_v: float = -0.01,
                  trigger: str = "external") -> CounterSettings:
        """Set the gate (must be the lab's), the threshold and the trigger; return them.

        Raises
        ------
        ValueError
            If ``gate_s`` differs from the lab's gate, ``threshold_v`` is not finite or
            ``trigger`` is not ``"external"`` or ``"internal"``.
        """
        self._require_open()
        if not math.isclose(gate_s, self.lab.gate_s, rel_tol=1e-9):
            raise ValueError(f"gate_s must equal the lab's gate {self.lab.gate_s!r}, "
                             f"got {gate_s!r}")
        if not math.isfinite(threshold_v):
            raise ValueError(f"threshold_v must be finite, got {threshold_v!r}")
        if trigger not in ("external", "internal"):
            raise ValueError(f"trigger must be 'external' or 'internal', got {trigger!r}")
        self._counter_settings = CounterSettings(self.lab.gate_s, float(threshold_v), trigger)
        return self._counter_settings

    def arm(self, n_gates: int) -> None:
        """Count the next ``n_gates`` gates (pulses)."""
        if not self._open:  # the check inline (here and in read, set_state): called per pulse
            self._require_open()
        if n_gates.__class__ is not int or n_gates < 1:
            raise ValueError(f"n_gates must be an integer >= 1, got {n_gates!r}")
        self._remaining = n_gates
        self._next_gate = 0

    def read(self, timeout_s: float) -> CountBlock:
        """Fire the next pulses and return their counts.

        Raises
        ------
        DeviceTimeout
            If nothing is armed (after waiting ``timeout_s`` on the lab's clock).
        """
        if not self._open:
            self._require_open()
        if timeout_s.__class__ is not float or not 0.0 < timeout_s < _INF:
            timeout_s = _check_timeout(timeout_s)
        remaining = self._remaining
        if remaining == 0:
            raise self._no_data(timeout_s, "counter not armed")
        first = self._next_gate
        if remaining == 1 or self._gates_per_read == 1:  # a stepped run: the lab's scalar path
            self._remaining = remaining - 1
            self._next_gate = first + 1
            self._last = pulse = self._fire_pulse()
            count = pulse[_COUNT]
            counts = _ONE_COUNT.get(count)
            if counts is None:
                counts = _one_count(count)
            return _record(CountBlock, {"counts": counts, "valid": _ONE_VALID,
                                        "first_gate": first, "t_read_s": self._now()})
        n = min(remaining, self._gates_per_read)
        self._remaining -= n
        self._next_gate += n
        block = self.lab.fire_pulses(n)
        self._last = block
        return CountBlock(block.counts.astype(np.int64), np.ones(n, bool), first,
                          self.lab.clock.now())

    def count_gate(self, timeout_s: float) -> tuple[int, bool]:
        """Arm one gate, fire its pulse and return ``(count, valid)``.

        The same as ``arm(1)`` then :meth:`read` of that gate (same pulse, same state after),
        without building the :class:`CountBlock`: a stepped run's fast path, one call per pulse.

        Raises
        ------
        DeviceDisconnected
            If the counter is not open.
        ValueError
            If ``timeout_s`` is not a finite number > 0.
        """
        if not self._open:
            self._require_open()
        if timeout_s.__class__ is not float or not 0.0 < timeout_s < _INF:
            _check_timeout(timeout_s)
        self._remaining, self._next_gate = 0, 1
        self._last = pulse = self._fire_pulse()
        return pulse[_COUNT], True

    @property
    def last_block(self) -> PulseBlock | None:
        """Return the lab's record of the pulses of the last :meth:`read`."""
        last = self._last
        return PulseBlock.of_pulse(last) if isinstance(last, PulseData) else last

    def _state(self) -> dict[str, Any]:
        s = self._counter_settings
        return {"gate_s": s.gate_s, "threshold_v": s.threshold_v, "trigger": s.trigger}


class VirtualTagger(_VirtualDevice):
    """Stream the lab's time tags (a :class:`~heralder.control.interfaces.TagSource`).

    Each :meth:`read` fires ``pulses_per_read`` pulses and returns their marker and click tags,
    with the time up to which the stream is complete (the last pulse's gate end).
    """

    driver = "virtual_tagger"

    def __init__(self, name: str, address: str, lab: VirtualLab, settings: dict[str, Any]):
        super().__init__(name, address, lab, settings)
        self.click_channel = settings["click_channel"]
        self.marker_channel = settings["marker_channel"]
        self._running = False
        self.last_block: PulseBlock | None = None

    def start(self) -> None:
        """Start streaming."""
        self._require_open()
        self._running = True

    def stop(self) -> None:
        """Stop streaming."""
        self._require_open()
        self._running = False

    def close(self) -> None:
        """Stop streaming and disconnect."""
        self._running = False
        super().close()

    def read(self, timeout_s: float) -> TagBlock:
        """Fire the next pulses and return their tags.

        Raises
        ------
        DeviceTimeout
            If the stream is not started (after waiting ``timeout_s`` on the lab's clock).
        """
        self._require_open()
        timeout_s = _check_timeout(timeout_s)
        if not self._running:
            raise self._no_data(timeout_s, "stream not started")
        block = self.lab.fire_pulses(self.settings["pulses_per_read"])
        self.last_block = block
        stamps, channels = self.lab.tags(block, click_channel=self.click_channel,
                                         marker_channel=self.marker_channel)
        # Whole pulses were fired: the stream is complete up to the last one's gate end.
        markers = stamps[channels == self.marker_channel]
        end_ps = int(markers[-1]) + round(block.gate_s * 1e12) if markers.size else -1
        return TagBlock(stamps, channels, t_read_s=self.lab.clock.now(), t_end_ps=end_ps)


class VirtualSwitch(_VirtualDevice):
    """Drive the lab's simulated switch (a :class:`~heralder.control.interfaces.PatternSwitch`).

    The read-back reports what the controller was told, as a real controller does; the optics
    (what the atoms see) follow after the settle time, or late, or never (``[lab]`` failures).
    """

    driver = "virtual_switch"
    safe_state = SwitchState.TC

    def __init__(self, name: str, address: str, lab: VirtualLab, settings: dict[str, Any]):
        super().__init__(name, address, lab, settings)
        self.settle_time_s = lab.switch.settle_time_s
        self._latency_s: float = settings["latency_s"]
        self._switch = lab.switch
        self._request, self._now = lab.switch.request, lab.clock.now  # bound once: per pulse

    def close(self) -> None:
        """Stop any pattern, leave the switch in the safe state and disconnect."""
        if self._open:
            self.lab.switch.stop_pattern()
            self.lab.switch.request(self.safe_state)
        super().close()

    def set_state(self, state: SwitchState, timeout_s: float) -> SwitchAck:
        """Request ``state``; return the acknowledgement with the controller's read-back."""
        if not self._open:
            self._require_open()
        if timeout_s.__class__ is not float or not 0.0 < timeout_s < _INF:
            _check_timeout(timeout_s)
        sent_s = ack_s = self._now()
        self._request(state, sent_s)  # raises ValueError if state is not a SwitchState
        if self._latency_s:
            self.lab.clock.sleep(self._latency_s)
            ack_s = self._now()
        return _record(SwitchAck, {"requested": state, "read_back": self._switch.requested,
                                   "t_sent_s": sent_s, "t_ack_s": ack_s,
                                   "settle_time_s": self.settle_time_s})

    def get_state(self, timeout_s: float) -> SwitchState:
        """Return the state the controller reports."""
        self._require_open()
        _check_timeout(timeout_s)
        return self.lab.switch.requested

    def arm_pattern(self, pattern: Sequence[SwitchState], timeout_s: float) -> None:
        """Step through ``pattern`` on each pulse trigger (streamed mode)."""
        self._require_open()
        _check_timeout(timeout_s)
        self.lab.switch.arm_pattern(pattern)

    def stop_pattern(self, timeout_s: float) -> SwitchAck:
        """Stop the pattern and go to the safe state."""
        self._require_open()
        self.lab.switch.stop_pattern()
        return self.set_state(self.safe_state, timeout_s)

    def _state(self) -> dict[str, Any]:
        return {"settle_time_s": self.settle_time_s, "requested": self.lab.switch.requested.value}


def counter_from_config(role: str, device: DeviceConfig, context: DeviceContext
                        ) -> VirtualCounter:
    """Build a (closed) virtual counter on the run's lab."""
    settings = _settings(role, device.settings, {"gates_per_read": 1})
    return VirtualCounter(role, device.address, lab_from_context(context), settings)


def tagger_from_config(role: str, device: DeviceConfig, context: DeviceContext) -> VirtualTagger:
    """Build a (closed) virtual time tagger on the run's lab (which then records photon times)."""
    settings = _settings(role, device.settings, {"pulses_per_read": 1,
                                                 "click_channel": CLICK_CHANNEL,
                                                 "marker_channel": MARKER_CHANNEL})
    if settings["click_channel"] == settings["marker_channel"]:
        raise ValueError(f"devices.{role}.settings: click_channel and marker_channel must differ")
    lab = lab_from_context(context)
    lab.record_times = True
    return VirtualTagger(role, device.address, lab, settings)


def switch_from_config(role: str, device: DeviceConfig, context: DeviceContext) -> VirtualSwitch:
    """Build a (closed) virtual polarisation switch on the run's lab."""
    settings = _settings(role, device.settings, {"latency_s": 0.0})
    return VirtualSwitch(role, device.address, lab_from_context(context), settings)
