"""Keep a sweep's results on disk: one Parquet file per finished task, written at once.

Layout of an output directory::

    sweep.json              what fixes the records (kind, points, seed, task size)
    tasks/p0003-t0001.parquet   one row per trial: point, trial, the parameters, the record

A task file appears whole or not at all (written beside, then renamed), so a study killed at
any moment resumes (``--resume``) from exactly the tasks it had finished.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from heralder.errors import ConfigError
from heralder.studies.sweep import Sweep, Task

__all__ = ["finished_tasks", "open_output", "read_records", "write_task"]

_MANIFEST = "sweep.json"
_TASKS = "tasks"


def open_output(out: Path, sweep: Sweep, *, resume: bool) -> set[str]:
    """Prepare ``out`` for ``sweep`` and return the names of the tasks already finished there.

    Raises
    ------
    ConfigError
        If ``out`` holds results without ``resume``, or results of a different sweep.
    """
    manifest = sweep.manifest()
    path = out / _MANIFEST
    if path.exists():
        if not resume:
            raise ConfigError(f"{out} already holds study results; pass --resume to continue "
                              "them or choose another --out")
        if json.loads(path.read_text()) != json.loads(json.dumps(manifest)):
            raise ConfigError(f"{out} holds the results of a different sweep; --resume needs "
                              "the same kind, grid, trials, seed and trials_per_task")
    else:
        (out / _TASKS).mkdir(parents=True, exist_ok=True)
        _write_atomic(path, json.dumps(manifest, indent=1).encode())
    return finished_tasks(out)


def finished_tasks(out: Path) -> set[str]:
    """Return the names of the task files present in ``out``."""
    return {p.stem for p in (out / _TASKS).glob("*.parquet")}


def write_task(out: Path, task: Task, records: list[dict[str, Any]]) -> Path:
    """Write the records of one finished task as one Parquet file and return its path."""
    params = asdict(task.params)
    rows = [{"point": task.point, "trial": task.first_trial + i, **params, **record}
            for i, record in enumerate(records)]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    path = out / _TASKS / f"{task.name}.parquet"
    _write_atomic(path, sink.getvalue().to_pybytes())
    return path


def read_records(out: Path) -> Any:
    """Return every finished trial of ``out`` as one pandas DataFrame sorted by point, trial."""
    files = sorted((out / _TASKS).glob("*.parquet"))
    if not files:
        raise ConfigError(f"{out} holds no finished task")
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    return table.to_pandas().sort_values(["point", "trial"], ignore_index=True)


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
