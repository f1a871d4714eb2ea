"""Streamed mode: a pulse is complete when its gate has closed, if the tag stream says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from heralder.control.clock import SimClock
from heralder.control.engine import Engine
from heralder.control.pulses import TagPulses
from heralder.control.records import TagBlock
from heralder.control.replay import replay_run
from heralder.control.snapshot import EngineState
from heralder.registry import build_device, register

_GATE_PS = 4_000_000_000  # 4 ms, the gate of the engine tests' config


class _Stream:
    """Play tag blocks: one pulse (marker + two clicks) per read, every ``period_ps``."""

    marker_channel, click_channel = 2, 1

    def __init__(self, tell_end: bool, period_ps: int = 5_000_000_000) -> None:
        self.tell_end, self.period_ps = tell_end, period_ps
        self.reads = 0

    def start(self) -> None:
        """Start (nothing to do)."""

    def stop(self) -> None:
        """Stop (nothing to do)."""

    def read(self, timeout_s: float) -> TagBlock:
        marker = self.reads * self.period_ps
        self.reads += 1
        stamps = np.array([marker, marker + 1000, marker + 2000], np.int64)
        channels = np.array([2, 1, 1], np.int32)
        return TagBlock(stamps, channels, t_end_ps=marker + _GATE_PS if self.tell_end else -1)


@pytest.mark.parametrize("tell_end", [True, False])
def test_a_pulse_is_complete_when_the_stream_passed_its_gate(tell_end):
    stream = _Stream(tell_end)
    pulses = TagPulses(stream, None, SimClock(), _GATE_PS * 1e-12, streamed=True)
    pulses.start(1.0)
    first = pulses.next_pulse(1.0)
    assert first.counts == 2 and first.marker_ps == 0
    # without the stream's end time only the next marker (a second pulse fired) completes it
    assert stream.reads == (1 if tell_end else 2)
    assert len(pulses.stop(1.0)) == (0 if tell_end else 1)


def _tagger_telling_its_end(role, device, context):
    """Wrap the virtual tagger so that each block says the stream is complete past its gates
    (what a Swabian buffer's tGetData says)."""
    inner = build_device(role, replace(device, driver="virtual_tagger"), context)
    read, gate_ps = inner.read, round(context.config.detector.gate_s * 1e12)

    def read_with_end(timeout_s: float) -> TagBlock:
        block = read(timeout_s)
        markers = block.timestamps_ps[block.channels == inner.marker_channel]
        return replace(block, t_end_ps=int(markers[-1]) + gate_ps)

    inner.read = read_with_end
    return inner


def test_streamed_stops_fire_no_extra_pulse_when_the_stream_tells_its_end(make_config):
    register("tagger_telling_its_end", _tagger_telling_its_end)
    config = make_config(
        run={"mode": "streamed", "shots": 6},
        devices={"tagger": {"driver": "tagger_telling_its_end", "address": "sim://lab"},
                 "switch": {"driver": "virtual_switch", "address": "sim://lab"}})
    engine = Engine(config, clock=SimClock())
    engine.start()
    engine.wait_ready()
    assert engine.join(120)
    assert engine.snapshot().state is EngineState.FINISHED, engine.snapshot().message
    with h5py.File(Path(engine.run_dir) / "run.h5") as f:
        decisions = f["user/heralder/decisions"]
        late, stop = decisions["late"][:], decisions["stop"][:]
        policy_stop = decisions["policy_stop"][:]
    assert not late.any()  # no pulse fired after its shot's stop
    np.testing.assert_array_equal(stop, policy_stop)  # every stop was the policy's own
    assert stop.sum() == 6 and len(stop) == sum(h.pulses for h in engine.heralds)
    assert replay_run(engine.run_dir).ok
