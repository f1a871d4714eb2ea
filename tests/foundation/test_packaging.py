"""Keep the package mapping honest: every package directory ships in the wheel and imports."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = PYPROJECT["tool"]["setuptools"]["packages"]
PACKAGE_DIR = PYPROJECT["tool"]["setuptools"]["package-dir"]
TOP_LEVEL = {"heralder": "heralder", **{v: k for k, v in PACKAGE_DIR.items()}}


def package_folder(import_name: str) -> Path:
    """Return the directory a package is built from, following the package-dir mapping."""
    parts = import_name.split(".")
    for depth in range(len(parts), 0, -1):
        prefix = ".".join(parts[:depth])
        if prefix in PACKAGE_DIR:
            return ROOT / PACKAGE_DIR[prefix] / Path(*parts[depth:])
    return ROOT / Path(*parts)


def packages_on_disk() -> set[str]:
    """Return the import name of every directory under the mapped roots that holds Python."""
    found = set()
    for folder, import_name in TOP_LEVEL.items():
        for init in (ROOT / folder).rglob("*.py"):
            relative = init.parent.relative_to(ROOT / folder)
            if "__pycache__" in relative.parts:
                continue
            found.add(".".join([import_name, *relative.parts]))
    return found


def test_user_requested_top_level_exists():
    for name in ("pyproject.toml", "README.md", "heralder", "drivers", "simulators", "gui",
                 "tests"):
        assert (ROOT / name).exists(), name


def test_every_package_directory_is_listed():
    on_disk = packages_on_disk()
    assert on_disk - set(PACKAGES) == set(), "add these to [tool.setuptools] packages"
    assert set(PACKAGES) - on_disk == set(), "listed packages that do not exist"
    for name in PACKAGES:
        assert (package_folder(name) / "__init__.py").exists(), f"{name} has no __init__.py"


@pytest.mark.timeout(600)
def test_wheel_contains_every_package(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("heralder-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert "/".join(package.split(".")) + "/__init__.py" in names, package
    assert not any(n.startswith(("drivers/", "simulators/", "gui/")) for n in names)


def test_mapped_packages_import_from_any_directory(tmp_path):
    code = ("import heralder, heralder.drivers, heralder.simulators, heralder.gui; "
            "print(heralder.drivers.__file__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).parent == ROOT / "drivers"


def test_core_never_imports_qt_drivers_simulators_or_gui():
    """Scan every core module's import statements (a lazy import by name in a table is allowed)."""
    import ast

    forbidden = ("PyQt6", "PyQt5", "PySide6", "PySide2", "pyqtgraph", "qtpy",
                 "heralder.drivers", "heralder.simulators", "heralder.gui")
    offenders = []
    for path in (ROOT / "heralder").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.startswith(forbidden)]
    assert offenders == []


def test_importing_core_loads_no_qt():
    code = ("import sys, heralder, heralder.config, heralder.cli, heralder.registry, "
            "heralder.transport, heralder.control.interfaces; "
            "print([m for m in sys.modules if m.startswith(('PyQt', 'pyqtgraph'))])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
