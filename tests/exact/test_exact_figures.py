"""Smoke-test the exact-vs-cascade figure and check the cascade flux it draws."""

from __future__ import annotations

import json

import numpy as np
import pytest

from heralder.physics.cascade import cascade_rates
from heralder.physics.exact_figures import EXACT_X, cascade_flux, exact_profile_figure


def test_cascade_flux_integrates_to_the_photon_number_and_matches_s1():
    rates = cascade_rates(1, 1).astype(float)  # S = 1, later pulse: rates 2, 2
    t = np.linspace(0.0, 40.0, 4001)
    flux = cascade_flux(rates, t)
    # Two exponential steps of rate 2: flux = 2e^{-2t} + 4t e^{-2t}·... = 2e^{-2t}(1 + 2t)
    np.testing.assert_allclose(flux, 2.0 * np.exp(-2.0 * t) * (1.0 + 2.0 * t), atol=1e-12)
    assert np.trapezoid(flux, t) == pytest.approx(2.0, rel=1e-5)


def test_exact_profile_figure_writes_png_and_numbers(tmp_path):
    summary = exact_profile_figure(tmp_path, spins=(4,), points=80)
    assert (tmp_path / "exact_vs_cascade.png").stat().st_size > 10_000
    on_disk = json.loads((tmp_path / "exact_vs_cascade.json").read_text())
    assert set(on_disk["S=4"]) == {f"x={x:g}" for x in EXACT_X}
    ratios = [summary["S=4"][f"x={x:g}"]["mean_emission_over_cascade"] for x in EXACT_X]
    assert ratios[0] == pytest.approx(1.0, abs=0.01)  # x = 0.1: the cascade holds
    assert np.all(np.diff(ratios) > 0) and ratios[-1] > 1.5  # the cavity slows emission
