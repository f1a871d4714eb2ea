"""Check the driver registry: names, registration, wiring through `check`."""

from __future__ import annotations

import pytest

from heralder.config import DeviceConfig
from heralder.control.check import check_devices
from heralder.control.records import DeviceSnapshot
from heralder.errors import ConfigError, DeviceTimeout
from heralder.registry import DeviceContext, available_drivers, build_device, register


class FakeDevice:
    """A device whose open succeeds or times out, to exercise the wiring."""

    def __init__(self, name: str, cfg: DeviceConfig):
        self.name = name
        self.cfg = cfg
        self.opened = False

    def open(self) -> None:
        if self.cfg.settings.get("silent"):
            raise DeviceTimeout(f"{self.cfg.address}: no reply within {self.cfg.timeout_s} s")
        self.opened = True

    def close(self) -> None:
        self.opened = False

    @property
    def is_open(self) -> bool:
        return self.opened

    def identify(self) -> str:
        return "FAKE,1"

    def snapshot(self) -> DeviceSnapshot:
        return DeviceSnapshot(self.name, self.cfg.driver, self.cfg.address, "FAKE,1",
                              {"gate_s": 1e-4})


def fake_factory(role: str, cfg: DeviceConfig, context: DeviceContext) -> FakeDevice:
    if "bad" in cfg.settings:
        raise ValueError("settings.bad: not a setting of the fake device")
    return FakeDevice(role, cfg)


def test_builtin_names_are_listed():
    names = available_drivers()
    for name in ("sr400", "keysight_53230a", "swabian", "lcc25", "keysight_33500"):
        assert name in names


def test_registered_factory_builds_and_rejects_settings():
    register("fake", fake_factory)
    device = build_device("counter", DeviceConfig("fake", "sim://fake"))
    assert isinstance(device, FakeDevice) and device.name == "counter"
    with pytest.raises(ConfigError, match="devices.counter: settings.bad"):
        build_device("counter", DeviceConfig("fake", "sim://fake", settings={"bad": 1}))


def test_unknown_driver_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"unknown driver 'nope' \(available: .*sr400"):
        build_device("switch", DeviceConfig("nope", "COM3"))


def test_check_reports_pass_and_fail_per_device(tmp_path):
    register("fake", fake_factory)
    path = tmp_path / "lab.toml"
    path.write_text(
        '[devices.counter]\ndriver = "fake"\naddress = "sim://a"\n'
        '[devices.switch]\ndriver = "fake"\naddress = "sim://b"\ntimeout_s = 0.2\n'
        "[devices.switch.settings]\nsilent = true\n"
    )
    results = check_devices(str(path))
    assert results[0][:2] == ("counter", True) and "FAKE,1" in results[0][2]
    assert results[1][:2] == ("switch", False) and "no reply within 0.2 s" in results[1][2]
