"""Check the virtual devices: Protocol contracts, typed errors, and that they share one lab."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from heralder.config import Config, updated_config
from heralder.control.clock import SimClock
from heralder.control.interfaces import PatternSwitch, PhotonCounter, PolarizationSwitch, TagSource
from heralder.control.records import SwitchState
from heralder.errors import ConfigError, DeviceDisconnected, DeviceTimeout
from heralder.registry import DeviceContext, build_devices

TC, ANTI = SwitchState.TC, SwitchState.ANTI_TC
VIRTUAL = {
    "devices.counter": {"driver": "virtual_counter", "address": "sim://lab"},
    "devices.tagger": {"driver": "virtual_tagger", "address": "sim://lab",
                       "settings": {"pulses_per_read": 2}},
    "devices.switch": {"driver": "virtual_switch", "address": "sim://lab"},
    "atoms.n_atoms": 400,
    "atoms.fixed_s": 20,
    "detector.eta": 0.5,
    "detector.gate_s": 2e-3,
    "engine.pulse_period_s": 2.5e-3,
}


@pytest.fixture
def devices() -> dict:
    config = updated_config(Config(), VIRTUAL)
    context = DeviceContext(clock=SimClock(), seed=3, config=config)
    built = build_devices(config, context)
    for device in built.values():
        device.open()
    built["lab"] = context.shared["lab"]
    return built


def test_per_pulse_records_are_the_dataclasses_own(devices: dict) -> None:
    """The counter and switch build their per-pulse records without ``__init__``: every field
    is set, and each record equals (and is as frozen as) the one the constructor builds."""
    counter, switch, lab = devices["counter"], devices["switch"], devices["lab"]
    switch._latency_s = 1e-4  # a delayed acknowledgement: its own time
    lab.new_shot()
    ack = switch.set_state(ANTI, 1.0)
    counter.arm(1)
    block = counter.read(1.0)
    for record in (ack, block):
        names = [f.name for f in dataclasses.fields(record)]
        assert list(vars(record)) == names
        assert record == type(record)(*(getattr(record, name) for name in names))
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.t_read_s = 0.0
    assert ack.t_ack_s == pytest.approx(ack.t_sent_s + 1e-4) and ack.ok


def test_virtual_devices_pass_their_protocols(devices: dict) -> None:
    assert isinstance(devices["counter"], PhotonCounter)
    assert isinstance(devices["tagger"], TagSource)
    assert isinstance(devices["switch"], PolarizationSwitch)
    assert isinstance(devices["switch"], PatternSwitch)


def test_counter_switch_and_tagger_share_one_lab(devices: dict) -> None:
    counter, switch, tagger, lab = (devices[k] for k in ("counter", "switch", "tagger", "lab"))
    assert counter.lab is switch.lab is tagger.lab is lab and lab.record_times
    lab.new_shot()
    counter.configure(lab.gate_s)
    counter.arm(3)
    first = counter.read(1.0)
    ack = switch.set_state(ANTI, 1.0)
    assert ack.ok and ack.settle_time_s == lab.switch.settle_time_s
    lab.clock.sleep(ack.settle_time_s)
    second = counter.read(1.0)
    assert (first.first_gate, second.first_gate) == (0, 1)
    assert counter.last_block.emitted.tolist() == [40]
    assert switch.get_state(1.0) is ANTI
    tagger.start()
    block = tagger.read(1.0)
    assert np.count_nonzero(block.channels == tagger.marker_channel) == 2
    assert tagger.last_block.emitted.tolist() == [0, 0]  # nobody switched back: dark pulses


def test_counter_without_armed_gates_times_out_on_the_lab_clock(devices: dict) -> None:
    counter, lab = devices["counter"], devices["lab"]
    before = lab.clock.now()
    with pytest.raises(DeviceTimeout):
        counter.read(0.5)
    assert lab.clock.now() - before == pytest.approx(0.5)
    with pytest.raises(DeviceTimeout):
        devices["tagger"].read(0.1)  # not started


def test_pattern_alternates_the_polarisation_per_pulse(devices: dict) -> None:
    counter, switch, lab = devices["counter"], devices["switch"], devices["lab"]
    lab.new_shot()
    switch.arm_pattern([TC, ANTI], 1.0)
    counter.arm(6)
    for _ in range(6):
        counter.read(1.0)
    assert lab.pulses_fired == 6
    ack = switch.stop_pattern(1.0)
    assert ack.read_back is TC


def test_closed_devices_raise_device_disconnected(devices: dict) -> None:
    for name in ("counter", "tagger", "switch"):
        devices[name].close()
        assert not devices[name].is_open
        with pytest.raises(DeviceDisconnected):
            devices[name].identify()
        with pytest.raises(DeviceDisconnected):
            devices[name].snapshot()
    with pytest.raises(DeviceDisconnected):
        devices["counter"].read(1.0)
    with pytest.raises(DeviceDisconnected):
        devices["counter"].arm(1)
    with pytest.raises(DeviceDisconnected):
        devices["counter"].count_gate(1.0)
    with pytest.raises(DeviceDisconnected):
        devices["tagger"].start()
    with pytest.raises(DeviceDisconnected):
        devices["switch"].set_state(TC, 1.0)
    with pytest.raises(DeviceDisconnected):
        devices["switch"].arm_pattern([TC], 1.0)


def test_snapshots_describe_the_device(devices: dict) -> None:
    snap = devices["counter"].snapshot()
    assert snap.driver == "virtual_counter" and snap.identity.startswith("heralder,")
    assert snap.settings["lab_gate_s"] == 2e-3


def test_bad_calls_raise_value_error(devices: dict) -> None:
    with pytest.raises(ValueError, match="gate_s"):
        devices["counter"].configure(1e-3)
    with pytest.raises(ValueError, match="n_gates"):
        devices["counter"].arm(0)
    with pytest.raises(ValueError, match="timeout_s"):
        devices["switch"].set_state(TC, -1.0)
    for bad in (0.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="timeout_s"):
            devices["counter"].count_gate(bad)
        with pytest.raises(ValueError, match="timeout_s"):
            devices["switch"].set_state(TC, bad)
    with pytest.raises(ValueError, match="state"):
        devices["switch"].set_state("tc", 1.0)
    assert devices["lab"].pulses_fired == 0  # nothing fired on a bad call


def test_count_gate_is_arm_one_then_read(devices: dict) -> None:
    """One gate in one call leaves the counter as arm(1) + read do: nothing armed after it."""
    counter, lab = devices["counter"], devices["lab"]
    lab.record_times = False  # the lab's scalar path (a counter without a tagger)
    lab.new_shot()
    counter.arm(5)
    count, valid = counter.count_gate(1)  # an int timeout is fine
    assert valid is True and count == counter.last_block.counts[0] and lab.pulses_fired == 1
    with pytest.raises(DeviceTimeout):
        counter.read(0.1)


def test_bad_settings_raise_config_error_naming_the_key() -> None:
    config = updated_config(Config(), {
        "devices.counter": {"driver": "virtual_counter", "address": "sim://lab",
                            "settings": {"gates_per_reed": 2}}})
    with pytest.raises(ConfigError, match="gates_per_reed"):
        build_devices(config, DeviceContext(clock=SimClock(), config=config))
