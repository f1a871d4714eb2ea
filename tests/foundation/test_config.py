"""Check the TOML loader: good files load, every kind of mistake names key, file and line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from heralder.config import (
    Config,
    config_from_dict,
    dump_config,
    load_config,
    updated_config,
)
from heralder.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """\
[run]
seed = 7
shots = 3

[detector]
eta = 0.5
gate_s = 1e-4
dark_rate_hz = 1000.0

[devices.counter]
driver = "sr400"
address = "sim://sr400"
timeout_s = 0.5

[devices.counter.settings]
discriminator_v = -0.01
"""


def write(tmp_path: Path, text: str, name: str = "setup.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_file_loads_into_frozen_dataclasses(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.run.seed == 7 and config.run.shots == 3
    assert config.detector.eta == 0.5
    assert config.detector.dark_counts_per_gate == pytest.approx(0.1)
    assert config.devices.counter.settings == {"discriminator_v": -0.01}
    assert config.devices.switch is None
    assert [role for role, _ in config.devices.items()] == ["counter"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.run.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_is_valid(example):
    assert isinstance(load_config(example), Config)


def test_misspelt_key_names_key_file_and_line(tmp_path):
    path = write(tmp_path, GOOD.replace("timeout_s = 0.5", "timout_s = 0.5"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:13" in message
    assert "devices.counter.timout_s" in message and "unknown key 'timout_s'" in message
    assert "\n" not in message


def test_misspelt_section_is_rejected(tmp_path):
    path = write(tmp_path, GOOD + "\n[polcy]\nkind = 'pmax'\n")
    with pytest.raises(ConfigError, match=r"setup.toml:18: polcy: unknown key 'polcy'"):
        load_config(path)


def test_wrong_type_names_the_key(tmp_path):
    path = write(tmp_path, GOOD.replace("shots = 3", 'shots = "three"'))
    with pytest.raises(ConfigError, match=r"setup.toml:3: run.shots: must be an integer"):
        load_config(path)


def test_bool_is_not_a_number(tmp_path):
    path = write(tmp_path, GOOD.replace("eta = 0.5", "eta = true"))
    with pytest.raises(ConfigError, match=r"detector.eta: must be a number"):
        load_config(path)


def test_bad_choice_lists_the_choices(tmp_path):
    path = write(tmp_path, GOOD + "\n[policy]\nkind = 'sometimes'\n")
    with pytest.raises(ConfigError, match=r"policy.kind: must be one of 'fixed' or 'pmax'"):
        load_config(path)


def test_missing_required_key_is_named(tmp_path):
    path = write(tmp_path, GOOD.replace('address = "sim://sr400"\n', ""))
    with pytest.raises(ConfigError, match=r"setup.toml:10: devices.counter.address: missing"):
        load_config(path)


def test_value_out_of_range_names_the_key(tmp_path):
    path = write(tmp_path, GOOD.replace("eta = 0.5", "eta = 1.5"))
    with pytest.raises(ConfigError, match=r"setup.toml:6: detector.eta: eta must lie in \[0, 1\]"):
        load_config(path)


def test_both_dark_rate_forms_are_refused(tmp_path):
    path = write(tmp_path, GOOD.replace("eta = 0.5", "eta = 0.5\ndark_counts_per_gate = 0.1"))
    with pytest.raises(ConfigError, match="either dark_rate_hz or dark_counts_per_gate"):
        load_config(path)


def test_non_toml_file_is_one_clear_line(tmp_path):
    path = write(tmp_path, "this is = = not toml\n", "notes.toml")
    with pytest.raises(ConfigError, match=r"notes.toml:1: not valid TOML") as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ConfigError, match="not a TOML file"):
        load_config(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_dump_and_load_round_trip(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    again = load_config(write(tmp_path, dump_config(config), "again.toml"))
    assert again == config


def test_updated_config_validates_changes():
    config = config_from_dict({})
    changed = updated_config(config, {"policy.kind": "pmax", "detector.eta": 0.6})
    assert changed.policy.kind == "pmax" and changed.detector.eta == 0.6
    assert config.policy.kind == "voi"  # the original is untouched
    with pytest.raises(ConfigError, match="detector.eta"):
        updated_config(config, {"detector.eta": -0.1})
    with pytest.raises(ConfigError, match="unknown key 'etta'"):
        updated_config(config, {"detector.etta": 0.5})


def test_faults_are_an_array_of_tables(tmp_path):
    text = GOOD + '\n[[faults]]\ndevice = "counter"\nkind = "no_reply"\nafter_commands = 3\n'
    config = load_config(write(tmp_path, text))
    assert config.faults[0].kind == "no_reply" and config.faults[0].after_commands == 3
