"""Configs for engine tests: the in-process virtual lab on a simulated clock, fixed seeds."""

from __future__ import annotations

import pytest

from heralder.config import Config, config_from_dict


def lab_config(root, **sections) -> Config:
    """Return a small, fast simulated-lab config writing under ``root``."""
    data = {
        "run": {"seed": 11, "shots": 12},
        "atoms": {"n_atoms": 100},
        "detector": {"eta": 0.7, "dark_rate_hz": 200.0, "gate_s": 4e-3},
        "estimator": {"backend": "numpy"},
        "policy": {"kind": "pmax", "pmax_threshold": 0.99, "max_pulses": 60},
        "engine": {"pulse_period_s": 5e-3, "decision_deadline_s": 10.0},
        "devices": {"counter": {"driver": "virtual_counter", "address": "sim://lab"},
                    "switch": {"driver": "virtual_switch", "address": "sim://lab"}},
        "storage": {"root": str(root)},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config_from_dict(data)


@pytest.fixture
def make_config(tmp_path):
    """Return a builder of simulated-lab configs under a temporary storage root."""
    return lambda **sections: lab_config(tmp_path / "runs", **sections)
