"""Solve one pulse of the paper's eq. (2) exactly at fixed S: atoms, cavity and its decay.

Model (ħ = 1, paper eqs. 2–5): H = ω a†a + ω₀ S_z + λ(a S₊ + a† S₋) for a TC pulse (λ = λ₋) or
H = ω a†a + ω₀ S_z + λ(a S₋ + a† S₊) for an anti-TC pulse (λ = λ₊); the cavity field decays at κ,
so the jump operator is √(2κ) a and the output photon flux is R(t) = 2κ⟨a†a⟩.

Ladder coordinate q = m (TC) or q = −m (anti-TC): an anti-TC pulse is a TC pulse with ω₀ → −ω₀.
H conserves E = n + q (n cavity photons), and a†a's jump lowers E by one, so a pulse started in
|S, q₀⟩|0⟩ lives in manifold E = q₀ until its first emission, then E = q₀ − 1, ... and ends in the
dark state |S, q = −S⟩|0⟩ after exactly k = q₀ + S photons. Manifold E has the basis
|q = E − n⟩|n⟩, n = 0..E+S (dimension ≤ 2S+1); H_eff = H − iκ a†a is complex-symmetric
tridiagonal there, with coupling λ√(n+1)√((S+q)(S−q+1)) between n and n+1.

Bad-cavity limit (κ ≫ λS): the cavity follows the atoms adiabatically and |S,q⟩ decays at
Γ(S+q)(S−q+1), Γ = 2λ²/κ — the cascade of :mod:`heralder.physics.cascade`.

The density matrix stays block-diagonal over manifolds (one manifold feeds the next), so this
module integrates the blocks ρ_j (j = photons emitted so far) with scipy's DOP853. Cavity photon
numbers above a cutoff are dropped only when an a-posteriori check shows their population stays
below ``cutoff_tol`` (the cutoff doubles until it does, up to the exact full dimension).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from heralder.control.records import SwitchState
from heralder.physics.cavity import CavityParameters, bad_cavity_x

__all__ = [
    "AtomCavity",
    "DurationMoments",
    "EmissionProfile",
    "duration_moments",
    "emission_profile",
    "ladder_start",
    "manifold_hamiltonian",
    "pulse_start",
]

_RTOL = 1e-9
_ATOL = 1e-12
_FIRST_CUTOFF = 8  # cavity photons kept on the first try of the adaptive cutoff


@dataclass(frozen=True)
class AtomCavity:
    """Hold the parameters of eq. (3) for one drive polarisation, angular units (rad/s).

    Attributes
    ----------
    lambda_rad_s
        Raman coupling λ (λ₋ for TC, λ₊ for anti-TC), > 0.
    kappa_rad_s
        Cavity field decay rate κ of eq. (2), > 0.
    omega_rad_s, omega0_rad_s
        Detunings ω (cavity, eq. 4) and ω₀ (Zeeman, eq. 5); finite, any sign.

    Raises
    ------
    ValueError
        If a parameter is not finite or λ, κ are not > 0; the message names it.
    """

    lambda_rad_s: float
    kappa_rad_s: float
    omega_rad_s: float = 0.0
    omega0_rad_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lambda_rad_s", "kappa_rad_s", "omega_rad_s", "omega0_rad_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
                raise ValueError(f"{name} must be a real number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("lambda_rad_s", "kappa_rad_s"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_cavity(cls, params: CavityParameters, state: SwitchState, *,
                    omega_rad_s: float = 0.0, omega0_rad_s: float = 0.0) -> AtomCavity:
        """Return the model of a TC or anti-TC pulse for resolved ``[atoms]`` parameters."""
        lam = params.lambda_tc_rad_s if state is SwitchState.TC else params.lambda_antitc_rad_s
        return cls(lam, 2.0 * math.pi * params.kappa_hz, omega_rad_s, omega0_rad_s)

    @property
    def gamma_per_s(self) -> float:
        """Return the bad-cavity cascade rate Γ = 2λ²/κ, 1/s."""
        return 2.0 * self.lambda_rad_s**2 / self.kappa_rad_s

    def x(self, S: int) -> float:
        """Return x = √S λ/(κ/2), the parameter the exact timing mainly depends on."""
        return math.sqrt(S) * self.lambda_rad_s / (0.5 * self.kappa_rad_s)

    def y(self, S: int) -> float:
        """Return y = λ√(S(S+1))/(κ/2), the cascade's validity parameter (≲ 0.3 for ≲ 1 %)."""
        return float(bad_cavity_x(self.lambda_rad_s, self.kappa_rad_s / (2.0 * math.pi), S))

    def ladder_omega0_rad_s(self, state: SwitchState) -> float:
        """Return ω₀ in the ladder coordinate q (anti-TC mirrors m → −m, so ω₀ → −ω₀)."""
        return self.omega0_rad_s if state is SwitchState.TC else -self.omega0_rad_s


def check_spin(S: object, n_atoms: int | None = None) -> int:
    """Return ``S`` as an int after checking it is an integer in [0, n_atoms]."""
    if isinstance(S, bool):
        raise ValueError(f"S must be an integer spin length, got {S!r}")
    try:
        s = operator.index(S)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"S must be an integer spin length, got {S!r}") from None
    upper = n_atoms if n_atoms is not None else s
    if not 0 <= s <= upper:
        raise ValueError(f"S must lie in [0, N={n_atoms}], got {s}" if n_atoms is not None
                         else f"S must be >= 0, got {s}")
    return s


def ladder_start(S: int, m: int, state: SwitchState) -> int:
    """Return q₀, the ladder coordinate of |S, m⟩ for a pulse of ``state`` (q = ±m).

    Raises
    ------
    ValueError
        If ``m`` is not an integer in [−S, S] or ``state`` is not a SwitchState.
    """
    if not isinstance(state, SwitchState):
        raise ValueError(f"state must be a SwitchState, got {state!r}")
    try:
        mm = operator.index(m)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"m must be an integer, got {m!r}") from None
    if not -S <= mm <= S:
        raise ValueError(f"m must lie in [-S, S] = [{-S}, {S}], got {mm}")
    return mm if state is SwitchState.TC else -mm


def pulse_start(S: int, pulse: int) -> tuple[SwitchState, int]:
    """Return (polarisation, m) at the start of pulse ``pulse`` of an ideal shot.

    Pulse 0 is TC from |S,0⟩; odd pulses are anti-TC from |S,−S⟩; even pulses > 0 are TC from
    |S,+S⟩ (DESIGN §1).
    """
    if isinstance(pulse, bool) or not isinstance(pulse, int | np.integer) or pulse < 0:
        raise ValueError(f"pulse must be an integer >= 0, got {pulse!r}")
    if pulse == 0:
        return SwitchState.TC, 0
    return (SwitchState.ANTI_TC, -S) if pulse % 2 else (SwitchState.TC, S)


def manifold_hamiltonian(model: AtomCavity, S: int, level: int,
                         state: SwitchState) -> tuple[np.ndarray, np.ndarray]:
    """Return (diagonal, off-diagonal) of H_eff = H − iκa†a in manifold E = ``level``.

    The basis is |q = E − n⟩|n⟩ for n = 0..E+S; the matrix is complex-symmetric tridiagonal.

    Returns
    -------
    diag : complex128 (d,)
        ω n + ω₀' q − iκ n (ω₀' = ±ω₀ in ladder coordinates).
    off : float64 (d − 1,)
        λ √(n+1) √((S+q)(S−q+1)) between n and n + 1.
    """
    if not -S <= level <= S:
        raise ValueError(f"level must lie in [-S, S] = [{-S}, {S}], got {level}")
    n = np.arange(level + S + 1, dtype=np.float64)
    q = level - n
    diag = (model.omega_rad_s * n + model.ladder_omega0_rad_s(state) * q
            - 1j * model.kappa_rad_s * n)
    qs = q[:-1]
    off = model.lambda_rad_s * np.sqrt((n[:-1] + 1.0) * (S + qs) * (S - qs + 1.0))
    return diag.astype(np.complex128), off


@dataclass(frozen=True)
class EmissionProfile:
    """Hold the deterministic emission of one pulse on a time grid.

    Attributes
    ----------
    times_s
        The grid (s, from the pulse start).
    flux_hz
        Mean output photon flux R(t) = 2κ⟨a†a⟩, photons/s.
    photon_cdf
        ``photon_cdf[j-1, i]`` = P(photon j has been emitted by ``times_s[i]``), j = 1..k.
    cutoff
        Largest cavity photon number kept in the computation.
    """

    times_s: np.ndarray
    flux_hz: np.ndarray
    photon_cdf: np.ndarray
    cutoff: int

    @property
    def n_photons(self) -> int:
        """Return k, the photons the pulse emits."""
        return int(self.photon_cdf.shape[0])

    @property
    def mean_emitted(self) -> np.ndarray:
        """Return the mean number of photons emitted by each grid time, Σ_j P(photon j ≤ t)."""
        return self.photon_cdf.sum(axis=0)


class _Blocks:
    """Integrate the manifold blocks ρ_j of one pulse (padded to a common size)."""

    def __init__(self, model: AtomCavity, S: int, q0: int, state: SwitchState, cutoff: int):
        self.n_blocks = q0 + S + 1  # j = 0..k
        full = q0 + S + 1
        self.size = min(full, cutoff + 1)
        D = self.size
        self.kappa = model.kappa_rad_s
        self.h = np.zeros((self.n_blocks, D), np.complex128)
        self.b = np.zeros((self.n_blocks, D - 1), np.float64)
        for j in range(self.n_blocks):
            diag, off = manifold_hamiltonian(model, S, q0 - j, state)
            d = min(diag.size, D)
            self.h[j, :d] = diag[:d]
            self.b[j, :d - 1] = off[:d - 1]
        root = np.sqrt(np.arange(1, D, dtype=np.float64))
        self.jump = 2.0 * self.kappa * root[:, None] * root[None, :]
        self.photons = np.arange(D, dtype=np.float64)

    def initial(self) -> np.ndarray:
        y = np.zeros(self.n_blocks * self.size**2 + 2, np.complex128)
        y[0] = 1.0  # |S, q0⟩|0⟩ in block 0
        return y

    def rho(self, y: np.ndarray) -> np.ndarray:
        D = self.size
        return y[:-2].reshape(self.n_blocks, D, D)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        rho = self.rho(y)
        x = self.h[:, :, None] * rho
        x[:, :-1, :] += self.b[:, :, None] * rho[:, 1:, :]
        x[:, 1:, :] += self.b[:, :, None] * rho[:, :-1, :]
        drho = -1j * (x - np.conj(x.transpose(0, 2, 1)))
        drho[1:, :-1, :-1] += self.jump * rho[:-1, 1:, 1:]
        out = np.empty_like(y)
        out[:-2] = drho.ravel()
        left = 1.0 - rho[-1, 0, 0].real  # P(the last photon is still to come)
        out[-2] = left
        out[-1] = t * left
        return out

    def populations(self, ys: np.ndarray) -> np.ndarray:
        """Return Tr ρ_j for each block and time (blocks × times)."""
        D = self.size
        blocks = ys[:-2].reshape(self.n_blocks, D, D, -1)
        return np.einsum("jnnt->jt", blocks).real

    def flux(self, ys: np.ndarray) -> np.ndarray:
        D = self.size
        blocks = ys[:-2].reshape(self.n_blocks, D, D, -1)
        diag = np.einsum("jnnt->jnt", blocks).real
        return 2.0 * self.kappa * np.einsum("n,jnt->t", self.photons, diag)

    def edge_population(self, ys: np.ndarray, full: bool) -> float:
        """Return the largest population ever in the highest cavity photon number kept."""
        if full:
            return 0.0
        D = self.size
        blocks = ys[:-2].reshape(self.n_blocks, D, D, -1)
        return float(np.abs(blocks[:, D - 1, D - 1, :]).max())


def _solve(model: AtomCavity, S: int, q0: int, state: SwitchState, times_s: np.ndarray,
           cutoff: int | None, cutoff_tol: float) -> tuple[_Blocks, np.ndarray]:
    """Integrate the blocks on ``times_s``, doubling the photon cutoff until it is safe."""
    full = q0 + S
    trial = full if cutoff is not None and cutoff >= full else (cutoff or _FIRST_CUTOFF)
    while True:
        trial = min(trial, full)
        blocks = _Blocks(model, S, q0, state, trial)
        sol = solve_ivp(blocks.rhs, (0.0, float(times_s[-1])), blocks.initial(), method="DOP853",
                        t_eval=times_s, rtol=_RTOL, atol=_ATOL)
        if not sol.success:
            raise RuntimeError(f"exact dynamics integration failed: {sol.message}")
        if cutoff is not None or blocks.edge_population(sol.y, trial >= full) <= cutoff_tol:
            return blocks, sol.y
        trial *= 2


def _check_times(times_s: object) -> np.ndarray:
    t = np.asarray(times_s, dtype=np.float64)
    if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)) or t[0] < 0.0 \
            or np.any(np.diff(t) <= 0.0):
        raise ValueError("times_s must be a finite, strictly increasing 1-D grid starting >= 0")
    return t


def emission_profile(model: AtomCavity, S: int, times_s: object, *,
                     state: SwitchState = SwitchState.TC, m_start: int = 0,
                     n_atoms: int | None = None, cutoff: int | None = None,
                     cutoff_tol: float = 1e-10) -> EmissionProfile:
    """Compute the mean output flux and the emission-time distribution of one pulse.

    Parameters
    ----------
    model
        Parameters of the pulse's Hamiltonian (its λ, κ, ω, ω₀).
    S
        Spin length (integer in [0, n_atoms]).
    times_s
        Strictly increasing grid of times from the pulse start, s.
    state, m_start
        Polarisation of the drive and the atoms' |S, m⟩ when the pulse starts (cavity empty).
    n_atoms
        Atom number N, to check S ≤ N (optional).
    cutoff
        Keep cavity photon numbers ≤ cutoff; ``None`` chooses it adaptively (exact up to a
        population ``cutoff_tol`` in the highest level kept).

    Returns
    -------
    EmissionProfile
    """
    s = check_spin(S, n_atoms)
    q0 = ladder_start(s, m_start, state)
    t = _check_times(times_s)
    if q0 + s == 0:  # dark: nothing to emit
        return EmissionProfile(t, np.zeros_like(t), np.zeros((0, t.size)), 0)
    grid = t if t[0] == 0.0 else np.concatenate(([0.0], t))
    blocks, ys = _solve(model, s, q0, state, grid, cutoff, cutoff_tol)
    pops = blocks.populations(ys)
    # P(at least j photons) = Σ_{j' >= j} Tr ρ_j'
    cdf = np.cumsum(pops[::-1], axis=0)[::-1][1:]
    flux = blocks.flux(ys)
    drop = grid.size - t.size
    return EmissionProfile(t, flux[drop:], np.clip(cdf[:, drop:], 0.0, 1.0), blocks.size - 1)


@dataclass(frozen=True)
class DurationMoments:
    """Hold the mean and variance of a pulse's duration (time of its last photon), s and s²."""

    mean_s: float
    var_s2: float


def duration_moments(model: AtomCavity, S: int, *, state: SwitchState = SwitchState.TC,
                     m_start: int = 0, n_atoms: int | None = None, tol: float = 1e-12,
                     cutoff: int | None = None) -> DurationMoments:
    """Compute the mean and variance of the time of a pulse's last photon.

    Integrates ∫(1 − C_k) dt and ∫ t(1 − C_k) dt (C_k: CDF of the last photon) until the last
    photon is still to come with probability below ``tol``.
    """
    s = check_spin(S, n_atoms)
    q0 = ladder_start(s, m_start, state)
    if q0 + s == 0:
        return DurationMoments(0.0, 0.0)
    # Start from a horizon longer than both the cascade's and the cavity's time scales.
    cascade = sum(1.0 / ((s + q) * (s - q + 1.0)) for q in range(q0, -s, -1)) / model.gamma_per_s
    horizon = 4.0 * (cascade + (q0 + s) / model.kappa_rad_s)
    chosen = cutoff
    while True:
        blocks, ys = _solve(model, s, q0, state, np.array([0.0, horizon]), chosen, 1e-10)
        chosen = blocks.size - 1
        left = 1.0 - ys[:-2].reshape(blocks.n_blocks, blocks.size, blocks.size, -1)[-1, 0, 0, -1]
        if abs(left) < tol:
            mean = float(ys[-2, -1].real)
            second = 2.0 * float(ys[-1, -1].real)
            return DurationMoments(mean, second - mean**2)
        horizon *= 2.0
