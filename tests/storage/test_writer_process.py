"""The writer process: same files as the writer thread, failures raised, orphans finish cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from heralder.errors import DataLossError
from heralder.storage.hdf5 import PARTIAL_NAME
from heralder.storage.journal import Journal, journal_in_use, read_journal
from heralder.storage.recover import recover_run
from heralder.storage.rundir import CONFIG_NAME
from heralder.storage.writer import JOURNAL_NAME, RunWriter
from heralder.storage.writer_process import ProcessRunWriter


def write(writer_kind, run_dir: Path, records) -> tuple[Path, object]:
    (run_dir / CONFIG_NAME).write_text(records[0]["config_toml"])
    writer = writer_kind(run_dir)
    for record in records:
        writer.put(record)
    return writer.close(), writer.stats()


def test_process_and_thread_write_identical_journals_and_tables(tmp_path, records):
    recs = records(n_shots=6, with_tags=True)
    (a := tmp_path / "thread").mkdir()
    (b := tmp_path / "process").mkdir()
    write(RunWriter, a, recs)
    path, stats = write(ProcessRunWriter, b, recs)
    assert path == b / "run.h5" and stats.records_written == len(recs) and not stats.error
    assert (a / JOURNAL_NAME).read_bytes() == (b / JOURNAL_NAME).read_bytes()
    with h5py.File(a / "run.h5") as fa, h5py.File(b / "run.h5") as fb:  # a validated layout
        for table in ("pulses", "decisions", "posterior", "photons", "heralds"):
            group_a, group_b = fa[f"user/heralder/{table}"], fb[f"user/heralder/{table}"]
            for column in group_a:
                np.testing.assert_array_equal(group_a[column][:], group_b[column][:])
        for name in ("timestamps", "detectors"):  # Photon-HDF5
            np.testing.assert_array_equal(fa[f"photon_data/{name}"][:],
                                          fb[f"photon_data/{name}"][:])


def test_writer_processes_are_reused_run_after_run(tmp_path, records):
    (tmp_path / "r0" / JOURNAL_NAME).mkdir(parents=True)
    first = ProcessRunWriter(tmp_path / "r0")
    pid = first._proc.pid
    with pytest.raises(DataLossError):  # its journal cannot be opened: the failure is reported
        first.close(10.0)
    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    one = ProcessRunWriter(tmp_path / "r1")
    for record in records(n_shots=1):
        one.put(record)
    one.close()
    one.close()  # closing twice hands the process back once
    two = ProcessRunWriter(tmp_path / "r2")
    assert two._proc.pid == one._proc.pid != pid  # the healthy one came back; the failed one ended
    two.put(records(n_shots=1)[0])
    two.close()


def test_a_failing_writer_process_is_raised_not_swallowed(tmp_path, records):
    (tmp_path / JOURNAL_NAME).mkdir()  # the journal cannot be opened
    writer = ProcessRunWriter(tmp_path)
    deadline = time.monotonic() + 10
    with pytest.raises(DataLossError, match="journal"):
        while time.monotonic() < deadline:
            writer.put(records(n_shots=1)[0])
            time.sleep(0.01)
    with pytest.raises(DataLossError):
        writer.close(10.0)
    assert writer.stats().error


def test_a_writer_process_that_dies_is_data_loss(tmp_path, records):
    writer = ProcessRunWriter(tmp_path)
    writer.put(records(n_shots=1)[0])
    os.kill(writer._proc.pid, signal.SIGKILL)
    writer._proc.wait(10)
    with pytest.raises(DataLossError, match="ended"):
        writer.put(records(n_shots=1)[1])
    with pytest.raises(DataLossError):
        writer.close(10.0)


def test_a_full_pipe_waits_and_reports_backpressure(tmp_path, records):
    writer = ProcessRunWriter(tmp_path)
    writer.put(records(n_shots=1)[0])
    big = {"type": "event", "t_s": 0.0, "kind": "log", "level": "info", "message": "x" * 100_000}
    os.kill(writer._proc.pid, signal.SIGSTOP)  # a writer that cannot keep up
    try:
        waited: list[bool] = []
        putter = threading.Thread(target=lambda: waited.extend(writer.put(big)
                                                               for _ in range(40)))
        putter.start()
        putter.join(1.0)
        assert putter.is_alive()  # blocked on the full pipe, not dropping
    finally:
        os.kill(writer._proc.pid, signal.SIGCONT)
    putter.join(20.0)
    assert any(waited) and writer.stats().backpressure_waits >= 1
    writer.close()
    assert sum(r["type"] == "event" for r in read_journal(tmp_path / JOURNAL_NAME)) == 40


ORPHAN = """
import os, sys
sys.path.insert(0, sys.argv[2])
from conftest import header, shot_record
import numpy as np
from heralder.storage.writer_process import ProcessRunWriter
rng = np.random.default_rng(3)
writer = ProcessRunWriter(sys.argv[1])
writer.put(header())
for shot in range(200):
    writer.put(shot_record(shot, rng))
os.kill(os.getpid(), 9)  # the engine's process dies with 201 records acknowledged
"""


def test_an_orphaned_writer_journals_what_it_was_given_and_leaves_recovery(tmp_path):
    here = Path(__file__).parent
    proc = subprocess.run([sys.executable, "-c", ORPHAN, str(tmp_path), str(here)],
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    journal = tmp_path / JOURNAL_NAME
    deadline = time.monotonic() + 30
    while journal_in_use(journal):  # the writer finishes what it received, then ends
        assert time.monotonic() < deadline
        time.sleep(0.05)
    shots = [r["shot"] for r in read_journal(journal) if r["type"] == "shot"]
    assert shots == list(range(200))  # every acknowledged record
    assert (tmp_path / PARTIAL_NAME).exists() and not (tmp_path / "run.h5").exists()
    report = recover_run(tmp_path)
    assert report.shots == 200 and not report.complete


def test_a_journal_has_one_writer_and_recover_waits_for_it(tmp_path, records):
    journal = Journal(tmp_path / JOURNAL_NAME)
    journal.append(records(n_shots=1))
    with pytest.raises(DataLossError, match="another writer"):
        Journal(tmp_path / JOURNAL_NAME)
    with pytest.raises(DataLossError, match="still being written"):
        recover_run(tmp_path, writer_wait_s=0.1)
    journal.close()
    assert not journal_in_use(tmp_path / JOURNAL_NAME)
    assert recover_run(tmp_path).shots == 1
