"""Write a run's journal and HDF5 file in a separate process, off the engine's GIL.

:class:`ProcessRunWriter` has the API of :class:`~heralder.storage.writer.RunWriter`; behind it a
writer process (``python -m heralder.storage.writer_process``) runs that very ``RunWriter``
(group commit, one ``fsync`` per group, ``run.h5`` under a temporary name then renamed). The
engine only frames each record and writes it to a pipe: a shot's tables go as their joined rows
and raw blocks (a memcpy; pickling structured arrays costs ~10× more), everything else pickled.

Guarantees, as with the thread:

* ``put`` returns once the record is in the pipe; the process writes every record it received.
  A full pipe (the process's own queue full behind it) makes ``put`` wait: that is the
  backpressure, reported through ``put``'s return value.
* A writer that fails (disk full) or dies makes ``put`` and ``close`` raise
  :class:`~heralder.errors.DataLossError`; the journal holds every record it acknowledged.
* If the engine's process dies (SIGKILL), the pipe closes: the writer journals every whole
  record it received, leaves ``run.h5.partial`` for ``heralder recover`` and exits. Until then
  it holds the journal's lock (:func:`~heralder.storage.journal.journal_in_use`).

Starting a process costs ~0.3–0.5 s (imports): writer processes are kept and reused, one run at a
time each, by the process that started them (they exit when it does).

Not the default: on the 2-core machine it was measured on, the engine thread ran slower while the
writer process worked beside it, and runs were slower than with the writer thread (see the
``bench_engine`` comparison line).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from heralder.errors import DataLossError
from heralder.storage.tables import ShotTables, table_dtype
from heralder.storage.writer import JOURNAL_NAME, RunWriter, WriterStats

__all__ = ["ProcessRunWriter"]

_HEAD = struct.Struct("<cI")  # message kind, payload length
_OPEN, _RECORD, _CLOSE = b"O", b"R", b"C"
_PIPE_BYTES = 1 << 20  # Linux pipe capacity asked for (about 400 shots of 12 pulses)
_F_SETPIPE_SZ = 1031
# The writer yields the CPU to the engine: woken by the engine's writes, the scheduler tends to
# run it on the engine's core, where at equal priority it took 20-25 % of the engine's time.
_NICE = 10
_BATCH_S = 0.02  # during a run the writer reads the pipe this often (a record waits at most this)

_idle: list[subprocess.Popen] = []  # started writer processes waiting for a run
_idle_lock = threading.Lock()


def _frame(kind: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def _wire(record: dict[str, Any]) -> bytes:
    """Return ``record`` as a pickle, a shot's tables as their joined rows and raw blocks."""
    if record["type"] == "shot":
        tables = ShotTables.of(record["tables"])
        record = dict(record, tables=(tables.rows, {name: block.tobytes() for name, block in
                                                    tables.blocks.items()}))
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def _unwire(payload: bytes) -> dict[str, Any]:
    record = pickle.loads(payload)
    if record["type"] == "shot":
        rows, blocks = record["tables"]
        record["tables"] = ShotTables(rows, {name: np.frombuffer(raw, table_dtype(name))
                                             for name, raw in blocks.items()})
    return record


def _start() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "heralder.storage.writer_process"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    try:  # a bigger pipe: fewer waits when the disk is briefly slow (Linux; best effort)
        import fcntl
        fcntl.fcntl(proc.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass
    os.set_blocking(proc.stdin.fileno(), False)
    os.set_blocking(proc.stdout.fileno(), False)
    return proc


def _take() -> subprocess.Popen:
    """Return an idle writer process, or a new one."""
    with _idle_lock:
        while _idle:
            proc = _idle.pop()
            if proc.poll() is None:
                return proc
    return _start()


def _end(proc: subprocess.Popen) -> None:
    """Close a writer process's pipes (which ends it once idle) and reap it."""
    for pipe in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError):  # a pipe a dead writer left full
            pipe.close()
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _forget_idle() -> None:
    """Forget the idle writers in a forked child: they belong to its parent."""
    _idle.clear()


os.register_at_fork(after_in_child=_forget_idle)


@atexit.register
def _stop_idle() -> None:
    """End the idle writer processes."""
    with _idle_lock:
        procs, _idle[:] = list(_idle), []
    for proc in procs:
        _end(proc)


class ProcessRunWriter:
    """Own the journal and HDF5 file of one run and write them from a writer process.

    Parameters
    ----------
    run_dir
        The run directory (must exist).
    queue_size
        Capacity of the writer process's queue in records (the pipe before it holds ~1 MiB).
    """

    def __init__(self, run_dir: str | Path, *, queue_size: int = 10000) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.run_dir = Path(run_dir)
        (self.run_dir / JOURNAL_NAME).touch()  # the run has its journal from the start, as ever
        self._proc = _take()
        self._out = b""
        self._eof = False
        self._error = ""
        self._final: dict[str, Any] | None = None
        self._waits = 0
        self._closed = False
        self._send(_frame(_OPEN, json.dumps({"run_dir": str(self.run_dir),
                                             "queue_size": queue_size}).encode()), 0.5)

    def put(self, record: dict[str, Any], timeout_s: float = 0.5) -> bool:
        """Send ``record``; return ``True`` if the pipe was full and the call had to wait.

        Raises
        ------
        DataLossError
            If the writer has failed, died or was closed; the record is not recorded.
        """
        if self._closed:
            raise DataLossError("the run writer is closed")
        self._poll()
        self._raise_if_failed()
        return self._send(_frame(_RECORD, _wire(record)), timeout_s)

    def stats(self) -> WriterStats:
        """Return the :class:`WriterStats` (the process's figures are final once closed;
        before, only the engine's backpressure waits and errors are known)."""
        final = self._final or {}
        return WriterStats(final.get("records_written", 0), 0, final.get("queue_high_water", 0),
                           self._waits + final.get("backpressure_waits", 0), self._error,
                           final.get("cpu_s", 0.0))

    def close(self, timeout_s: float = 60.0) -> Path:
        """Write everything sent, finish ``run.h5`` and return its path.

        Raises
        ------
        DataLossError
            If the writer failed, died or could not finish within ``timeout_s`` (the journal
            still holds every record it acknowledged; ``heralder recover`` rebuilds the file).
        """
        deadline = time.monotonic() + timeout_s
        if not self._closed:
            self._closed = True
            with contextlib.suppress(DataLossError):  # a dead writer is reported below
                self._send(_frame(_CLOSE, b""), 0.5)
        while self._final is None and not self._eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DataLossError(f"the run writer did not finish within {timeout_s} s")
            select.select([self._proc.stdout], [], [], min(left, 0.5))
            self._poll()
        if self._error:  # a writer that failed ends after its last report
            _end(self._proc)
        self._raise_if_failed()
        with _idle_lock:  # healthy: kept for the next run (once, however often close is called)
            if self._proc not in _idle:
                _idle.append(self._proc)
        return Path(self._final["path"])

    # ----------------------------------------------------------------------------------------
    def _raise_if_failed(self) -> None:
        if self._error:
            raise DataLossError(f"the run writer failed: {self._error}")

    def _send(self, data: bytes, timeout_s: float) -> bool:
        """Write ``data`` whole to the pipe, waiting while it is full; return whether it did."""
        view, waited = memoryview(data), False
        fd = self._proc.stdin.fileno()
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                if not waited:
                    self._waits += 1
                waited = True
                select.select([], [fd], [], timeout_s)
                self._poll()
                self._raise_if_failed()
            except BrokenPipeError:
                self._poll()
                self._error = self._error or "the writer process ended"
                self._raise_if_failed()
        return waited

    def _poll(self) -> None:
        """Read the writer's reports without blocking; note a failure or its death."""
        fd = self._proc.stdout.fileno()
        while not self._eof:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            self._eof = not chunk
            self._out += chunk
        *lines, self._out = self._out.split(b"\n")
        for line in lines:
            report = json.loads(line)
            self._error = self._error or report.get("error", "")
            if "closed" in report:
                self._final = report["closed"]
        if self._eof and self._final is None and not self._error:
            self._error = f"the writer process ended (exit code {self._proc.wait(5.0)})"


# --- the writer process --------------------------------------------------------------------------
class _Inbox:
    """Split the engine's pipe into messages; during a run, read it in batches.

    A reader blocked on a pipe is woken by every write, i.e. once per shot, and the scheduler
    then tends to run it on the writing engine's core. During a run the inbox instead sleeps
    ``batch_s`` whenever it has no whole message, then takes everything that came.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = bytearray()
        self._at = 0
        self.batch_s = 0.0

    def next(self) -> tuple[bytes, bytes] | None:
        """Return the next (kind, payload), or ``None`` at the end of the pipe (a torn message
        too: its sender died while writing it)."""
        while True:
            buf, at = self._buf, self._at
            if len(buf) - at >= _HEAD.size:
                kind, size = _HEAD.unpack_from(buf, at)
                end = at + _HEAD.size + size
                if len(buf) >= end:
                    self._at = end
                    return kind, bytes(buf[at + _HEAD.size:end])
            del buf[:at]
            self._at = 0
            if self.batch_s:
                time.sleep(self.batch_s)
            chunk = os.read(self._fd, _PIPE_BYTES)
            if not chunk:
                return None
            buf += chunk


def _serve_run(inbox: _Inbox, status: BinaryIO, run_dir: str, queue_size: int) -> bool:
    """Write one run; return ``False`` if the process should end (failure, or pipe closed)."""
    cpu_s = time.process_time()
    writer, error = None, ""
    try:
        writer = RunWriter(run_dir, queue_size=queue_size)
    except Exception as exc:  # reported to the engine, which raises it
        error = f"{type(exc).__name__}: {exc}"
    if error:
        status.write(json.dumps({"error": error}).encode() + b"\n")
    inbox.batch_s = _BATCH_S
    while (message := inbox.next()) is not None and message[0] == _RECORD:
        if not error:
            try:
                writer.put(_unwire(message[1]))
            except Exception as exc:  # reported; later records are refused
                error = f"{type(exc).__name__}: {exc}"
                status.write(json.dumps({"error": error}).encode() + b"\n")
    inbox.batch_s = 0.0  # idle between runs: wait for the next one without polling
    if message is None:  # the engine's process died: keep what came, leave recovery to recover
        if writer is not None and not error:
            with contextlib.suppress(DataLossError):  # nobody is left to tell
                writer.close(finalise=False)
        return False
    path = ""
    if writer is not None and not error:
        try:
            path = str(writer.close())
        except DataLossError as exc:
            error = str(exc)
    stats = writer.stats() if writer is not None else WriterStats(0, 0, 0, 0, "")
    status.write(json.dumps({"closed": {
        "path": path, "records_written": stats.records_written,
        "queue_high_water": stats.queue_high_water,
        "backpressure_waits": stats.backpressure_waits,
        "cpu_s": time.process_time() - cpu_s}, "error": error}).encode() + b"\n")
    return not error


def main() -> int:
    """Serve runs (open, records, close) from stdin until it closes; report on stdout."""
    os.nice(_NICE)
    status = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything printed goes to stderr, not into the status messages
    inbox = _Inbox(sys.stdin.fileno())
    while (message := inbox.next()) is not None and message[0] == _OPEN:
        settings = json.loads(message[1])
        if not _serve_run(inbox, status, settings["run_dir"], settings["queue_size"]):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
