"""A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 run a sweep."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from heralder.cli import main
from heralder.studies.runner import run_sweep
from heralder.studies.store import read_records
from heralder.studies.sweep import load_sweep

DASK = str(Path(sys.executable).with_name("dask"))
SWEEP = """\
[study]
kind = "dark"
trials = 40
seed = 21
trials_per_task = 5

[params]
gates = 2000

[grid]
dark_counts_per_gate = [0.02, 0.5]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """Start a scheduler and two single-threaded workers; yield the address; stop them all."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    log = (tmp_path / "dask.log").open("w")
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              stdout=log, stderr=subprocess.STDOUT)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                 "--no-dashboard", "--death-timeout", "60"], stdout=log,
                stderr=subprocess.STDOUT))
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


def test_sweep_runs_on_an_existing_scheduler_with_two_workers(dask_cluster, tmp_path, capsys):
    with Client(dask_cluster, timeout=60) as client:  # both workers are up before we start
        client.wait_for_workers(2, timeout=60)
        assert len(client.scheduler_info()["workers"]) == 2
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    out = tmp_path / "remote"
    code = main(["study", "run", str(path), "--scheduler", dask_cluster, "--out", str(out),
                 "--no-progress", "--connect-timeout-s", "30"])
    assert code == 0
    assert "16 tasks run, 0 already done, 0 failed" in capsys.readouterr().out
    run_sweep(load_sweep(path), tmp_path / "local", progress=False)
    remote, local = read_records(out), read_records(tmp_path / "local")
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    summary = pd.read_csv(out / "summary.csv")
    # The calibration is unbiased: each mean within 4 standard errors of the true value.
    assert ((summary["estimate_mean"] - summary["dark_counts_per_gate"]).abs()
            < 4 * summary["estimate_se"]).all()
