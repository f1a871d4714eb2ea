"""Measure the writer: pulse records/s into HDF5 (batched) and the journal, and memory growth.

Baseline: the naive way of writing the same pulse table with h5py, one resize and one write per
pulse and column, measured in the same run.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from heralder.bench import BenchResult, compare, time_call
from heralder.control.shotlog import ShotLog
from heralder.control.snapshot import HeraldSummary
from heralder.storage.hdf5 import H5RunFile
from heralder.storage.journal import Journal
from heralder.storage.schema import TABLES, encode_record

_PULSES_PER_SHOT = 100


def _shot(shot: int, rng: np.random.Generator, pulses: int = _PULSES_PER_SHOT) -> dict:
    log = ShotLog(shot)
    for k in range(pulses):
        t = 1e-3 * k
        stop = k == pulses - 1
        log.add(k, k % 2, int(rng.poisson(30)), True, t, -1,
                (stop, stop, float(rng.random()), t, t + 1e-5, t + 2e-5, t + 3e-5, t + 1e-3,
                 False, True),
                (30, float(rng.random()), 30.2, 0.5, 1e5, 2e5, 12))
    herald = HeraldSummary(shot, 30, 0.99, 1e5, 2e5, pulses, 1, 30, "pmax")
    return log.record(herald, float(shot))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _header() -> dict:
    return {"type": "run", "run_uid": "bench", "config_toml": "", "has_tags": False,
            "pulse_period_s": 1e-3}


def _naive_rate(directory: Path, n_pulses: int, rng: np.random.Generator) -> float:
    """Return pulses/s appending the pulse table one row at a time."""
    spec = TABLES["pulses"]
    with h5py.File(directory / "naive.h5", "w") as f:
        sets = {c: f.create_dataset(c, (0,), maxshape=(None,), dtype=d, chunks=(4096,))
                for c, d in spec.items()}
        start = time.perf_counter()
        for i in range(n_pulses):
            for column, dataset in sets.items():
                dataset.resize((i + 1,))
                dataset[i] = rng.integers(0, 2) if column != "t_data_s" else 0.5
        return n_pulses / (time.perf_counter() - start)


def _h5_rate(directory: Path, pool: list[dict], n_pulses: int) -> tuple[float, list[float]]:
    """Return (pulses/s, [RSS at 10 %, RSS at 100 %]) writing ``n_pulses`` from ``pool``."""
    h5 = H5RunFile(directory)
    h5.add(_header())
    per_shot = pool[0]["tables"].n_pulses
    shots = n_pulses // per_shot
    rss = []
    start = time.perf_counter()
    for i in range(shots):
        h5.add(pool[i % len(pool)])
        if i in (shots // 10, shots - 1):
            rss.append(_rss_mib())
    h5.close()
    return n_pulses / (time.perf_counter() - start), rss


def _format_1_line(record: dict) -> bytes:
    """Return ``record`` as the format-1 journal wrote it (every column a JSON list)."""
    tables = {name: {column: rows[column].tolist() for column in rows.dtype.names}
              for name, rows in record["tables"].items()}
    return (json.dumps(dict(record, tables=tables), separators=(",", ":")) + "\n").encode()


def _format_2_line(record: dict) -> bytes:
    """Return ``record`` as the format-2 journal wrote it (every table split out and packed on
    its own, the herald as JSON), from the record's split tables as format 2 got them."""
    tables = {name: {"fields": rows.dtype.names, "b64": base64.b64encode(rows.tobytes()).decode()}
              for name, rows in record["tables"].items()}
    return (json.dumps(dict(record, tables=tables), separators=(",", ":")) + "\n").encode()


def _encoding(pool: list[dict]) -> list[BenchResult]:
    """Return the journal encoding cost of a shot of 12 pulses, format 3 vs formats 2 and 1."""
    shot = pool[0]
    split = dict(shot, tables=dict(shot["tables"]))  # format 2 and 1 records: split tables
    ours = time_call(lambda: encode_record(shot), repeats=300).p50_s
    old = time_call(lambda: _format_1_line(split), repeats=300).p50_s
    two = time_call(lambda: _format_2_line(split), repeats=300).p50_s
    return [
        BenchResult("journal line, format 1 (JSON float lists; baseline), shot of 12 pulses",
                    old * 1e6, "µs"),
        BenchResult("journal line, format 2 (each table packed), shot of 12 pulses", two * 1e6,
                    "µs", baseline=old * 1e6, ratio=compare(two, old)),
        BenchResult("journal line, format 3 (joined rows, packed herald), shot of 12 pulses",
                    ours * 1e6, "µs", baseline=two * 1e6, ratio=compare(ours, two),
                    details={"bytes": len(encode_record(shot)),
                             "format_2_bytes": len(_format_2_line(split)),
                             "format_1_bytes": len(_format_1_line(split))}),
    ]


def run(quick: bool) -> list[BenchResult]:
    """Return HDF5 and journal pulse rates, with the naive baseline, and memory growth."""
    n_pulses = 100_000 if quick else 1_000_000
    rng = np.random.default_rng(3)
    pool = [_shot(i, rng) for i in range(20)]
    encoding = _encoding([_shot(0, rng, pulses=12)])
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        baseline = _naive_rate(directory, 2000, rng)
        rate, rss = _h5_rate(directory, pool, n_pulses)
        big = [_shot(i, rng, pulses=2000) for i in range(5)]
        big_rate, _ = _h5_rate(directory, big, n_pulses)
        journal = Journal(directory / "journal.jsonl")
        j_shots = max(50, n_pulses // _PULSES_PER_SHOT // 20)
        start = time.perf_counter()
        for i in range(j_shots):
            journal.append([pool[i % len(pool)]])  # one fsync per shot
        j_rate = j_shots * _PULSES_PER_SHOT / (time.perf_counter() - start)
        journal.close()
    return [
        BenchResult("HDF5 naive per-pulse appends (baseline)", baseline, "pulses/s"),
        BenchResult(f"HDF5 writer, {n_pulses:.0e} pulses in shots of {_PULSES_PER_SHOT}", rate,
                    "pulses/s", baseline=baseline,
                    ratio=compare(rate, baseline, higher_is_better=True)),
        BenchResult(f"HDF5 writer, {n_pulses:.0e} pulses in records of 2000", big_rate,
                    "pulses/s", target=">= 1e6 pulses/s", ok=big_rate >= 1e6, baseline=baseline,
                    ratio=compare(big_rate, baseline, higher_is_better=True)),
        BenchResult(f"memory growth from 10% to 100% of {n_pulses:.0e} pulses", rss[1] - rss[0],
                    "MiB", target="flat (< 20 MiB)", ok=rss[1] - rss[0] < 20,
                    details={"rss_mib": rss}),
        BenchResult("journal, one fsync per shot of 100 pulses", j_rate, "pulses/s",
                    details={"shots": j_shots}),
        *encoding,
    ]
