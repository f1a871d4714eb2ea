"""Check the frame pacer's budget and the stall meter's gap and CPU accounting."""

from __future__ import annotations

import time

import pytest
from PyQt6.QtCore import QTimer

from heralder.gui import timing
from heralder.gui.timing import FramePacer


def burn_cpu(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@pytest.mark.parametrize(("load", "drawn"), [(0.0, True), (1e6, False)])
def test_frames_are_budgeted_only_on_a_saturated_machine(monkeypatch, load, drawn):
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (load, load, load))
    pacer = FramePacer(budget=0.1, max_interval_s=10.0)
    assert pacer.due()
    burn_cpu(0.03)  # all of the wall time since the last frame went to drawing
    assert pacer.due() is drawn
    assert pacer.frames == (2 if drawn else 1)


def test_a_frame_is_always_drawn_after_the_longest_interval(monkeypatch):
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (1e6, 1e6, 1e6))
    pacer = FramePacer(budget=0.1, max_interval_s=0.02)
    assert pacer.due()
    burn_cpu(0.03)
    assert pacer.due()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": 0.0}, "budget must lie in"), ({"max_interval_s": 0.0}, "max_interval_s")])
def test_bad_pacer_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FramePacer(**kwargs)


def test_stall_meter_sees_a_busy_slot_as_a_gap_with_its_cpu_time(qtbot, stall_meter):
    stall_meter.start()
    QTimer.singleShot(50, lambda: burn_cpu(0.08))
    qtbot.wait(400)
    stall_meter.stop()
    assert stall_meter.ticks > 5
    assert stall_meter.max_gap_s >= 0.08
    assert 0.07 <= stall_meter.busy_in_worst_gap_s() <= stall_meter.max_gap_s + 0.01
    assert stall_meter.count_over(0.05) >= 1
