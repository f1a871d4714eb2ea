"""The runner: identical records on 1 and 2 workers, resume after a kill, failing tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import dask
import numpy as np
import pandas as pd
import pytest

from heralder.cli import main
from heralder.estimation import split
from heralder.studies.cluster import open_client
from heralder.studies.kinds import KINDS, StudyKind
from heralder.studies.runner import execute_task, run_sweep
from heralder.studies.store import finished_tasks
from heralder.studies.sweep import load_sweep, plan_tasks

#: A policy sweep small enough for tests: 2 points x 4 trials, 2 trials per task -> 4 tasks.
POLICY_SWEEP = """\
[study]
kind = "policy"
trials = 4
seed = 7
trials_per_task = 2

[params]
cap = 60

[grid]
n_atoms = [100]
eta = [0.5, 0.9]
"""


def _thread_limits() -> tuple[str | None, int]:
    return os.environ.get("OPENBLAS_NUM_THREADS"), split._cores()


def _run(sweep_path, out, *extra: str) -> int:
    return main(["study", "run", str(sweep_path), "--out", str(out), "--no-progress", *extra])


def test_policy_records_are_bit_identical_on_one_and_two_workers(write_sweep, tmp_path,
                                                                 records, capsys):
    sweep = load_sweep(write_sweep(POLICY_SWEEP))
    with open_client(workers=2) as client:
        assert "Dask dashboard: http" in capsys.readouterr().err
        assert len(client.scheduler_info()["workers"]) == 2
        # One worker per core: neither BLAS nor the estimator's own split adds threads.
        assert set(client.run(_thread_limits).values()) == {("1", 1)}
        # A batch cluster: no task profiler sampling the workers.
        assert not any(client.run(dask.config.get, "distributed.worker.profile.enabled").values())
        outcome = run_sweep(sweep, tmp_path / "w2", client=client, progress=False)
        assert outcome.written == 4 and not outcome.failures
        client.cluster.scale(1)  # the same cluster cut down to one worker
        client.wait_for_workers(1, timeout=60)
        deadline = time.monotonic() + 60
        while len(client.scheduler_info()["workers"]) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(client.scheduler_info()["workers"]) == 1
        run_sweep(sweep, tmp_path / "w1", client=client, progress=False)
    one, two = records(tmp_path / "w1"), records(tmp_path / "w2")
    assert len(one) == 8 and list(one["trial"]) == [0, 1, 2, 3] * 2
    assert {"n_atoms", "eta", "cap", "counts_b_switches", "counts_a_wrong"} <= set(one.columns)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert one["counts_a_switches"].eq(29).all()  # the fixed-30 policy: 29 switches
    assert one["counts_b_switches"].nunique() > 1  # trials are not copies of one another


def test_killed_study_resumes_to_the_uninterrupted_records(write_sweep, tmp_path, records):
    # 40 tasks of ~50 ms each: long enough to be killed mid-way by SIGKILL.
    text = ('[study]\nkind = "dark"\ntrials = 100\nseed = 11\ntrials_per_task = 10\n'
            "[params]\ngates = 200000\n[grid]\ndark_counts_per_gate = [0.01, 0.05, 0.2, 1.0]\n")
    path = write_sweep(text)
    whole = tmp_path / "whole"
    run_sweep(load_sweep(path), whole, progress=False)
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "heralder.cli", "study", "run", str(path), "--workers", "0",
         "--out", str(cut), "--no-progress"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (cut / "tasks").is_dir() and len(finished_tasks(cut)) >= 5:
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done = finished_tasks(cut)
    assert 5 <= len(done) < 40, "the study must be cut mid-way for this test to mean anything"
    assert _run(path, cut, "--workers", "0") == 2  # results exist: --resume is required
    assert _run(path, cut, "--workers", "0", "--resume") == 0
    pd.testing.assert_frame_equal(records(cut), records(whole), check_exact=True)
    assert not list((cut / "tasks").glob("*.partial"))


@dataclass(frozen=True)
class _Flaky:
    x: int = 0


def _flaky_trial(params: _Flaky, rng: np.random.Generator) -> dict[str, float]:
    if params.x == 2:
        raise RuntimeError("trial blew up")
    return {"u": float(rng.random())}


def test_a_failing_task_is_reported_with_parameters_and_seed(write_sweep, tmp_path, records,
                                                            monkeypatch, capsys):
    monkeypatch.setitem(KINDS, "flaky", StudyKind("flaky", _Flaky, _flaky_trial, "flaky test",
                                                  trials_per_task=3))
    path = write_sweep('[study]\nkind = "flaky"\ntrials = 3\nseed = 5\n[grid]\nx = [1, 2, 3]\n')
    out = tmp_path / "out"
    assert _run(path, out, "--workers", "0") == 1
    err = capsys.readouterr().err
    assert "task p0001-t0000 (x=2; trials 0..2; seed SeedSequence(5, spawn_key=(1, 0)))" in err
    assert "RuntimeError: trial blew up" in err
    frame = records(out)
    assert sorted(set(frame["x"])) == [1, 3] and len(frame) == 6
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 3 and summary[0].startswith("x,trials,u_mean,u_se")
    assert (out / "summary.png").stat().st_size > 5_000
    # Fixed, the failed task runs on --resume and the finished ones are kept.
    monkeypatch.setitem(KINDS, "flaky", StudyKind("flaky", _Flaky, lambda p, r: {"u": 0.5},
                                                  "fixed", trials_per_task=3))
    assert _run(path, out, "--workers", "0", "--resume") == 0
    frame = records(out)
    assert sorted(set(frame["x"])) == [1, 2, 3]
    assert frame.loc[frame["x"] == 2, "u"].eq(0.5).all() and frame["u"].ne(0.5).sum() == 6


def test_tasks_are_independent_of_task_order(write_sweep, tmp_path, records):
    sweep = load_sweep(write_sweep(
        '[study]\nkind = "dark"\ntrials = 7\nseed = 1\ntrials_per_task = 3\n'
        "[grid]\ngates = [10, 20]\n"))
    run_sweep(sweep, tmp_path / "a", progress=False)
    tasks = plan_tasks(sweep)
    assert len(tasks) == 6
    first = records(tmp_path / "a")
    # Rerun one task alone: its trials are the same rows as in the full run.
    again = execute_task(tasks[4])
    rows = first[(first["point"] == 1) & first["trial"].isin([3, 4, 5])]
    assert [r["estimate"] for r in again.records] == list(rows["estimate"])


@pytest.mark.parametrize("system", ["slurm", "pbs"])
def test_batch_job_script_carries_the_cluster_table(system):
    from heralder.studies.cluster import jobqueue_cluster
    from heralder.studies.sweep import ClusterSection

    section = ClusterSection(queue="short", account="qlab", cores=4, memory="8GB",
                             walltime="00:30:00", jobs=3)
    cluster = jobqueue_cluster(system, section)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert sys.executable in script
    assert "--nworkers 4" in script and "--nthreads 1" in script
    if system == "slurm":
        for line in ("#SBATCH -p short", "#SBATCH -A qlab", "#SBATCH -t 00:30:00",
                     "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8G"):
            assert line in script
    else:
        for line in ("#PBS -q short", "#PBS -A qlab", "walltime=00:30:00", "ncpus=4"):
            assert line in script


def test_policy_kind_writes_its_report_from_a_sweep_file(write_sweep, tmp_path, capsys):
    text = POLICY_SWEEP.replace("trials = 4", "trials = 2").replace("[params]\n",
                                                                    "[params]\ntimes = true\n")
    out = tmp_path / "out"
    assert _run(write_sweep(text), out, "--workers", "0") == 0
    table = (out / "policy_study.md").read_text()
    assert "| 100 | 0.9 | times | (b) pmax>=0.99 | 2 |" in table
    assert (out / "policy_study.png").stat().st_size > 10_000
    assert "fewer switches" in capsys.readouterr().out
    assert not (out / "summary.png").exists()  # the kind's figure replaces the generic one


def test_sweep_runs_on_the_client_it_is_given_while_another_is_open(write_sweep, tmp_path,
                                                                   records):
    sweep = load_sweep(write_sweep(
        '[study]\nkind = "dark"\ntrials = 12\nseed = 2\ntrials_per_task = 2\n'
        "[grid]\ngates = [10, 20]\n"))
    run_sweep(sweep, tmp_path / "here", progress=False)
    with open_client(workers=1) as first, open_client(workers=1):  # the second is the default
        outcome = run_sweep(sweep, tmp_path / "first", client=first, progress=False)
    assert outcome.written == 12 and not outcome.failures
    pd.testing.assert_frame_equal(records(tmp_path / "first"), records(tmp_path / "here"),
                                  check_exact=True)


def test_a_process_limited_to_one_thread_does_not_split_the_estimator(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert split._cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert split._cores() == len(os.sched_getaffinity(0))
