"""``heralder run`` / ``validate`` / ``recover`` from the command line, as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from heralder.storage.journal import read_journal

BASE = {
    "run": {"seed": 3, "shots": 100000},
    "atoms": {"n_atoms": 100},
    "detector": {"eta": 0.7, "dark_rate_hz": 200.0, "gate_s": 4e-3},
    "estimator": {"backend": "numpy"},
    "policy": {"kind": "pmax", "max_pulses": 60},
    "engine": {"pulse_period_s": 5e-3},
    "devices": {"counter": {"driver": "virtual_counter", "address": "sim://lab"},
                "switch": {"driver": "virtual_switch", "address": "sim://lab"}},
}


def heralder(*args: str, **kwargs) -> subprocess.CompletedProcess:
    code = "import sys; from heralder.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "setup.toml"
    path.write_text(tomli_w.dumps(data | {"storage": {"root": str(tmp_path / "runs")}}))
    return path


def test_bad_driver_and_unreachable_device_give_one_line_before_the_run(tmp_path):
    bad = BASE | {"devices": {"counter": {"driver": "sr4000", "address": "x"},
                              "switch": BASE["devices"]["switch"]}}
    result = heralder("run", str(write(tmp_path, bad)))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "devices.counter" in result.stderr
    dead = BASE | {"devices": {"counter": {"driver": "sr400", "address": "socket://127.0.0.1:9",
                                           "timeout_s": 0.2},
                               "switch": BASE["devices"]["switch"]}}
    result = heralder("run", str(write(tmp_path, dead)), "--no-progress")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "devices.counter (sr400 at socket://127.0.0.1:9)" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_sigterm_stops_cleanly_and_the_run_validates_and_recovers(tmp_path):
    config = write(tmp_path, BASE)
    code = "import sys; from heralder.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(config), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = list((tmp_path / "runs").glob("*/*/journal.jsonl"))
            if found and sum(r["type"] == "shot" for r in read_journal(found[0])) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped on request" in out and "shots heralded" in out
    run_dir = found[0].parent
    assert (run_dir / "summary.png").stat().st_size > 1000
    end = [r for r in read_journal(found[0]) if r["type"] == "end"]
    assert end and end[0]["message"] == "stopped on request"
    result = heralder("validate", str(run_dir))
    assert result.returncode == 0 and "PASS" in result.stdout, result.stdout
    (run_dir / "run.h5").unlink()
    result = heralder("recover", str(run_dir))
    assert result.returncode == 0 and "complete run" in result.stdout
    assert (run_dir / "run.h5").is_file()
