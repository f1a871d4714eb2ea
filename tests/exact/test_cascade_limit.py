"""Check the bad-cavity limit: exact emission times reduce to the cascade Γ·r_j, Γ = 2λ²/κ."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.control.records import SwitchState
from heralder.physics import cascade_rates
from heralder.physics.exact_dynamics import emission_moments


def _cascade_photon_means(model, S, pulse):
    """Return the cascade's E[t_j] = Σ_{i<=j} 1/(Γ r_i) for every photon j."""
    return np.cumsum(1.0 / (model.gamma_per_s * cascade_rates(S, pulse)))


@pytest.mark.parametrize(("S", "state", "m_start", "pulse"), [
    (5, SwitchState.TC, 0, 0),
    (5, SwitchState.ANTI_TC, -5, 1),
    (50, SwitchState.TC, 0, 0),
])
def test_mean_emission_time_within_one_percent_where_y_small(S, state, m_start, pulse,
                                                             model_at_y):
    model = model_at_y(S, 0.1)
    exact = emission_moments(model, S, state=state, m_start=m_start)
    cascade = _cascade_photon_means(model, S, pulse)
    assert exact.photon_mean_s.shape == cascade.shape
    assert exact.mean_emission_s == pytest.approx(cascade.mean(), rel=0.01)
    # Every photon separately, and the duration: the cavity adds a delay of order 1/κ per step.
    np.testing.assert_allclose(exact.photon_mean_s, cascade, rtol=0.01)


def test_cascade_variance_of_duration_in_the_limit(model_at_y):
    S = 5
    model = model_at_y(S, 0.05)
    exact = emission_moments(model, S)
    cascade_var = np.sum(1.0 / (model.gamma_per_s * cascade_rates(S, 0)) ** 2)
    assert exact.duration_var_s2 == pytest.approx(cascade_var, rel=0.01)


@pytest.mark.parametrize("x", [1.0, 2.0])
def test_cascade_fails_outside_its_validity(x, model_at_x):
    """At x >= 1 the cavity limits the peak rate: photons leave clearly later than the cascade."""
    S = 20
    model = model_at_x(S, x)
    exact = emission_moments(model, S)
    cascade = _cascade_photon_means(model, S, 0)
    assert exact.mean_emission_s > 1.15 * cascade.mean()
