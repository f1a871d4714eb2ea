"""Check the cascade rates and the parameter -> rate mapping of the cavity module."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heralder.config import AtomsConfig
from heralder.physics import cascade_rates, mean_pulse_duration, photons_per_pulse
from heralder.physics.cavity import (
    BAD_CAVITY_X,
    bad_cavity_x,
    cascade_gamma_per_s,
    cascade_gammas_per_s,
    cavity_parameters,
    likely_spin_range,
    mean_pulse_duration_s,
    raman_coupling_rad_s,
    recommended_gate_s,
)
from heralder.physics.prior import log_prior


def ladder_rates(S: int, m_start: int, direction: int) -> list[float]:
    """Return Γ|<S,m'|S∓|S,m>|² along the ladder from m_start to the end, in order."""
    rates = []
    m = m_start
    while m > -S if direction < 0 else m < S:
        rates.append((S + m) * (S - m + 1) if direction < 0 else (S - m) * (S + m + 1))
        m += direction
    return rates


@pytest.mark.parametrize("S", [0, 1, 2, 7, 30])
def test_rates_are_the_ladder_matrix_elements_in_emission_order(S):
    assert list(cascade_rates(S, 0)) == ladder_rates(S, 0, -1)  # TC from |S,0>
    assert list(cascade_rates(S, 1)) == ladder_rates(S, -S, +1)  # anti-TC from |S,-S>
    assert list(cascade_rates(S, 2)) == ladder_rates(S, S, -1)  # TC from |S,+S>
    assert cascade_rates(S, 0).size == photons_per_pulse(S, 0) == S
    assert cascade_rates(S, 5).size == photons_per_pulse(S, 5) == 2 * S


@pytest.mark.parametrize("S", [1, 3, 50, 400])
def test_mean_duration_closed_form(S):
    for pulse in (0, 1):
        assert mean_pulse_duration(S, pulse) == pytest.approx(np.sum(1 / cascade_rates(S, pulse)))
    assert mean_pulse_duration(0, 1) == 0.0


@pytest.mark.parametrize(("S", "pulse"), [(-1, 0), (2, -1), (2.0, 0), ("3", 1)])
def test_cascade_bad_input(S, pulse):
    with pytest.raises(ValueError, match="S|pulse"):
        cascade_rates(S, pulse)


def test_paper_parameters_give_the_notes_numbers():
    atoms = AtomsConfig(n_atoms=10**4, preset="paper")
    params = cavity_parameters(atoms)
    assert params.lambda_tc_rad_s / (2 * math.pi) == pytest.approx(5.89e3, rel=1e-3)
    g_tc, g_anti = cascade_gammas_per_s(atoms)
    assert g_tc == pytest.approx(2.18e3, rel=2e-3) and g_anti == g_tc
    # full S = 100 pulse lasts 2 H_200 / (201 Γ) = 27 µs (notes §2.3)
    assert mean_pulse_duration_s(atoms, 100, 1) == pytest.approx(27e-6, rel=0.02)
    # paper's t_pulse ≈ (S λ²/κ)^-1 ≈ 10 µs at S = √N
    assert 1.0 / (100 * params.lambda_tc_rad_s**2 / (2 * math.pi * 0.2e6)) == pytest.approx(
        9.2e-6, rel=0.05)
    assert params.max_x(100) > 1  # outside the cascade's validity, as the notes say


def test_custom_preset_uses_fields_and_angular_frequencies():
    atoms = AtomsConfig(n_atoms=50, preset="custom", g_hz=1e6, kappa_hz=2e6,
                        omega_over_delta_tc=0.02, omega_over_delta_antitc=0.04)
    lam = 2 * math.pi * 1e6 * 0.02 / (12 * math.sqrt(2))
    assert raman_coupling_rad_s(1e6, 0.02) == pytest.approx(lam)
    g_tc, g_anti = cascade_gammas_per_s(atoms)
    assert g_tc == pytest.approx(2 * lam**2 / (2 * math.pi * 2e6))
    assert g_anti == pytest.approx(4 * g_tc)
    assert cavity_parameters(atoms).gamma_for_pulse_per_s(3) == g_anti


@pytest.mark.parametrize("N", [10, 1000, 10**4])
def test_bad_cavity_preset_is_valid_across_the_bulk(N):
    atoms = AtomsConfig(n_atoms=N, preset="bad-cavity")
    params = cavity_parameters(atoms)
    lo, hi = likely_spin_range(N)
    assert params.max_x(hi) == pytest.approx(BAD_CAVITY_X)
    assert np.all(params.max_x(np.arange(lo, hi + 1)) <= BAD_CAVITY_X + 1e-12)
    assert bad_cavity_x(params.lambda_tc_rad_s, params.kappa_hz, hi) == pytest.approx(0.3)


def test_likely_range_tails():
    lo, hi = likely_spin_range(1000, tail=1e-6)
    spins = np.arange(0, 1001, 2)
    p = np.exp(log_prior(1000, spins))
    above, below = p[np.greater(spins, hi)], p[np.less(spins, lo)]
    assert above.sum() <= 1e-6 < above.sum() + p[spins == hi].sum()
    assert below.sum() <= 1e-6


def test_gate_covers_the_slowest_likely_pulse():
    atoms = AtomsConfig(n_atoms=1000, preset="paper")
    gamma = cascade_gammas_per_s(atoms)[0]
    gate = recommended_gate_s(atoms)
    assert gate >= 10 * mean_pulse_duration(2, 1) / gamma
    assert gate >= 10 * mean_pulse_duration(30, 1) / gamma
    assert recommended_gate_s(atoms, spin=30) < gate
    with pytest.raises(ValueError, match="spin"):
        recommended_gate_s(atoms, spin=0)
    with pytest.raises(ValueError, match="factor"):
        recommended_gate_s(atoms, factor=-1.0)


def test_rate_helpers_reject_bad_values():
    with pytest.raises(ValueError, match="g_hz"):
        raman_coupling_rad_s(0.0, 0.01)
    with pytest.raises(ValueError, match="kappa_hz"):
        cascade_gamma_per_s(1.0, float("inf"))
