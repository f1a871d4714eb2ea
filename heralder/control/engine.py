"""Run heralding shots in one engine thread that owns every device and the estimator (DESIGN §4).

:class:`Engine` implements :class:`~heralder.control.snapshot.EngineControl`. The constructor
builds the devices (a bad config fails here, naming the device); :meth:`Engine.start` starts the
engine thread, which opens the devices (an unreachable one fails the run before it starts, see
:meth:`Engine.wait_ready`), creates the run directory and the writer (a thread, or a process, see
``[storage] writer``), then runs shots. Whatever happens, the thread ends in ``finally``: switch
to its safe state, devices closed, the run's ``end`` record written, files finalised.

Simulated labs: after opening the devices the engine looks for an
:class:`~heralder.control.interfaces.AtomSource` in ``context.shared["lab"]`` and, if found, tells
it when each shot starts and asks it for the true S (stored with each herald).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import replace
from typing import Any

from heralder import __version__
from heralder.config import Config, dump_config, updated_config
from heralder.control.affinity import engine_cpu, pin_current_thread
from heralder.control.clock import Clock, WallClock
from heralder.control.estimator_setup import (
    arrival_times_notice,
    new_policy,
    new_posterior,
    warm_estimator,
)
from heralder.control.interfaces import AtomSource, PatternSwitch
from heralder.control.live import herald_event, latency_percentiles, live_snapshot
from heralder.control.preflight import check_roles, gate_warning, run_versions
from heralder.control.shot import ShotOutcome, ShotRunner
from heralder.control.shotlog import ShotLog
from heralder.control.snapshot import (
    RECENT_HERALDS,
    EngineEvent,
    EngineSnapshot,
    EngineState,
    HeraldSummary,
)
from heralder.errors import ConfigError, DataLossError, DeviceError, HeralderError
from heralder.estimation.backend import resolve_backend
from heralder.physics.cavity import recommended_gate_s
from heralder.registry import DeviceContext, build_devices
from heralder.storage.rundir import CONFIG_NAME, LOG_NAME, make_run_dir
from heralder.storage.schema import JOURNAL_FORMAT
from heralder.storage.writer import RunWriter, WriterStats
from heralder.storage.writer_process import ProcessRunWriter

__all__ = ["CHANGEABLE_SECTIONS", "Engine", "check_changes"]

# The run's own log (events, state changes) goes to run.log only, not to the console.
log = logging.getLogger("heralder.run")
log.propagate = False
log.setLevel(logging.INFO)

#: Config sections (or keys) :meth:`Engine.set_parameters` may change between shots.
CHANGEABLE_SECTIONS = ("policy.", "estimator.", "detector.", "run.shots",
                       "engine.decision_deadline_s", "engine.on_deadline_miss",
                       "engine.on_device_error", "storage.posterior_stride")
_LIVE_LATENCIES = 2000  # the live view's latency percentiles cover the latest decisions
_LATENCY_EVERY_S = 0.5
_LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class Engine:
    """Run the shots of ``config`` on its devices; command it from any thread.

    Parameters
    ----------
    config
        The validated setup.
    clock
        The run clock (default: :class:`WallClock`, or a simulated clock in tests).
    context
        The device context (default: a new one with the run's seed and config).

    Raises
    ------
    ConfigError
        If a device is unknown, rejects its settings, the roles do not fit the mode, or
        ``[engine] pin_cpu`` names a CPU the process may not use.
    """

    def __init__(self, config: Config, *, clock: Clock | None = None,
                 context: DeviceContext | None = None) -> None:
        self._config = config
        self.clock = clock or (context.clock if context else WallClock())
        self.context = context or DeviceContext(clock=self.clock, seed=config.run.seed,
                                                config=config)
        self.devices = build_devices(config, self.context)
        check_roles(config, self.devices)
        #: The CPU the engine thread and its writer run on (``[engine] pin_cpu``), or None.
        self.pinned_cpu = engine_cpu(config)
        # appended by any thread, popped by the engine thread before each shot (deque operations
        # are atomic; a Queue's get_nowait raising Empty cost more than a shot's record)
        self._commands: collections.deque[tuple[str, Any]] = collections.deque()
        # events, and (herald, t_s) of heralds whose event drain_events builds
        self._events: collections.deque[EngineEvent | tuple[HeraldSummary, float]] = \
            collections.deque(maxlen=10000)
        self._events_lock = threading.Lock()
        self._publish_every_s = 1.0 / config.gui.refresh_hz  # live views: as often as shown
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._snapshot = EngineSnapshot(n_atoms=config.atoms.n_atoms,
                                        shots_total=config.run.shots)
        self._thread = threading.Thread(target=self._main, name="heralder-engine", daemon=True)
        self._pending_config = config
        self.run_dir: str = ""
        self.heralds: list[HeraldSummary] = []
        self.latencies_s: collections.deque[float] = collections.deque(maxlen=100_000)
        self._recent_latencies_s: collections.deque[float] = collections.deque(
            maxlen=_LIVE_LATENCIES)
        self._latency_mark = (-float("inf"), (0.0, 0.0))  # (when, (p50, p99))
        self.error: BaseException | None = None
        self._writer: RunWriter | ProcessRunWriter | None = None
        #: The writer's final statistics (records, backpressure, its CPU), once closed.
        self.writer_stats: WriterStats | None = None
        #: CPU time the engine thread spent running shots (final once the run has ended).
        self.shots_cpu_s = 0.0
        self._writer_failed = False
        self._writer_closed = False
        self._t0_s = 0.0
        self._backpressure = 0
        self._backend = resolve_backend(config.estimator.backend)
        self._counters = {"faults": 0, "deadline_misses": 0, "data_loss": 0}
        self._pulses_total = 0
        self._totals_due_s = 0.0

    # --- EngineControl ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the engine thread (it opens the devices, then shoots)."""
        if self._thread.ident is not None:
            raise HeralderError("the engine was already started; build a new one per run")
        self._thread.start()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Wait until the devices are open and recording started.

        Raises
        ------
        HeralderError
            The startup failure (e.g. a device that cannot be opened, named), or a timeout.
        """
        if not self._ready.wait(timeout_s):
            raise HeralderError(f"the engine did not start within {timeout_s} s")
        if self._startup_error is not None:
            raise self._startup_error

    def pause(self) -> None:
        """Finish the current shot, then wait."""
        self._paused.set()

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        self._paused.clear()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the current pulse and wait up to ``timeout_s`` for the thread to end."""
        self._stop.set()
        self._paused.clear()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)

    def set_parameters(self, changes: dict[str, Any]) -> None:
        """Apply dotted config changes from the next shot (validated here, at once).

        Raises
        ------
        ConfigError
            If a key is unknown, not changeable during a run, or its value invalid.
        """
        self._pending_config = check_changes(self._pending_config, changes)
        self._commands.append(("parameters", dict(changes)))

    def snapshot(self) -> EngineSnapshot:
        """Return the latest snapshot."""
        return self._snapshot

    def drain_events(self, max_events: int = 1000) -> list[EngineEvent]:
        """Return and forget the events published since the last call."""
        with self._events_lock:
            n = min(max_events, len(self._events))
            events = [self._events.popleft() for _ in range(n)]
        return [event if isinstance(event, EngineEvent) else herald_event(*event)
                for event in events]

    def join(self, timeout_s: float) -> bool:
        """Wait for the engine thread to end; return ``True`` if it has."""
        if self._thread.ident is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def config(self) -> Config:
        """Return the config in force (parameter changes included)."""
        return self._config

    # --- engine thread ------------------------------------------------------------------------
    def _emit(self, kind: str, message: str, level: str = "info", **data: Any) -> None:
        event = EngineEvent(kind, message, level, self._run_time(), data)
        with self._events_lock:
            self._events.append(event)
        if self._writer is not None and not (self._writer_failed or self._writer_closed):
            self._put({"type": "event", "t_s": event.t_s, "kind": kind, "level": level,
                       "message": message, "data": data})
        log.log(_LOG_LEVELS.get(level, logging.INFO), message)

    def _run_time(self) -> float:
        return self.clock.now() - self._t0_s

    def _put(self, record: dict[str, Any]) -> None:
        """Hand a record to the writer; report backpressure (never drop)."""
        try:
            if self._writer.put(record):
                self._backpressure += 1
                self._emit("backpressure", "writer queue full: the engine waited for storage",
                           "warning", high_water=self._writer.stats().queue_high_water)
        except DataLossError:
            self._writer_failed = True
            raise

    def _set_state(self, state: EngineState, message: str = "") -> None:
        self._snapshot = replace(self._snapshot, state=state, message=message or
                                 self._snapshot.message)
        self._emit("state", f"engine {state.value}" + (f": {message}" if message else ""),
                   "error" if state is EngineState.FAILED else "info", state=state.value)

    def _main(self) -> None:
        opened: list[Any] = []
        handler: logging.Handler | None = None
        final_state, message = EngineState.FINISHED, ""
        self._t0_s = self.clock.now()
        try:
            if self.pinned_cpu is not None:  # first: the threads started below inherit it
                pin_current_thread(self.pinned_cpu)
            for role, device in self.devices.items():
                try:
                    device.open()
                except DeviceError as exc:
                    dev = getattr(self._config.devices, role)
                    raise type(exc)(f"devices.{role} ({dev.driver} at {dev.address}): "
                                    f"cannot open: {exc}") from exc
                opened.append(device)
            run_dir, uid = make_run_dir(self._config.storage.root)
            self.run_dir = str(run_dir)
            (run_dir / CONFIG_NAME).write_text(dump_config(self._config), encoding="utf-8")
            handler = logging.FileHandler(run_dir / LOG_NAME, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s"))
            handler.setLevel(logging.INFO)
            logging.getLogger("heralder").addHandler(handler)  # warnings of drivers etc.
            log.addHandler(handler)
            writer = ProcessRunWriter if self._config.storage.writer == "process" else RunWriter
            self._writer = writer(run_dir, queue_size=self._config.storage.queue_size)
            self._put(self._header(uid))
            self._put(self._devices_record())
            if self.pinned_cpu is not None:
                self._emit("affinity", f"engine and writer threads on CPU {self.pinned_cpu}",
                           cpu=self.pinned_cpu)
            self._snapshot = replace(self._snapshot, run_dir=self.run_dir)
            self._check_gate()
            if (notice := arrival_times_notice(self._config)) is not None:
                self._emit("estimator", notice, "warning")  # arrival times fall back to counts
            warm_estimator(self._config, self._backend)
            self._set_state(EngineState.RUNNING)
        except BaseException as exc:
            self._startup_error = exc if isinstance(exc, HeralderError) else HeralderError(
                f"cannot start the run: {exc!r}")
            self.error = exc
            self._close_devices(opened)
            if self._writer is not None:  # failed after recording began: finalise what exists
                self._finish(EngineState.FAILED, str(self._startup_error))
            _detach_log(handler)
            self._snapshot = replace(self._snapshot, state=EngineState.FAILED,
                                     message=str(self._startup_error))
            self._ready.set()
            return
        self._ready.set()
        cpu_s = time.thread_time()
        try:
            self._shots()
            if self._stop.is_set():
                message = "stopped on request"
        except BaseException as exc:
            self.error = exc
            final_state, message = EngineState.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            self.shots_cpu_s = time.thread_time() - cpu_s
            self._snapshot = replace(self._snapshot, state=EngineState.STOPPING)
            self._make_safe()
            self._close_devices(opened)
            self._finish(final_state, message)
            _detach_log(handler)

    def _header(self, uid: str) -> dict[str, Any]:
        config = self._config
        return {"type": "run", "run_uid": uid,
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "config_toml": dump_config(config), "versions": run_versions(),
                "seeds": {"run": config.run.seed}, "mode": config.run.mode,
                "has_tags": "tagger" in self.devices,
                "pulse_period_s": config.engine.pulse_period_s,
                "heralder_version": __version__, "journal_format": JOURNAL_FORMAT,
                "estimator_backend": resolve_backend(config.estimator.backend)}

    def _devices_record(self) -> dict[str, Any]:
        snaps = []
        for device in self.devices.values():
            snap = device.snapshot()
            snaps.append({"name": snap.name, "driver": snap.driver, "address": snap.address,
                          "identity": snap.identity, "settings": snap.settings})
        return {"type": "devices", "t_s": self._run_time(), "snapshots": snaps}

    def _shots(self) -> None:
        lab = self.context.shared.get("lab")
        atoms = lab if isinstance(lab, AtomSource) else None
        runner = ShotRunner(self.devices, atoms, self.clock, self._t0_s, time.perf_counter(),
                            lambda c: new_posterior(c, self._backend), new_policy,
                            publish_every_s=self._publish_every_s)
        shot = 0
        self._rate_mark = (self.clock.now(), 0)
        while shot < self._config.run.shots and not self._stop.is_set():
            self._apply_commands()
            while self._paused.is_set() and not self._stop.is_set():
                if self._snapshot.state is not EngineState.PAUSED:
                    self._publish_last_shot(runner)
                    self._set_state(EngineState.PAUSED)
                time.sleep(0.01)
                self._apply_commands()
            if self._snapshot.state is EngineState.PAUSED:
                self._set_state(EngineState.RUNNING)
            if self._stop.is_set():
                break
            outcome = runner.run(shot, self._config, self._on_pulse, self._stop.is_set)
            self._record_shot(outcome)
            if outcome.error is not None:
                self._fault(outcome.error, shot)
            shot += 1
        self._publish_last_shot(runner)

    def _publish_last_shot(self, runner: ShotRunner) -> None:
        """Show the latest shot whole (live views are published only at the GUI rate, so the
        last one may hold part of it) with the totals."""
        if runner.last_shot is not None:  # already counted in the totals
            self._live(*runner.last_shot, self._pulses_total, self._snapshot.pulses_per_s,
                       time.perf_counter())
        self._publish_totals()

    def _apply_commands(self) -> None:
        while self._commands:
            kind, changes = self._commands.popleft()
            if kind == "parameters":
                self._config = updated_config(self._config, changes)
                self._snapshot = replace(self._snapshot, shots_total=self._config.run.shots)
                self._emit("parameter", f"parameters changed: {changes}", changes=changes)
                if any(key.startswith("detector.") for key in changes):
                    self._check_gate()

    def _check_gate(self) -> None:
        """Warn (event and run.log; the run goes on) when the gate is shorter than needed."""
        message = gate_warning(self._config)
        if message is not None:
            self._emit("gate", message, "warning", gate_s=self._config.detector.gate_s,
                       recommended_gate_s=recommended_gate_s(self._config.atoms))

    def _record_shot(self, outcome: ShotOutcome) -> None:
        herald = outcome.herald
        self.heralds.append(herald)
        self.latencies_s.extend(outcome.latencies_s)
        self._recent_latencies_s.extend(outcome.latencies_s)
        self._pulses_total += herald.pulses
        self._counters["deadline_misses"] += outcome.late
        self._counters["data_loss"] += outcome.invalid
        self._put(outcome.record)
        if outcome.late:
            self._emit("deadline_miss", f"shot {herald.shot}: {outcome.late} late decision(s)",
                       "warning", shot=herald.shot, late=outcome.late)
        with self._events_lock:  # its event is built when drained (observers only; it is
            self._events.append((herald, self._run_time()))  # already stored with its shot)
        now = time.perf_counter()
        if now >= self._totals_due_s:  # at the GUI rate: a snapshot costs more than a pulse
            self._totals_due_s = now + self._publish_every_s
            self._publish_totals()

    def _publish_totals(self) -> None:
        """Put the heralds and counters so far into the snapshot."""
        if not self.heralds:
            return
        self._snapshot = replace(self._snapshot, shot=self.heralds[-1].shot + 1,
                                 heralded=len(self.heralds),
                                 recent_heralds=tuple(self.heralds[-RECENT_HERALDS:]),
                                 pulses_total=self._pulses_total, **self._counters)

    def _on_pulse(self, shot_log: ShotLog, posterior: Any) -> None:
        """Publish a live snapshot (the shot runner calls this at the GUI rate)."""
        now = time.perf_counter()
        t_now, pulses_now = self.clock.now(), self._pulses_total + shot_log.n_pulses
        t_mark, pulses_mark = self._rate_mark
        rate = (pulses_now - pulses_mark) / (t_now - t_mark) if t_now > t_mark else 0.0
        self._rate_mark = (t_now, pulses_now)
        self._live(shot_log, posterior, pulses_now, rate, now)

    def _live(self, shot_log: ShotLog, posterior: Any, pulses_total: int, pulses_per_s: float,
              now: float) -> None:
        self._snapshot = live_snapshot(
            self._snapshot, shot_log, posterior, n_atoms=self._config.atoms.n_atoms,
            pulses_total=pulses_total, pulses_per_s=pulses_per_s,
            latency_pcts_s=self._latency_pcts(now),
            true_s=getattr(self.context.shared.get("lab"), "true_s", None), **self._counters)

    def _latency_pcts(self, now: float) -> tuple[float, float]:
        """Return the recent decision latencies' (p50, p99), recomputed at most every 0.5 s
        (a percentile costs far more than the rest of a live snapshot)."""
        if now - self._latency_mark[0] >= _LATENCY_EVERY_S:
            self._latency_mark = (now, latency_percentiles(self._recent_latencies_s))
        return self._latency_mark[1]

    def _fault(self, exc: DeviceError, shot: int) -> None:
        """Record a device fault; make the hardware safe; stop or reopen as configured."""
        self._counters["faults"] += 1
        self._snapshot = replace(self._snapshot, faults=self._counters["faults"])
        self._emit("fault", f"shot {shot}: {type(exc).__name__}: {exc}", "error",
                   shot=shot, error=type(exc).__name__, cause=str(exc))
        self._make_safe()
        if self._config.engine.on_device_error == "stop":
            raise exc
        for role, device in self.devices.items():  # reopen: a device that failed may be wedged
            try:
                device.close()
                device.open()
            except DeviceError as again:
                raise DeviceError(f"devices.{role}: cannot reopen after a fault: {again}"
                                  ) from again
        self._put(self._devices_record())

    def _make_safe(self) -> None:
        """Leave the switch in its safe state (stopping a pattern); log, never raise."""
        switch = self.devices.get("switch")
        if switch is None or not switch.is_open:
            return
        timeout_s = self._config.engine.read_timeout_s
        try:
            if isinstance(switch, PatternSwitch):
                switch.stop_pattern(timeout_s)
            else:
                switch.set_state(switch.safe_state, timeout_s)
        except DeviceError as exc:
            self._emit("fault", f"switch could not be made safe: {exc}", "error",
                       error=type(exc).__name__, cause=str(exc))

    def _close_devices(self, opened: list[Any]) -> None:
        for device in reversed(opened):
            try:
                device.close()
            except DeviceError as exc:
                log.error("closing %s failed: %s", device.name, exc)

    def _finish(self, state: EngineState, message: str) -> None:
        """Write the end record, finalise the files and publish the final state."""
        self._publish_totals()
        if self._writer is not None:
            try:
                if not self._writer_failed:
                    self._put({"type": "end", "t_s": self._run_time(), "state": state.value,
                               "message": message, "duration_s": self._run_time()})
                self._writer_closed = True
                self._writer.close()
                self.writer_stats = self._writer.stats()
            except DataLossError as exc:
                state, message = EngineState.FAILED, f"{message}; storage: {exc}".lstrip("; ")
                self.error = self.error or exc
        self._set_state(state, message)


def check_changes(config: Config, changes: dict[str, Any]) -> Config:
    """Return ``config`` with dotted run-time ``changes`` applied, refusing what a run cannot take.

    Raises
    ------
    ConfigError
        If a key is unknown, not changeable during a run, or its value invalid.
    """
    for key in changes:
        if not key.startswith(CHANGEABLE_SECTIONS):
            raise ConfigError("cannot be changed during a run (only "
                              f"{', '.join(CHANGEABLE_SECTIONS)})", key=key)
    return updated_config(config, changes)


def _detach_log(handler: logging.Handler | None) -> None:
    """Stop writing the run's log file."""
    if handler is not None:
        logging.getLogger("heralder").removeHandler(handler)
        log.removeHandler(handler)
        handler.close()
