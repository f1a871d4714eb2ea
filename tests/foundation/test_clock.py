"""Check the wall and simulated clocks."""

import time

import pytest

from heralder.control.clock import Clock, SimClock, WallClock


def test_simclock_advances_only_when_told():
    clock = SimClock(start_s=5.0)
    assert isinstance(clock, Clock)
    assert clock.now() == 5.0
    t0 = time.monotonic()
    clock.sleep(3600.0)
    assert time.monotonic() - t0 < 0.1
    assert clock.now() == 3605.0
    assert clock.advance_to(100.0) == 3605.0  # never backwards
    assert clock.advance_to(4000.0) == 4000.0


def test_wallclock_sleeps_for_real():
    clock = WallClock()
    assert isinstance(clock, Clock)
    t0 = clock.now()
    clock.sleep(0.05)
    assert 0.045 <= clock.now() - t0 < 0.5


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_clocks_reject_bad_durations(bad):
    with pytest.raises(ValueError, match="duration_s"):
        SimClock().sleep(bad)
    with pytest.raises(ValueError, match="duration_s"):
        WallClock().sleep(bad)
