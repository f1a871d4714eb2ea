"""Task files: written where the task ran, committed in groups, checked on resume."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from heralder.studies import runner, store
from heralder.studies.kinds import KINDS, StudyKind
from heralder.studies.runner import _chunk_size, run_sweep, run_task
from heralder.studies.store import finished_tasks, open_output, start_writer
from heralder.studies.sweep import load_sweep, plan_tasks

DARK = ('[study]\nkind = "dark"\ntrials = 6\nseed = 9\ntrials_per_task = 2\n'
        "[params]\ngates = 30\n[grid]\ndark_counts_per_gate = [0.1, 0.4]\n")


def test_worker_writes_the_file_only_into_the_run_it_sees(write_sweep, tmp_path):
    sweep = load_sweep(write_sweep(DARK))
    out = tmp_path / "out"
    open_output(out, sweep, resume=False)
    token = start_writer(out)
    task = plan_tasks(sweep)[3]
    mine = run_task(task, out, token)
    assert mine.error is None and mine.data is None and mine.records is None
    path = out / "tasks" / f"{task.name}.parquet"
    written = pq.read_table(path).to_pandas()
    assert list(written["trial"]) == [0, 1] and set(written["point"]) == {1}
    # A worker that sees another run there (another host, same path) sends the file back.
    data = path.read_bytes()
    path.unlink()
    other = run_task(task, out, "someone-else")
    assert other.error is None and other.data == data
    assert finished_tasks(out) == set()


def test_the_tasks_directory_reads_as_one_dataset_even_mid_write(write_sweep, tmp_path,
                                                                 records, monkeypatch):
    sweep = load_sweep(write_sweep(DARK))
    out = tmp_path / "out"
    seen = []
    real_replace = os.replace

    def replace(src, dst):  # read the directory while each file is half-written
        if finished_tasks(out):
            seen.append((len(pd.read_parquet(out / "tasks")), 2 * len(finished_tasks(out))))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    run_sweep(sweep, out, progress=False)
    assert len(seen) == 5 and all(rows == expected for rows, expected in seen)
    frame = pd.read_parquet(out / "tasks").sort_values(["point", "trial"], ignore_index=True)
    pd.testing.assert_frame_equal(frame, records(out), check_exact=True)


def test_files_are_committed_before_they_are_counted(write_sweep, tmp_path, monkeypatch):
    sweep = load_sweep(write_sweep(DARK))
    out = tmp_path / "out"
    seen: list[int] = []
    monkeypatch.setattr(runner, "commit", lambda where: seen.append(len(finished_tasks(where))))
    monkeypatch.setattr(runner, "COMMIT_INTERVAL_S", 3600.0)  # one group for the whole run
    outcome = run_sweep(sweep, out, progress=False)
    assert outcome.written == 6 and seen == [6]
    monkeypatch.setattr(runner, "COMMIT_INTERVAL_S", 0.0)  # one group per task
    seen.clear()
    run_sweep(sweep, tmp_path / "again", progress=False)
    assert len(seen) == 6


def test_resume_reruns_a_task_whose_file_is_not_whole(write_sweep, tmp_path, records):
    sweep = load_sweep(write_sweep(DARK))
    out = tmp_path / "out"
    run_sweep(sweep, out, progress=False)
    whole = records(out)
    cut = out / "tasks" / "p0001-t0002.parquet"
    cut.write_bytes(cut.read_bytes()[:-20])  # what a power cut could leave
    (out / "tasks" / "p0000-t0000.parquet").write_bytes(b"")
    outcome = run_sweep(sweep, out, resume=True, progress=False)
    assert (outcome.skipped, outcome.written) == (4, 2)
    pd.testing.assert_frame_equal(records(out), whole, check_exact=True)


@dataclass(frozen=True)
class _Odd:
    x: int = 0


def _odd_trial(params: _Odd, rng: np.random.Generator) -> dict[str, object]:
    return {"u": float(rng.random()), "bad": object() if params.x == 1 else 0}


def test_a_record_that_cannot_be_written_fails_its_task_only(tmp_path, write_sweep,
                                                             monkeypatch):
    monkeypatch.setitem(KINDS, "odd", StudyKind("odd", _Odd, _odd_trial, "odd"))
    sweep = load_sweep(write_sweep('[study]\nkind = "odd"\ntrials = 2\n[grid]\nx = [0, 1]\n'))
    outcome = run_sweep(sweep, tmp_path / "out", progress=False)
    assert outcome.written == 1 and len(outcome.failures) == 1
    assert outcome.failures[0].task.params == _Odd(1)
    assert outcome.failures[0].error.startswith("writing the results: ")
    assert finished_tasks(tmp_path / "out") == {"p0000-t0000"}


@pytest.mark.parametrize(("pending", "slots", "task_s", "expected"), [
    (100, 2, None, 1),        # nothing measured yet
    (1000, 2, 0.001, 250),    # 1 ms tasks: 0.25 s chunks
    (100, 2, 0.001, 25),      # ... but a quarter of what is left at most (2 per slot)
    (1000, 2, 5.0, 1),        # long tasks run one by one
    (3, 4, 0.001, 1),         # the last tasks spread over the workers
])
def test_chunk_size(pending, slots, task_s, expected):
    assert _chunk_size(pending, slots, task_s) == expected


def test_commit_syncs_the_filesystem_of_the_output(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "sync", lambda: calls.append("sync"))  # the fallback, all of them
    store.commit(tmp_path)
    if sys.platform == "linux":  # syncfs(2) of this filesystem alone
        assert store._syncfs() is not None and calls == []
    monkeypatch.setattr(store, "_syncfs", lambda: None)
    store.commit(tmp_path)
    assert calls[-1] == "sync"
