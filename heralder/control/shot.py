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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from heralder.config import Config
from heralder.control.clock import Clock
from heralder.control.pulses import CounterPulses, Pulse, TagPulses
from heralder.control.records import SwitchState
from heralder.control.shotlog import DecisionTiming, ShotLog
from heralder.control.snapshot import HeraldSummary
from heralder.errors import DeviceError, DeviceProtocolError

__all__ = ["ShotOutcome", "ShotRunner", "update_posterior"]


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


class ShotRunner:
    """Run shots on opened devices with a fresh posterior each (owned by the engine thread).

    Parameters
    ----------
    devices
        Role -> opened device (``counter`` or ``tagger``, ``switch``, optional ``trigger``).
    atoms
        The lab's atom source (simulated labs) or ``None`` (real labs prepare atoms themselves).
    clock
        The run clock; ``t0_s`` and ``wall0_s`` are the run's start on it and on the wall clock.
    make_posterior, make_policy
        Factories called with the config in force for each shot.
    """

    def __init__(self, devices: dict[str, Any], atoms: Any | None, clock: Clock, t0_s: float,
                 wall0_s: float, make_posterior: Callable[[Config], Any],
                 make_policy: Callable[[Config], Any]) -> None:
        self.devices, self.atoms, self.clock = devices, atoms, clock
        self.t0_s, self.wall0_s = t0_s, wall0_s
        self.make_posterior, self.make_policy = make_posterior, make_policy
        self.switch = devices["switch"]
        self._policy: Any = None
        self._policy_config: Any = None
        self._template: Any = None
        self._pattern_running = False
        self._template_config: Config | None = None

    def _source(self, config: Config) -> CounterPulses | TagPulses:
        trigger = self.devices.get("trigger")
        if "tagger" in self.devices and (config.run.mode == "streamed"
                                         or "counter" not in self.devices):
            return TagPulses(self.devices["tagger"], trigger, self.clock, config.detector.gate_s,
                             streamed=config.run.mode == "streamed")
        return CounterPulses(self.devices["counter"], trigger, self.clock)

    def _wall(self) -> float:
        return time.perf_counter() - self.wall0_s

    def run(self, shot: int, config: Config, on_pulse: Callable[[ShotLog, Any], None],
            should_stop: Callable[[], bool]) -> ShotOutcome:
        """Run shot ``shot`` under ``config`` and return its outcome.

        A device failure ends the shot early: the outcome then carries the error, and a herald
        with reason ``"fault"`` of what was measured so far (the caller makes the hardware safe).
        """
        engine, policy_cfg = config.engine, config.policy
        if self._policy_config != (policy_cfg, config.detector, config.atoms.n_atoms):
            self._policy = self.make_policy(config)
            self._policy_config = (policy_cfg, config.detector, config.atoms.n_atoms)
        if self._template_config != config:  # building the prior costs ms; copying µs
            self._template = self.make_posterior(config)
            self._template_config = config
        posterior = self._template.copy()
        streamed = config.run.mode == "streamed"
        source = self._source(config)
        log = ShotLog(shot)
        outcome = ShotOutcome()
        if self.atoms is not None:
            self.atoms.new_shot()
        state = SwitchState.TC
        timeout_s = engine.read_timeout_s
        reason, stopped = "", False
        k = 0
        extra: list[Pulse] = []
        try:
            if streamed:
                self.switch.arm_pattern([SwitchState.TC, SwitchState.ANTI_TC], timeout_s)
                self._pattern_running = True
            else:
                self._ack(self.switch.set_state(SwitchState.TC, timeout_s))
            source.start(timeout_s)
            while not stopped:
                pulse = source.next_pulse(timeout_s)
                stop, reason, timing = self._after_pulse(
                    k, state, pulse, posterior, log, config, streamed, outcome)
                stopped = stop or should_stop()
                if stopped and not stop:
                    reason = "stopped"
                if timing.late and engine.on_deadline_miss == "stop" and not stopped:
                    stopped, reason = True, "deadline"
                if not stopped:
                    state = state.other()  # the polarisation of the next pulse
                on_pulse(log, posterior)
                k += 1
            if self._pattern_running:  # stopped by a request or a deadline, not the policy
                self._ack(self.switch.stop_pattern(timeout_s))
                self._pattern_running = False
            extra = source.stop(timeout_s)
        except DeviceError as exc:
            outcome.error, reason = exc, "fault"
        for pulse in extra:  # fired by the hardware clock before the stop took effect
            state = state.other()
            self._after_pulse(k, state, pulse, posterior, log, config, streamed, outcome,
                              forced_stop=True)
            k += 1
        true_s = self.atoms.true_s if self.atoms is not None else None
        herald = HeraldSummary(
            shot=shot, map_s=posterior.map_S, pmax=posterior.pmax, qfi=posterior.qfi(),
            qfi_ideal=posterior.qfi_ideal(), pulses=k,
            final_sign=-1 if state is SwitchState.TC else 1,
            true_s=None if true_s is None else int(true_s), reason=reason)
        log.add_full_posterior(max(k - 1, 0), posterior.S, posterior.p)
        outcome.record = log.record(herald, self.clock.now() - self.t0_s)
        outcome.herald = herald
        return outcome

    def _after_pulse(self, k: int, state: SwitchState, pulse: Pulse, posterior: Any,
                     log: ShotLog, config: Config, streamed: bool, outcome: ShotOutcome,
                     forced_stop: bool = False) -> tuple[bool, str, DecisionTiming]:
        """Update, decide, command the switch and log everything for pulse ``k``."""
        t_data = self._wall()
        deadline = t_data + config.engine.decision_deadline_s
        if pulse.valid:
            update_posterior(posterior, pulse.counts, pulse.times_s,
                             config.estimator.use_arrival_times, config.detector.gate_s)
            verdict = self._policy.decide(posterior)  # guard rails included
            policy_stop, reason, value = verdict.stop, verdict.reason, verdict.value
        else:  # lost data: never read as zero photons; herald what is known
            outcome.invalid += 1
            policy_stop, reason, value = False, "data_loss", float("nan")
        stop = policy_stop or forced_stop or not pulse.valid
        t_decided = self._wall()
        ack_ok = True
        if forced_stop:  # the stop came after this pulse had fired: its deadline had passed
            t_sent = t_ack = t_decided
            deadline = t_data
        elif stop and streamed:
            t_sent = self._wall()
            ack_ok = self._ack(self.switch.stop_pattern(config.engine.read_timeout_s))
            self._pattern_running = False
            t_ack = self._wall()
        elif stop:
            t_sent = t_ack = t_decided
        elif streamed:
            t_sent = t_ack = t_decided  # the hardware pattern switches by itself
        else:
            t_sent = self._wall()
            ack_ok = self._ack(self.switch.set_state(state.other(), config.engine.read_timeout_s))
            t_ack = self._wall()
        timing = DecisionTiming(t_data, t_decided, t_sent, t_ack, deadline, ack_ok)
        outcome.latencies_s.append(timing.latency_s)
        outcome.late += timing.late
        log.add_pulse(k, state.value, pulse.counts, pulse.valid,
                      pulse.t_data_s - self.t0_s, pulse.marker_ps)
        log.add_decision(k, stop, value, timing, policy_stop)
        with_qfi = config.engine.qfi_every_pulse or stop
        log.add_posterior(k, *posterior.summary(),
                          posterior.qfi() if with_qfi else math.nan,
                          posterior.qfi_ideal() if with_qfi else math.nan, len(posterior.S))
        if pulse.times_s is not None:
            log.add_photons(k, pulse.times_s, pulse.timestamps_ps)
        stride = config.storage.posterior_stride
        if stride and (k + 1) % stride == 0 and not stop:
            log.add_full_posterior(k, posterior.S, posterior.p)
        return stop, reason, timing

    def _ack(self, ack: Any) -> bool:
        """Check a switch acknowledgement; a wrong read-back is a device fault."""
        if not ack.ok:
            raise DeviceProtocolError(
                f"{self.switch.name}: asked for {ack.requested.value}, read back "
                f"{ack.read_back.value}")
        return True
