"""Check that the console script imports a command's module only when that command is chosen."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from heralder.cli import COMMANDS, main

HEAVY = ("numba", "dask", "distributed", "h5py", "PyQt6", "scipy", "matplotlib", "pyarrow")

#: Run the console script's main on argv in a fresh interpreter; print the heavy modules loaded.
PROBE = """\
import json
import sys
from heralder.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps([sorted(m for m in heavy if m in sys.modules),
                  sorted(m for m in sys.modules if m.startswith("heralder."))]))
"""


def _probe(*argv: str) -> tuple[str, list[str], list[str]]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
                            capture_output=True, text=True, timeout=120, check=True)
    *lines, last = result.stdout.splitlines()
    loaded, modules = json.loads(last)
    return "\n".join(lines), loaded, modules


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_no_heavy_module_and_no_command(argv):
    out, loaded, modules = _probe(*argv)
    assert loaded == []
    assert not [m for m in modules if m in {c.module for c in COMMANDS.values()}]
    if argv == ["--help"]:
        for name, command in COMMANDS.items():
            assert f"{name}" in out and command.help[:30] in out.replace("\n", " ")
    else:
        assert out.startswith("heralder ")


def test_a_command_help_imports_only_that_command():
    out, _loaded, modules = _probe("config", "--help")
    assert "{validate,show}" in out
    assert "heralder.config_cmd" in modules
    others = {c.module for n, c in COMMANDS.items() if n != "config"}
    assert not others & set(modules)


def test_study_run_help_does_not_import_the_policy_study():
    out, loaded, modules = _probe("study", "run", "--help")
    assert "--scheduler" in out and "--resume" in out
    assert "heralder.studies.policy" not in modules
    assert "numba" not in loaded


def test_every_command_help_shows_its_options(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: heralder {name} ") and "options:" in out, name
