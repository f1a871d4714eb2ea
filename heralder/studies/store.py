"""Keep a sweep's results on disk: one Parquet file per finished task, written at once.

Layout of an output directory::

    sweep.json              what fixes the records (kind, points, seed, task size)
    tasks/p0003-t0001.parquet   one row per trial: point, trial, the parameters, the record
    tasks/.writer           the token of the run writing here (workers check they see it)

A task file is written where the task ran (on the worker, when it sees this directory) beside
its final name and renamed, so a name appears whole or not at all; the records never travel
through the scheduler. Durability is committed in groups: :func:`commit` (one ``syncfs`` for
all the files finished since the last one) runs before the runner counts those tasks done, instead
of one ``fsync`` per file. A file that a power cut left incomplete anyway fails its check on
resume (Parquet footer, row count, page checksums) and its task runs again, so a study killed
at any moment resumes (``--resume``) from exactly the tasks it had finished.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from heralder.errors import ConfigError
from heralder.studies.sweep import Sweep, Task, plan_tasks

__all__ = ["commit", "encode_task", "finished_tasks", "open_output", "read_records",
           "sees_output", "start_writer", "write_atomic", "write_task"]

_MANIFEST = "sweep.json"
_TASKS = "tasks"
_WRITER = ".writer"
_SUFFIX = ".parquet"


def open_output(out: Path, sweep: Sweep, *, resume: bool) -> set[str]:
    """Prepare ``out`` for ``sweep`` and return the names of the tasks already finished there.

    On resume, a task file that is not whole (a power cut before its data reached the disk) is
    removed so that its task runs again.

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
        return _verified_tasks(out, sweep)
    (out / _TASKS).mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(manifest, indent=1).encode(), durable=True)
    return set()


def _verified_tasks(out: Path, sweep: Sweep) -> set[str]:
    """Return the finished tasks whose files are whole; remove the others."""
    rows = {task.name: task.n_trials for task in plan_tasks(sweep)}
    done = set()
    for path in (out / _TASKS).glob(f"*{_SUFFIX}"):
        try:
            whole = pq.read_metadata(path).num_rows == rows.get(path.stem)
        except (OSError, pa.ArrowException):
            whole = False
        if whole:
            done.add(path.stem)
        else:
            path.unlink()
    return done


def finished_tasks(out: Path) -> set[str]:
    """Return the names of the task files present in ``out``."""
    return {p.stem for p in (out / _TASKS).glob(f"*{_SUFFIX}")}


def start_writer(out: Path) -> str:
    """Mark ``out`` as written by a new run and return its token (see :func:`sees_output`)."""
    token = uuid.uuid4().hex
    write_atomic(out / _TASKS / _WRITER, token.encode(), durable=False)
    return token


@functools.lru_cache(maxsize=16)
def sees_output(out: Path, token: str) -> bool:
    """Return whether ``out`` here is the directory of the run with ``token`` (a worker on
    another host without a shared filesystem does not see it and sends its records back).

    The answer is remembered: a run's token is written before any of its tasks start.
    """
    try:
        return (out / _TASKS / _WRITER).read_text() == token
    except OSError:
        return False


def encode_task(task: Task, records: Sequence[Mapping[str, Any]]) -> bytes:
    """Return the Parquet file of one finished task: one row per trial, with page checksums.

    The columns are ``point``, ``trial``, the parameters and every key of the records (a trial
    without a key gets a null there).
    """
    columns: dict[str, list[Any]] = {
        "point": [task.point] * len(records),
        "trial": list(range(task.first_trial, task.first_trial + len(records))),
    }
    for name, value in asdict(task.params).items():
        columns[name] = [value] * len(records)
    for key in dict.fromkeys(k for record in records for k in record):
        columns[key] = [record.get(key) for record in records]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink, compression="none", write_page_checksum=True)
    return sink.getvalue().to_pybytes()


def write_task(out: Path, task: Task, data: bytes) -> Path:
    """Write the Parquet file ``data`` of ``task`` (see :func:`encode_task`) and return its
    path; it becomes durable at the next :func:`commit`."""
    path = out / _TASKS / f"{task.name}{_SUFFIX}"
    write_atomic(path, data, durable=False)
    return path


@functools.cache
def _syncfs() -> Any:
    """Return libc's ``syncfs`` (Linux), or ``None`` where there is none."""
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    except (OSError, TypeError):  # no C library to load by name (Windows)
        return None


def commit(out: Path) -> None:
    """Make every task file written so far into ``out`` durable, in one call for the whole
    group: ``syncfs`` of the filesystem holding ``out`` (Linux), else ``sync`` of them all."""
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(out, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


def read_records(out: Path) -> Any:
    """Return every finished trial of ``out`` as one pandas DataFrame sorted by point, trial."""
    files = sorted((out / _TASKS).glob(f"*{_SUFFIX}"))
    if not files:
        raise ConfigError(f"{out} holds no finished task")
    table = pa.concat_tables([pq.read_table(f, page_checksum_verification=True)
                              for f in files], promote_options="default")
    return table.to_pandas().sort_values(["point", "trial"], ignore_index=True)


def write_atomic(path: Path, data: bytes, *, durable: bool) -> None:
    """Write ``data`` beside ``path`` and rename it there (``fsync`` first if ``durable``).

    The file being written is hidden (a leading dot), so a reader of the directory as a dataset
    (``pandas.read_parquet(DIR/tasks)``) never sees a half-written one.
    """
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(partial, path)
