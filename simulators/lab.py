"""Tie atoms, cavity, switch and detector into one seeded virtual lab (DESIGN §5).

Contract (used by the engine, the instrument emulators and the estimator's studies)::

    lab = VirtualLab(atoms_config, detector_model, clock, seed, lab=LabConfig())
    lab.new_shot(fixed_s=None) -> int     # draw S from |c_S|² (or fixed); atoms -> |S, 0>
    lab.switch                            # SimulatedSwitch: request(state), state, settle_time_s
    lab.fire_pulse() -> PulseData         # one drive pulse with the polarisation the optics have
    lab.fire_pulses(n) -> PulseBlock      # n pulses at the pulse period (streamed mode)
    lab.true_s                            # the atoms' spin length now
    lab.tags(pulse) -> (timestamps_ps int64, channels int32)
    lab_from_context(context)             # the run's shared lab, in context.shared["lab"]

Time: pulse k of the lab starts one ``pulse_period_s`` after the previous one, or at the clock's
``now()`` if that is later (a pulse is never fired in the past). Firing returns when the last gate
has closed: the clock has been slept to ``t_start_s + gate_s`` of the last pulse, so a switch
request made after reading a pulse has ``pulse_period_s − gate_s`` to settle before the next one.
With a :class:`~heralder.control.clock.SimClock` this costs no wall time; ``pace=True`` also holds
the simulated time to the wall clock (real-time mode). Same seed, same calls -> identical data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from heralder.config import AtomsConfig, Config, LabConfig
from heralder.control.clock import Clock, SimClock
from heralder.control.records import SwitchState
from heralder.estimation.detector import DetectorModel
from heralder.physics.cavity import cascade_gammas_per_s
from heralder.registry import DeviceContext
from heralder.simulators.atoms import CollectiveAtoms
from heralder.simulators.detector_sim import DetectorSim
from heralder.simulators.exact_sampler import sampler_for_lab
from heralder.simulators.switch_sim import SimulatedSwitch

__all__ = ["CLICK_CHANNEL", "MARKER_CHANNEL", "PulseBlock", "PulseData", "VirtualLab",
           "lab_from_context"]

#: Default time-tagger channels of the detector clicks and of the pulse marker.
CLICK_CHANNEL = 1
MARKER_CHANNEL = 2

_PS_PER_S = 1e12
_new_tuple = tuple.__new__


class PulseData(NamedTuple):
    """Describe one simulated pulse: what the atoms did and what the detector registered.

    A named tuple: a stepped run builds one per pulse, and a frozen dataclass costs several times
    more to build.

    Attributes
    ----------
    index
        Pulse number within the shot (0 = the first pulse after :meth:`VirtualLab.new_shot`).
    serial
        Pulse number since the lab was built.
    state
        The polarisation the optics really had at the pulse start.
    emitted, scattered
        Photons the atoms emitted into the cavity and into free space.
    count
        Clicks registered in the gate (photons, dark/background counts and afterpulses).
    times_s
        Registered click times relative to the pulse start, sorted (float64); ``None`` when the
        lab runs counts-only.
    true_s_before, true_s_after
        The atoms' spin length before and after the pulse.
    t_start_s
        Clock time of the pulse start (the marker).
    gate_s
        Length of the gate.
    """

    index: int
    serial: int
    state: SwitchState
    emitted: int
    scattered: int
    count: int
    times_s: np.ndarray | None
    true_s_before: int
    true_s_after: int
    t_start_s: float
    gate_s: float


@dataclass(frozen=True)
class PulseBlock:
    """Hold consecutive pulses as arrays (see :class:`PulseData` for the fields).

    ``click_offsets`` (length n+1) delimits each pulse's clicks in ``click_times_s``.
    """

    first_index: int
    first_serial: int
    tc: np.ndarray
    emitted: np.ndarray
    scattered: np.ndarray
    counts: np.ndarray
    click_offsets: np.ndarray | None
    click_times_s: np.ndarray | None
    s_before: np.ndarray
    s_after: np.ndarray
    t_start_s: np.ndarray
    gate_s: float

    def __len__(self) -> int:
        return self.tc.size

    @classmethod
    def of_pulse(cls, pulse: PulseData) -> PulseBlock:
        """Return the block of the single pulse ``pulse`` (the inverse of :meth:`pulse`)."""
        times = pulse.times_s
        return cls(
            first_index=pulse.index, first_serial=pulse.serial,
            tc=np.array([pulse.state is SwitchState.TC]), emitted=np.array([pulse.emitted]),
            scattered=np.array([pulse.scattered]), counts=np.array([pulse.count]),
            click_offsets=None if times is None else np.array([0, times.size]),
            click_times_s=times, s_before=np.array([pulse.true_s_before]),
            s_after=np.array([pulse.true_s_after]), t_start_s=np.array([pulse.t_start_s]),
            gate_s=pulse.gate_s)

    @property
    def states(self) -> tuple[SwitchState, ...]:
        """Return the polarisation of each pulse."""
        return tuple(SwitchState.TC if x else SwitchState.ANTI_TC for x in self.tc)

    def pulse(self, i: int) -> PulseData:
        """Return pulse ``i`` of the block as a :class:`PulseData`."""
        times = None
        if self.click_times_s is not None and self.click_offsets is not None:
            times = self.click_times_s[self.click_offsets[i]:self.click_offsets[i + 1]]
        return PulseData(
            index=self.first_index + i, serial=self.first_serial + i,
            state=SwitchState.TC if self.tc[i] else SwitchState.ANTI_TC,
            emitted=int(self.emitted[i]), scattered=int(self.scattered[i]),
            count=int(self.counts[i]), times_s=times, true_s_before=int(self.s_before[i]),
            true_s_after=int(self.s_after[i]), t_start_s=float(self.t_start_s[i]),
            gate_s=self.gate_s,
        )


class VirtualLab:
    """Simulate the experiment: atoms in a cavity, a polarisation switch and a detector.

    Parameters
    ----------
    atoms
        The ``[atoms]`` section; Γ of both polarisations comes from
        :func:`heralder.physics.cavity.cascade_gammas_per_s`.
    detector
        The ``[detector]`` section; it is the lab's true detector unless ``lab.detector`` is set.
        Its ``scatter_eps`` and ``leak_r2`` are the atoms' and switch's true imperfections.
    clock
        The run's clock (never created here).
    seed
        Seed of every random stream of the lab (numpy ``SeedSequence``).
    lab
        The ``[lab]`` section: jitter, background, afterpulse delay, switch, jump kernel.
    pulse_period_s
        Time between pulse starts; default ``gate_s + switch_settle_s + 10 µs``.
    times
        Simulate photon times even when the counts do not need them (a time tagger is attached).
    pace
        Keep the simulated clock from running ahead of the wall clock.

    Raises
    ------
    ValueError
        If a parameter is unphysical (names it) or the pulse period is shorter than the gate.
    """

    def __init__(
        self,
        atoms: AtomsConfig,
        detector: DetectorModel,
        clock: Clock,
        seed: int,
        *,
        lab: LabConfig | None = None,
        pulse_period_s: float | None = None,
        times: bool = True,
        pace: bool = False,
    ) -> None:
        lab = LabConfig() if lab is None else lab
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        true = lab.detector if lab.detector is not None else detector
        self.config = lab
        self.detector_model = true
        self.gate_s = true.gate_s
        period = (self.gate_s + lab.switch_settle_s + 10e-6 if pulse_period_s is None
                  else float(pulse_period_s))
        if not period >= self.gate_s:
            raise ValueError(f"pulse_period_s ({period!r}) must be >= gate_s ({self.gate_s!r})")
        self.pulse_period_s = period
        self.gamma_tc_per_s, self.gamma_antitc_per_s = cascade_gammas_per_s(atoms)
        streams = np.random.SeedSequence(int(seed)).spawn(3)
        atom_rng, self._detector_rng, switch_rng = (np.random.default_rng(s) for s in streams)
        self.atoms = CollectiveAtoms(
            atoms.n_atoms, self.gamma_tc_per_s, self.gamma_antitc_per_s, atom_rng,
            scatter_eps=true.scatter_eps, leak_r2=true.leak_r2, jump_kernel=lab.jump_kernel,
            exact=sampler_for_lab(atoms, lab.dynamics),
        )
        self.detector = DetectorSim(true, jitter_s=lab.jitter_s,
                                    background_rate_hz=lab.background_rate_hz,
                                    afterpulse_delay_s=lab.afterpulse_delay_s)
        self.switch = SimulatedSwitch(
            clock, switch_rng, settle_time_s=lab.switch_settle_s, failure=lab.switch_failure,
            failure_prob=lab.switch_failure_prob, late_s=lab.switch_late_s,
        )
        self.clock = clock
        self._now = clock.now  # bound once: called per pulse
        self._advance_to = clock.advance_to if isinstance(clock, SimClock) else None
        self.record_times = bool(times)
        self.pace = bool(pace)
        self.fixed_s = atoms.fixed_s
        self.t0_s = clock.now()
        self._wall0_s = time.monotonic()
        self._t_next_s = self.t0_s
        self._serial = 0
        self._index = 0
        self.shots = 0

    @property
    def true_s(self) -> int:
        """Return the atoms' spin length now."""
        return self.atoms.s

    @property
    def next_pulse_s(self) -> float:
        """Return the earliest clock time the next pulse can start (one period after the last)."""
        return self._t_next_s

    @property
    def pulses_fired(self) -> int:
        """Return the number of pulses fired since the lab was built."""
        return self._serial

    def new_shot(self, fixed_s: int | None = None) -> int:
        """Prepare |m_F=0>^⊗N and measure S: return the drawn (or fixed) spin length.

        ``fixed_s`` defaults to ``[atoms] fixed_s`` when that is set.
        """
        self._index = 0
        self.shots += 1
        return self.atoms.prepare(self.fixed_s if fixed_s is None else fixed_s)

    def fire_pulse(self) -> PulseData:
        """Fire one drive pulse and return what happened (see the module notes for timing).

        Counts-only pulses of a stepped run take a scalar path: same draws and result as
        ``fire_pulses(1).pulse(0)`` at a fraction of its cost.
        """
        switch = self.switch
        if self.record_times or self.detector.needs_times or switch.pattern_armed:
            return self.fire_pulses(1).pulse(0)
        start_s = self._now()
        if start_s < self._t_next_s:
            start_s = self._t_next_s
        state = switch.state_at(start_s)
        atoms, gate_s = self.atoms, self.gate_s
        s_before = atoms.s
        emitted, scattered = atoms.drive_one(state, gate_s)
        # tuple.__new__: PulseData(...) runs a Python-level __new__ (one more call per pulse)
        pulse = _new_tuple(PulseData, (
            self._index, self._serial, state, emitted, scattered,
            self.detector.count_one(emitted, self._detector_rng), None, s_before, atoms.s,
            start_s, gate_s))
        if self._advance_to is None or self.pace:
            self._advance(start_s, 1)
        else:  # _advance of one pulse on a simulated clock, inline (a call per pulse)
            self._index += 1
            self._serial += 1
            self._t_next_s = start_s + self.pulse_period_s
            self._advance_to(start_s + gate_s)
        return pulse

    def fire_pulses(self, n: int, start_s: float | None = None) -> PulseBlock:
        """Fire ``n`` pulses one period apart; an armed switch pattern steps before each.

        ``start_s`` places the first pulse (default: now) for a free-running pulse train whose
        due pulses are simulated after the fact; no pulse starts within a period of the last.

        Raises
        ------
        ValueError
            If ``n`` < 1.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        first_s = max(self.clock.now() if start_s is None else start_s, self._t_next_s)
        local_s = np.arange(n) * self.pulse_period_s
        tc = self.switch.tc_at(first_s + local_s, self.pulse_period_s - self.gate_s)
        need_times = self.record_times or self.detector.needs_times
        block = self.atoms.drive(tc, self.gate_s, times=need_times)
        offsets = clicks = None
        if need_times:
            gate_of, clicks = self.detector.register(block.times_s, block.pulse_of, local_s,
                                                     self._detector_rng)
            counts = np.bincount(gate_of, minlength=n)
            offsets = np.concatenate(([0], np.cumsum(counts)))
        else:
            counts = self.detector.count(block.emitted, self._detector_rng)
        result = PulseBlock(
            first_index=self._index, first_serial=self._serial, tc=tc,
            emitted=block.emitted, scattered=block.scattered, counts=counts,
            click_offsets=offsets if self.record_times else None,
            click_times_s=clicks if self.record_times else None,
            s_before=block.s_before, s_after=block.s_after, t_start_s=first_s + local_s,
            gate_s=self.gate_s,
        )
        self._advance(first_s, n)
        return result

    def _advance(self, first_s: float, n: int) -> None:
        """Count ``n`` pulses fired from ``first_s`` and sleep the clock until the last gate
        closes; in pace mode also hold the clock to the wall clock."""
        self._index += n
        self._serial += n
        self._t_next_s = first_s + n * self.pulse_period_s
        time_s = first_s + (n - 1) * self.pulse_period_s + self.gate_s
        if self._advance_to is not None:  # a simulated clock: one call, not now() and sleep()
            self._advance_to(time_s)
        else:
            self.clock.sleep(max(0.0, time_s - self.clock.now()))
        if self.pace:
            ahead_s = (time_s - self.t0_s) - (time.monotonic() - self._wall0_s)
            if ahead_s > 0:
                time.sleep(ahead_s)

    def tags(self, pulse: PulseData | PulseBlock, *, click_channel: int = CLICK_CHANNEL,
             marker_channel: int = MARKER_CHANNEL) -> tuple[np.ndarray, np.ndarray]:
        """Return the time tags of a pulse or block: a marker at each pulse start, then its clicks.

        Returns
        -------
        (timestamps_ps, channels)
            int64 picoseconds since the lab was built, non-decreasing, and int32 channels.

        Raises
        ------
        ValueError
            If the lab ran counts-only (``times=False``), so click times do not exist.
        """
        block = pulse if isinstance(pulse, PulseBlock) else None
        if block is None:
            starts = np.array([pulse.t_start_s])
            times = pulse.times_s
            offsets = None if times is None else np.array([0, times.size])
        else:
            starts, times, offsets = block.t_start_s, block.click_times_s, block.click_offsets
        if times is None or offsets is None:
            raise ValueError("pulse has no click times: build the lab with times=True")
        marker_ps = np.rint((starts - self.t0_s) * _PS_PER_S).astype(np.int64)
        counts = np.diff(offsets)
        click_ps = np.repeat(marker_ps, counts) + np.rint(times * _PS_PER_S).astype(np.int64)
        # Each marker precedes its clicks: interleave [marker_k, clicks of k...].
        position = np.arange(counts.size) + offsets[:-1]
        n_total = counts.size + times.size
        stamps = np.empty(n_total, np.int64)
        channels = np.full(n_total, click_channel, np.int32)
        is_marker = np.zeros(n_total, bool)
        is_marker[position] = True
        stamps[is_marker] = marker_ps
        stamps[~is_marker] = click_ps
        channels[is_marker] = marker_channel
        return stamps, channels


def lab_from_context(context: DeviceContext) -> VirtualLab:
    """Return the run's shared virtual lab, building it on first use.

    The lab lives in ``context.shared["lab"]`` and is built from ``context.config`` (a default
    :class:`~heralder.config.Config` if none), ``context.clock`` and ``context.seed``. It records
    photon times when a time tagger is configured or the estimator uses arrival times, and paces to
    the wall clock when ``[run] realtime`` is set.
    """
    lab = context.shared.get("lab")
    if lab is None:
        config = context.config if context.config is not None else Config()
        lab = VirtualLab(
            config.atoms, config.detector, context.clock, context.seed, lab=config.lab,
            pulse_period_s=config.engine.pulse_period_s,
            times=config.devices.tagger is not None or config.estimator.use_arrival_times,
            pace=config.run.realtime,
        )
        lab = context.shared.setdefault("lab", lab)  # a concurrent builder's lab wins once
    return lab
