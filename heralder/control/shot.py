"""Run one heralding shot: prepare, TC pulse, read, update, decide, switch, ... stop, herald.

Stepped mode: the host sets the switch before every pulse (any switch works). Streamed mode: the
switch alternates on a hardware clock (:class:`PatternSwitch`), the host reads each pulse's tags
and stops the pattern when the policy says stop; pulses the hardware fired before the stop took
effect are read, applied to the posterior (the atoms saw them) and recorded as late decisions.

:func:`update_posterior` is the one place a pulse's data enters the posterior, shared with the
replay (:mod:`heralder.control.replay`), so a replay reproduces the engine's decisions exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np

from heralder.config import Config
from heralder.control.clock import Clock
from heralder.control.estimator_setup import arrival_times_used
from heralder.control.pulses import CounterPulses, Pulse, TagPulses
from heralder.control.records import SwitchState
from heralder.control.shotlog import ShotLog
from heralder.control.snapshot import HeraldSummary
from heralder.errors import DeviceError, DeviceProtocolError
from heralder.storage.schema import STATE_CODES

__all__ = ["ShotOutcome", "ShotRunner", "update_posterior"]

#: The polarisations by their code in ``pulses/state`` (:data:`STATE_CODES`): 0 TC, 1 anti-TC.
_STATES = tuple(sorted(SwitchState, key=lambda state: STATE_CODES[state.value]))


def update_posterior(posterior: Any, counts: int, times_s: np.ndarray | None,
                     use_times: bool, gate_s: float) -> None:
    """Update with a pulse's arrival times when configured and available, else its count."""
    if use_times and times_s is not None:
        posterior.update_times(times_s, gate_s)
    else:
        posterior.update(counts)


@dataclass
class ShotOutcome:
    """Hold a finished shot: its record, herald, and per-pulse history for observers."""

    record: dict[str, Any] = field(default_factory=dict)
    herald: HeraldSummary | None = None
    latencies_s: list[float] = field(default_factory=list)
    late: int = 0
    invalid: int = 0
    error: DeviceError | None = None
    last_wall_s: float = 0.0  # wall time of the latest decision's acknowledgement


class ShotRunner:
    """Run shots on opened devices with a fresh posterior each (owned by the engine thread).

    Parameters
    ----------
    devices
        Role -> opened device (``counter`` or ``tagger``, ``switch``, optional ``trigger``).
    atoms
        The lab's atom source (simulated labs) or ``None`` (real labs prepare atoms themselves).
    clock
        The run clock; ``t0_s`` and ``wall0_s`` are the run's start on it and on the wall clock
        (:func:`time.perf_counter`).
    make_posterior, make_policy
        Factories called with the config in force for each shot.
    publish_every_s
        Call the ``on_pulse`` observer of :meth:`run` at most this often (wall clock).
    """

    def __init__(self, devices: dict[str, Any], atoms: Any | None, clock: Clock, t0_s: float,
                 wall0_s: float, make_posterior: Callable[[Config], Any],
                 make_policy: Callable[[Config], Any], publish_every_s: float = 0.02) -> None:
        self.devices, self.atoms, self.clock = devices, atoms, clock
        self.t0_s, self.wall0_s = t0_s, wall0_s
        self.make_posterior, self.make_policy = make_posterior, make_policy
        self.publish_every_s = publish_every_s
        self.switch = devices["switch"]
        self._policy: Any = None
        self._policy_key: Any = None
        self._template: Any = None
        self._template_config: Config | None = None
        self._pattern_running = False
        self._next_publish_s = 0.0
        #: (log, posterior) of the latest finished shot, for a final live view of it.
        self.last_shot: tuple[ShotLog, Any] | None = None
        # per-shot settings, hoisted out of the config once per shot (read on every pulse)
        self._deadline_s = self._gate_s = self._timeout_s = 0.0
        self._use_times = self._qfi_every = self._streamed = False
        self._stride = 0
        self._pulses: CounterPulses | TagPulses | None = None

    def _source(self, config: Config) -> CounterPulses | TagPulses:
        trigger = self.devices.get("trigger")
        if "tagger" in self.devices and (config.run.mode == "streamed"
                                         or "counter" not in self.devices):
            return TagPulses(self.devices["tagger"], trigger, self.clock, config.detector.gate_s,
                             streamed=config.run.mode == "streamed")
        return CounterPulses(self.devices["counter"], trigger, self.clock)

    def _prepare(self, config: Config) -> Any:
        """Return a fresh posterior for ``config`` (settings and prior built once per config)."""
        if config is not self._template_config:  # configs are immutable: identity suffices
            policy_key = (config.policy, config.detector, config.atoms.n_atoms)
            if self._policy_key != policy_key:
                self._policy = self.make_policy(config)
                self._policy_key = policy_key
            self._template = self.make_posterior(config)  # building the prior costs ms
            self._template_config = config
            engine = config.engine
            self._deadline_s, self._timeout_s = engine.decision_deadline_s, engine.read_timeout_s
            self._gate_s = config.detector.gate_s
            self._use_times = arrival_times_used(config)  # counts where the cascade fails
            self._qfi_every = engine.qfi_every_pulse
            self._stride = config.storage.posterior_stride
            self._streamed = config.run.mode == "streamed"
            self._pulses = self._source(config)  # start() resets it for each shot
        return self._template.copy()

    def run(self, shot: int, config: Config, on_pulse: Callable[[ShotLog, Any], None],
            should_stop: Callable[[], bool]) -> ShotOutcome:
        """Run shot ``shot`` under ``config`` and return its outcome.

        ``on_pulse(log, posterior)`` is called after a pulse at most every ``publish_every_s``.
        A device failure ends the shot early: the outcome then carries the error, and a herald
        with reason ``"fault"`` of what was measured so far (the caller makes the hardware safe).
        """
        posterior = self._prepare(config)
        streamed, source = self._streamed, self._pulses
        log = ShotLog(shot)
        outcome = ShotOutcome()
        if self.atoms is not None:
            self.atoms.new_shot()
        code = STATE_CODES["tc"]  # the polarisation of the pulse about to fire (0 TC, 1 anti)
        timeout_s = self._timeout_s
        stop_on_late = config.engine.on_deadline_miss == "stop"
        reason, stopped = "", False
        k = 0
        extra: list[Pulse] = []
        next_pulse, after_pulse = source.next_pulse, self._after_pulse
        try:
            if streamed:
                self.switch.arm_pattern(_STATES, timeout_s)
                self._pattern_running = True
            else:
                self._ack(self.switch.set_state(SwitchState.TC, timeout_s))
            source.start(timeout_s)
            while not stopped:
                stop, reason, late = after_pulse(k, code, next_pulse(timeout_s), posterior, log,
                                                 outcome)
                stopped = stop or should_stop()
                if stopped and not stop:
                    reason = "stopped"
                if late and stop_on_late and not stopped:
                    stopped, reason = True, "deadline"
                if not stopped:
                    code ^= 1
                k += 1
                if outcome.last_wall_s >= self._next_publish_s:
                    self._next_publish_s = outcome.last_wall_s + self.publish_every_s
                    on_pulse(log, posterior)
            if self._pattern_running:  # stopped by a request or a deadline, not the policy
                self._ack(self.switch.stop_pattern(timeout_s))
                self._pattern_running = False
            extra = source.stop(timeout_s)
        except DeviceError as exc:
            outcome.error, reason = exc, "fault"
        for pulse in extra:  # fired by the hardware clock before the stop took effect
            code ^= 1
            after_pulse(k, code, pulse, posterior, log, outcome, forced_stop=True)
            k += 1
        true_s = self.atoms.true_s if self.atoms is not None else None
        herald = HeraldSummary(
            shot=shot, map_s=posterior.map_S, pmax=posterior.pmax, qfi=posterior.qfi(),
            qfi_ideal=posterior.qfi_ideal(), pulses=k,
            final_sign=-1 if _STATES[code] is SwitchState.TC else 1,
            true_s=None if true_s is None else int(true_s), reason=reason)
        log.add_full_posterior(max(k - 1, 0), posterior.S, posterior.p)
        outcome.record = log.record(herald, self.clock.now() - self.t0_s)
        outcome.herald = herald
        self.last_shot = (log, posterior)
        return outcome

    def _after_pulse(self, k: int, code: int, pulse: Pulse, posterior: Any, log: ShotLog,
                     outcome: ShotOutcome, forced_stop: bool = False) -> tuple[bool, str, bool]:
        """Update, decide, command the switch and log everything for pulse ``k`` (fired in
        state ``_STATES[code]``); return (stop, reason, late). This runs once per pulse: keep
        it lean (no per-pulse objects beyond the log's row, no calls it can do without).
        """
        wall0_s = self.wall0_s
        t_data = perf_counter() - wall0_s
        deadline = t_data + self._deadline_s
        counts, valid, t_pulse_s, marker_ps, times_s, _ = pulse
        if valid:
            update_posterior(posterior, counts, times_s, self._use_times, self._gate_s)
            policy_stop, reason, value = self._policy.decide(posterior)  # guard rails included
            stop = policy_stop or forced_stop
        else:  # lost data: never read as zero photons; herald what is known
            outcome.invalid += 1
            policy_stop, reason, value, stop = False, "data_loss", math.nan, True
        t_decided = t_sent = t_ack = perf_counter() - wall0_s
        if forced_stop:  # the stop came after this pulse had fired: its deadline had passed
            deadline = t_data
        elif not stop:
            if not self._streamed:  # stepped: set the next pulse's polarisation
                t_sent = perf_counter() - wall0_s
                ack = self.switch.set_state(_STATES[code ^ 1], self._timeout_s)
                t_ack = perf_counter() - wall0_s
                if not ack.ok:
                    self._ack(ack)
            # else: the running pattern switches by itself
        elif self._streamed:
            t_sent = perf_counter() - wall0_s
            ack = self.switch.stop_pattern(self._timeout_s)
            t_ack = perf_counter() - wall0_s
            self._pattern_running = False
            self._ack(ack)
        # else: a stepped stop needs no command
        late = t_ack > deadline
        outcome.latencies_s.append(t_ack - t_data)
        if late:
            outcome.late += 1
        outcome.last_wall_s = t_ack
        if self._qfi_every or stop:
            qfi, qfi_ideal = posterior.qfi(), posterior.qfi_ideal()
        else:
            qfi = qfi_ideal = math.nan
        # ack_ok is always True here: a wrong read-back raised in _ack above
        log.add(k, code, counts, valid, t_pulse_s - self.t0_s, marker_ps,
                (stop, policy_stop, value, t_data, t_decided, t_sent, t_ack, deadline, late,
                 True),
                (*posterior.summary(), qfi, qfi_ideal, posterior.support_size))
        if times_s is not None:
            log.add_photons(k, times_s, pulse.timestamps_ps)
        if self._stride and (k + 1) % self._stride == 0 and not stop:
            log.add_full_posterior(k, posterior.S, posterior.p)
        return stop, reason, late

    def _ack(self, ack: Any) -> bool:
        """Check a switch acknowledgement; a wrong read-back is a device fault."""
        if not ack.ok:
            raise DeviceProtocolError(
                f"{self.switch.name}: asked for {ack.requested.value}, read back "
                f"{ack.read_back.value}")
        return True
