"""Simulate N spin-1 atoms in the cavity: the collective emission cascade, pulse by pulse.

A shot starts in |m_F=0⟩^⊗N; measuring the spin length there gives S with probability |c_S|²
(:func:`heralder.physics.log_prior`), after which the atoms are in |S, 0⟩. A drive pulse of one
polarisation walks the collective state down (TC: m → m−1) or up (anti-TC: m → m+1) the ladder,
one cavity photon per step, at rate Γ·r(S, m) (:func:`heralder.physics.cascade_rates`; notes
estimator §5). Every waiting time is drawn exactly (exponential), so photon times are the exact
cascade's; a pulse that ends before the cascade does leaves the atoms part-way down the ladder. A
pulse of the wrong polarisation for the state finds no step to take and emits nothing.

Free-space scattering: each Raman step sends its photon into free space instead of the cavity with
probability ε; the photon is lost, the pulse finishes on its old ladder, and afterwards S jumps by
ΔS ∈ {−2..+2} drawn from the lab's jump kernel (DESIGN §10), keeping the distance still to go to
the end of the ladder. An imperfect switch (leak r² > 0) is simulated as the real coherent wrong
coupling by :mod:`heralder.simulators.leak`.

Pulses are simulated in vectorised runs: all waiting times of a run of pulses are drawn at once and
summed per pulse, and a run is cut after the first pulse that changes the state unexpectedly
(a scattering event or a cascade cut short by the gate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from heralder.control.records import SwitchState
from heralder.physics import cascade_rates, prior_support
from heralder.simulators._jit import njit
from heralder.simulators.exact_sampler import ExactSampler
from heralder.simulators.leak import basis_state, leaky_pulse

__all__ = ["AtomsBlock", "CollectiveAtoms"]

_TC = SwitchState.TC
#: The scatter draws when nothing scatters (empty; writable as numba's compiled signature wants).
_NO_DRAWS = np.ones(0)

#: Largest probability (Chernoff bound) that a cascade outlasts its gate for which counts are
#: simulated without drawing photon times.
_UNFINISHED_TOL = 1e-12


@lru_cache(maxsize=128)  # 16·S bytes each: bounded memory even at N = 1e8
def _ladder_rates(S: int) -> np.ndarray:
    """Return the rates (units of Γ) of the 2S steps of a full pulse, in emission order.

    Any pulse is a tail of this ladder: from m, TC takes the last S+m steps and anti-TC the last
    S−m (the ladder is symmetric).
    """
    rates = np.asarray(cascade_rates(S, 1), dtype=np.float64)
    rates.setflags(write=False)
    return rates


@lru_cache(maxsize=8192)  # one bool each; a miss costs ~0.1 ms
def _may_outlast(S: int, first: int, gamma_gate: float) -> bool:
    """Return ``True`` unless a Chernoff bound shows steps ``first..`` finish within the gate.

    ``gamma_gate`` is Γ × gate; P(Σ X_j > t) ≤ Π r_j/(r_j − θ) e^{−θ t} for 0 < θ < min r_j.
    """
    rates = _ladder_rates(S)[first:]
    if rates.size == 0:
        return False
    theta = rates.min() * (1.0 - 0.5 ** np.arange(1, 25))[:, None]
    log_bound = -np.log1p(-theta / rates[None, :]).sum(axis=1) - theta[:, 0] * gamma_gate
    return bool(log_bound.min() > math.log(_UNFINISHED_TOL))


@njit
def _cascade(
    rates: np.ndarray, firsts: np.ndarray, lengths: np.ndarray, inv_gamma: np.ndarray,
    waits: np.ndarray, scatter_u: np.ndarray, scatter_eps: float, gate_s: float,
    times_s: np.ndarray, owner: np.ndarray, kept: np.ndarray, lost: np.ndarray,
) -> tuple[int, int, bool]:
    """Sum the exponential waits of consecutive pulses into emission times, pulse by pulse.

    Pulse p takes ladder steps ``firsts[p] .. firsts[p] + lengths[p] − 1`` at rates
    ``rates[step] / inv_gamma[p]``. Steps after the gate closes are not taken; a step scatters
    when ``scatter_u < scatter_eps``. Stops after the first pulse that scatters or is cut short.
    Writes the cavity photons' times and pulses, and per pulse the steps taken and the photons
    scattered; returns (cavity photons, pulses simulated, whether the last was cut short).
    """
    k = 0
    n_cavity = 0
    for p in range(firsts.shape[0]):
        t = 0.0
        stop = False
        for step in range(firsts[p], firsts[p] + lengths[p]):
            t += waits[k] * inv_gamma[p] / rates[step]
            k += 1
            if t >= gate_s:
                return n_cavity, p + 1, True
            kept[p] += 1
            if scatter_eps > 0.0 and scatter_u[k - 1] < scatter_eps:
                lost[p] += 1
                stop = True
                continue
            times_s[n_cavity] = t
            owner[n_cavity] = p
            n_cavity += 1
        if stop:
            return n_cavity, p + 1, False
    return n_cavity, firsts.shape[0], False


@dataclass(frozen=True)
class AtomsBlock:
    """Hold what the atoms did during consecutive pulses.

    Attributes
    ----------
    emitted
        Photons emitted into the cavity per pulse (int64).
    scattered
        Photons scattered into free space per pulse (int64).
    s_before, s_after
        True spin length before and after each pulse (int64).
    times_s
        Emission times of the cavity photons relative to their pulse start, grouped by pulse and
        sorted within it; ``None`` when times were not simulated.
    pulse_of
        Index of the pulse each entry of ``times_s`` belongs to (``None`` with ``times_s``).
    """

    emitted: np.ndarray
    scattered: np.ndarray
    s_before: np.ndarray
    s_after: np.ndarray
    times_s: np.ndarray | None
    pulse_of: np.ndarray | None


def _steps_left(S: int, m: int, state: SwitchState) -> int:
    """Return how many cascade steps a pulse of ``state`` still has to take from ``|S, m>``."""
    return S + m if state is SwitchState.TC else S - m


class CollectiveAtoms:
    """Hold the collective state |S, m> of the atoms and drive it with pulses.

    Parameters
    ----------
    n_atoms
        Number N of atoms.
    gamma_tc_per_s, gamma_antitc_per_s
        Collective rates Γ of TC and anti-TC pulses (> 0).
    rng
        The atoms' random stream.
    scatter_eps
        Probability per Raman step that the photon scatters into free space.
    leak_r2
        Residual wrong-polarisation coupling r² of the switch (0: a perfect switch).
    jump_kernel
        Relative weights of ΔS = −2..+2 after a scattering event.
    exact
        Draw every pulse from the exact atom–cavity dynamics with this sampler instead of the
        cascade (:mod:`heralder.simulators.exact_sampler`); a leaky switch keeps the cascade.

    Raises
    ------
    ValueError
        If a parameter is unphysical; the message names it.
    """

    def __init__(
        self,
        n_atoms: int,
        gamma_tc_per_s: float,
        gamma_antitc_per_s: float,
        rng: np.random.Generator,
        *,
        scatter_eps: float = 0.0,
        leak_r2: float = 0.0,
        jump_kernel: tuple[float, ...] = (0.0, 1.0, 1.0, 1.0, 0.0),
        exact: ExactSampler | None = None,
    ) -> None:
        if isinstance(n_atoms, bool) or not isinstance(n_atoms, int | np.integer) or n_atoms < 1:
            raise ValueError(f"n_atoms must be an integer >= 1, got {n_atoms!r}")
        for name, value in (("gamma_tc_per_s", gamma_tc_per_s),
                            ("gamma_antitc_per_s", gamma_antitc_per_s)):
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not 0.0 <= scatter_eps < 1.0:
            raise ValueError(f"scatter_eps must lie in [0, 1), got {scatter_eps!r}")
        if not 0.0 <= leak_r2 <= 1.0:
            raise ValueError(f"leak_r2 must lie in [0, 1], got {leak_r2!r}")
        kernel = np.asarray(jump_kernel, dtype=np.float64)
        if kernel.shape != (5,) or not np.all(kernel >= 0) or not kernel.sum() > 0:
            raise ValueError(f"jump_kernel must be 5 weights >= 0 with a positive sum, "
                             f"got {jump_kernel!r}")
        self.n_atoms = int(n_atoms)
        self._gamma_tc_per_s, self._gamma_antitc_per_s = float(gamma_tc_per_s), float(
            gamma_antitc_per_s)
        self.gamma_per_s = {SwitchState.TC: self._gamma_tc_per_s,
                            SwitchState.ANTI_TC: self._gamma_antitc_per_s}
        self.scatter_eps = float(scatter_eps)
        self.leak_r2 = float(leak_r2)
        self._jump_cdf = np.cumsum(kernel / kernel.sum())
        self._rng = rng
        support, log_p = prior_support(self.n_atoms)
        weights = np.exp(log_p - log_p.max())
        self._prior_s = support
        self._prior_cdf = np.cumsum(weights) / weights.sum()
        self.s = int(support[np.searchsorted(self._prior_cdf, 0.5)])
        self.m = 0
        self.psi: np.ndarray | None = None  # the state vector while the switch leaks
        self.exact = exact
        # _timed_one's arguments to _cascade: first step, length, 1/Γ, steps kept, lost; times
        self._one_pulse = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1),
                           np.zeros(1, np.int64), np.zeros(1, np.int64))
        self._times_scratch, self._owner_scratch = np.empty(0), np.empty(0, np.int64)

    def prepare(self, fixed_s: int | None = None) -> int:
        """Start a shot: draw S from |c_S|² (or use ``fixed_s``) and put the atoms in |S, 0>.

        Raises
        ------
        ValueError
            If ``fixed_s`` lies outside [0, N] or has the wrong parity.
        """
        if fixed_s is None:
            # the method, not np.searchsorted: its Python wrapper costs more than the search
            index = int(self._prior_cdf.searchsorted(self._rng.random(), "right"))
            self.s = int(self._prior_s[min(index, self._prior_s.size - 1)])
        else:
            if not (0 <= fixed_s <= self.n_atoms and (self.n_atoms - fixed_s) % 2 == 0):
                raise ValueError(f"fixed_s must lie in [0, {self.n_atoms}] with the parity of "
                                 f"n_atoms, got {fixed_s!r}")
            self.s = int(fixed_s)
        self.m = 0
        self.psi = basis_state(self.s, 0) if self.leak_r2 > 0.0 else None
        return self.s

    def drive(self, tc: np.ndarray, gate_s: float, *, times: bool) -> AtomsBlock:
        """Drive consecutive pulses of ``gate_s``; ``tc[i]`` is ``True`` for a TC pulse.

        Parameters
        ----------
        times
            Draw photon emission times. Without them the counts are still exact, except that a
            cascade is taken to finish within its gate when a Chernoff bound puts the chance that
            it does not below 1e-12 (otherwise the times are drawn anyway).
        """
        if not (math.isfinite(gate_s) and gate_s > 0):
            raise ValueError(f"gate_s must be a finite number > 0, got {gate_s!r}")
        tc = np.asarray(tc, dtype=bool)
        n = tc.size
        emitted = np.zeros(n, np.int64)
        scattered = np.zeros(n, np.int64)
        s_before = np.zeros(n, np.int64)
        s_after = np.zeros(n, np.int64)
        time_parts: list[np.ndarray] = []
        pulse_parts: list[np.ndarray] = []
        done = 0
        if self.leak_r2 > 0.0 or self.exact is not None:
            one_pulse = self._leaky if self.leak_r2 > 0.0 else self._exact
            for i in range(n):
                s_before[i] = self.s
                state = SwitchState.TC if tc[i] else SwitchState.ANTI_TC
                emitted[i], scattered[i], photon_times = one_pulse(state, gate_s)
                s_after[i] = self.s
                time_parts.append(photon_times)
                pulse_parts.append(np.full(photon_times.size, i, np.int64))
            done = n
        out = (emitted, scattered, s_before, s_after, time_parts, pulse_parts)
        while done < n:
            done = self._run(tc, done, gate_s, times, out)
        if not times:
            return AtomsBlock(emitted, scattered, s_before, s_after, None, None)
        times_s = np.concatenate(time_parts) if time_parts else np.zeros(0)
        pulse_of = np.concatenate(pulse_parts) if pulse_parts else np.zeros(0, np.int64)
        return AtomsBlock(emitted, scattered, s_before, s_after, times_s, pulse_of)

    def _run(self, tc: np.ndarray, start: int, gate_s: float, times: bool, out: tuple) -> int:
        """Simulate pulses from ``start`` until one changes the state unexpectedly; return the
        index after the last pulse simulated."""
        emitted, scattered, s_before, s_after, time_parts, pulse_parts = out
        S = self.s
        stop = tc.size
        if self.scatter_eps > 0.0:  # cap the run so that wasted draws after a scatter stay few
            stop = min(stop, start + max(1, int(4.0 / (self.scatter_eps * 2 * S + 1e-300))))
        run_tc = tc[start:stop]
        n_run = run_tc.size
        # Every pulse that takes a step ends at its ladder's end, so after the first pulse a
        # pulse has either no step left (same polarisation) or the full 2S (switched).
        first_state = SwitchState.TC if run_tc[0] else SwitchState.ANTI_TC
        lengths = np.empty(n_run, np.int64)
        lengths[0] = _steps_left(S, self.m, first_state)
        lengths[1:] = np.where(run_tc[1:] != run_tc[:-1], 2 * S, 0)
        firsts = 2 * S - lengths
        gammas = np.where(run_tc, self.gamma_per_s[SwitchState.TC],
                          self.gamma_per_s[SwitchState.ANTI_TC])
        # Distinct (first step, Γ) of the run: the first pulse, and every switched pulse.
        pairs = {(int(firsts[0]), float(gammas[0]))}
        switched = lengths[1:] > 0
        for state, is_tc in ((SwitchState.TC, run_tc[1:]), (SwitchState.ANTI_TC, ~run_tc[1:])):
            if (switched & is_tc).any():
                pairs.add((0, self.gamma_per_s[state]))
        sure = not times and not any(_may_outlast(S, f, g * gate_s) for f, g in pairs)
        if sure:
            cut, truncated = n_run, False
            lost = (self._rng.binomial(lengths, self.scatter_eps) if self.scatter_eps > 0
                    else np.zeros(n_run, np.int64))
            hit = np.flatnonzero(lost)
            if hit.size:
                cut = int(hit[0]) + 1
            kept_steps = lengths[:cut]
        else:
            total = int(lengths.sum())
            waits = self._rng.standard_exponential(total)
            scatter_u = self._rng.random(total) if self.scatter_eps > 0 else _NO_DRAWS
            times_s = np.empty(total)
            owner = np.empty(total, np.int64)
            kept = np.zeros(n_run, np.int64)
            lost = np.zeros(n_run, np.int64)
            n_cavity, cut, truncated = _cascade(
                _ladder_rates(S), firsts, lengths, 1.0 / gammas, waits, scatter_u,
                self.scatter_eps, gate_s, times_s, owner, kept, lost)
            kept_steps = kept[:cut]
            time_parts.append(times_s[:n_cavity])
            pulse_parts.append(owner[:n_cavity] + start)
        sl = slice(start, start + cut)
        emitted[sl] = kept_steps - lost[:cut]
        scattered[sl] = lost[:cut]
        s_before[sl] = S
        s_after[sl] = S
        last_state = SwitchState.TC if run_tc[cut - 1] else SwitchState.ANTI_TC
        # A truncated last pulse stopped part-way: the steps it did not take are undone.
        not_taken = int(lengths[cut - 1] - kept_steps[cut - 1]) if truncated else 0
        self._end_run(S, last_state, bool(lengths[:cut].any()), not_taken, int(lost[cut - 1]))
        s_after[start + cut - 1] = self.s
        return start + cut

    def _end_run(self, S: int, last_state: SwitchState, stepped: bool, not_taken: int,
                 n_lost: int) -> None:
        """Move the atoms to where a run of pulses on the ``S`` ladder left them.

        ``stepped``: some pulse took a step (the run ends at the ladder's end of ``last_state``,
        less the ``not_taken`` steps of a truncated last pulse); ``n_lost``: photons the last pulse
        scattered, each a jump of S.
        """
        if stepped:
            self.m = -S if last_state is SwitchState.TC else S
        if not_taken:
            self.m += not_taken if last_state is SwitchState.TC else -not_taken
        for _ in range(n_lost):
            self._jump(last_state)

    def drive_one(self, state: SwitchState, gate_s: float) -> tuple[int, int]:
        """Drive one pulse counts-only and return (emitted, scattered).

        ``drive([state is TC], gate_s, times=False)`` on Python scalars (same draws, same result)
        for the single pulses of a stepped run; it defers to :meth:`drive` when the switch leaks
        or the dynamics are exact.
        """
        S = self.s
        if state is _TC:  # _steps_left and gamma_per_s inline: an Enum hashes slowly
            steps, gamma_per_s = S + self.m, self._gamma_tc_per_s
        else:
            steps, gamma_per_s = S - self.m, self._gamma_antitc_per_s
        if self.leak_r2 > 0.0 or self.exact is not None:
            block = self.drive(np.array([state is _TC]), gate_s, times=False)
            return int(block.emitted[0]), int(block.scattered[0])
        if _may_outlast(S, 2 * S - steps, gamma_per_s * gate_s):  # the gate may cut it short
            return self._timed_one(S, steps, state, 1.0 / gamma_per_s, gate_s)
        if self.scatter_eps > 0.0 and steps:
            lost = self._rng.binomial(steps, self.scatter_eps)
            if lost:
                self._end_run(S, state, True, 0, lost)
                return steps - lost, lost
        if steps:  # _end_run without jumps, inline (a call per pulse): at the ladder's end
            self.m = -S if state is _TC else S
        return steps, 0

    def _timed_one(self, S: int, steps: int, state: SwitchState, inv_gamma_s: float,
                   gate_s: float) -> tuple[int, int]:
        """Run one pulse of ``steps`` (> 0) steps with its waiting times drawn, as :meth:`_run`
        does for a run of one such pulse (same draws), without its array bookkeeping; return
        (emitted, scattered)."""
        waits = self._rng.standard_exponential(steps)
        scatter_u = self._rng.random(steps) if self.scatter_eps > 0 else _NO_DRAWS
        # The arguments live in scratch arrays (owned by this object, used only here): seven new
        # arrays per call cost more than the cascade.
        firsts, lengths, inv_gamma, kept, lost = self._one_pulse
        firsts[0], lengths[0], inv_gamma[0], kept[0], lost[0] = 2 * S - steps, steps, \
            inv_gamma_s, 0, 0
        if self._times_scratch.size < steps:
            self._times_scratch = np.empty(steps)
            self._owner_scratch = np.empty(steps, np.int64)
        _, _, truncated = _cascade(
            _ladder_rates(S), firsts, lengths, inv_gamma, waits, scatter_u, self.scatter_eps,
            gate_s, self._times_scratch, self._owner_scratch, kept, lost)
        n_kept, n_lost = int(kept[0]), int(lost[0])
        self._end_run(S, state, True, steps - n_kept if truncated else 0, n_lost)
        return n_kept - n_lost, n_lost

    def _leaky(self, state: SwitchState, gate_s: float) -> tuple[int, int, np.ndarray]:
        """Run one pulse through the leaky switch; return (emitted, scattered, cavity times)."""
        if self.psi is None:
            self.psi = basis_state(self.s, self.m)
        self.psi, times = leaky_pulse(self.psi, self.s, state, self.gamma_per_s[state],
                                      self.leak_r2, gate_s, self._rng)
        is_scatter = self._rng.random(times.size) < self.scatter_eps
        n_lost = int(is_scatter.sum())
        if n_lost:  # the state leaves the symmetric family: continue from a measured |S', m'>
            self.m = int(self._rng.choice(self.psi.size, p=self.psi**2 / (self.psi**2).sum()))
            self.m -= self.s
            for _ in range(n_lost):
                self._jump(state)
            self.psi = basis_state(self.s, self.m)
        return times.size - n_lost, n_lost, times[~is_scatter]

    def _exact(self, state: SwitchState, gate_s: float) -> tuple[int, int, np.ndarray]:
        """Run one pulse of the exact dynamics; return (emitted, scattered, cavity times)."""
        pulse = self.exact.sample(self.s, self.m, state, self._rng, t_max_s=gate_s)
        is_scatter = self._rng.random(pulse.times_s.size) < self.scatter_eps
        self.m = pulse.m_end
        for _ in range(int(is_scatter.sum())):  # the pulse finished on its old ladder
            self._jump(state)
        return int((~is_scatter).sum()), int(is_scatter.sum()), pulse.times_s[~is_scatter]

    def _jump(self, state: SwitchState) -> None:
        """Apply one scattering jump of S, keeping the distance to the pulse's ladder end."""
        delta = int(np.searchsorted(self._jump_cdf, self._rng.random(), side="right")) - 2
        S_new = self.s + delta
        if not 0 <= S_new <= self.n_atoms:
            return
        to_go = min(_steps_left(self.s, self.m, state), 2 * S_new)
        self.m = -S_new + to_go if state is SwitchState.TC else S_new - to_go
        self.s = S_new
