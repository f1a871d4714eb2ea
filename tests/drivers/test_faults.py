"""Inject every fault into the emulators: typed error within the timeout, then recovery."""

from __future__ import annotations

import time

import pytest

from heralder.config import FaultConfig
from heralder.control.records import SwitchState
from heralder.errors import DeviceDisconnected, DeviceProtocolError, DeviceTimeout
from heralder.simulators.faults import FaultInjector

TIMEOUT_S = 0.2
DRIVERS = {"sim://sr400": "sr400", "sim://53230a": "keysight_53230a", "sim://lcc25": "lcc25",
           "sim://33522b": "keysight_33500"}
EXPECTED = {
    "no_reply": (DeviceTimeout,),
    "slow_reply": (DeviceTimeout,),
    "disconnect": (DeviceDisconnected, DeviceTimeout),
    "garbage": (DeviceProtocolError,),
    "truncated_block": (DeviceTimeout, DeviceProtocolError),
    "error_state": (DeviceProtocolError,),
}


def _device(sim_run, address, role, faults=None):
    devices, context = sim_run({role: {"driver": DRIVERS[address], "address": address,
                                       "timeout_s": TIMEOUT_S}}, faults=faults,
                               atoms={"n_atoms": 100, "fixed_s": 10})
    device = devices[role]
    device.open()
    return device, context


def _arm_fault(context, address, kind, delay_s=0.5):
    emulator = context.shared["emulators"][address]
    emulator.faults = FaultInjector([FaultConfig(
        device="x", kind=kind, count=1,
        delay_s=delay_s)])


def _raises_in_time(expected, action):
    start = time.monotonic()
    with pytest.raises(expected):
        action()
    assert time.monotonic() - start < 10 * TIMEOUT_S + 1.0


def _recovers(device, check):
    device.close()
    device.open()
    check()
    device.close()


@pytest.mark.parametrize("kind", sorted(EXPECTED))
@pytest.mark.parametrize("address", ["sim://sr400", "sim://53230a"])
def test_counter_faults_during_read(sim_run, address, kind):
    counter, context = _device(sim_run, address, "counter")
    counter.configure(1e-4)
    counter.arm(2)
    _arm_fault(context, address, kind)
    _raises_in_time(EXPECTED[kind], lambda: counter.read(TIMEOUT_S))

    def works():
        counter.configure(1e-4)
        counter.arm(1)
        assert counter.read(1.0).counts.size == 1

    _recovers(counter, works)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
@pytest.mark.parametrize("address", ["sim://lcc25", "sim://33522b"])
def test_switch_faults_during_set(sim_run, address, kind):
    switch, context = _device(sim_run, address, "switch")
    _arm_fault(context, address, kind)
    _raises_in_time(EXPECTED[kind], lambda: switch.set_state(SwitchState.ANTI_TC, TIMEOUT_S))
    _recovers(switch, lambda: switch.set_state(SwitchState.ANTI_TC, 1.0).ok or pytest.fail())


@pytest.mark.parametrize("address", ["sim://lcc25", "sim://33522b"])
def test_stuck_switch_reads_back_the_old_state(sim_run, address):
    switch, context = _device(sim_run, address, "switch")
    assert switch.set_state(SwitchState.TC, 1.0).ok
    _arm_fault(context, address, "switch_stuck")
    ack = switch.set_state(SwitchState.ANTI_TC, TIMEOUT_S)
    assert not ack.ok and ack.read_back is SwitchState.TC
    assert context.shared["lab"].switch.requested is SwitchState.TC  # the optics never moved
    assert switch.set_state(SwitchState.ANTI_TC, 1.0).ok  # next command works again


def test_late_lcc25_acknowledges_late(sim_run):
    switch, context = _device(sim_run, "sim://lcc25", "switch")
    _arm_fault(context, "sim://lcc25", "switch_late", delay_s=0.05)
    start = time.monotonic()
    ack = switch.set_state(SwitchState.ANTI_TC, 1.0)
    assert ack.ok and time.monotonic() - start >= 0.05
    _arm_fault(context, "sim://lcc25", "switch_late", delay_s=5.0)
    assert not switch.set_state(SwitchState.TC, TIMEOUT_S).ok  # later than the timeout


def test_faults_from_config_hit_their_role_only(sim_run):
    faults = [{"device": "counter", "kind": "no_reply", "count": 1}]
    devices, context = sim_run(
        {"counter": {"driver": "sr400", "address": "sim://sr400", "timeout_s": TIMEOUT_S},
         "switch": {"driver": "lcc25", "address": "sim://lcc25", "timeout_s": TIMEOUT_S}},
        faults=faults)
    with pytest.raises(DeviceTimeout):
        devices["counter"].open()  # the first line ("SW0;CM;SS") is lost
    devices["counter"].open()
    devices["switch"].open()
    assert context.shared["emulators"]["sim://sr400"].faults.history == [(0, "no_reply")]
    assert context.shared["emulators"]["sim://lcc25"].faults.history == []


def test_fault_injection_is_seeded():
    fault = FaultConfig(device="counter", kind="garbage", probability=0.3)
    injectors = [FaultInjector([fault], seed, "counter") for seed in (1, 1, 2)]
    runs = [[i.next_command() is not None for _ in range(200)] for i in injectors]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert 30 < sum(runs[0]) < 90
