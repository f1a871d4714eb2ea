"""Simulate a pulse through an imperfect switch: a coherent wrong coupling (notes estimator §2.5).

A residual resonant drive of the other polarisation, with power ratio r² to the intended one, makes
the cavity's jump operator L = S_intended + r S_other (S_intended = S₋ for TC, S₊ for anti-TC), at
the rate Γ of the intended polarisation. The state is no longer a single |S, m>, so the pulse is
simulated as a quantum-jump (Monte Carlo wave-function) trajectory: between photons the state
evolves with exp(−½ Γ L†L t); the waiting time to the next photon is drawn by inverting the survival
probability ‖exp(−½ Γ L†L t) ψ‖²; a photon applies L. L†L is diagonalised once per (S, polarisation,
r) and cached. The cost is O(S²) per photon, so this path is meant for S up to a few hundred.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.linalg import eigh

from heralder.control.records import SwitchState
from heralder.physics import cascade_rates

__all__ = ["basis_state", "leaky_pulse"]


@lru_cache(maxsize=4)  # (2S+1)² floats each: a shot needs its S in both polarisations
def _jump_operator(S: int, state: SwitchState, r: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (L, eigenvalues of L†L clipped at 0, eigenvectors) on the basis m = −S..S."""
    dim = 2 * S + 1
    # |<S,m−1|S₋|S,m>|² are the cascade's step rates: the full ladder's step j starts at m = S−j+1.
    amplitude = np.sqrt(np.asarray(cascade_rates(S, 1), dtype=np.float64))
    lower = np.zeros((dim, dim))
    index = np.arange(1, dim)  # basis index of m = −S+1..S, whose S₋ step is ladder step S−m+1
    lower[index - 1, index] = amplitude[::-1]
    raise_ = lower.T
    intended, other = (lower, raise_) if state is SwitchState.TC else (raise_, lower)
    jump = intended + r * other
    values, vectors = eigh(jump.T @ jump)
    for array in (jump, values, vectors):
        array.setflags(write=False)
    return jump, np.clip(values, 0.0, None), vectors


def _waiting_time(weights: np.ndarray, rates: np.ndarray, log_u: float) -> float:
    """Return τ with log Σ w e^{−a τ} = log u, by Newton's method.

    The left side is convex and decreasing in τ, so Newton's iteration from τ = 0 rises
    monotonically to the root without overshooting.
    """
    live = weights > 0.0
    w, a = weights[live], rates[live]
    tau = 0.0
    for _ in range(200):
        decay = w * np.exp(-a * tau)
        total = decay.sum()
        f = math.log(total) - log_u
        if f <= 1e-13:
            return tau
        step = f * total / np.dot(a, decay)
        tau += step
        if step <= 1e-15 * tau:
            return tau
    return tau


def basis_state(S: int, m: int) -> np.ndarray:
    """Return |S, m> as a real vector on the basis m = −S..S."""
    psi = np.zeros(2 * S + 1)
    psi[m + S] = 1.0
    return psi


def leaky_pulse(
    psi: np.ndarray, S: int, state: SwitchState, gamma_per_s: float, leak_r2: float,
    gate_s: float, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one pulse of ``gate_s`` on ``psi`` with the leaky jump operator.

    Returns
    -------
    (psi_after, times_s)
        The normalised state at the end of the gate and the photon emission times (sorted).
    """
    jump, values, vectors = _jump_operator(S, state, math.sqrt(leak_r2))
    rates = gamma_per_s * values
    times: list[float] = []
    t = 0.0
    while True:
        weights = (vectors.T @ psi) ** 2
        remaining = gate_s - t
        u = rng.random()
        if u <= np.dot(weights, np.exp(-rates * remaining)):  # no photon before the gate ends
            coeffs = (vectors.T @ psi) * np.exp(-0.5 * rates * remaining)
            psi = vectors @ coeffs
            return psi / np.linalg.norm(psi), np.asarray(times)
        wait = _waiting_time(weights, rates, math.log(u))
        psi = jump @ (vectors @ ((vectors.T @ psi) * np.exp(-0.5 * rates * wait)))
        psi /= np.linalg.norm(psi)
        t += wait
        times.append(t)
