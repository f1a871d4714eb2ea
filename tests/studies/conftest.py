"""Shared helpers of the study-runner tests: sweep files and reading records back."""

from __future__ import annotations

from pathlib import Path

import pytest

from heralder.studies.store import read_records


@pytest.fixture
def write_sweep(tmp_path: Path):
    """Return a function writing sweep TOML text into tmp_path and returning its path."""

    def write(text: str, name: str = "sweep.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def records():
    """Return the reader of an output directory's records (a DataFrame sorted by point, trial)."""
    return read_records
