"""Simulate the photon detector on the time line: efficiency, darks, dead time, afterpulses, jitter.

:class:`DetectorSim` turns the emission times of cavity photons into the click times a counter
or a time tagger registers. It simulates the physical process, not the estimator's
likelihood: each photon is kept with probability η; dark and background clicks arrive as a
Poisson process over the gate; a click makes the detector blind for exactly ``dead_time_s``
(non-paralysable: events in the dead window are lost and do not extend it); each registered
avalanche started by a photon or a dark count fires one afterpulse with probability
``afterpulse_prob``, after its dead time plus an exponential delay, and that afterpulse meets the
dead time like any other avalanche; finally every registered click is shifted by Gaussian jitter
and kept only if it lies inside its gate.

Time lines of many pulses are processed at once: each pulse's times are offset by its start, so the
dead time is exact across pulse boundaries too.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from heralder.estimation.detector import DetectorModel
from heralder.simulators._jit import njit

__all__ = ["DetectorSim", "apply_dead_time"]


@njit
def _register(
    ph_rel: np.ndarray, ph_pulse: np.ndarray, keep_u: np.ndarray, eta: float,
    dk_rel: np.ndarray, dk_pulse: np.ndarray, starts: np.ndarray, ap_index: np.ndarray,
    ap_delay: np.ndarray, dead_time: float, out_pulse: np.ndarray, out_rel: np.ndarray,
) -> int:
    """Run the detector over two time-ordered streams (photons and dark counts) of many gates.

    Times are relative to their gate's start (``starts[pulse]``); events are merged in absolute
    time. Photon ``i`` is detected when ``keep_u[i] < eta``. Registrations of photons and dark
    counts are numbered k = 1, 2, ...; those listed in ``ap_index`` (increasing, with an end
    sentinel) each schedule an afterpulse ``dead_time`` + the next ``ap_delay`` after themselves.
    Writes the registered (gate, relative time) in time order and returns how many there are.
    """
    n_ph = ph_rel.shape[0]
    n_dk = dk_rel.shape[0]
    pending = [(np.inf, np.int64(0))]  # heap of (time, gate) of afterpulses; inf is a sentinel
    t_ap = np.inf  # pending[0][0], kept in a scalar: the heap is rarely touched
    blind_until = -np.inf
    i = j = k = next_ap = n_out = 0
    t_ph = t_dk = 0.0
    while True:
        while i < n_ph and keep_u[i] >= eta:
            i += 1
        t_ph = starts[ph_pulse[i]] + ph_rel[i] if i < n_ph else np.inf
        t_dk = starts[dk_pulse[j]] + dk_rel[j] if j < n_dk else np.inf
        is_afterpulse = False
        if t_ap < t_ph and t_ap < t_dk:
            t, gate = heapq.heappop(pending)
            t_ap = pending[0][0]
            is_afterpulse = True
        elif t_ph <= t_dk:
            if t_ph == np.inf:
                return n_out
            t, gate = t_ph, ph_pulse[i]
            i += 1
        else:
            t, gate = t_dk, dk_pulse[j]
            j += 1
        if t < blind_until:
            continue
        blind_until = t + dead_time
        out_pulse[n_out] = gate
        out_rel[n_out] = t - starts[gate]
        n_out += 1
        if not is_afterpulse:
            k += 1
            if k == ap_index[next_ap]:
                heapq.heappush(pending, (blind_until + ap_delay[next_ap], np.int64(gate)))
                t_ap = pending[0][0]
                next_ap += 1


def apply_dead_time(times: np.ndarray, dead_time: float) -> np.ndarray:
    """Return the events of the sorted time line ``times`` that a non-paralysable input with
    ``dead_time`` (same unit) registers."""
    times = np.asarray(times, dtype=np.float64)
    if dead_time <= 0.0 or times.size < 2:
        return times
    n = times.size
    out_rel = np.empty(n)
    n_out = _register(times, np.zeros(n, np.int64), np.zeros(n), 1.0, np.zeros(0),
                      np.zeros(0, np.int64), np.zeros(1), np.array([-1]), np.zeros(0),
                      float(dead_time), np.empty(n, np.int64), out_rel)
    return out_rel[:n_out]


class DetectorSim:
    """Register photons as a real single-photon detector would.

    Parameters
    ----------
    model
        The TRUE detector: ``eta``, ``dark_counts_per_gate``, ``gate_s``, ``dead_time_s`` and
        ``afterpulse_prob`` are used (the other fields describe atoms and switch).
    jitter_s
        Standard deviation of the Gaussian timing jitter, seconds.
    background_rate_hz
        Stray-light clicks per second added to the dark counts.
    afterpulse_delay_s
        Mean exponential delay of an afterpulse after its parent's dead time.

    Raises
    ------
    ValueError
        If a parameter is negative or not finite (names the parameter).
    """

    def __init__(
        self,
        model: DetectorModel,
        *,
        jitter_s: float = 0.0,
        background_rate_hz: float = 0.0,
        afterpulse_delay_s: float = 50e-9,
    ) -> None:
        if not isinstance(model, DetectorModel):
            raise ValueError(f"model must be a DetectorModel, got {type(model).__name__}")
        for name, value in (("jitter_s", jitter_s), ("background_rate_hz", background_rate_hz),
                            ("afterpulse_delay_s", afterpulse_delay_s)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.model = model
        self.gate_s = model.gate_s
        self.jitter_s = float(jitter_s)
        self.afterpulse_delay_s = float(afterpulse_delay_s)
        self.background_rate_hz = float(background_rate_hz)
        self.noise_per_gate = model.dark_counts_per_gate + background_rate_hz * model.gate_s
        #: ``True`` when counts depend on photon times (dead time or jitter): an attribute, not a
        #: property, since the virtual lab reads it per pulse.
        self.needs_times = model.dead_time_s > 0.0 or self.jitter_s > 0.0

    def count(self, photons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return registered counts per gate given the photon number of each gate.

        Exact only when :attr:`needs_times` is ``False`` (no dead time, no jitter): then a count
        is the thinned photon number, plus Poisson noise, plus one Bernoulli afterpulse per click.

        Raises
        ------
        ValueError
            If the detector needs times, or a photon number is negative.
        """
        if self.needs_times:
            raise ValueError("count() needs dead_time_s == 0 and jitter_s == 0; use register()")
        photons = np.asarray(photons, dtype=np.int64)
        if photons.size and photons.min() < 0:
            raise ValueError("photons must be >= 0")
        return self._clicks(photons, rng, photons.shape)

    def count_one(self, photons: int, rng: np.random.Generator) -> int:
        """Return the registered count of one gate: :meth:`count` of one photon number, with
        the same draws, on Python scalars (numpy's array calls cost far more for one gate).

        Raises
        ------
        ValueError
            If the detector needs times, or ``photons`` is negative.
        """
        if self.needs_times:
            raise ValueError("count_one() needs dead_time_s == 0 and jitter_s == 0")
        if photons < 0:
            raise ValueError(f"photons must be >= 0, got {photons!r}")
        return self._clicks(photons, rng, None)  # numpy's scalar draws are Python ints

    def _clicks(self, photons: np.ndarray | int, rng: np.random.Generator,
                size: tuple[int, ...] | None) -> np.ndarray | int:
        """Thin ``photons`` by η, add Poisson noise and Bernoulli afterpulses (``size`` None:
        scalars)."""
        clicks = rng.binomial(photons, self.model.eta)
        if self.noise_per_gate > 0.0:
            # size positional: as a keyword it doubles the cost of a scalar draw (same draws)
            clicks = clicks + rng.poisson(self.noise_per_gate, size)
        if self.model.afterpulse_prob > 0.0:
            clicks = clicks + rng.binomial(clicks, self.model.afterpulse_prob)
        return clicks

    def _afterpulsing(self, n_events: int, rng: np.random.Generator) -> np.ndarray:
        """Return which registrations (1-based, increasing) afterpulse, up to ``n_events``, then
        an end sentinel; drawn as geometric gaps of a Bernoulli(p_ap) sequence."""
        p = self.model.afterpulse_prob
        if p <= 0.0 or n_events == 0:
            return np.array([-1], np.int64)
        expected = n_events * p
        gaps = rng.geometric(p, int(expected + 10.0 * math.sqrt(expected) + 10))
        index = np.cumsum(gaps)
        while index[-1] <= n_events:  # rare: draw more gaps until past the last event
            more = np.cumsum(rng.geometric(p, index.size)) + index[-1]
            index = np.concatenate((index, more))
        return np.concatenate((index[index <= n_events], [-1]))

    def register(
        self, times_s: np.ndarray, pulse_of: np.ndarray, starts_s: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the registered clicks of consecutive gates.

        Parameters
        ----------
        times_s
            Emission times of cavity photons relative to their pulse start (float64).
        pulse_of
            Index (into ``starts_s``) of the pulse each photon belongs to.
        starts_s
            Start time of each gate on a common time line, increasing, spaced by at least a gate.

        Returns
        -------
        (click_pulse, click_times_s)
            For each registered click, its gate index and its time relative to that gate's start,
            sorted by gate and then by time.
        """
        model = self.model
        n_pulses = starts_s.shape[0]
        # float32 draws: η and the jitter are resolved to 2^-24, far below any calibration.
        keep_u = rng.random(times_s.shape[0], dtype=np.float32)
        if self.noise_per_gate > 0.0:
            n_noise = rng.poisson(self.noise_per_gate, size=n_pulses)
            dk_pulse = np.repeat(np.arange(n_pulses), n_noise)
            dk_rel = rng.random(dk_pulse.size) * self.gate_s
            order = np.lexsort((dk_rel, dk_pulse))
            dk_rel, dk_pulse = dk_rel[order], dk_pulse[order]
        else:
            dk_rel, dk_pulse = np.zeros(0), np.zeros(0, np.int64)
        n_events = times_s.size + dk_rel.size  # an upper bound on photon and dark registrations
        ap_index = self._afterpulsing(n_events, rng)
        ap_delay = rng.exponential(self.afterpulse_delay_s, ap_index.size - 1)
        out_pulse = np.empty(n_events + ap_index.size, np.int64)
        out_rel = np.empty(n_events + ap_index.size)
        n_out = _register(times_s, pulse_of, keep_u, model.eta, dk_rel, dk_pulse, starts_s,
                          ap_index, ap_delay, model.dead_time_s, out_pulse, out_rel)
        gate, relative = out_pulse[:n_out], out_rel[:n_out]
        if self.jitter_s > 0.0:
            relative = relative + self.jitter_s * rng.standard_normal(n_out, dtype=np.float32)
            inside = (relative >= 0.0) & (relative < self.gate_s)
            gate, relative = gate[inside], relative[inside]
            absolute = starts_s[gate] + relative
            if absolute.size > 1 and not (absolute[1:] >= absolute[:-1]).all():
                order = np.argsort(absolute, kind="stable")  # timsort: nearly sorted is O(n)
                gate, relative = gate[order], relative[order]
        else:
            inside = relative < self.gate_s  # afterpulses can fall after the gate closes
            gate, relative = gate[inside], relative[inside]
        return gate, relative
