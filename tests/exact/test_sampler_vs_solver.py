"""Check the quantum-jump sampler against the deterministic solver of the same model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2

from heralder.control.records import SwitchState
from heralder.physics.exact_dynamics import emission_moments, emission_profile
from heralder.simulators.exact_sampler import ExactSampler

CASES = [
    (5, 0.5, SwitchState.TC, 0, 2000),
    (5, 2.0, SwitchState.ANTI_TC, -5, 1500),
    (20, 0.5, SwitchState.TC, 0, 600),
    (20, 2.0, SwitchState.TC, 0, 600),
]


def _chi2_pvalue(samples: np.ndarray, grid: np.ndarray, cdf: np.ndarray, bins: int = 10) -> float:
    """Return the χ² p-value of ``samples`` against a CDF tabulated on ``grid``.

    Bin edges are grid points near the CDF's deciles, so the expected counts are exact values of
    the tabulated CDF (no interpolation); everything after the last edge is the last bin.
    """
    idx = np.unique(np.searchsorted(cdf, np.linspace(0, 1, bins + 1)[1:-1]))
    edges = grid[idx]
    probs = np.diff(np.concatenate(([0.0], cdf[idx], [1.0])))
    observed = np.bincount(np.searchsorted(edges, samples, side="right"),
                           minlength=edges.size + 1)
    expected = probs * samples.size
    stat = float(((observed - expected) ** 2 / expected).sum())
    return float(chi2.sf(stat, edges.size))


@pytest.mark.parametrize(("S", "x", "state", "m_start", "n_pulses"), CASES)
def test_sampler_matches_solver(S, x, state, m_start, n_pulses, model_at_x):
    model = model_at_x(S, x)
    sampler = ExactSampler(model, model)
    rng = np.random.default_rng(1000 * S + int(10 * x))
    times = np.stack([sampler.sample(S, m_start, state, rng).times_s for _ in range(n_pulses)])
    k = times.shape[1]
    moments = emission_moments(model, S, state=state, m_start=m_start)
    horizon = moments.duration_mean_s + 4.0 * math.sqrt(moments.duration_var_s2)
    grid = np.linspace(0.0, horizon, 300)
    profile = emission_profile(model, S, grid, state=state, m_start=m_start)
    assert profile.photon_cdf[-1, -1] > 0.95  # every decile edge lies on the grid
    for j in (0, k // 2, k - 1):  # first, middle and last photon: one independent draw per pulse
        assert _chi2_pvalue(times[:, j], grid, profile.photon_cdf[j]) > 1e-3, f"photon {j + 1}"
    # Mean emission time of every photon, and the duration's mean and variance.
    se = times.std(axis=0, ddof=1) / math.sqrt(n_pulses)
    assert np.all(np.abs(times.mean(axis=0) - moments.photon_mean_s) < 4.5 * se)
    duration = times[:, -1]
    var_hat = duration.var(ddof=1)
    centred = duration - duration.mean()
    se_var = math.sqrt(((centred**4).mean() - var_hat**2) / n_pulses)
    assert abs(var_hat - moments.duration_var_s2) < 4.5 * se_var


def test_detuned_sampler_matches_solver(model_at_x):
    """Detunings ω, ω₀ ≠ 0 slow the emission; sampler and solver must agree on how much."""
    S = 5
    model = model_at_x(S, 1.0, omega=0.7, omega0=-0.3)
    sampler = ExactSampler(model, model)
    rng = np.random.default_rng(7)
    duration = np.array([sampler.sample(S, 0, SwitchState.TC, rng).times_s[-1]
                         for _ in range(3000)])
    exact = emission_moments(model, S)
    resonant = emission_moments(model_at_x(S, 1.0), S)
    assert exact.duration_mean_s > 1.05 * resonant.duration_mean_s
    se = duration.std(ddof=1) / math.sqrt(duration.size)
    assert abs(duration.mean() - exact.duration_mean_s) < 4.5 * se
