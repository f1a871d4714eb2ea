"""Check a recorded run: files present, journal and HDF5 consistent, Photon-HDF5 valid with tags.

``heralder validate RUN`` prints the report. phconvert (extra ``test``) is imported only here and
only for runs with time tags; without it the Photon-HDF5 check is reported as skipped.
"""

from __future__ import annotations

import importlib.util
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from heralder.config import config_from_dict
from heralder.errors import ConfigError
from heralder.storage.hdf5 import FINAL_NAME, PARTIAL_NAME, USER_GROUP
from heralder.storage.journal import JournalContents, read_journal
from heralder.storage.rundir import CONFIG_NAME
from heralder.storage.schema import TABLES
from heralder.storage.writer import JOURNAL_NAME

__all__ = ["ValidationReport", "check_photon_hdf5", "validate_run"]


@dataclass
class ValidationReport:
    """Hold the outcome of :func:`validate_run`.

    Attributes
    ----------
    problems
        One line per defect; empty when the run is valid.
    notes
        Facts worth knowing that are not defects (a torn last journal line, a skipped check).
    shots, pulses
        Counts found in the journal.
    complete
        Whether the run finished (its ``end`` record is journaled).
    photon_hdf5
        ``True``/``False`` if checked by phconvert, ``None`` if not applicable or not checked.
    """

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shots: int = 0
    pulses: int = 0
    complete: bool = False
    photon_hdf5: bool | None = None

    @property
    def ok(self) -> bool:
        """Return ``True`` when no problem was found."""
        return not self.problems


def check_photon_hdf5(path: str | Path) -> str:
    """Return ``""`` if phconvert accepts ``path`` as Photon-HDF5, else the reason.

    Raises
    ------
    ModuleNotFoundError
        If phconvert is not installed.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # phconvert 0.10 warns on import and on optional fields
        import phconvert
        import tables  # phconvert's own dependency; we open the file so it is always closed

        with tables.open_file(str(path), "r") as h5file:
            try:
                phconvert.hdf5.assert_valid_photon_hdf5(h5file, warnings=False,
                                                        require_setup=True)
            except (phconvert.hdf5.Invalid_PhotonHDF5, AssertionError) as exc:
                return str(exc) or type(exc).__name__
    return ""


def _journal_summary(path: Path, report: ValidationReport) -> dict[str, Any]:
    contents = JournalContents()
    header: dict[str, Any] = {}
    for index, record in enumerate(read_journal(path, contents)):
        if index == 0:
            header = record
            if record["type"] != "run":
                report.problems.append(f"{JOURNAL_NAME}: first record is not 'run'")
        if record["type"] == "shot":
            report.shots += 1
            report.pulses += record["tables"].n_pulses
        report.complete = report.complete or record["type"] == "end"
    for number in contents.bad_lines:
        if number == contents.lines:
            report.notes.append(f"{JOURNAL_NAME}: last line {number} is torn (crash); ignored")
        else:
            report.problems.append(f"{JOURNAL_NAME}: line {number} is not a valid record")
    if not report.complete:
        report.notes.append("the run did not finish (no end record); data up to the crash")
    return header


def _check_h5(path: Path, report: ValidationReport, has_tags: bool) -> None:
    with h5py.File(path, "r") as f:
        if USER_GROUP not in f:
            report.problems.append(f"{FINAL_NAME}: no /{USER_GROUP} group")
            return
        user = f[USER_GROUP]
        for table, columns in TABLES.items():
            lengths = {c: len(user[f"{table}/{c}"]) for c in columns if f"{table}/{c}" in user}
            if len(lengths) != len(columns):
                report.problems.append(f"{FINAL_NAME}: table {table} lacks columns "
                                       f"{sorted(set(columns) - set(lengths))}")
            elif len(set(lengths.values())) > 1:
                report.problems.append(f"{FINAL_NAME}: table {table} has ragged columns")
        expected = {"heralds/shot": report.shots, "pulses/counts": report.pulses,
                    "decisions/stop": report.pulses, "posterior/map_s": report.pulses}
        for name, count in expected.items():
            if name in user and len(user[name]) != count:
                report.problems.append(f"{FINAL_NAME}: {name} has {len(user[name])} rows, "
                                       f"the journal {count}")
        if has_tags and len(f["photon_data/timestamps"]) != len(user["photons/timestamp_ps"]):
            report.problems.append(f"{FINAL_NAME}: photon_data/timestamps disagrees with photons")


def validate_run(run_dir: str | Path) -> ValidationReport:
    """Check the run in ``run_dir`` and return a :class:`ValidationReport`."""
    run_dir = Path(run_dir)
    report = ValidationReport()
    if not run_dir.is_dir():
        report.problems.append(f"{run_dir}: not a directory")
        return report
    journal = run_dir / JOURNAL_NAME
    if not journal.is_file():
        report.problems.append(f"{run_dir}: no {JOURNAL_NAME}")
        return report
    header = _journal_summary(journal, report)
    try:
        config_from_dict(tomllib.loads(header.get("config_toml", "")))
    except (ConfigError, tomllib.TOMLDecodeError) as exc:
        report.problems.append(f"{JOURNAL_NAME}: stored config does not load: {exc}")
    if not (run_dir / CONFIG_NAME).is_file():
        report.problems.append(f"{run_dir}: no {CONFIG_NAME}")
    h5_path = run_dir / FINAL_NAME
    if not h5_path.is_file():
        hint = " (a partial file exists: run `heralder recover`)" if (
            run_dir / PARTIAL_NAME).exists() else ""
        report.problems.append(f"{run_dir}: no {FINAL_NAME}{hint}")
        return report
    has_tags = bool(header.get("has_tags"))
    try:
        _check_h5(h5_path, report, has_tags)
    except OSError as exc:
        report.problems.append(f"{FINAL_NAME}: cannot be read: {exc}")
        return report
    if has_tags:
        if importlib.util.find_spec("phconvert") is None:
            report.notes.append("Photon-HDF5 not checked: phconvert is not installed")
        else:
            reason = check_photon_hdf5(h5_path)
            report.photon_hdf5 = not reason
            if reason:
                report.problems.append(f"{FINAL_NAME}: not valid Photon-HDF5: {reason}")
    return report
