"""Run the engine in a child process behind the same :class:`EngineControl` contract.

A CPU-bound engine thread and a GUI thread in one interpreter share one lock, so the GUI's event
loop stalls whenever the engine holds it. :class:`EngineProcess` moves the whole engine (devices,
estimator, writer) into a ``spawn``-ed child: commands go down one queue, snapshots and events come
up another, and the parent only unpickles small messages. The child never imports Qt.

Every queue operation has a timeout. A child that dies or raises is reported as an ``error`` event
and a ``FAILED`` snapshot naming the cause; a child that does not stop within its timeout is
terminated (SIGTERM, which asks it to stop cleanly), then killed, and the run directory is named so
``heralder recover`` can rebuild its files from the journal.

``spawn`` imports the parent's main module in the child (as ``__mp_main__``): heralder's entry
points import no Qt at module level, and a script that starts an :class:`EngineProcess` must keep
its own Qt imports under ``if __name__ == "__main__"`` (the child reports ``qt_loaded``).
"""

from __future__ import annotations

import collections
import importlib
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import replace
from multiprocessing.queues import Queue
from typing import Any

from heralder.config import Config
from heralder.control.snapshot import (
    RECENT_HERALDS,
    EngineEvent,
    EngineSnapshot,
    EngineState,
    HeraldSummary,
)
from heralder.errors import ConfigError, HeralderError

__all__ = ["EngineProcess", "warm_engine"]

_KILL_GRACE_S = 1.0  # after SIGTERM (clean stop requested), before SIGKILL
_EXIT_GRACE_S = 10.0  # for a child that reported a build failure to exit by itself
_JOIN_SLICE_S = 0.02  # join() drains the up queue at least this often (a child cannot exit
#                       while its queued messages are not read)
_MAX_MESSAGES = 200  # messages unpickled per poll, so one poll stays short


class EngineProcess:
    """Run one engine in a child process; command it and read it as a local engine.

    Parameters
    ----------
    config
        The run's setup (sent to the child, which builds :class:`~heralder.control.engine.Engine`
        on the clock ``heralder run`` would use: simulated for an all-simulated, not realtime
        setup).
    start_timeout_s
        Longest wait in :meth:`start` for the child to build its engine (interpreter start,
        imports, devices built).
    queue_timeout_s
        Longest wait for a queue to accept a command or a message.
    publish_hz
        Rate at which the child sends snapshots (default: the config's ``gui.refresh_hz``).
    prepare
        ``"module:function"`` called with the config in the child before its engine is built
        (e.g. to load a simulated lab's compiled kernels, so that their one-off cost falls in
        :meth:`start` and not in the run).

    Raises
    ------
    ValueError
        If a timeout or the rate is not positive, or ``prepare`` is not ``"module:function"``.
    """

    def __init__(self, config: Config, *, start_timeout_s: float = 120.0,
                 queue_timeout_s: float = 1.0, publish_hz: float | None = None,
                 prepare: str | None = None) -> None:
        publish_hz = config.gui.refresh_hz if publish_hz is None else publish_hz
        for name, value in (("start_timeout_s", start_timeout_s),
                            ("queue_timeout_s", queue_timeout_s), ("publish_hz", publish_hz)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if prepare is not None and prepare.count(":") != 1:
            raise ValueError(f"prepare must be 'module:function', got {prepare!r}")
        self._start_timeout_s = start_timeout_s
        self._queue_timeout_s = queue_timeout_s
        ctx = multiprocessing.get_context("spawn")
        self._commands: Queue = ctx.Queue(maxsize=256)
        self._updates: Queue = ctx.Queue(maxsize=64)
        self._process = ctx.Process(
            target=_child_main, name="heralder-engine",
            args=(config, self._commands, self._updates, 1.0 / publish_hz, queue_timeout_s,
                  prepare),
            daemon=True)
        self._pending_config = config
        self._snapshot = EngineSnapshot(n_atoms=config.atoms.n_atoms,
                                        shots_total=config.run.shots)
        self._events: collections.deque[EngineEvent] = collections.deque(maxlen=10_000)
        self._heralds: collections.deque[HeraldSummary] = collections.deque(maxlen=RECENT_HERALDS)
        self._lock = threading.Lock()  # one reader of the up queue at a time, in order
        self._started = False
        self._done = False  # the child sent its final message
        self._ended = False  # ... and has exited (or died: reported)
        self.child_info: dict[str, Any] = {}

    # --- EngineControl ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the child and wait until it has built and started its engine.

        Raises
        ------
        HeralderError
            The child's build failure (its own type when it is a heralder error, e.g. a
            :class:`ConfigError` naming a device), its death, or a start timeout.
        """
        if self._started:
            raise HeralderError("the engine was already started; build a new one per run")
        self._started = True
        self._process.start()
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            try:
                kind, payload = self._updates.get(timeout=_JOIN_SLICE_S * 5)
            except queue.Empty:
                if not self._process.is_alive():
                    self._process.join(_KILL_GRACE_S)
                    self._ended = True
                    raise HeralderError(f"the engine process {_exit_cause(self._process)} "
                                        "while starting") from None
                if time.monotonic() > deadline:
                    self._halt()
                    self._ended = True
                    raise HeralderError(f"the engine process did not start within "
                                        f"{self._start_timeout_s} s") from None
                continue
            if kind == "started":
                self.child_info = payload
                return
            if kind == "build_failed":
                self._process.join(_EXIT_GRACE_S)  # it exits at once (interpreter teardown)
                if self._process.exitcode is None:
                    self._halt()
                self._ended = True
                raise payload

    def pause(self) -> None:
        """Finish the current shot, then wait."""
        self._send(("pause", None))

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        self._send(("resume", None))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the child to stop cleanly; after ``timeout_s`` terminate it and report that."""
        if not self._started or self._ended:
            return
        self._send(("stop", None))
        if self.join(timeout_s):
            return
        self._halt()
        late = f"the engine process did not stop within {timeout_s} s"
        if self._done:  # SIGTERM let it finish cleanly
            self._event(EngineEvent("fault", f"{late}: stopped by SIGTERM, files finalised",
                                    "warning", self._last_event_time()))
        else:
            run_dir = self._snapshot.run_dir
            hint = f"; rebuild its files with: heralder recover {run_dir}" if run_dir else ""
            self._fail(f"{late} and {_exit_cause(self._process)}{hint}")
        with self._lock:
            self._ended = True

    def set_parameters(self, changes: dict[str, Any]) -> None:
        """Apply dotted config changes from the next shot (validated here, at once).

        Raises
        ------
        ConfigError
            If a key is unknown, not changeable during a run, or its value invalid; or the
            child did not take the change.
        """
        from heralder.control.engine import check_changes

        config = check_changes(self._pending_config, changes)
        if not self._send(("parameters", dict(changes))):
            raise ConfigError("the engine process did not take the change", key=", ".join(changes))
        self._pending_config = config

    def snapshot(self) -> EngineSnapshot:
        """Return the latest snapshot received from the child."""
        self._poll()
        return self._snapshot

    def drain_events(self, max_events: int = 1000) -> list[EngineEvent]:
        """Return and forget the events received since the last call."""
        self._poll()
        with self._lock:
            n = min(max_events, len(self._events))
            return [self._events.popleft() for _ in range(n)]

    def join(self, timeout_s: float) -> bool:
        """Wait for the child to end (reading its messages meanwhile); return ``True`` if it has.

        A child that exits without its final message (killed, crashed) is reported as a failure.
        """
        if not self._started:
            return True
        deadline = time.monotonic() + timeout_s
        while True:
            self._poll()
            if self._ended:
                return True
            if self._process.exitcode is not None:
                self._poll()  # the child flushed everything it sent before exiting
                if not self._done:
                    self._fail(f"the engine process {_exit_cause(self._process)}")
                with self._lock:
                    self._ended = True
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._process.join(min(remaining, _JOIN_SLICE_S))

    @property
    def pid(self) -> int | None:
        """Return the child's process id (``None`` before :meth:`start`)."""
        return self._process.pid

    # --- parent side ------------------------------------------------------------------------
    def _send(self, command: tuple[str, Any]) -> bool:
        """Queue ``command`` for the child; report (as an event) one it did not take."""
        if not self._started or self._ended or not self._process.is_alive():
            return False
        try:
            self._commands.put(command, timeout=self._queue_timeout_s)
        except queue.Full:
            self._event(EngineEvent("fault", f"the engine process did not take {command[0]!r} "
                                    f"within {self._queue_timeout_s} s", "error"))
            return False
        return True

    def _poll(self) -> None:
        """Take in the messages the child has sent so far (at most a bounded number)."""
        with self._lock:
            for _ in range(_MAX_MESSAGES):
                try:
                    kind, payload = self._updates.get_nowait()
                except (queue.Empty, OSError, EOFError):
                    return
                if kind in ("update", "done"):
                    snapshot, events = payload
                    if snapshot is not None:  # it carries only the heralds not sent before
                        self._heralds.extend(snapshot.recent_heralds)
                        self._snapshot = replace(snapshot, recent_heralds=tuple(self._heralds))
                    self._events.extend(events)
                    self._done = self._done or kind == "done"

    def _event(self, event: EngineEvent) -> None:
        with self._lock:
            self._events.append(event)

    def _fail(self, message: str) -> None:
        """Publish a failure of the child: an error event and a FAILED snapshot naming it."""
        with self._lock:
            self._snapshot = replace(self._snapshot, state=EngineState.FAILED, message=message)
            self._events.append(EngineEvent("state", f"engine failed: {message}", "error",
                                            self._last_event_time(), {"state": "failed"}))

    def _last_event_time(self) -> float:
        """Return the run time of the latest event (the child's run clock is not readable)."""
        return self._events[-1].t_s if self._events else 0.0

    def _halt(self) -> None:
        """Terminate the child (SIGTERM: it stops cleanly if it can), then kill it."""
        self._process.terminate()
        self._process.join(_KILL_GRACE_S)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join(_KILL_GRACE_S)
        self._poll()


def _exit_cause(process: multiprocessing.process.BaseProcess) -> str:
    """Describe how ``process`` ended (or that it has not)."""
    code = process.exitcode
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code} without finishing the run"


# --- child side ---------------------------------------------------------------------------------
def warm_engine(config: Config, prepare: str | None = None) -> Any:
    """Return an unstarted :class:`~heralder.control.engine.Engine` for ``config``, on the clock
    ``heralder run`` would use, with its one-off costs paid: ``prepare`` (``"module:function"``,
    called with the config) and the estimator's compiled kernels. The engine process builds its
    engine so before it reports "started"; a headless comparison should too."""
    from heralder.control.engine import Engine
    from heralder.control.estimator_setup import warm_estimator
    from heralder.control.run_cmd import run_clock
    from heralder.estimation.backend import resolve_backend

    if prepare is not None:
        module, _, name = prepare.partition(":")
        getattr(importlib.import_module(module), name)(config)
    # the engine warms up again before its first shot, then at no cost
    warm_estimator(config, resolve_backend(config.estimator.backend))
    return Engine(config, clock=run_clock(config))


def _child_main(config: Config, commands: Queue, updates: Queue, publish_every_s: float,
                queue_timeout_s: float, prepare: str | None) -> None:
    """Build the engine, relay commands to it and publish its snapshots until it ends."""
    from heralder.control.affinity import pin_current_thread

    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us
    try:
        engine = warm_engine(config, prepare)
        if engine.pinned_cpu is not None:
            # This thread relays snapshots and commands with the GIL; on another CPU than the
            # engine thread every hand-over of the GIL would cross CPUs (measured: the engine
            # process at 0.82 of a headless run). The threads started from here inherit it.
            pin_current_thread(engine.pinned_cpu)
        engine.start()
    except BaseException as exc:
        updates.put(("build_failed", _picklable(exc)), timeout=queue_timeout_s)
        return
    updates.put(("started", {"pid": multiprocessing.current_process().pid,
                             "qt_loaded": any(m.startswith("PyQt") for m in sys.modules)}),
                timeout=queue_timeout_s)
    try:
        _relay(engine, commands, updates, publish_every_s, queue_timeout_s, stop_requested)
    except BaseException:
        # A broken relay must not leave a run unfinished: stop it, then report why.
        engine.stop(timeout_s=60.0)
        event = EngineEvent("fault", "engine process relay failed:\n" + traceback.format_exc(),
                            "error")
        final = replace(engine.snapshot(), state=EngineState.FAILED,
                        message=f"engine process relay failed: {sys.exc_info()[1]!r}")
        updates.put(("done", (final, [*engine.drain_events(), event])), timeout=queue_timeout_s)
    _exit_at_once(updates)


def _exit_at_once(updates: Queue) -> None:
    """End the child as soon as the parent can read every message it sent.

    The run's files are final before its last message. A ``spawn``-ed child's normal exit then
    tears down every module it loaded (numba, h5py, ...): 0.7–1.4 s here, which the window would
    wait for before it learns that the run has ended.
    """
    updates.close()
    updates.join_thread()  # the feeder thread has written every message to the pipe
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(0)


def _relay(engine: Any, commands: Queue, updates: Queue, publish_every_s: float,
           queue_timeout_s: float, stop_requested: threading.Event) -> None:
    parent = multiprocessing.parent_process()
    sent: EngineSnapshot | None = None
    backlog: list[EngineEvent] = []
    heralds_sent = -1  # the last shot whose herald the parent has
    while not engine.join(0.0):
        try:
            kind, payload = commands.get(timeout=publish_every_s)
        except queue.Empty:
            kind, payload = "", None
        if stop_requested.is_set() or (parent is not None and not parent.is_alive()):
            kind = "stop"  # SIGTERM, or an orphan: finish the run cleanly
        if kind == "stop":
            engine.stop(timeout_s=0.0)  # asks; we keep publishing until the engine ends
        elif kind == "pause":
            engine.pause()
        elif kind == "resume":
            engine.resume()
        elif kind == "parameters":
            try:
                engine.set_parameters(payload)
            except ConfigError as exc:
                backlog.append(EngineEvent("parameter", f"refused: {exc}", "error"))
        snapshot = engine.snapshot()
        if not backlog:
            backlog = engine.drain_events()
        if snapshot is sent and not backlog:
            continue
        try:
            updates.put(("update", (_new_heralds(snapshot, heralds_sent), backlog)),
                        timeout=queue_timeout_s)
        except queue.Full:  # the parent is not reading: keep the events, try again later
            continue
        sent, backlog = snapshot, []
        heralds_sent = _last_herald_shot(snapshot, heralds_sent)
    events = [*backlog, *engine.drain_events()]
    updates.put(("done", (_new_heralds(engine.snapshot(), heralds_sent), events)),
                timeout=max(queue_timeout_s, 30.0))


def _new_heralds(snapshot: EngineSnapshot, sent_shot: int) -> EngineSnapshot:
    """Return ``snapshot`` carrying only the heralds of shots after ``sent_shot``.

    Its heralds are most of a snapshot's pickling cost, which the engine's process pays while
    it runs; the parent keeps the ones it has.
    """
    heralds = snapshot.recent_heralds
    if not heralds or heralds[-1].shot <= sent_shot:
        return replace(snapshot, recent_heralds=()) if heralds else snapshot
    return replace(snapshot, recent_heralds=tuple(h for h in heralds if h.shot > sent_shot))


def _last_herald_shot(snapshot: EngineSnapshot, sent_shot: int) -> int:
    """Return the last shot heralded in ``snapshot`` (``sent_shot`` if it has none)."""
    return snapshot.recent_heralds[-1].shot if snapshot.recent_heralds else sent_shot


def _picklable(exc: BaseException) -> BaseException:
    """Return ``exc`` if it survives pickling, else a :class:`HeralderError` describing it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return HeralderError(f"the engine could not be built: {exc!r}")
    if isinstance(exc, HeralderError):
        return exc
    return HeralderError("the engine could not be built:\n" + "".join(
        traceback.format_exception(exc)))
