"""A run killed with SIGKILL loses no journaled shot; recover rebuilds exactly those shots."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tomli_w

from heralder.storage.journal import journal_in_use, read_journal
from heralder.storage.recover import recover_run
from heralder.storage.validate import validate_run

CONFIG = {
    "run": {"seed": 5, "shots": 100000},
    "atoms": {"n_atoms": 100},
    "detector": {"eta": 0.7, "dark_rate_hz": 200.0, "gate_s": 4e-3},
    "estimator": {"backend": "numpy"},
    "policy": {"kind": "pmax", "pmax_threshold": 0.99, "max_pulses": 60},
    "engine": {"pulse_period_s": 5e-3},
    "devices": {"counter": {"driver": "virtual_counter", "address": "sim://lab"},
                "switch": {"driver": "virtual_switch", "address": "sim://lab"}},
}
RUNNER = ("import sys; from heralder.cli import main; "
          "sys.exit(main(['run', sys.argv[1], '--no-progress', '--no-figure']))")


def journal_shots(path: Path) -> list[int]:
    return [r["shot"] for r in read_journal(path) if r["type"] == "shot"]


def wait_for_writer(journal: Path, timeout_s: float = 30.0) -> None:
    """Wait until no writer holds the journal (a writer process drains after its engine died)."""
    deadline = time.monotonic() + timeout_s
    while journal_in_use(journal):
        assert time.monotonic() < deadline, "the writer did not end after its engine died"
        time.sleep(0.05)


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_sigkill_at_random_moments_loses_nothing_journaled(tmp_path, writer):
    rng = random.Random(1234)
    for attempt in range(3):
        root = tmp_path / f"runs{attempt}"
        config = tmp_path / f"crash{attempt}.toml"
        config.write_text(tomli_w.dumps(CONFIG | {"storage": {"root": str(root),
                                                              "writer": writer}}))
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            journal = None
            while time.monotonic() < deadline:
                found = list(root.glob("*/*/journal.jsonl"))
                if found and len(journal_shots(found[0])) >= 2:
                    journal = found[0]
                    break
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.05)
            assert journal is not None, "the run did not start"
            time.sleep(rng.uniform(0.0, 0.5))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stderr.close()
        wait_for_writer(journal)
        assert not (journal.parent / "run.h5").exists()  # a cut-off run is left to recover
        shots = journal_shots(journal)
        assert shots == list(range(len(shots)))  # nothing missing in the middle
        run_dir = journal.parent
        report = recover_run(run_dir)
        assert report.shots == len(shots) and not report.complete
        with h5py.File(report.path) as f:
            np.testing.assert_array_equal(f["user/heralder/heralds/shot"][:], shots)
        validation = validate_run(run_dir)
        assert validation.ok, validation.problems
        assert validation.shots == len(shots)
