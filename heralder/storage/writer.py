"""Drain run records from a bounded queue into the journal and the HDF5 file (writer thread).

The engine hands each record to :meth:`RunWriter.put`. ``put`` returns only once the record is in
the queue, so a record ``put`` accepted is never dropped: if the queue is full, ``put`` waits (that
is the backpressure, reported to the caller through its return value) and raises
:class:`~heralder.errors.DataLossError` only if the writer has died. The thread writes what
arrives within ``gather_s`` as one group: journal lines, then one ``fsync`` (group commit: every
shot is durable before the next group starts), then the rows into HDF5.

The queue is a :class:`collections.deque` (appends and pops are atomic) with a wake-up event set
only when a record arrives in an empty queue, and a condition only for a full one: a
:class:`queue.Queue` locks, counts and notifies on every ``put`` and ``get`` (~5 µs per record
in the engine and writer threads together, against ~0.5 µs).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heralder.errors import DataLossError
from heralder.storage.hdf5 import H5RunFile
from heralder.storage.journal import Journal

__all__ = ["JOURNAL_NAME", "RunWriter", "WriterStats"]

JOURNAL_NAME = "journal.jsonl"
_STOP = object()
_MAX_GROUP = 512


@dataclass(frozen=True)
class WriterStats:
    """Summarise the writer's work so far.

    Attributes
    ----------
    records_written
        Records journaled (fsynced).
    queue_depth, queue_high_water
        Records waiting now, and the most that ever waited.
    backpressure_waits
        Calls to :meth:`RunWriter.put` that found the queue full and had to wait.
    error
        The writer's failure, or ``""``.
    cpu_s
        CPU time the writer thread used (its share of the process's CPU; final once closed).
    """

    records_written: int
    queue_depth: int
    queue_high_water: int
    backpressure_waits: int
    error: str
    cpu_s: float = 0.0


class RunWriter:
    """Own the journal and HDF5 file of one run and write them from a background thread.

    Parameters
    ----------
    run_dir
        The run directory (must exist).
    queue_size
        Capacity of the queue in records.
    flush_interval_s
        Flush the HDF5 file at least this often (wall time). A flush rewrites HDF5 metadata
        (~10 ms); the journal, fsynced per shot, is what a crash recovery reads.
    gather_s
        After the first waiting record, collect more for this long (one sleep, skipped when a
        full group is already waiting) before one journal write and fsync (group commit); a
        record is durable about this much later at most.
    """

    def __init__(self, run_dir: str | Path, *, queue_size: int = 10000,
                 flush_interval_s: float = 5.0, gather_s: float = 0.05) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.run_dir = Path(run_dir)
        self.journal = Journal(self.run_dir / JOURNAL_NAME)
        self.h5 = H5RunFile(self.run_dir)
        self._queue: deque[Any] = deque()
        self._capacity = queue_size
        self._arrived = threading.Event()  # set when a record arrives in an empty queue
        self._space = threading.Condition()  # a put waiting for a full queue to drain
        self._hurry = threading.Event()  # cuts the gathering short: queue full, or closing
        self._flush_interval_s = flush_interval_s
        self._gather_s = gather_s
        self._error: BaseException | None = None
        self._high_water = 0
        self._waits = 0
        self._closed = False
        self._finalise = True
        self._cpu_s = 0.0
        self._thread = threading.Thread(target=self._run, name="heralder-writer", daemon=True)
        self._thread.start()

    def put(self, record: dict[str, Any], timeout_s: float = 0.5) -> bool:
        """Queue ``record``; return ``True`` if the queue was full and the call had to wait.

        Waits as long as needed while the writer is alive (checking every ``timeout_s``).

        Raises
        ------
        DataLossError
            If the writer has failed or was closed; the record is not recorded.
        """
        if self._closed:
            raise DataLossError("the run writer is closed")
        self._raise_if_failed()
        records = self._queue
        waited = len(records) >= self._capacity
        if waited:
            self._waits += 1
            self._hurry.set()
            with self._space:
                while len(records) >= self._capacity:
                    self._space.wait(timeout_s)
                    self._raise_if_failed()  # the record will not be written
        records.append(record)
        depth = len(records)
        if depth == 1:  # the writer may be waiting for the first record of a group
            self._arrived.set()
        if depth > self._high_water:
            self._high_water = depth
        self._raise_if_failed()  # it failed meanwhile: the record will not be written
        return waited

    def stats(self) -> WriterStats:
        """Return the current :class:`WriterStats`."""
        return WriterStats(self.journal.records_written, len(self._queue), self._high_water,
                           self._waits, repr(self._error) if self._error else "", self._cpu_s)

    def close(self, timeout_s: float = 60.0, *, finalise: bool = True) -> Path:
        """Write everything queued, finish ``run.h5`` and return its path.

        With ``finalise=False`` (a run cut off: its engine died) the HDF5 file is left under
        its partial name, for ``heralder recover``, and its partial path is returned.

        Raises
        ------
        DataLossError
            If the writer failed or could not finish within ``timeout_s`` (the journal still
            holds every record it acknowledged; ``heralder recover`` rebuilds the file).
        """
        if not self._closed:
            self._closed = True
            self._finalise = finalise
            self._queue.append(_STOP)  # past the capacity: the thread drains until _STOP
            self._arrived.set()
            self._hurry.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise DataLossError(f"the run writer did not finish within {timeout_s} s")
        self._raise_if_failed()
        return self.h5.final_path if self._finalise else self.h5.partial_path

    # ----------------------------------------------------------------------------------------
    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise DataLossError(f"the run writer failed: {self._error}") from self._error

    def _run(self) -> None:
        last_flush = time.monotonic()
        records = self._queue
        try:
            while True:
                while not records:  # cleared before the check: an arrival after it sets it again
                    self._arrived.clear()
                    if not records:
                        self._arrived.wait()
                # Gather for a moment in one wait: a group per gather_s means one fsync and one
                # pair of GIL hand-offs with the engine per group, not per record (waking on
                # every put would take the GIL from the engine every time). A full queue
                # (backpressure) or a close cuts the wait short.
                self._hurry.clear()
                if records[0] is not _STOP and len(records) < min(self._capacity, _MAX_GROUP):
                    self._hurry.wait(self._gather_s)
                group = [records.popleft() for _ in range(min(len(records), _MAX_GROUP))]
                with self._space:  # room again for a put waiting on a full queue
                    self._space.notify_all()
                stop = bool(group) and group[-1] is _STOP  # the close puts it last
                if stop:
                    group.pop()
                self.journal.append(group)
                for record in group:
                    self.h5.add(record)
                if time.monotonic() - last_flush > self._flush_interval_s:
                    self.h5.flush()
                    last_flush = time.monotonic()
                if stop:
                    break
            if self._finalise:
                self.h5.close()
            else:
                self.h5.detach()
            self.journal.close()  # last: its lock tells recover that this writer is done
        except BaseException as exc:  # report to the engine; it decides what to do
            self._error = exc
            self.journal.close()
            self._drain_after_failure()
        finally:
            self._cpu_s = time.thread_time()

    def _drain_after_failure(self) -> None:
        """Drop what waits (it will not be written; ``put`` now raises) and wake a blocked
        :meth:`put` so that it sees the failure."""
        self._queue.clear()
        with self._space:
            self._space.notify_all()
