"""Build synthetic run records for the storage tests (through the engine's own ShotLog)."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.config import Config, dump_config
from heralder.control.shotlog import ShotLog
from heralder.control.snapshot import HeraldSummary


def header(has_tags: bool = False) -> dict:
    """Return a ``run`` record for a default config."""
    return {"type": "run", "run_uid": "test0001", "created_utc": "2026-01-01T00:00:00",
            "config_toml": dump_config(Config()), "versions": {"heralder": "test"},
            "seeds": {"run": 7}, "mode": "streamed" if has_tags else "stepped",
            "has_tags": has_tags, "pulse_period_s": 200e-6}


def shot_record(shot: int, rng: np.random.Generator, n_pulses: int = 5,
                with_tags: bool = False) -> dict:
    """Return a plausible ``shot`` record with random counts (and clicks)."""
    log = ShotLog(shot)
    for k in range(n_pulses):
        counts = int(rng.poisson(20.0))
        marker = (shot * 1000 + k) * 200_000_000
        stop = k == n_pulses - 1
        log.add(k, k % 2, counts, True, 1e-4 * k, marker if with_tags else -1,
                (stop, stop, rng.random(), 0.1 * k, 0.1 * k + 1e-5, 0.1 * k + 2e-5,
                 0.1 * k + 3e-5, 0.1 * k + 1e-3, False, True),
                (30, rng.random(), 30.5, 1.0 / 3, 1e5 * rng.random(), 2e5, 10))
        if with_tags:
            times = np.sort(rng.random(counts)) * 1e-5
            log.add_photons(k, times, marker + np.round(times * 1e12).astype(np.int64))
    log.add_full_posterior(n_pulses - 1, np.array([28, 30, 32]), np.array([0.1, 0.8, 0.1]))
    herald = HeraldSummary(shot, 30, 0.8, 1e5, 2e5, n_pulses, -1 if n_pulses % 2 else 1,
                           true_s=30, reason="pmax")
    return log.record(herald, t_s=float(shot))


@pytest.fixture
def records():
    """Return a function building a list of records for a complete run."""

    def build(n_shots: int = 4, with_tags: bool = False, seed: int = 1) -> list[dict]:
        rng = np.random.default_rng(seed)
        out = [header(with_tags)]
        out.append({"type": "devices", "t_s": 0.0, "snapshots": [
            {"name": "counter", "driver": "virtual_counter", "address": "sim://lab",
             "identity": "virtual", "settings": {"gate_s": 1e-4}}]})
        for shot in range(n_shots):
            out.append(shot_record(shot, rng, n_pulses=3 + shot % 4, with_tags=with_tags))
            out.append({"type": "event", "t_s": float(shot), "kind": "herald",
                        "level": "info", "message": f"shot {shot}", "data": {"shot": shot}})
        out.append({"type": "end", "t_s": float(n_shots), "state": "finished", "message": "",
                    "duration_s": float(n_shots)})
        return out

    return build
