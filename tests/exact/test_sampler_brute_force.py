"""Check the sampler's waiting-time inversion against brute force: dense expm and brentq.

Given the same uniforms, a trajectory is a deterministic function of them, so the compiled
Krylov/Taylor-ladder sampler must reproduce, photon by photon, the times of a direct dense
solution of ‖e^{−iH_eff t}ψ‖² = u in each full manifold.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import brentq

from heralder.control.records import SwitchState
from heralder.physics.exact_dynamics import AtomCavity, ladder_start, manifold_hamiltonian
from heralder.simulators import exact_kernels
from heralder.simulators.exact_sampler import ExactSampler


def _brute_force_times(model, S, q0, state, uniforms, t_max=math.inf):
    """Return the emission times before t_max by dense propagators and bracketed root finding."""
    psi = np.zeros(q0 + S + 1, np.complex128)
    psi[0] = 1.0
    t, times = 0.0, []
    for j, u in enumerate(uniforms):
        diag, off = manifold_hamiltonian(model, S, q0 - j, state)
        h = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)

        def excess(s, h=h, psi=psi, u=u):
            return float(np.linalg.norm(expm(-1j * h * s) @ psi) ** 2 - u)

        hi = 1.0
        while excess(hi) > 0.0 and t + hi < t_max:
            hi *= 2.0
        if t + hi >= t_max and excess(t_max - t) > 0.0:
            break
        wait = brentq(excess, 0.0, hi, xtol=1e-14, rtol=1e-13)
        psi = expm(-1j * h * wait) @ psi
        t += wait
        times.append(t)
        psi = np.sqrt(np.arange(1.0, psi.size)) * psi[1:]
        psi /= np.linalg.norm(psi)
    return np.array(times)


@pytest.mark.parametrize(
    ("S", "lam", "state", "m_start", "omega", "omega0", "t_max"),
    [
        (4, 0.3, SwitchState.TC, 0, 0.0, 0.0, math.inf),
        (4, 0.6, SwitchState.ANTI_TC, -4, 0.4, -0.2, math.inf),
        (3, 1.5, SwitchState.TC, 3, -0.3, 0.5, math.inf),
        (5, 0.4, SwitchState.ANTI_TC, -5, 0.0, 0.0, 6.0),
        (12, 0.2, SwitchState.TC, 0, 0.1, 0.0, math.inf),  # manifolds > Krylov size: restarts
    ],
)
def test_times_match_dense_inversion(S, lam, state, m_start, omega, omega0, t_max):
    model = AtomCavity(lam, 1.0, omega, omega0)
    sampler = ExactSampler(model, model)
    q0 = ladder_start(S, m_start, state)
    for seed in range(2):
        pulse = sampler.sample(S, m_start, state, np.random.default_rng(seed), t_max_s=t_max)
        uniforms = 1.0 - np.random.default_rng(seed).random(q0 + S)  # the sampler's draws
        expected = _brute_force_times(model, S, q0, state, uniforms, t_max)
        assert pulse.times_s.size == expected.size
        np.testing.assert_allclose(pulse.times_s, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n", [2, 5, 9])
def test_compiled_taylor_exponential_matches_scipy(n):
    """The sampler's scaled Taylor e^A (‖A‖₁ ≤ 1/2, the only range it is used in) is exact."""
    rng = np.random.default_rng(n)
    for _ in range(5):
        a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
        a *= 0.5 / np.abs(a).sum(axis=0).max()
        out = np.zeros((n, n), np.complex128)
        work = np.zeros((4, n, n), np.complex128)
        exact_kernels._expm_taylor(a, n, out, work[:3], work[3])
        np.testing.assert_allclose(out, expm(a), rtol=0, atol=1e-15)
