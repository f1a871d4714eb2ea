"""Run one contract suite against every driver + emulator pair and every in-process fake."""

from __future__ import annotations

import json

import numpy as np
import pytest

from heralder.control.interfaces import (
    PatternSwitch,
    PhotonCounter,
    PolarizationSwitch,
    PulseTrigger,
    TagSource,
)
from heralder.control.records import CountBlock, CounterSettings, SwitchState, TagBlock
from heralder.errors import DeviceDisconnected

COUNTERS = [("sr400", "sim://sr400"), ("keysight_53230a", "sim://53230a"),
            ("keysight_53230a", "sim://53220a"), ("virtual_counter", "sim://lab")]
SWITCHES = [("lcc25", "sim://lcc25"), ("keysight_33500", "sim://33522b"),
            ("virtual_switch", "sim://lab")]
TAGGERS = [("swabian", "sim://timetagger"), ("virtual_tagger", "sim://lab")]
FIXED = {"atoms": {"n_atoms": 100, "fixed_s": 20}}


def _generic_device_contract(device) -> None:
    assert not device.is_open
    with pytest.raises(DeviceDisconnected):
        device.identify()
    device.open()
    device.open()  # idempotent
    assert device.is_open and device.identify()
    snap = device.snapshot()
    assert snap.name == device.name and snap.identity and snap.address == device.address
    json.dumps(snap.settings)


def _close_reopen(device) -> None:
    device.close()
    device.close()  # idempotent
    assert not device.is_open
    device.open()
    assert device.identify()
    device.close()


@pytest.mark.parametrize(("driver", "address"), COUNTERS, ids=[a for _, a in COUNTERS])
def test_counter_contract(sim_run, driver, address):
    devices, _context = sim_run({"counter": {"driver": driver, "address": address}}, **FIXED)
    counter = devices["counter"]
    assert isinstance(counter, PhotonCounter)
    _generic_device_contract(counter)
    settings = counter.configure(1e-4)
    assert isinstance(settings, CounterSettings) and settings.gate_s == pytest.approx(1e-4)
    counter.arm(3)
    blocks = []
    while sum(b.counts.size for b in blocks) < 3:
        blocks.append(counter.read(1.0))
    for block in blocks:
        assert isinstance(block, CountBlock) and block.counts.dtype == np.int64
        assert block.valid.dtype == bool and (block.counts >= 0).all()
    assert [b.first_gate for b in blocks] == list(np.cumsum([0] + [b.counts.size
                                                                   for b in blocks])[:-1])
    _close_reopen(counter)


@pytest.mark.parametrize(("driver", "address"), SWITCHES, ids=[a for _, a in SWITCHES])
def test_switch_contract(sim_run, driver, address):
    devices, context = sim_run({"switch": {"driver": driver, "address": address}}, **FIXED)
    switch = devices["switch"]
    assert isinstance(switch, PolarizationSwitch)
    assert isinstance(switch.safe_state, SwitchState) and switch.settle_time_s >= 0
    _generic_device_contract(switch)
    for state in (SwitchState.ANTI_TC, SwitchState.TC, SwitchState.ANTI_TC):
        ack = switch.set_state(state, 1.0)
        assert ack.ok and ack.requested is state and ack.t_ack_s >= ack.t_sent_s
        assert switch.get_state(1.0) is state
        assert context.shared["lab"].switch.requested is state  # the optics were asked
    with pytest.raises(ValueError):
        switch.set_state("tc", 1.0)
    if isinstance(switch, PatternSwitch):
        switch.arm_pattern([SwitchState.TC, SwitchState.ANTI_TC] * 3, 1.0)
        assert context.shared["lab"].switch.pattern_armed
        assert switch.stop_pattern(1.0).ok
        assert not context.shared["lab"].switch.pattern_armed
    switch.close()
    assert context.shared["lab"].switch.requested is switch.safe_state or driver == "keysight_33500"
    _close_reopen(switch)


@pytest.mark.parametrize(("driver", "address"), TAGGERS, ids=[a for _, a in TAGGERS])
def test_tagger_contract(sim_run, driver, address):
    devices, _context = sim_run({"tagger": {"driver": driver, "address": address}}, **FIXED)
    tagger = devices["tagger"]
    assert isinstance(tagger, TagSource)
    _generic_device_contract(tagger)
    tagger.start()
    block = tagger.read(1.0)
    assert isinstance(block, TagBlock) and block.timestamps_ps.dtype == np.int64
    assert tagger.marker_channel in set(block.channels.tolist())
    assert (np.diff(block.timestamps_ps) >= 0).all()
    tagger.stop()
    _close_reopen(tagger)


def test_trigger_contract(sim_run):
    devices, context = sim_run({"trigger": {"driver": "keysight_33500",
                                            "address": "sim://33522b"}}, **FIXED)
    trigger = devices["trigger"]
    assert isinstance(trigger, PulseTrigger) and trigger.channel == 2
    _generic_device_contract(trigger)
    before = context.shared["lab_link"].triggers
    trigger.fire(1.0)
    trigger.fire(1.0)
    assert context.shared["lab_link"].triggers == before + 2
    _close_reopen(trigger)


@pytest.mark.parametrize(("counter", "switch"), [("sim://sr400", "sim://lcc25"),
                                                 ("sim://53230a", "sim://33522b")])
def test_switching_matters_through_the_wire(sim_run, counter, switch):
    """A pulse of the wrong polarisation is dark; alternating keeps emitting 2S photons."""
    drivers = {"sim://sr400": "sr400", "sim://53230a": "keysight_53230a",
               "sim://lcc25": "lcc25", "sim://33522b": "keysight_33500"}
    devices, context = sim_run(
        {"counter": {"driver": drivers[counter], "address": counter},
         "switch": {"driver": drivers[switch], "address": switch}},
        atoms={"n_atoms": 100, "fixed_s": 20},
        detector={"eta": 1.0, "dark_counts_per_gate": 0.0, "gate_s": 1e-2},
        engine={"pulse_period_s": 2e-2})
    c, s = devices["counter"], devices["switch"]
    c.open()
    s.open()
    c.configure(1e-2)
    context.shared["lab"].new_shot()

    def pulse(state):
        assert s.set_state(state, 1.0).ok
        context.clock.advance(0.1)  # let the optics settle before the next pulse
        c.arm(1)
        return int(c.read(1.0).counts[0])

    counts = [pulse(SwitchState.TC), pulse(SwitchState.TC), pulse(SwitchState.ANTI_TC),
              pulse(SwitchState.TC)]
    assert counts == [20, 0, 40, 40]
