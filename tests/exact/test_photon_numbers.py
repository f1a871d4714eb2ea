"""Check photon numbers and final states of every trajectory, cut pulses and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heralder.control.records import SwitchState
from heralder.physics.exact_dynamics import AtomCavity, emission_moments, emission_profile
from heralder.simulators.exact_sampler import ExactSampler


@pytest.mark.parametrize("x", [0.3, 2.0])
def test_every_trajectory_emits_s_then_2s_photons_and_ends_dark(x, model_at_x):
    S = 8
    model = model_at_x(S, x, omega=0.2, omega0=0.1)
    sampler = ExactSampler(model, model, n_atoms=100)
    rng = np.random.default_rng(3)
    for _ in range(50):
        first = sampler.sample(S, 0, SwitchState.TC, rng)
        assert first.times_s.size == S and first.m_end == -S
        assert np.all(np.diff(first.times_s) > 0) and first.times_s[0] > 0
        second = sampler.sample(S, first.m_end, SwitchState.ANTI_TC, rng)
        assert second.times_s.size == 2 * S and second.m_end == S
        third = sampler.sample(S, second.m_end, SwitchState.TC, rng)
        assert third.times_s.size == 2 * S and third.m_end == -S


def test_wrong_polarisation_is_dark(model_at_x):
    S = 6
    model = model_at_x(S, 1.0)
    sampler = ExactSampler(model, model)
    rng = np.random.default_rng(0)
    pulse = sampler.sample(S, -S, SwitchState.TC, rng)
    assert pulse.times_s.size == 0 and pulse.m_end == -S
    assert emission_moments(model, S, state=SwitchState.ANTI_TC, m_start=S).photon_mean_s.size == 0
    assert sampler.sample(0, 0, SwitchState.TC, rng).times_s.size == 0


def test_cut_pulse_leaves_the_atoms_part_way(model_at_x):
    """A drive stopped at t_max keeps the photons before it; the atoms stop between the ends."""
    S = 10
    model = model_at_x(S, 0.5)
    sampler = ExactSampler(model, model)
    rng = np.random.default_rng(5)
    mean = emission_moments(model, S).duration_mean_s
    counts, ends = [], []
    for _ in range(400):
        pulse = sampler.sample(S, 0, SwitchState.TC, rng, t_max_s=0.2 * mean)
        assert np.all(pulse.times_s < 0.2 * mean)
        # Every emission lowers m by one; photons still in the cavity may lower it further.
        assert -S <= pulse.m_end <= -pulse.times_s.size
        counts.append(pulse.times_s.size)
        ends.append(pulse.m_end)
    profile = emission_profile(model, S, [0.2 * mean])
    assert np.mean(counts) == pytest.approx(profile.mean_emitted[0],
                                            abs=4 * np.std(counts) / math.sqrt(400))
    assert min(counts) < S


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"lambda_rad_s": 0.0, "kappa_rad_s": 1.0}, "lambda_rad_s"),
    ({"lambda_rad_s": -1.0, "kappa_rad_s": 1.0}, "lambda_rad_s"),
    ({"lambda_rad_s": 1.0, "kappa_rad_s": 0.0}, "kappa_rad_s"),
    ({"lambda_rad_s": 1.0, "kappa_rad_s": -2.0}, "kappa_rad_s"),
    ({"lambda_rad_s": 1.0, "kappa_rad_s": 1.0, "omega_rad_s": math.nan}, "omega_rad_s"),
    ({"lambda_rad_s": 1.0, "kappa_rad_s": 1.0, "omega0_rad_s": math.inf}, "omega0_rad_s"),
])
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AtomCavity(**kwargs)


def test_bad_spin_and_state_raise():
    model = AtomCavity(0.1, 1.0)
    sampler = ExactSampler(model, model, n_atoms=10)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="S must lie in"):
        sampler.sample(11, 0, SwitchState.TC, rng)
    with pytest.raises(ValueError, match="S must"):
        sampler.sample(-1, 0, SwitchState.TC, rng)
    with pytest.raises(ValueError, match="m must"):
        sampler.sample(4, 5, SwitchState.TC, rng)
    with pytest.raises(ValueError, match="S must lie in"):
        emission_profile(model, 12, [1.0], n_atoms=10)
    with pytest.raises(ValueError, match="times_s"):
        emission_profile(model, 2, [1.0, 0.5])
    with pytest.raises(ValueError, match="t_max_s"):
        sampler.sample(2, 0, SwitchState.TC, rng, t_max_s=0.0)
