"""Streamed mode: a pulse is complete when its gate has closed, if the tag stream says so."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.control.clock import SimClock
from heralder.control.pulses import TagPulses
from heralder.control.records import TagBlock

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
