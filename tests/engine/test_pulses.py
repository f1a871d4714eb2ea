"""CounterPulses: a counter's one-call gate (``count_gate``) gives the Protocol path's pulses."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.config import Config, updated_config
from heralder.control.clock import SimClock
from heralder.control.pulses import CounterPulses
from heralder.control.records import CountBlock, SwitchState
from heralder.registry import DeviceContext, build_devices
from heralder.simulators.devices import VirtualCounter

_VIRTUAL = {
    "devices.counter": {"driver": "virtual_counter", "address": "sim://lab"},
    "devices.switch": {"driver": "virtual_switch", "address": "sim://lab"},
    "atoms.n_atoms": 100,
    "detector.eta": 0.7,
    "detector.dark_counts_per_gate": 0.5,
    "detector.afterpulse_prob": 0.05,
    "detector.scatter_eps": 0.003,
}


def _lab_run(wrap_read: bool, pulses: int = 60) -> tuple[list, dict]:
    """Run ``pulses`` stepped pulses (switching after each) and return them and the devices."""
    config = updated_config(Config(), _VIRTUAL)
    context = DeviceContext(clock=SimClock(), seed=11, config=config)
    devices = build_devices(config, context)
    for device in devices.values():
        device.open()
    counter, switch, lab = devices["counter"], devices["switch"], context.shared["lab"]
    if wrap_read:  # an instance-level wrapper, as a test's fault injection would add
        original = counter.read
        counter.read = lambda timeout_s: original(timeout_s)
    source = CounterPulses(counter, None, context.clock)
    out, state = [], SwitchState.TC
    for k in range(pulses):
        if k % 10 == 0:
            lab.new_shot()
            state = SwitchState.TC
            switch.set_state(state, 1.0)
        out.append((source.next_pulse(1.0), lab.true_s, counter.last_block))
        state = state.other()
        switch.set_state(state, 1.0)
    return out, {"clock": context.clock.now(), "fired": lab.pulses_fired}


def test_the_one_call_gate_gives_the_protocol_paths_pulses(monkeypatch) -> None:
    reads = []
    protocol_read = VirtualCounter.read
    monkeypatch.setattr(VirtualCounter, "read",
                        lambda self, timeout_s: reads.append(1) or protocol_read(self, timeout_s))
    fast, fast_end = _lab_run(wrap_read=False)
    assert not reads  # count_gate, never read
    slow, slow_end = _lab_run(wrap_read=True)  # a wrapped read: the Protocol path
    assert len(reads) == 60
    assert fast_end == slow_end
    for (a, s_a, block_a), (b, s_b, block_b) in zip(fast, slow, strict=True):
        assert a == b and type(a.counts) is int and a.valid is True and s_a == s_b
        assert block_a == block_b
    assert sum(p.counts for p, _, _ in fast) > 0


class _Counter:
    """Record the calls of a one-gate counter that also offers ``count_gate``."""

    name = "fake"

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def arm(self, n_gates: int) -> None:
        self.calls.append("arm")

    def read(self, timeout_s: float) -> CountBlock:
        self.calls.append("read")
        return CountBlock(np.array([3]), np.array([False]), 0, 0.0)

    def count_gate(self, timeout_s: float) -> tuple[int, bool]:
        self.calls.append("count_gate")
        return 5, True


class _Trigger:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def fire(self, timeout_s: float) -> None:
        self.calls.append("fire")


@pytest.mark.parametrize("with_trigger", [False, True])
def test_a_trigger_between_arm_and_read_keeps_the_protocol_path(with_trigger) -> None:
    calls: list[str] = []
    trigger = _Trigger(calls) if with_trigger else None
    pulse = CounterPulses(_Counter(calls), trigger, SimClock(2.5)).next_pulse(1.0)
    if with_trigger:
        assert calls == ["arm", "fire", "read"] and (pulse.counts, pulse.valid) == (3, False)
    else:
        assert calls == ["count_gate"] and (pulse.counts, pulse.valid) == (5, True)
    assert pulse.t_data_s == 2.5 and pulse.marker_ps == -1 and pulse.times_s is None
