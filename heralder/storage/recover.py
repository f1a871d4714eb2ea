"""Rebuild a run's ``run.h5`` from its journal after a crash (``heralder recover RUN``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from heralder.errors import DataLossError
from heralder.storage.hdf5 import H5RunFile
from heralder.storage.journal import JournalContents, journal_in_use, read_journal
from heralder.storage.writer import JOURNAL_NAME

__all__ = ["RecoverReport", "recover_run"]


@dataclass(frozen=True)
class RecoverReport:
    """Say what :func:`recover_run` rebuilt.

    Attributes
    ----------
    path
        The rebuilt ``run.h5``.
    records, shots
        Journal records replayed and shots among them.
    complete
        Whether the journal holds the run's ``end`` record (the run finished).
    bad_lines
        1-based journal lines that did not decode (a torn last line after a crash).
    """

    path: Path
    records: int
    shots: int
    complete: bool
    bad_lines: list[int] = field(default_factory=list)


def recover_run(run_dir: str | Path, *, writer_wait_s: float = 10.0) -> RecoverReport:
    """Rebuild ``run_dir/run.h5`` from ``run_dir/journal.jsonl`` (written aside, then renamed).

    A writer still holding the journal is waited for up to ``writer_wait_s``.

    Raises
    ------
    FileNotFoundError
        If the run directory has no journal.
    ValueError
        If the journal does not start with a ``run`` record.
    DataLossError
        If a writer still holds the journal after ``writer_wait_s``.
    """
    run_dir = Path(run_dir)
    journal = run_dir / JOURNAL_NAME
    if not journal.is_file():
        raise FileNotFoundError(f"{run_dir}: no {JOURNAL_NAME} to recover from")
    deadline = time.monotonic() + writer_wait_s
    while journal_in_use(journal):  # e.g. a writer process finishing after its engine died
        if time.monotonic() > deadline:
            raise DataLossError(f"{journal} is still being written after {writer_wait_s:g} s; "
                                "recover once its writer ends")
        time.sleep(0.02)
    contents = JournalContents()
    h5 = H5RunFile(run_dir)
    records = 0
    complete = False
    try:
        for record in read_journal(journal, contents):
            if records == 0 and record["type"] != "run":
                raise ValueError(f"{journal}: first record is {record['type']!r}, not 'run'")
            h5.add(record)
            records += 1
            complete = complete or record["type"] == "end"
        if records == 0:
            raise ValueError(f"{journal}: holds no records")
    except BaseException:
        h5.abandon()
        raise
    path = h5.close(recovered=True)
    return RecoverReport(path, records, h5.shots, complete, contents.bad_lines)
