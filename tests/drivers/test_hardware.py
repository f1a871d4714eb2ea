"""Talk to real instruments; runs only when an address is given, skipped otherwise.

Give ``pytest --device-address ROLE=[DRIVER@]ADDRESS`` (repeatable) or set
``HERALDER_HW_<ROLE>=[DRIVER@]ADDRESS``, e.g. ``counter=sr400@ASRL/dev/ttyUSB0::INSTR`` or
``switch=lcc25@/dev/ttyUSB1``. Without ``DRIVER@`` the role's default driver is used
(counter: keysight_53230a, switch: lcc25, tagger: swabian, trigger: keysight_33500). The tests only
read identities and settings, count one internally triggered gate and toggle the switch, leaving
it in its safe state.
"""

from __future__ import annotations

import os

import pytest

from heralder.config import DeviceConfig
from heralder.control.interfaces import PhotonCounter, PolarizationSwitch, PulseTrigger, TagSource
from heralder.control.records import SwitchState
from heralder.registry import DeviceContext, build_device

DEFAULTS = {"counter": "keysight_53230a", "switch": "lcc25", "tagger": "swabian",
            "trigger": "keysight_33500"}


def _address(request, role: str) -> tuple[str, str]:
    given = dict(item.split("=", 1) for item in request.config.getoption("--device-address"))
    value = given.get(role) or os.environ.get(f"HERALDER_HW_{role.upper()}")
    if not value:
        pytest.skip(f"no hardware address for {role} (--device-address {role}=... or "
                    f"HERALDER_HW_{role.upper()})")
    driver, _, address = value.rpartition("@")
    return driver or DEFAULTS[role], address


@pytest.fixture
def hardware(request):
    opened = []

    def make(role: str):
        driver, address = _address(request, role)
        device = build_device(role, DeviceConfig(driver=driver, address=address, timeout_s=2.0),
                              DeviceContext())
        device.open()
        opened.append(device)
        return device

    yield make
    for device in opened:
        device.close()


def test_counter_hardware(hardware):
    counter = hardware("counter")
    assert isinstance(counter, PhotonCounter) and counter.identify()
    counter.configure(1e-3, trigger="internal")
    counter.arm(1)
    assert counter.read(5.0).counts.size == 1
    assert counter.snapshot().settings


def test_switch_hardware(hardware):
    switch = hardware("switch")
    assert isinstance(switch, PolarizationSwitch)
    for state in (SwitchState.ANTI_TC, SwitchState.TC):
        assert switch.set_state(state, 2.0).ok
    assert switch.snapshot().settings


def test_tagger_hardware(hardware):
    tagger = hardware("tagger")
    assert isinstance(tagger, TagSource) and tagger.identify()
    assert tagger.snapshot().settings


def test_trigger_hardware(hardware):
    trigger = hardware("trigger")
    assert isinstance(trigger, PulseTrigger) and trigger.identify()
