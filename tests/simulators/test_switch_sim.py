"""Check the simulated switch: settle time, failures, superseded requests and patterns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.simulators.switch_sim import SimulatedSwitch

TC, ANTI = SwitchState.TC, SwitchState.ANTI_TC


def make(**kwargs) -> tuple[SimulatedSwitch, SimClock]:
    clock = SimClock()
    return SimulatedSwitch(clock, np.random.default_rng(0), **kwargs), clock


def test_optics_follow_after_the_settle_time() -> None:
    switch, clock = make(settle_time_s=1e-3)
    assert switch.request(ANTI) == pytest.approx(1e-3)
    assert switch.requested is ANTI and switch.state is TC
    clock.advance(0.999e-3)
    assert switch.state is TC
    clock.advance(2e-6)
    assert switch.state is ANTI


def test_stuck_switch_acknowledges_but_never_moves() -> None:
    switch, clock = make(settle_time_s=1e-6, failure="stuck", failure_prob=1.0)
    assert math.isinf(switch.request(ANTI))
    clock.advance(1.0)
    assert switch.requested is ANTI and switch.state is TC and switch.failures == 1


def test_late_switch_moves_after_settle_plus_delay() -> None:
    switch, clock = make(settle_time_s=1e-6, failure="late", late_s=1e-3)
    switch.request(ANTI)
    clock.advance(5e-4)
    assert switch.state is TC
    clock.advance(6e-4)
    assert switch.state is ANTI


def test_failure_probability_is_respected() -> None:
    switch, clock = make(failure="stuck", failure_prob=0.3)
    for _ in range(2000):
        switch.request(switch.state.other())  # always a real change of the optics
        clock.advance(1e-3)
    assert abs(switch.failures / 2000 - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 2000)


def test_a_new_request_supersedes_one_still_settling() -> None:
    switch, clock = make(settle_time_s=1e-3)
    switch.request(ANTI)
    clock.advance(1e-4)
    switch.request(TC)
    clock.advance(2e-3)
    assert switch.state is TC


def test_pattern_steps_on_triggers_and_tc_at_matches_the_slow_path() -> None:
    switch, _ = make(settle_time_s=1e-6)
    switch.arm_pattern([TC, ANTI])
    starts = np.arange(6) * 1e-3
    assert switch.tc_at(starts, 5e-4).tolist() == [True, False] * 3
    slow, _ = make(settle_time_s=1e-6, failure="late", failure_prob=0.0)
    slow.arm_pattern([TC, ANTI])
    assert slow.tc_at(starts, 5e-4).tolist() == [True, False] * 3
    # A settle longer than the gap between gates: each pulse still sees the previous state.
    lagging, _ = make(settle_time_s=2e-3)
    lagging.arm_pattern([ANTI, TC])
    assert lagging.tc_at(starts, 5e-4).tolist() == [True] * 6


def test_bad_arguments_raise_value_error_naming_them() -> None:
    with pytest.raises(ValueError, match="settle_time_s"):
        make(settle_time_s=-1.0)
    with pytest.raises(ValueError, match="failure"):
        make(failure="broken")
    with pytest.raises(ValueError, match="failure_prob"):
        make(failure_prob=2.0)
    switch, _ = make()
    with pytest.raises(ValueError, match="state"):
        switch.request("tc")
    with pytest.raises(ValueError, match="pattern"):
        switch.arm_pattern([])
