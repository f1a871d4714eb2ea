"""Draw photon emission times of one pulse from the exact atom–cavity dynamics (quantum jumps).

Unravelling of eq. (2) at fixed S (model and basis: :mod:`heralder.physics.exact_dynamics`):
between emissions the state ψ lives in one excitation manifold and evolves under the non-Hermitian
H_eff = H − iκa†a; the survival ‖e^{−iH_eff t}ψ‖² is the probability that no photon has left yet,
so a waiting time is drawn by solving ‖e^{−iH_eff t}ψ‖² = u for a uniform u (inversion, no time
steps), and the emission applies a: ψ → aψ/‖aψ‖ in the next manifold. After k = q₀ + S photons
the atoms are in the dark state.

The survival is evaluated in a Krylov subspace of H_eff (Arnoldi, at most ``_KRYLOV`` vectors, the
whole manifold when it is smaller): within it e^{−iH_m t} is a small eigen-decomposition, so
the root is found by safeguarded Newton on log-survival; the subspace is trusted up to the time
where Saad's a-posteriori error estimate β h_{m+1,m} |e_mᵀ φ₁(−iH_m t) e₁| t reaches ``_TOL``,
then rebuilt from the propagated state. Manifolds are tridiagonal, so nothing is prepared or
cached per S: each photon costs O(m² d). Compiled with numba when installed (extra ``fast``); the
same code runs as plain Python otherwise (slowly).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from heralder.config import AtomsConfig
from heralder.control.records import SwitchState
from heralder.physics.cavity import cavity_parameters, likely_spin_range
from heralder.physics.exact_dynamics import AtomCavity, check_spin, ladder_start

try:
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without the `fast` extra
    def njit(*_args, **_kwargs):  # type: ignore[no-redef]
        """Return the function unchanged (numba is not installed)."""
        return lambda func: func

__all__ = ["AUTO_MAX_Y", "ExactPulse", "ExactSampler", "sampler_for_lab"]

_log = logging.getLogger(__name__)

_KRYLOV = 8  # largest Krylov subspace per restart
_TOL = 1e-10  # error allowed on the propagated state (norm 1 at each photon's start)


@njit(cache=True)
def _manifold(S, level, lam, kappa, omega, omega0, diag, off):
    """Fill diag/off (length ≥ d) with H_eff of manifold ``level``; return its dimension d."""
    d = level + S + 1
    for n in range(d):
        q = level - n
        diag[n] = complex(omega * n + omega0 * q, -kappa * n)
        if n < d - 1:
            off[n] = lam * math.sqrt((n + 1.0) * (S + q) * (S - q + 1.0))
    return d


@njit(cache=True)
def _support(psi, d):
    """Return [lo, hi) outside which |ψ_n| < 1e-18 ‖ψ‖ (below round-off of every result)."""
    cut = 1e-36 * (np.abs(psi[:d]) ** 2).sum()
    lo, hi = 0, d
    while lo < d - 1 and abs(psi[lo]) ** 2 <= cut:
        lo += 1
    while hi > lo + 1 and abs(psi[hi - 1]) ** 2 <= cut:
        hi -= 1
    return lo, hi


@njit(cache=True)
def _arnoldi(diag, off, d, psi, m_max, basis, hess):
    """Build an orthonormal Krylov basis of H_eff from psi; return (m, beta, h_{m+1,m}).

    H_eff is tridiagonal, so the j-th basis vector lives on psi's support widened by j on each
    side; every operation is restricted to that range (amplitudes below 1e-18 are dropped first).
    """
    lo0, hi0 = _support(psi, d)
    psi[:lo0] = 0.0
    psi[hi0:d] = 0.0
    beta = math.sqrt((np.abs(psi[lo0:hi0]) ** 2).sum())
    basis[:, :d] = 0.0
    basis[0, lo0:hi0] = psi[lo0:hi0] / beta
    hess[:, :] = 0.0
    w = np.zeros(d, np.complex128)
    m = min(m_max, d)
    for j in range(m):
        v = basis[j]
        lo = max(lo0 - j - 1, 0)
        hi = min(hi0 + j + 1, d)
        for i in range(lo, hi):
            acc = diag[i] * v[i]
            if i > 0:
                acc += off[i - 1] * v[i - 1]
            if i < d - 1:
                acc += off[i] * v[i + 1]
            w[i] = acc
        scale = math.sqrt((np.abs(w[lo:hi]) ** 2).sum())
        norm = scale
        for _ in range(2):  # Gram–Schmidt, repeated only when cancellation was strong
            for i in range(j + 1):
                h = np.vdot(basis[i, lo:hi], w[lo:hi])
                hess[i, j] += h
                w[lo:hi] -= h * basis[i, lo:hi]
            previous = norm
            norm = math.sqrt((np.abs(w[lo:hi]) ** 2).sum())
            if norm > 0.7 * previous:
                break
        if norm <= 1e-12 * max(scale, 1e-300) or j + 1 == d:
            return j + 1, beta, 0.0  # invariant subspace: exact
        hess[j + 1, j] = norm
        if j + 1 < m:
            basis[j + 1, lo:hi] = w[lo:hi] / norm
            w[lo:hi] = 0.0
        else:
            return m, beta, norm
    return m, beta, 0.0


@njit(cache=True)
def _phi1(z):
    """Return (e^z − 1)/z without cancellation near 0."""
    if abs(z) < 1e-4:
        return 1.0 + z / 2.0 + z * z / 6.0
    return (np.exp(z) - 1.0) / z


@njit(cache=True)
def _error(t, beta, h_next, growth, mu):
    """Return Saad's estimate of the Krylov error on ψ(t) (0 for an invariant subspace)."""
    if h_next == 0.0:
        return 0.0
    acc = 0j
    for k in range(mu.size):
        acc += growth[k] * _phi1(mu[k] * t)
    return beta * h_next * abs(acc) * t


@njit(cache=True)
def _survival(t, beta, c, mu, vecs):
    """Return (‖y(t)‖², d‖y‖²/dt) for y(t) = W diag(e^{μt}) βc in the Krylov basis."""
    z = beta * c * np.exp(mu * t)
    y = vecs @ z
    dy = vecs @ (mu * z)
    return (np.abs(y) ** 2).sum(), 2.0 * (np.conj(y) * dy).sum().real


@njit(cache=True)
def _combine(basis, m, d, y, psi):
    """Write ψ = Σ_i y_i v_i (the Krylov basis vectors) into psi[:d]."""
    psi[:d] = 0.0
    for i in range(m):
        psi[:d] += y[i] * basis[i, :d]


@njit(cache=True)
def _wait(diag, off, d, psi, u, t_max, basis, hess):
    """Propagate psi until ‖ψ(t)‖² = u or t = t_max; return (t, emitted?) and leave ψ(t) in psi."""
    t_done = 0.0
    tau = -1.0
    while True:
        m, beta, h_next = _arnoldi(diag, off, d, psi, _KRYLOV, basis, hess)
        hm = hess[:m, :m]
        mu, vecs = np.linalg.eig(-1j * hm)
        e1 = np.zeros(m, np.complex128)
        e1[0] = 1.0
        c = np.linalg.solve(vecs, e1)
        growth = vecs[m - 1, :] * c  # e_mᵀ W diag(.) W⁻¹ e₁ weights

        if tau <= 0.0:
            tau = 1.0 / max(np.abs(mu).max(), 1e-300)
        while _error(tau, beta, h_next, growth, mu) > _TOL and tau > 1e-300:
            tau *= 0.5
        limit = t_max - t_done
        for _ in range(200):  # grow the trusted step while the root is not yet bracketed
            if tau >= limit or _survival(tau, beta, c, mu, vecs)[0] <= u:
                break
            if _error(2.0 * tau, beta, h_next, growth, mu) > _TOL:
                break
            tau *= 2.0
        step = min(tau, limit)
        p_end = _survival(step, beta, c, mu, vecs)[0]
        if p_end > u:  # no emission within this step
            _combine(basis, m, d, vecs @ (beta * c * np.exp(mu * step)), psi)
            t_done += step
            if step >= limit:
                return t_done, False
            continue
        # Safeguarded Newton on g(t) = log p(t) − log u over the bracket [lo, hi].
        lo, hi = 0.0, step
        t = step * 0.5
        log_u = math.log(u)
        for _ in range(100):
            p, dp = _survival(t, beta, c, mu, vecs)
            g = math.log(p) - log_u
            if g > 0.0:
                lo = t
            else:
                hi = t
            if abs(g) < 1e-13 or hi - lo <= 1e-15 * hi:
                break
            t_new = t - g * p / dp if dp < 0.0 else 0.5 * (lo + hi)
            t = t_new if lo < t_new < hi else 0.5 * (lo + hi)
        _combine(basis, m, d, vecs @ (beta * c * np.exp(mu * t)), psi)
        return t_done + t, True


@njit(cache=True)
def _pulse(S, q0, lam, kappa, omega, omega0, uniforms, t_max):
    """Emit the photons of one pulse; return (times, photons emitted, final state vector)."""
    k = q0 + S
    size = 2 * S + 1
    diag = np.zeros(size, np.complex128)
    off = np.zeros(size, np.float64)
    basis = np.zeros((_KRYLOV, size), np.complex128)
    hess = np.zeros((_KRYLOV + 1, _KRYLOV), np.complex128)
    psi = np.zeros(size, np.complex128)
    psi[0] = 1.0
    times = np.zeros(k, np.float64)
    t = 0.0
    for j in range(k):
        d = _manifold(S, q0 - j, lam, kappa, omega, omega0, diag, off)
        wait, emitted = _wait(diag, off, d, psi, uniforms[j], t_max - t, basis, hess)
        t += wait
        if not emitted:
            return times, j, psi[:d].copy()
        times[j] = t
        for n in range(d - 1):  # ψ → aψ/‖aψ‖ in the next manifold
            psi[n] = math.sqrt(n + 1.0) * psi[n + 1]
        psi[d - 1] = 0.0
        norm = math.sqrt((np.abs(psi[:d - 1]) ** 2).sum())
        psi[:d - 1] /= norm
    final = np.zeros(1, np.complex128)
    final[0] = 1.0
    return times, k, final


@dataclass(frozen=True)
class ExactPulse:
    """Hold one pulse drawn from the exact dynamics.

    Attributes
    ----------
    times_s
        Emission times of the photons that left the cavity before ``t_max_s``, sorted, s.
    m_end
        The atoms' m after the pulse: −S (TC) or +S (anti-TC) when every photon left; otherwise
        drawn from the state at ``t_max_s`` (the drive stops there; the cavity then empties
        without changing the atoms).
    """

    times_s: np.ndarray
    m_end: int


class ExactSampler:
    """Draw pulses of the exact atom–cavity dynamics for one TC and one anti-TC model.

    Parameters
    ----------
    tc, anti_tc
        Parameters (λ, κ, ω, ω₀) of the TC and anti-TC pulses.
    n_atoms
        Atom number N; spin lengths outside [0, N] are rejected.
    """

    def __init__(self, tc: AtomCavity, anti_tc: AtomCavity, n_atoms: int | None = None) -> None:
        for name, model in (("tc", tc), ("anti_tc", anti_tc)):
            if not isinstance(model, AtomCavity):
                raise ValueError(f"{name} must be an AtomCavity, got {model!r}")
        self.models = {SwitchState.TC: tc, SwitchState.ANTI_TC: anti_tc}
        self.n_atoms = n_atoms

    def sample(self, S: int, m: int, state: SwitchState, rng: np.random.Generator,
               t_max_s: float = math.inf) -> ExactPulse:
        """Draw one pulse of polarisation ``state`` started from |S, m⟩ with an empty cavity.

        Raises
        ------
        ValueError
            If S lies outside [0, N], m outside [−S, S], or t_max_s is not > 0.
        """
        s = check_spin(S, self.n_atoms)
        q0 = ladder_start(s, m, state)
        if not t_max_s > 0.0:
            raise ValueError(f"t_max_s must be > 0, got {t_max_s!r}")
        model = self.models[state]
        sign = 1 if state is SwitchState.TC else -1
        k = q0 + s
        if k == 0:
            return ExactPulse(np.zeros(0), m)
        uniforms = 1.0 - rng.random(k)  # in (0, 1]
        times, emitted, psi = _pulse(s, q0, model.lambda_rad_s, model.kappa_rad_s,
                                     model.omega_rad_s, model.ladder_omega0_rad_s(state),
                                     uniforms, float(t_max_s))
        if emitted == k:
            return ExactPulse(times, -sign * s)
        # Cut by t_max: the atoms keep q = E − n with probability |ψ_n|².
        weights = np.abs(psi) ** 2
        n = int(np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(), side="right"))
        q = (q0 - emitted) - min(n, weights.size - 1)
        return ExactPulse(times[:emitted].copy(), sign * q)


#: Largest y = λ√(S(S+1))/(κ/2) at which ``dynamics = "auto"`` keeps the cascade (≲ 1 % timing).
AUTO_MAX_Y = 0.3


def sampler_for_lab(atoms: AtomsConfig, dynamics: str) -> ExactSampler | None:
    """Return the exact sampler a virtual lab should use, or ``None`` for the cascade.

    ``"auto"`` picks exact dynamics when y = λ√(S(S+1))/(κ/2) exceeds ``AUTO_MAX_Y`` at the
    largest likely S (or at ``fixed_s``) for either polarisation, and logs that once per lab.

    Raises
    ------
    ValueError
        If ``dynamics`` is not ``"cascade"``, ``"exact"`` or ``"auto"``.
    """
    if dynamics not in ("cascade", "exact", "auto"):
        raise ValueError(f"dynamics must be 'cascade', 'exact' or 'auto', got {dynamics!r}")
    if dynamics == "cascade":
        return None
    params = cavity_parameters(atoms)
    if dynamics == "auto":
        s_hi = atoms.fixed_s if atoms.fixed_s is not None else likely_spin_range(atoms.n_atoms)[1]
        y = float(params.max_x(s_hi))
        if y <= AUTO_MAX_Y * (1.0 + 1e-9):  # the bad-cavity preset sits exactly at the bound
            return None
        _log.info("dynamics = auto: exact atom-cavity photon times (y = %.3g > %.2g at S = %d; "
                  "the bad-cavity cascade is outside its validity)", y, AUTO_MAX_Y, s_hi)
    return ExactSampler(AtomCavity.from_cavity(params, SwitchState.TC),
                        AtomCavity.from_cavity(params, SwitchState.ANTI_TC),
                        n_atoms=atoms.n_atoms)
