"""Shared helpers for the estimator tests: an independent forward model of one pulse.

The model simulates the physical process (exponential cascade steps, Bernoulli registration,
Poisson dark counts at uniform times, an exact non-paralysable dead time on the time line,
afterpulses), never the likelihood's approximations, so the tests are not circular.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def _step_rates(S: int, pulse: int) -> np.ndarray:
    if pulse == 0:
        j = np.arange(1, S + 1)
        return ((S - j + 1) * (S + j)).astype(float)
    j = np.arange(1, 2 * S + 1)
    return (j * (2 * S + 1 - j)).astype(float)


def simulate_pulse(rng: np.random.Generator, S: int, pulse: int, *, eta: float,
                   gamma_per_s: float = 1.0, dark_per_gate: float = 0.0, gate_s: float = 1e9,
                   dead_time_s: float = 0.0, afterpulse_prob: float = 0.0,
                   ) -> tuple[int, np.ndarray]:
    """Return (count, registered times) of one simulated pulse."""
    rates = gamma_per_s * _step_rates(S, pulse)
    emitted = np.cumsum(rng.exponential(1.0 / rates)) if rates.size else np.empty(0)
    photons = emitted[(rng.random(emitted.size) < eta) & (emitted < gate_s)]
    darks = rng.uniform(0.0, gate_s, rng.poisson(dark_per_gate))
    events = np.sort(np.concatenate([photons, darks]))
    if dead_time_s > 0.0 and events.size:
        kept = [events[0]]
        for t in events[1:]:
            if t >= kept[-1] + dead_time_s:
                kept.append(t)
        events = np.asarray(kept)
    count = events.size + int(rng.binomial(events.size, afterpulse_prob))
    return count, events


@pytest.fixture
def simulate() -> Callable[..., tuple[int, np.ndarray]]:
    """Return the forward model of one pulse (see :func:`simulate_pulse`)."""
    return simulate_pulse
