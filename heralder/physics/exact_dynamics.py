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

The density matrix stays block-diagonal over manifolds (one manifold feeds the next), so the
profile integrates the blocks ρ_j (j = photons emitted so far) on only the blocks that hold
population at the time: compiled, one grid interval at a time by the Taylor series of the exact
propagator (:mod:`heralder.physics._profile_kernels`), or with scipy's DOP853 without numba
(:mod:`heralder.physics._profile_scipy`). Cavity photon numbers are dropped only where their
population stays below ``cutoff_tol``. The moments need no time grid at all.
"""

from __future__ import annotations

import functools
import importlib
import math
import operator
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from scipy.linalg import lapack, schur
from threadpoolctl import threadpool_limits

from heralder.control.records import SwitchState
from heralder.physics import _profile_scipy
from heralder.physics._profile_scipy import ATOL_PER_CUTOFF_TOL, SKIP_POPULATION, Blocks
from heralder.physics.cavity import CavityParameters, bad_cavity_x

__all__ = [
    "AtomCavity",
    "EmissionMoments",
    "EmissionProfile",
    "emission_moments",
    "emission_profile",
    "jump_block",
    "ladder_start",
    "manifold_hamiltonian",
    "pulse_start",
    "solve_no_jump",
]

_TOP_POPULATION = 1e-20  # a block below this leaves the window at its top (refilled from below)
_GROW_PER_CUTOFF_TOL = 1e-3  # top-level population (per cutoff_tol) that adds levels to a block
_FIRST_STORAGE = 32  # photon levels stored per block on the first try (S = 100, paper: enough)
_MAX_FULL_STORAGE = 2**20  # elements of a state buffer (16 MB) up to which a retry stores all


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


def _blocks(model: AtomCavity, S: int, q0: int, state: SwitchState) -> Blocks:
    """Return (diag, off) of H_eff for every block j = 0..q₀+S (manifold q₀ − j)."""
    return [manifold_hamiltonian(model, S, q0 - j, state) for j in range(q0 + S + 1)]


@functools.cache
def _kernels() -> ModuleType | None:
    """Return the compiled profile kernels, or None without numba (the scipy path runs)."""
    from heralder.estimation.backend import compiled_kernels  # lazily: it loads the estimator

    if compiled_kernels() is None:  # also points numba's cache at the user cache directory
        return None
    return importlib.import_module("heralder.physics._profile_kernels")


def _solve(model: AtomCavity, S: int, q0: int, state: SwitchState, times_s: np.ndarray,
           cutoff: int | None, cutoff_tol: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (pops, flux, cutoff): ``pops[j, i]`` = Tr ρ_j(t_i), 2κ⟨a†a⟩ on the grid.

    Compiled (:mod:`heralder.physics._profile_kernels`) when numba is installed, else scipy
    (:mod:`heralder.physics._profile_scipy`). With ``cutoff=None`` the compiled path lets each
    block use only the photon levels its population needs (a level is added once the highest
    one holds more than 10⁻³ ``cutoff_tol``), in storage of ``_FIRST_STORAGE`` levels. If a
    block fills them and holds more than ``cutoff_tol`` in its top level, the solve is redone
    with every level stored when that takes at most ``_MAX_FULL_STORAGE`` elements (S ≲ 140
    for a first pulse), else with twice the levels.
    """
    blocks = _blocks(model, S, q0, state)
    kernels = _kernels()
    if kernels is None:
        return _profile_scipy.solve(blocks, model.kappa_rad_s, times_s, cutoff, cutoff_tol)
    k = q0 + S
    full = k + 1 - np.arange(k + 1)
    levels = cutoff + 1 if cutoff is not None else _FIRST_STORAGE
    while True:
        dims = np.minimum(full, levels)
        offsets = np.concatenate(([0], np.cumsum((dims + 2) ** 2)))
        coef = np.zeros((k + 1, dims.max()), np.complex128)
        offp = np.zeros((k + 1, dims.max() + 1))
        for j, (diag, off) in enumerate(blocks):
            coef[j, :dims[j]] = -1j * diag[:dims[j]]
            offp[j, 1:dims[j]] = off[:dims[j] - 1]
        pops = np.zeros((k + 1, times_s.size))
        flux = np.zeros(times_s.size)
        cut = dims < full
        tol = ATOL_PER_CUTOFF_TOL * cutoff_tol
        adaptive = cutoff is None
        edge, used, _ = kernels.propagate_blocks(
            times_s, offsets, dims, cut, coef, offp, model.kappa_rad_s, SKIP_POPULATION,
            _TOP_POPULATION, tol, _GROW_PER_CUTOFF_TOL * cutoff_tol if adaptive else 0.0,
            cutoff_tol if adaptive else math.inf, pops, flux)
        if cutoff is not None or not cut.any() or edge <= cutoff_tol:
            return pops, flux, int(used) - 1
        small = int(np.sum((full + 2) ** 2)) <= _MAX_FULL_STORAGE
        levels = k + 1 if small else 2 * levels


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
        Keep cavity photon numbers ≤ cutoff in every block; ``None`` chooses them adaptively
        (exact up to a population ``cutoff_tol`` in the highest level kept).
    cutoff_tol
        Largest population accepted in the highest photon number kept, in (0, 1); the
        integration's absolute tolerance is set 10⁴× below it.

    Returns
    -------
    EmissionProfile
    """
    s = check_spin(S, n_atoms)
    q0 = ladder_start(s, m_start, state)
    t = _check_times(times_s)
    if isinstance(cutoff_tol, bool) or not isinstance(cutoff_tol, int | float) \
            or not 0.0 < cutoff_tol < 1.0:
        raise ValueError(f"cutoff_tol must lie in (0, 1), got {cutoff_tol!r}")
    if q0 + s == 0:  # dark: nothing to emit
        return EmissionProfile(t, np.zeros_like(t), np.zeros((0, t.size)), 0)
    grid = t if t[0] == 0.0 else np.concatenate(([0.0], t))
    pops, flux, used = _solve(model, s, q0, state, grid, cutoff, cutoff_tol)
    # P(at least j photons) = Σ_{j' >= j} Tr ρ_j'
    cdf = np.cumsum(pops[::-1], axis=0)[::-1][1:]
    drop = grid.size - t.size
    return EmissionProfile(t, flux[drop:], np.clip(cdf[:, drop:], 0.0, 1.0), used)


@dataclass(frozen=True)
class EmissionMoments:
    """Hold exact first moments of a pulse's emission times.

    Attributes
    ----------
    photon_mean_s
        E[t_j], the mean emission time of photon j = 1..k, s.
    duration_var_s2
        Var[t_k], the variance of the pulse duration (time of its last photon), s².
    """

    photon_mean_s: np.ndarray
    duration_var_s2: float

    @property
    def duration_mean_s(self) -> float:
        """Return E[t_k], the mean pulse duration, s (0 for a dark pulse)."""
        return float(self.photon_mean_s[-1]) if self.photon_mean_s.size else 0.0

    @property
    def mean_emission_s(self) -> float:
        """Return the mean emission time averaged over the pulse's photons, s."""
        return float(self.photon_mean_s.mean()) if self.photon_mean_s.size else 0.0


def jump_block(kappa: float, block: np.ndarray, dim: int | None = None) -> np.ndarray:
    """Return 2κ a X a† of a manifold's block X on the next manifold's first ``dim`` cavity
    photon levels (default: all of them, one fewer than X has)."""
    m = block.shape[0] - 1 if dim is None else min(dim, block.shape[0] - 1)
    out = np.zeros((m, m) if dim is None else (dim, dim), np.complex128)
    root = np.sqrt(np.arange(1, m + 1, dtype=np.float64))
    out[:m, :m] = 2.0 * kappa * root[:, None] * block[1:m + 1, 1:m + 1] * root[None, :]
    return out


def solve_no_jump(diag: np.ndarray, off: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Return X with −i(H X − X H†) = ``rhs`` for the tridiagonal H (diag, off) of one manifold:
    one complex Schur form of H and LAPACK trsyl (H† = conj(H) shares it), O(d³)."""
    h = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
    t, q = schur(h, output="complex")
    c = q.conj().T @ (1j * rhs) @ q
    y, scale, info = lapack.ztrsyl(t, t, c, trana="N", tranb="C", isgn=-1)
    if info < 0:
        raise RuntimeError(f"ztrsyl failed (info {info})")
    return q @ (y / scale) @ q.conj().T


def emission_moments(model: AtomCavity, S: int, *, state: SwitchState = SwitchState.TC,
                     m_start: int = 0, n_atoms: int | None = None) -> EmissionMoments:
    """Compute the mean emission time of every photon and the pulse-duration variance, exactly.

    With L_t the Liouvillian on the transient blocks (all but the dark final one),
    P(t_j > t) = Σ_{j' < j} Tr ρ_j'(t) and ∫₀^∞ e^{L_t t} dt = −L_t⁻¹, so
    E[t_j] = Σ_{j' < j} Tr X_j' with L_t X = −ρ₀, and E[t_k²] = 2 Σ_j Tr Y_j with L_t Y = −X.
    L_t is block lower-bidiagonal, so both solves are forward substitutions of one Sylvester
    equation −i(H_j X_j − X_j H_j†) = R_j per manifold (:func:`solve_no_jump`): no time grid,
    no photon cutoff.
    """
    s = check_spin(S, n_atoms)
    q0 = ladder_start(s, m_start, state)
    if q0 + s == 0:
        return EmissionMoments(np.zeros(0), 0.0)
    kappa = model.kappa_rad_s
    x_prev = y_prev = None
    time_in_block = np.zeros(q0 + s)
    second = 0.0
    with threadpool_limits(limits=1, user_api="blas"):  # small LAPACK calls: see _solve
        for j in range(q0 + s):
            diag, off = manifold_hamiltonian(model, s, q0 - j, state)
            if x_prev is None:
                rhs_x = np.zeros((diag.size, diag.size), np.complex128)
                rhs_x[0, 0] = -1.0  # −ρ₀ = −|S, q₀⟩|0⟩⟨…|
                rhs_y = np.zeros_like(rhs_x)
            else:
                rhs_x = -jump_block(kappa, x_prev)
                rhs_y = -jump_block(kappa, y_prev)
            x_block = solve_no_jump(diag, off, rhs_x)
            y_block = solve_no_jump(diag, off, rhs_y - x_block)
            time_in_block[j] = np.trace(x_block).real
            second += 2.0 * np.trace(y_block).real
            x_prev, y_prev = x_block, y_block
    photon_mean = np.cumsum(time_in_block)
    return EmissionMoments(photon_mean, second - float(photon_mean[-1]) ** 2)
