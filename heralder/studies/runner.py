"""Run a sweep's tasks in-process or on a Dask client and write each one as it finishes.

The worker side is :func:`execute_task`, a pure function of the task (its trials, parameters
and seed); it never raises, so one failing task is reported with its parameters and seed while
the others complete. The client side, :func:`run_sweep`, skips the tasks already on disk,
writes every finished task at once and draws a progress bar (tasks done, rate, time left).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from heralder.studies.kinds import get_kind
from heralder.studies.store import open_output, write_task
from heralder.studies.sweep import Sweep, Task, plan_tasks

__all__ = ["SweepOutcome", "TaskOutcome", "execute_task", "run_sweep"]


@dataclass(frozen=True)
class TaskOutcome:
    """Hold what one task returned: its records, or the error it raised."""

    task: Task
    records: list[dict[str, Any]] | None
    error: str | None = None
    elapsed_s: float = 0.0
    cpu_s: float = 0.0


@dataclass
class SweepOutcome:
    """Summarise a run: tasks planned, skipped (already done), written, the failures, the wall
    time and the task time (wall and CPU, summed over the tasks)."""

    planned: int
    skipped: int
    written: int = 0
    failures: list[TaskOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0
    busy_s: float = 0.0
    cpu_s: float = 0.0


def execute_task(task: Task) -> TaskOutcome:
    """Run every trial of ``task`` and return the records (or the error, never raising)."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        kind = get_kind(task.kind)
        streams = task.seed_sequence.spawn(task.n_trials)
        records = [dict(kind.trial(task.params, np.random.default_rng(s))) for s in streams]
    except Exception as exc:  # reported with the task's parameters and seed by the client
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return TaskOutcome(task, None, detail, time.perf_counter() - started,
                           time.process_time() - cpu)
    return TaskOutcome(task, records, None, time.perf_counter() - started,
                       time.process_time() - cpu)


def _outcomes(todo: list[Task], client: Any) -> Iterator[TaskOutcome]:
    if client is None:
        yield from map(execute_task, todo)
        return
    from distributed import as_completed  # the optional extra, present when a client is

    futures = client.map(execute_task, todo, pure=False)
    by_key = dict(zip((f.key for f in futures), todo, strict=True))
    for future in as_completed(futures):
        try:
            yield future.result()
        except Exception as exc:  # the worker died or the task could not be sent
            yield TaskOutcome(by_key[future.key], None, f"{type(exc).__name__}: {exc}")
        future.release()


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
    interactive = sys.stderr.isatty()
    with tqdm(total=len(tasks), initial=outcome.skipped, desc=f"{sweep.kind} study",
              unit="task", file=sys.stderr, disable=not progress, ascii=not interactive,
              mininterval=0.1 if interactive else 5.0, smoothing=0.1) as bar:
        for result in _outcomes(todo, client):
            outcome.busy_s += result.elapsed_s
            outcome.cpu_s += result.cpu_s
            if result.records is None:
                outcome.failures.append(result)
                bar.write(f"FAILED {result.task.describe()}: {result.error}", file=sys.stderr)
            else:
                write_task(out, result.task, result.records)
                outcome.written += 1
            bar.update(1)
    outcome.elapsed_s = time.perf_counter() - started
    return outcome
