"""Run a sweep's tasks in-process or on a Dask client and write each one as it finishes.

The worker side is :func:`run_task`: it runs the task's trials (:func:`execute_task`, a pure
function of the task's trials, parameters and seed) and writes the task's Parquet file into the
output directory itself, so only a few numbers travel back through the scheduler (a worker that
does not see the output directory sends the file's bytes instead). It never raises, so one
failing task is reported with its parameters and seed while the others complete. On Dask, one
Dask task runs a chunk of sweep tasks sized to about :data:`CHUNK_TARGET_S` of work, so short
tasks do not each pay Dask's own cost. The client side, :func:`run_sweep`, skips the tasks
already on disk, commits the finished files in groups (one ``syncfs`` per group of results that
arrived together, see :func:`heralder.studies.store.commit`) and only then counts them done on
the progress bar (tasks done, rate, time left).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from heralder.studies.kinds import get_kind
from heralder.studies.store import (
    commit,
    encode_task,
    finished_tasks,
    open_output,
    sees_output,
    start_writer,
    write_task,
)
from heralder.studies.sweep import Sweep, Task, plan_tasks

__all__ = ["SweepOutcome", "TaskOutcome", "execute_task", "run_sweep", "run_task", "run_tasks"]

#: Longest wait, in-process, before the finished task files are committed and counted done.
COMMIT_INTERVAL_S = 0.5
#: Work, in seconds, one Dask task aims at when the sweep's tasks are short (see _chunk_size).
CHUNK_TARGET_S = 0.25


@dataclass(frozen=True)
class TaskOutcome:
    """Hold what one task gave: its records or file, or the error it raised.

    Attributes
    ----------
    task
        The task.
    records
        The records (from :func:`execute_task`; ``None`` once written by :func:`run_task`).
    error
        The exception, one line, if the task failed.
    elapsed_s, cpu_s
        Wall time and CPU time of the task (trials and file); the CPU time is the running
        thread's, so a Dask worker's own threads (heartbeats, profiler) do not count.
    data
        The task's Parquet file, when the worker could not write it into the output directory.
    """

    task: Task
    records: list[dict[str, Any]] | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    data: bytes | None = None


@dataclass
class SweepOutcome:
    """Summarise a run: tasks planned, skipped (already done), written, the failures, the wall
    time, the task time (wall and CPU, summed over the tasks) and each task's CPU time."""

    planned: int
    skipped: int
    written: int = 0
    failures: list[TaskOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0
    busy_s: float = 0.0
    cpu_s: float = 0.0
    task_cpu_s: dict[str, float] = field(default_factory=dict)


def execute_task(task: Task) -> TaskOutcome:
    """Run every trial of ``task`` and return the records (or the error, never raising)."""
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        kind = get_kind(task.kind)
        streams = task.seed_sequence.spawn(task.n_trials)
        records = [dict(kind.trial(task.params, np.random.default_rng(s))) for s in streams]
    except Exception as exc:  # reported with the task's parameters and seed by the client
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return TaskOutcome(task, None, detail, time.perf_counter() - started,
                           time.thread_time() - cpu)
    return TaskOutcome(task, records, None, time.perf_counter() - started,
                       time.thread_time() - cpu)


def run_task(task: Task, out: Path, token: str) -> TaskOutcome:
    """Run ``task`` and write its file into ``out`` (if this process sees the run with
    ``token`` there; else return the file's bytes); never raise."""
    started, cpu = time.perf_counter(), time.thread_time()
    result = execute_task(task)
    data = None
    if result.records is not None:
        try:
            data = encode_task(task, result.records)
            if sees_output(out, token):
                write_task(out, task, data)
                data = None
        except Exception as exc:  # an unencodable record or a full disk fails this task only
            return TaskOutcome(task, None, f"writing the results: {type(exc).__name__}: {exc}",
                               time.perf_counter() - started, time.thread_time() - cpu)
    return TaskOutcome(task, None, result.error, time.perf_counter() - started,
                       time.thread_time() - cpu, data)


def _inline_batches(todo: list[Task], out: Path, token: str) -> Iterator[list[TaskOutcome]]:
    """Run the tasks here, yielding them in groups of at least COMMIT_INTERVAL_S of work."""
    batch: list[TaskOutcome] = []
    since = time.monotonic()
    for task in todo:
        batch.append(run_task(task, out, token))
        if time.monotonic() - since >= COMMIT_INTERVAL_S:
            yield batch
            batch, since = [], time.monotonic()
    if batch:
        yield batch


def run_tasks(tasks: list[Task], out: Path, token: str) -> list[TaskOutcome]:
    """Run ``tasks`` one after the other with :func:`run_task` (one Dask task)."""
    return [run_task(task, out, token) for task in tasks]


def _chunk_size(pending: int, slots: int, task_s: float | None) -> int:
    """Return how many sweep tasks the next Dask task runs: about CHUNK_TARGET_S of work,
    but at most a share of what is left so the last ones still spread over every worker."""
    if task_s is None:  # nothing measured yet: one task, to learn how long tasks take
        return 1
    wanted = int(CHUNK_TARGET_S / max(task_s, 1e-6))
    return max(1, min(wanted, pending // (2 * slots)))


def _dask_batches(todo: list[Task], out: Path, token: str, client: Any,
                  ) -> Iterator[list[TaskOutcome]]:
    """Run the tasks on ``client``, yielding every group of results that arrived together.

    Two Dask tasks per worker thread are in flight (so a worker never waits for the scheduler
    between two), each a chunk of sweep tasks sized from the task times measured so far
    (:func:`_chunk_size`): Dask's own cost, milliseconds per Dask task across client, scheduler
    and worker, is paid once per chunk. Workers that join later are used from the next result.
    """
    from distributed import as_completed  # the optional extra, present when a client is

    pending = deque(todo)
    flying = as_completed([], loop=client.loop, with_results=True, raise_errors=False)
    chunks: dict[str, list[Task]] = {}
    spent_s, finished = 0.0, 0

    def submit() -> None:
        slots = max(1, sum(client.nthreads().values()))
        while pending and flying.count() < 2 * slots:
            size = _chunk_size(len(pending), slots, spent_s / finished if finished else None)
            chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
            future = client.submit(run_tasks, chunk, out, token, pure=False)
            chunks[future.key] = chunk
            flying.add(future)

    submit()
    while not flying.is_empty():
        outcomes: list[TaskOutcome] = []
        for future, result in flying.next_batch(block=True):
            chunk = chunks.pop(future.key)
            if future.status == "finished":
                outcomes.extend(result)
            else:  # the worker died, or the task could not be sent or was cancelled
                exc = result[1] if isinstance(result, tuple) else result
                written = finished_tasks(out)  # the chunk's tasks done before it stopped
                outcomes.extend(TaskOutcome(task) if task.name in written else
                                TaskOutcome(task, None, f"{type(exc).__name__}: {exc}")
                                for task in chunk)
            future.release()
        spent_s += sum(o.elapsed_s for o in outcomes)
        finished += len(outcomes)
        submit()
        yield outcomes


def run_sweep(sweep: Sweep, out: Path, *, client: Any = None, resume: bool = False,
              progress: bool = True) -> SweepOutcome:
    """Run the tasks of ``sweep`` not yet in ``out`` and write each as it finishes.

    Parameters
    ----------
    sweep
        The sweep.
    out
        Output directory (see :mod:`heralder.studies.store`).
    client
        A ``distributed.Client``, or ``None`` to run the tasks one by one in this process.
    resume
        Continue the results already in ``out`` (the same sweep) instead of refusing them.
    progress
        Draw the progress bar on stderr.
    """
    started = time.perf_counter()
    tasks = plan_tasks(sweep)
    done = open_output(out, sweep, resume=resume)
    todo = [t for t in tasks if t.name not in done]
    outcome = SweepOutcome(planned=len(tasks), skipped=len(tasks) - len(todo))
    out = out.resolve()  # workers run elsewhere
    token = start_writer(out)
    batches = (_inline_batches(todo, out, token) if client is None
               else _dask_batches(todo, out, token, client))
    interactive = sys.stderr.isatty()
    with tqdm(total=len(tasks), initial=outcome.skipped, desc=f"{sweep.kind} study",
              unit="task", file=sys.stderr, disable=not progress, ascii=not interactive,
              mininterval=0.1 if interactive else 5.0, smoothing=0.1) as bar:
        for batch in batches:
            written = 0
            for result in batch:
                outcome.busy_s += result.elapsed_s
                outcome.cpu_s += result.cpu_s
                outcome.task_cpu_s[result.task.name] = result.cpu_s
                if result.error is not None:
                    outcome.failures.append(result)
                    bar.write(f"FAILED {result.task.describe()}: {result.error}",
                              file=sys.stderr)
                    continue
                if result.data is not None:
                    write_task(out, result.task, result.data)
                written += 1
            if written:
                commit(out)  # durable before counted done
            outcome.written += written
            bar.update(len(batch))
    outcome.elapsed_s = time.perf_counter() - started
    return outcome
