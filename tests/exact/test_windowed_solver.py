"""Check the profile solvers: the scipy block window against whole-system solves and BDF, and
the compiled Taylor integrator against the scipy solver."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.control.records import SwitchState
from heralder.physics import _profile_scipy, exact_dynamics
from heralder.physics.exact_dynamics import (
    _blocks,
    _kernels,
    _solve,
    emission_moments,
    emission_profile,
)

ATOL = 1e-12


def _grid(model, S):
    return np.linspace(0.0, 3.0 * emission_moments(model, S).duration_mean_s, 200)


def _scipy_liouvillian(model, S):
    return _profile_scipy.liouvillian(_blocks(model, S, 0, SwitchState.TC), model.kappa_rad_s, S)


@pytest.mark.parametrize("S", [10, 20])
@pytest.mark.parametrize("x", [0.1, 0.5, 1.0, 2.0])
def test_window_matches_whole_system(S, x, model_at_x):
    """R(t) and the block populations with only live blocks integrated equal the full solve."""
    model = model_at_x(S, x)
    grid, liou = _grid(model, S), _scipy_liouvillian(model, S)
    pops, flux, _ = _profile_scipy.integrate(liou, grid, False, ATOL)
    ref_pops, ref_flux, _ = _profile_scipy.integrate(liou, grid, False, ATOL, window=False)
    assert np.abs(flux - ref_flux).max() <= 1e-6 * ref_flux.max()
    assert np.abs(pops - ref_pops).max() <= 1e-6
    np.testing.assert_allclose(pops.sum(axis=0), 1.0, atol=1e-6)  # nothing lost at the edges


@pytest.mark.parametrize("x", [0.5, 2.0])
def test_window_matches_bdf(x, model_at_x):
    """An independent integrator (BDF, exact Jacobian) agrees on R(t) at S = 10."""
    model = model_at_x(10, x)
    grid, liou = _grid(model, 10), _scipy_liouvillian(model, 10)
    _, flux, _ = _profile_scipy.integrate(liou, grid, False, ATOL)
    _, ref_flux, _ = _profile_scipy.integrate(liou, grid, True, ATOL)
    assert np.abs(flux - ref_flux).max() <= 1e-6 * ref_flux.max()


@pytest.mark.skipif(_kernels() is None, reason="the compiled path needs numba (extra 'fast')")
@pytest.mark.parametrize("S", [10, 20])
@pytest.mark.parametrize("x", [0.1, 0.5, 1.0, 2.0])
def test_compiled_matches_scipy(S, x, model_at_x):
    """The compiled Taylor integrator (adaptive photon levels per block) equals the scipy path
    (DOP853 or, where stiff, BDF), detuned so that every element of H_eff is exercised."""
    model = model_at_x(S, x, omega=0.1, omega0=-0.05)
    grid = _grid(model, S)
    pops, flux, _ = _solve(model, S, 0, SwitchState.TC, grid, None, 1e-10)
    ref_pops, ref_flux, _ = _profile_scipy.solve(_blocks(model, S, 0, SwitchState.TC),
                                                 model.kappa_rad_s, grid, None, 1e-10)
    assert np.abs(flux - ref_flux).max() <= 1e-7 * ref_flux.max()
    assert np.abs(pops - ref_pops).max() <= 1e-7
    np.testing.assert_allclose(pops.sum(axis=0), 1.0, atol=1e-9)


def test_profile_without_numba_uses_scipy(model_at_x, monkeypatch):
    """Without numba the profile runs on scipy and gives the compiled path's answer."""
    model = model_at_x(6, 1.0)
    grid = _grid(model, 6)
    compiled = emission_profile(model, 6, grid, state=SwitchState.ANTI_TC, m_start=-6)
    monkeypatch.setattr(exact_dynamics, "_kernels", lambda: None)
    reference = emission_profile(model, 6, grid, state=SwitchState.ANTI_TC, m_start=-6)
    assert reference.n_photons == compiled.n_photons == 12
    np.testing.assert_allclose(compiled.flux_hz, reference.flux_hz,
                               atol=1e-7 * reference.flux_hz.max())
    np.testing.assert_allclose(compiled.photon_cdf, reference.photon_cdf, atol=1e-7)
