"""Check the adaptive photon cutoff of the deterministic profile stops at the first safe level."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import trapezoid

from heralder.physics.exact_dynamics import emission_moments, emission_profile


def test_cutoff_is_not_raised_by_integration_noise(model_at_x):
    """At S = 50, x = 0.3 the population of photon level 16 stays below 1e-12.

    With the integrator's absolute tolerance near ``cutoff_tol`` the check saw its own noise
    (~1e-9) and doubled to 32 at 2-5x the cost; the emission times must stay exact. (The scipy
    path keeps 16 levels; the compiled one adds levels above 1e-3 cutoff_tol, so 17 or 18.)
    """
    S = 50
    model = model_at_x(S, 0.3)
    moments = emission_moments(model, S)
    grid = np.linspace(0.0, 3.0 * moments.duration_mean_s, 1000)
    profile = emission_profile(model, S, grid)
    assert 16 <= profile.cutoff <= 18
    # E[t_j] = ∫ (1 − CDF_j) dt: the profile's CDFs against the cutoff-free moments.
    means = trapezoid(1.0 - profile.photon_cdf, grid, axis=1)
    np.testing.assert_allclose(means, moments.photon_mean_s, rtol=1e-4)  # trapezoid error ~2e-5


@pytest.mark.parametrize("tol", [0.0, 1.0, -1e-3, float("nan"), True, "1e-10"])
def test_bad_cutoff_tol(model_at_x, tol):
    with pytest.raises(ValueError, match="cutoff_tol"):
        emission_profile(model_at_x(4, 1.0), 4, [0.0, 1.0], cutoff_tol=tol)
