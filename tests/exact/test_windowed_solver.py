"""Check the moving block window of the profile solver against whole-system solves."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.control.records import SwitchState
from heralder.physics.exact_dynamics import _integrate, _liouvillian, emission_moments

ATOL = 1e-12


def _grid_and_liouvillian(model, S):
    grid = np.linspace(0.0, 3.0 * emission_moments(model, S).duration_mean_s, 200)
    return grid, _liouvillian(model, S, 0, SwitchState.TC, S)


@pytest.mark.parametrize("S", [10, 20])
@pytest.mark.parametrize("x", [0.1, 0.5, 1.0, 2.0])
def test_window_matches_whole_system(S, x, model_at_x):
    """R(t) and the block populations with only live blocks integrated equal the full solve."""
    grid, liou = _grid_and_liouvillian(model_at_x(S, x), S)
    pops, flux, _ = _integrate(liou, grid, False, ATOL)
    ref_pops, ref_flux, _ = _integrate(liou, grid, False, ATOL, window=False)
    assert np.abs(flux - ref_flux).max() <= 1e-6 * ref_flux.max()
    assert np.abs(pops - ref_pops).max() <= 1e-6
    np.testing.assert_allclose(pops.sum(axis=0), 1.0, atol=1e-6)  # nothing lost at the edges


@pytest.mark.parametrize("x", [0.5, 2.0])
def test_window_matches_bdf(x, model_at_x):
    """An independent integrator (BDF, exact Jacobian) agrees on R(t) at S = 10."""
    grid, liou = _grid_and_liouvillian(model_at_x(10, x), 10)
    _, flux, _ = _integrate(liou, grid, False, ATOL)
    _, ref_flux, _ = _integrate(liou, grid, True, ATOL)
    assert np.abs(flux - ref_flux).max() <= 1e-6 * ref_flux.max()
