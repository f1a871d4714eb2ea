"""Check the console script: help, version, config validation, check wiring, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from heralder import __version__
from heralder.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_design_subcommand(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "run", "gui", "check", "figures", "validate", "recover", "bench",
                 "config", "emulate", "study"):
        assert name in COMMANDS
        assert name in out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"heralder {__version__}"


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "heralder"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("heralder ")


def test_config_validate_ok(capsys):
    assert main(["config", "validate", str(ROOT / "examples" / "simulated.toml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_config_validate_bad_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nshots = 0\n")
    assert main(["config", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "bad.toml:2: run.shots: shots must be >= 1" in err


def test_config_show_prints_defaults(tmp_path, capsys):
    path = tmp_path / "min.toml"
    path.write_text("[atoms]\nn_atoms = 40\n")
    assert main(["config", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "n_atoms = 40" in out and "[policy]" in out


def test_check_unknown_driver_fails_before_touching_devices(tmp_path, capsys):
    path = tmp_path / "lab.toml"
    path.write_text('[devices.counter]\ndriver = "nosuch"\naddress = "sim://x"\n')
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "devices.counter.driver: unknown driver 'nosuch'" in err


def test_check_with_no_devices(tmp_path, capsys):
    path = tmp_path / "empty.toml"
    path.write_text("")
    assert main(["check", str(path)]) == 0
    assert "no devices configured" in capsys.readouterr().out
