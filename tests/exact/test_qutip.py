"""Check the manifold solver against QuTiP's master-equation solution of eq. (2) at S <= 3."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.control.records import SwitchState
from heralder.physics.exact_dynamics import emission_profile

qutip = pytest.importorskip("qutip")


def _qutip_flux(model, S, state, m_start, times):
    """Return (2κ⟨a†a⟩(t), P(atoms in the dark state, cavity empty)(t)) from qutip.mesolve."""
    k = (m_start if state is SwitchState.TC else -m_start) + S
    n_fock = k + 1  # the cavity never holds more than the k photons of the pulse
    a = qutip.tensor(qutip.destroy(n_fock), qutip.qeye(2 * S + 1))
    sp = qutip.tensor(qutip.qeye(n_fock), qutip.jmat(S, "+"))
    sz = qutip.tensor(qutip.qeye(n_fock), qutip.jmat(S, "z"))
    sm = sp.dag()
    lam = model.lambda_rad_s
    if state is SwitchState.TC:
        coupling = lam * (a * sp + a.dag() * sm)
        dark_m = -S
    else:
        coupling = lam * (a * sm + a.dag() * sp)
        dark_m = S
    H = model.omega_rad_s * a.dag() * a + model.omega0_rad_s * sz + coupling
    psi0 = qutip.tensor(qutip.basis(n_fock, 0), qutip.spin_state(S, m_start))
    dark = qutip.tensor(qutip.basis(n_fock, 0), qutip.spin_state(S, dark_m))
    result = qutip.mesolve(H, psi0, times, [np.sqrt(2.0 * model.kappa_rad_s) * a],
                           e_ops=[2.0 * model.kappa_rad_s * a.dag() * a, dark * dark.dag()],
                           options={"atol": 1e-11, "rtol": 1e-9})
    return np.asarray(result.expect[0]), np.asarray(result.expect[1])


@pytest.mark.parametrize(
    ("S", "x", "state", "m_start", "omega", "omega0"),
    [
        (1, 0.5, SwitchState.TC, 0, 0.0, 0.0),
        (2, 2.0, SwitchState.TC, 0, 0.3, -0.2),
        (2, 1.0, SwitchState.ANTI_TC, -2, 0.0, 0.4),
        (3, 2.0, SwitchState.ANTI_TC, -3, -0.5, 0.1),
        (3, 0.5, SwitchState.TC, 3, 0.2, 0.0),
    ],
)
def test_flux_and_final_state_match_qutip(S, x, state, m_start, omega, omega0, model_at_x):
    model = model_at_x(S, x, omega=omega, omega0=omega0)
    times = np.linspace(0.0, 12.0 / min(1.0, x * x), 121)
    flux_q, dark_q = _qutip_flux(model, S, state, m_start, times)
    ours = emission_profile(model, S, times, state=state, m_start=m_start)
    scale = flux_q.max()
    np.testing.assert_allclose(ours.flux_hz, flux_q, atol=1e-6 * scale)
    # The last photon has left exactly when the atoms are dark and the cavity empty.
    np.testing.assert_allclose(ours.photon_cdf[-1], dark_q, atol=1e-6)
    # Integrated flux = mean photons emitted (a consistency check of the two outputs).
    emitted = np.concatenate(([0.0], np.cumsum(0.5 * (flux_q[1:] + flux_q[:-1]) * np.diff(times))))
    np.testing.assert_allclose(ours.mean_emitted, emitted, atol=2e-3 * ours.n_photons)
