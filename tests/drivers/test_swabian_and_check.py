"""Check the Time Tagger driver on the API-level fake, and ``heralder check`` on sim:// configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from heralder.control.check import check_devices
from heralder.drivers.swabian import SwabianTagger
from heralder.errors import ConfigError, DeviceDisconnected, DeviceError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_swabian_overflow_missed_and_dead_time(sim_run):
    devices, _ = sim_run({"tagger": {"driver": "swabian", "address": "sim://timetagger",
                                     "settings": {"dead_time_s": 22e-9}}})
    tagger = devices["tagger"]
    with pytest.raises(DeviceDisconnected):
        tagger.start()
    tagger.open()
    with pytest.raises(DeviceError, match="not started"):
        tagger.read(0.1)
    assert tagger.snapshot().settings["dead_time_ps"] == pytest.approx(22000, abs=200)
    tagger.start()
    assert not tagger.read(1.0).overflow
    tagger._tagger.inject_overflow()  # fake-only hook: the next data is an overflow
    assert tagger.read(1.0).overflow
    assert not tagger.read(1.0).overflow
    tagger.close()


def test_swabian_without_the_vendor_module():
    tagger = SwabianTagger("tagger", "any", module="heralder_no_such_timetagger_module")
    with pytest.raises(DeviceDisconnected, match="timetagger"):
        tagger.open()
    assert not tagger.is_open


@pytest.mark.parametrize("bad", [{"click_channel": 0}, {"click_channel": 2},
                                 {"n_max_events": 0}, {"click_level_v": 3.0}])
def test_swabian_validates_settings(bad):
    with pytest.raises(ValueError):
        SwabianTagger("tagger", "any", **bad)


@pytest.mark.parametrize("name", ["sim-sr400-lcc25.toml", "sim-timetagger-33500.toml"])
def test_check_passes_on_sim_examples(name):
    results = check_devices(str(EXAMPLES / name))
    assert results and all(ok for _, ok, _ in results), results


def test_unknown_settings_are_config_errors(sim_run):
    with pytest.raises(ConfigError, match=r"devices\.counter.*settings\.gate"):
        sim_run({"counter": {"driver": "sr400", "address": "sim://sr400",
                             "settings": {"gate": 1}}})
    with pytest.raises(ConfigError, match="slope"):
        sim_run({"counter": {"driver": "keysight_53230a", "address": "sim://53230a",
                             "settings": {"slope": "up"}}})
