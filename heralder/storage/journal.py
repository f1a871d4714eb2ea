"""Append records to a run's ``journal.jsonl`` durably, and read them back (DESIGN §6).

The journal is the run's ground truth: one JSON line per record, appended and never rewritten.
:meth:`Journal.append` writes a group of records, flushes and ``fsync`` s before it returns, so a
record that :meth:`append` returned for survives a crash of the process or the machine. A crash
can leave at most one partial last line, which :func:`read_journal` reports and skips.

A :class:`Journal` holds an exclusive ``flock`` on its file while open: a second writer is refused,
and :func:`journal_in_use` tells a reader (``recover``) that a writer, perhaps a writer process
still draining after its engine died, has not finished.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heralder.errors import DataLossError
from heralder.storage.schema import decode_record, encode_record

__all__ = ["Journal", "JournalContents", "journal_in_use", "read_journal"]


class Journal:
    """Append records to a JSON-lines file with one ``fsync`` per :meth:`append`.

    Parameters
    ----------
    path
        The journal file; created if missing, appended to otherwise.

    Raises
    ------
    DataLossError
        If another writer holds the journal open.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the run
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise DataLossError(f"{self.path} is being written by another writer") from None
        self.records_written = 0

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Write ``records``, flush and fsync; return the number written.

        Raises
        ------
        DataLossError
            If the file cannot be written or synced (disk full, closed).
        """
        lines = [encode_record(r) for r in records]
        try:
            self._file.write(b"".join(lines))
            self._file.flush()
            os.fsync(self._file.fileno())
        except (OSError, ValueError) as exc:
            raise DataLossError(f"cannot write journal {self.path}: {exc}") from exc
        self.records_written += len(lines)
        return len(lines)

    def close(self) -> None:
        """Close the file (closing twice does nothing)."""
        if not self._file.closed:
            self._file.close()


def journal_in_use(path: str | Path) -> bool:
    """Return ``True`` while a :class:`Journal` (of any process) holds ``path`` open."""
    with open(path, "rb") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


@dataclass
class JournalContents:
    """Hold what :func:`read_journal` found besides the records.

    Attributes
    ----------
    bad_lines
        1-based numbers of lines that were not valid records (a torn last line after a crash).
    lines
        Number of lines read.
    """

    bad_lines: list[int] = field(default_factory=list)
    lines: int = 0


def read_journal(path: str | Path, contents: JournalContents | None = None
                 ) -> Iterator[dict[str, Any]]:
    """Yield the records of a journal in order, streaming (memory does not grow with the file).

    Lines that do not decode are skipped and listed in ``contents.bad_lines``; only the last line
    can legitimately be torn, so callers should treat any other bad line as corruption.

    Raises
    ------
    FileNotFoundError
        If the journal does not exist.
    """
    contents = contents if contents is not None else JournalContents()
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            contents.lines = number
            try:
                yield decode_record(line)
            except ValueError:  # json.JSONDecodeError is a ValueError
                contents.bad_lines.append(number)
