"""Compute the dead-time efficiency of a pulse under the exact atom–cavity dynamics.

The count likelihood needs η_i(S) = E[registered]/k for a non-paralysable detector (efficiency
η' = η(1 − ε), dead time τ_d). :mod:`heralder.estimation.efficiency` has its closed form on the
bad-cavity cascade; where the cascade fails (``cascade_validity``) the photon stream is the
output of the full master equation (paper eq. 2, model of :mod:`heralder.physics.exact_dynamics`)
and this module computes it exactly, with no time grid and no Monte Carlo:

* σ(t): the atom–cavity state *jointly* with "the detector is alive", block j = photons emitted.
  While alive, an emission is registered with probability η' (the detector dies) or passes
  unseen; a registration at s sends 𝒥σ(s) into a dead window, where the state evolves under the
  whole Liouvillian L for τ_d and then rejoins σ:
  dσ/dt = 𝓗σ + (1 − η')𝒥σ + η' e^{Lτ_d} 𝒥σ(t − τ_d)   (𝓗 no-jump part, 𝒥ρ = 2κ aρa†).
* The total registered is η' ∫ Tr 𝒥σ dt. Integrating the equation over t ≥ 0 on the transient
  blocks (σ → 0 there) turns it into one linear equation for σ̂ = ∫σ dt:
  𝓗σ̂ + (1 − η')𝒥σ̂ + η' e^{Lτ_d}𝒥σ̂ = −ρ₀.
  L is block lower-bidiagonal and e^{Lτ_d} block lower-triangular, so σ̂ is solved block by
  block: one Sylvester equation −i(H_j X − X H_j†) = R_j per manifold (Schur + LAPACK trsyl),
  with block j of e^{Lτ_d}𝒥σ̂ built from the blocks before it by a block-progressive Taylor
  series of e^{Lh} (h = τ_d/stages, ‖Lh‖ ≤ 4).
* Cavity photon numbers above a cutoff are dropped only when the time the alive state spends at
  the highest number kept is below ``cutoff_tol`` of the whole (the cutoff doubles until it is).

With τ_d = 0 this registers η'k photons; in the bad-cavity limit it reproduces the cascade's
exact mean (tests). :class:`ExactEfficiency` tabulates the *loss ratio* exact/cascade at a few
S nodes and interpolates it (monotone cubic in log S), so the table inherits the closed form's
exact S dependence and only a smooth correction is interpolated. A node costs ~S⁴ once the
cavity fills with photons, so nodes above :data:`EXACT_S_MAX` come from the same pulse solved
exactly at smaller S' with x and the dead time per emission rate held
(:func:`scaled_loss_ratio`). Node values are cached in memory and in :func:`cache_dir` (JSON
per cavity and detector), so only a cavity's first run pays the set-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator
from threadpoolctl import threadpool_limits

from heralder.control.records import SwitchState
from heralder.estimation.detector import DetectorModel
from heralder.estimation.efficiency import effective_efficiency, photons_per_pulse
from heralder.physics.exact_dynamics import (
    AtomCavity,
    check_spin,
    jump_block,
    ladder_start,
    manifold_hamiltonian,
    pulse_start,
    solve_no_jump,
)

__all__ = ["EXACT_S_MAX", "NODE_S_MAX", "NODE_TAIL", "SCALED_SIZES", "ExactEfficiency",
           "cache_dir", "registered_fraction", "scaled_loss_ratio", "spin_nodes"]

_log = logging.getLogger(__name__)
_CACHE_VERSION = 1  # bump when the solver's results change

try:  # the compiled dead window (extra ``fast``); the numpy reference below otherwise
    from heralder.estimation._deadtime_kernels import dead_window as _compiled_dead_window
except ImportError:  # pragma: no cover - exercised only without numba
    _compiled_dead_window = None

#: Prior mass above the largest S node (:func:`~heralder.physics.cavity.likely_spin_range`); the
#: node cost grows as S⁴ where the cavity fills up (x ≳ 1), so the top node is the 1e-3 tail.
NODE_TAIL = 1e-3
#: Largest S node solved directly: a node's cost grows as S⁴ once the cavity holds ~S photons
#: (S = 128 at x = 2.3: 4 s for a first pulse, 10 s for a later one; S = 372 would take many
#: minutes). Nodes above it come from :func:`scaled_loss_ratio`.
EXACT_S_MAX = 128
#: The S' at which :func:`scaled_loss_ratio` solves a large-S node: 0.3–9 s per node at S = 372
#: (paper preset, x = 2 cavity), ratios within 3e-4 of (32, 64)'s, which cost up to 9× more.
SCALED_SIZES = (24, 48)
#: Largest S node at all (the scaled nodes are checked against exact nodes and the exact
#: sampler up to S = 372, x ≈ 3.9: N = 10⁴'s 1e-3 tail). Above it the top node's ratio is held.
NODE_S_MAX = 512
# Bound on ‖L h‖ per stage of e^{Lτ}: the terms peak at 4⁴/4! ≈ 11 while the result is at least
# e^{−4} of the input, so cancellation costs < 1e-13 relative.
_TAYLOR_NORM = 4.0
_FIRST_CUTOFF = 32  # cavity photons kept on the first try (enough at the paper preset)


def _times_h(diag: np.ndarray, off: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return H X for tridiagonal complex-symmetric H (diag, off) in O(d²)."""
    out = diag[:, None] * x
    out[:-1] += off[:, None] * x[1:]
    out[1:] += off[:, None] * x[:-1]
    return out


def _no_jump(diag: np.ndarray, off: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return 𝓗X = −i(H X − X H†) (H† = conj(H): H is complex symmetric)."""
    hx = _times_h(diag, off, x)
    xh = _times_h(diag, off, x.conj().T).conj().T  # X H† = (H X†)†
    return -1j * (hx - xh)


def _taylor_terms(bound: float) -> int:
    """Return the Taylor degree M with bound^{M+1}/(M+1)! ≤ 1e-17 (e^{Lh}, ‖Lh‖ ≤ bound)."""
    m, term = 0, 1.0
    while term > 1e-17 or m < 2:
        m += 1
        term *= bound / m
    return m


def _dead_window_numpy(diag: np.ndarray, off: np.ndarray, kappa: float, fed: np.ndarray,
                       prev: np.ndarray, step: float, out: np.ndarray) -> np.ndarray:
    """Return block j of e^{Lτ}𝒥σ̂ and fill ``out[stage, m]`` with its Taylor terms.

    The reference of :func:`heralder.estimation._deadtime_kernels.dead_window` (same
    arguments): term m of a stage is (step/m)(𝓗 term_{m−1} + 𝒥 prev[stage, m−1]), where
    ``prev`` holds block j−1's terms, and the stage's sum feeds the next stage.
    """
    dim = diag.size
    u = fed
    for stage in range(out.shape[0]):
        out[stage, 0] = u
        for m in range(1, out.shape[1]):
            nxt = _no_jump(diag, off, out[stage, m - 1])
            if prev.shape[2]:
                nxt += jump_block(kappa, prev[stage, m - 1], dim)
            out[stage, m] = nxt * (step / m)
        u = out[stage].sum(axis=0)
    return u


_DEAD_WINDOW = _compiled_dead_window or _dead_window_numpy


def _row_norm(diag: np.ndarray, off: np.ndarray) -> float:
    """Return ‖H‖_∞ (largest absolute row sum) of the tridiagonal H."""
    rows = np.abs(diag).copy()
    rows[:-1] += np.abs(off)
    rows[1:] += np.abs(off)
    return float(rows.max())


def _registered(model: AtomCavity, S: int, q0: int, state: SwitchState, eta_prime: float,
                dead_time_s: float, cutoff: int) -> tuple[float, float]:
    """Return (mean registered photons, fraction of alive time at the top photon level)."""
    k = q0 + S
    kappa = model.kappa_rad_s
    blocks = []
    for j in range(k):
        diag, off = manifold_hamiltonian(model, S, q0 - j, state)
        dim = min(diag.size, cutoff + 1)
        blocks.append((diag[:dim], off[:dim - 1]))
    norm = max(2.0 * _row_norm(d, o) + 2.0 * kappa * (d.size - 1) for d, o in blocks)
    stages = max(1, math.ceil(norm * dead_time_s / _TAYLOR_NORM))
    step = dead_time_s / stages
    registered = alive = top = 0.0
    n_terms = _taylor_terms(norm * step)
    prev_terms = np.zeros((stages, n_terms + 1, 0, 0), np.complex128)
    prev_sigma: np.ndarray | None = None
    for j, (diag, off) in enumerate(blocks):
        dim = diag.size
        fed = (np.zeros((dim, dim), np.complex128) if prev_sigma is None
               else jump_block(kappa, prev_sigma, dim))
        # Block j of e^{Lτ} applied to 𝒥σ̂: stage by stage, each a Taylor series whose term m
        # takes the jump of block j−1's term m−1 of the same stage.
        terms = np.empty((stages, n_terms + 1, dim, dim), np.complex128)
        u = _DEAD_WINDOW(diag, off, kappa, fed, prev_terms, step, terms)
        rhs = -(1.0 - eta_prime) * fed - eta_prime * u
        if j == 0:
            rhs[0, 0] -= 1.0  # −ρ₀ = −|S, q₀⟩|0⟩⟨…|
        sigma = solve_no_jump(diag, off, rhs)
        sigma = 0.5 * (sigma + sigma.conj().T)
        occupation = sigma.diagonal().real
        registered += eta_prime * 2.0 * kappa * float(np.arange(dim) @ occupation)
        alive += float(occupation.sum())
        if dim == cutoff + 1:
            top += float(occupation[-1])
        prev_terms, prev_sigma = terms, sigma
    return registered, (top / alive if alive > 0 else 0.0)


def registered_fraction(model: AtomCavity, S: int, pulse: int, eta_prime: float,
                        dead_time_s: float, *, cutoff_tol: float = 1e-6) -> float:
    """Return E[registered]/k for one pulse of the exact dynamics seen through a dead time.

    Parameters
    ----------
    model
        The pulse's atom–cavity parameters (λ of its polarisation, κ, detunings).
    S
        Spin length (integer ≥ 0).
    pulse
        Pulse index of an ideal shot (:func:`~heralder.physics.exact_dynamics.pulse_start`):
        0 starts TC from |S,0⟩ (k = S), later pulses start from |S,∓S⟩ (k = 2S).
    eta_prime
        Registration probability η(1 − ε) of an emitted photon while the detector is alive.
    dead_time_s
        Non-paralysable dead time, s (≥ 0).
    cutoff_tol
        Largest fraction of the alive time spent at the highest cavity photon number kept.

    Returns
    -------
    float
        The mean registered fraction of the k emitted photons (η' when k ≤ 1 or τ_d = 0).
    """
    s = check_spin(S)
    if not (math.isfinite(eta_prime) and 0.0 <= eta_prime <= 1.0):
        raise ValueError(f"eta_prime must lie in [0, 1], got {eta_prime!r}")
    if not (math.isfinite(dead_time_s) and dead_time_s >= 0.0):
        raise ValueError(f"dead_time_s must be a finite number >= 0, got {dead_time_s!r}")
    if not 0.0 < cutoff_tol < 1.0:
        raise ValueError(f"cutoff_tol must lie in (0, 1), got {cutoff_tol!r}")
    state, m = pulse_start(s, pulse)
    q0 = ladder_start(s, m, state)
    k = q0 + s
    if k <= 1 or dead_time_s == 0.0 or eta_prime == 0.0:
        return eta_prime  # the detector is alive for a pulse's first photon
    cutoff = _FIRST_CUTOFF
    with threadpool_limits(limits=1, user_api="blas"):  # small LAPACK calls (exact_dynamics)
        while True:
            full = cutoff >= k
            registered, top = _registered(model, s, q0, state, eta_prime, dead_time_s,
                                          min(cutoff, k))
            if full or top <= cutoff_tol:
                return registered / k
            cutoff *= 2


def _loss_ratio(exact: np.ndarray, cascade: np.ndarray, eta_prime: float) -> np.ndarray:
    """Return the exact/cascade ratio of the dead-time losses 1 − η_i/η' (1 where neither
    loses)."""
    loss_exact = 1.0 - exact / eta_prime
    loss_cascade = 1.0 - cascade / eta_prime
    return np.where(loss_cascade > 0, loss_exact / np.maximum(loss_cascade, 1e-300), 1.0)


def scaled_loss_ratio(model: AtomCavity, S: int, pulse: int, detector: DetectorModel, *,
                      sizes: tuple[int, int] = SCALED_SIZES) -> float:
    """Return the exact/cascade dead-time loss ratio of a large-S pulse from the same pulse
    solved exactly at two smaller spin lengths.

    With x = √S λ/(κ/2) and the dead time per emission rate held (κSτ_d and ΓS²τ_d), both
    models' loss fractions tend to limits as S grows, and their ratio approaches its limit as
    a − b/S: at x = 2.7–3.9 the ratio at S' = 24…128 lies within 3e-4 of such a line
    (``docs/timing-study/README.md``). So the pulse is solved exactly (:func:`_node_fraction`,
    cached) at S' ∈ ``sizes`` with λ → λ√(S/S'), τ_d → τ_d S/S' and the cascade's Γ → Γ S/S'
    (κ, detunings and η' unchanged), and the line in 1/S' through the two ratios is read at
    S' = S.

    Parameters
    ----------
    model
        The pulse's atom–cavity model in ladder coordinates (a later anti-TC pulse as the TC
        pulse with ω₀ → −ω₀, see :meth:`ExactEfficiency.ratios`).
    S
        Spin length, > max(sizes).
    pulse
        Pulse index: 0 starts from |S,0⟩, later ones from a full ladder; picks the cascade's Γ.
    detector
        The estimator's detector model (η, ε, τ_d, Γ).
    sizes
        The two spin lengths S₁ < S₂ solved exactly (≥ 2).

    Returns
    -------
    float
        The ratio exact/cascade of the loss fractions 1 − η_i(S)/η'.
    """
    s = check_spin(S)
    if isinstance(pulse, bool) or not isinstance(pulse, int | np.integer) or pulse < 0:
        raise ValueError(f"pulse must be an integer >= 0, got {pulse!r}")
    if len(sizes) != 2 or not 2 <= sizes[0] < sizes[1] or any(
            isinstance(v, bool) or not isinstance(v, int | np.integer) for v in sizes):
        raise ValueError(f"sizes must be two increasing integers >= 2, got {sizes!r}")
    if s <= sizes[1]:
        raise ValueError(f"S must exceed the largest of sizes {sizes!r}, got {s}")
    eta_prime = detector.eta * (1.0 - detector.scatter_eps)
    ratios = []
    for size in sizes:
        scale = s / size
        small = replace(model, lambda_rad_s=model.lambda_rad_s * math.sqrt(scale))
        det = replace(detector, dead_time_s=detector.dead_time_s * scale,
                      gamma_tc_per_s=detector.gamma_tc_per_s * scale,
                      gamma_antitc_per_s=detector.gamma_antitc_per_s * scale)
        exact = _node_fraction(small, int(size), pulse == 0, eta_prime, det.dead_time_s)
        cascade = effective_efficiency(det, np.array([size]), pulse)
        ratios.append(float(_loss_ratio(np.array([exact]), cascade, eta_prime)[0]))
    (s1, r1), (s2, r2) = zip(sizes, ratios, strict=True)
    return r2 + (r2 - r1) * (1.0 / s2 - 1.0 / s) / (1.0 / s1 - 1.0 / s2)


def spin_nodes(s_top: int, ratio: float = 2.0) -> np.ndarray:
    """Return geometric S nodes from 2 to ``s_top`` (spacing ``ratio``), both included."""
    if s_top < 2:
        return np.array([2], dtype=np.int64)
    count = max(2, math.ceil(math.log(s_top / 2.0) / math.log(ratio)) + 1)
    return np.unique(np.rint(np.geomspace(2, s_top, count)).astype(np.int64))


@dataclass(frozen=True)
class ExactEfficiency:
    """Give η_i(S) of the exact dynamics: the cascade closed form with its loss rescaled.

    η_i(S) = η'(1 − r_i(S) ℓ_i(S)), with ℓ_i the cascade's dead-time loss
    (:func:`~heralder.estimation.efficiency.effective_efficiency`) and r_i = exact/cascade
    loss at :func:`spin_nodes` up to ``s_top`` (solved exactly up to :data:`EXACT_S_MAX`, by
    :func:`scaled_loss_ratio` above it) and interpolated (PCHIP in log S); below the first
    node and above ``s_top`` the nearest node's ratio is held.

    Attributes
    ----------
    detector
        The estimator's detector model (η, ε, τ_d and the cascade rates Γ).
    tc, anti_tc
        The atom–cavity models of TC and anti-TC pulses.
    s_top
        Largest S node (the prior's largest likely S).
    """

    detector: DetectorModel
    tc: AtomCavity
    anti_tc: AtomCavity
    s_top: int

    def ratios(self, pulse: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (nodes, exact/cascade loss ratio at the nodes) for the kind of ``pulse``."""
        det = self.detector
        eta_prime = det.eta * (1.0 - det.scatter_eps)
        nodes = spin_nodes(self.s_top)
        # An anti-TC pulse is a TC pulse with ω₀ → −ω₀ in ladder coordinates, so every later
        # pulse is computed as a TC pulse from |S,+S⟩ and equal cavities share one cache entry.
        model = self.tc if pulse % 2 == 0 else replace(
            self.anti_tc, omega0_rad_s=-self.anti_tc.omega0_rad_s)
        small = nodes[nodes <= EXACT_S_MAX]
        exact = np.array([_node_fraction(model, int(s), pulse == 0, eta_prime, det.dead_time_s)
                          for s in small])
        large = [scaled_loss_ratio(model, int(s), pulse, det, sizes=SCALED_SIZES)
                 for s in nodes[small.size:]]
        return nodes, np.concatenate((
            _loss_ratio(exact, effective_efficiency(det, small, pulse), eta_prime), large))

    def __call__(self, S: np.ndarray, pulse: int) -> np.ndarray:
        """Return η_i(S) for pulse ``pulse`` (the table's values; afterpulsing not folded)."""
        S = np.asarray(S, dtype=np.int64)
        det = self.detector
        eta_prime = det.eta * (1.0 - det.scatter_eps)
        cascade = effective_efficiency(det, S, pulse)
        if det.dead_time_s == 0.0 or eta_prime == 0.0:
            return cascade
        lo, hi, curve = _ratio_curve(self, 0 if pulse == 0 else 2 - pulse % 2)
        r = curve(np.clip(np.log(np.maximum(S, 1)), lo, hi))
        out = eta_prime * (1.0 - r * (1.0 - cascade / eta_prime))
        return np.where(photons_per_pulse(S, pulse) > 1, out, eta_prime)


@lru_cache(maxsize=64)
def _ratio_curve(table: ExactEfficiency,
                 pulse: int) -> tuple[float, float, Callable[[np.ndarray], np.ndarray]]:
    """Return (log S of the first and last node, r(log S)) of ``table`` for pulse 0, 1 or 2
    (a pulse's kind), kept per table: the timing study builds an equal table for every shot
    (:func:`~heralder.control.estimator_setup.new_posterior` per shot), and the nodes and PCHIP
    would otherwise cost ~1 ms per pulse kind each time."""
    nodes, ratio = table.ratios(pulse)
    log_nodes = np.log(nodes.astype(np.float64))
    if nodes.size == 1:
        return log_nodes[0], log_nodes[0], lambda log_s: np.full(np.shape(log_s), ratio[0])
    return log_nodes[0], log_nodes[-1], PchipInterpolator(log_nodes, ratio)


def cache_dir() -> Path:
    """Return the folder of the node cache: ``$HERALDER_CACHE_DIR``, else the user's cache
    folder (``$XDG_CACHE_HOME`` or ``~/.cache``) ``/heralder/deadtime``."""
    root = os.environ.get("HERALDER_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "heralder" / "deadtime"


@lru_cache(maxsize=4096)
def _node_fraction(model: AtomCavity, S: int, first: bool, eta_prime: float,
                   dead_time_s: float) -> float:
    """Return one node's exact registered fraction for a TC pulse from |S,0⟩ (``first``) or
    from |S,+S⟩, cached per cavity, detector and S in memory and on disk (a run's start then
    costs nothing after the first run with the same cavity and detector)."""
    key = repr((_CACHE_VERSION, model.lambda_rad_s, model.kappa_rad_s, model.omega_rad_s,
                model.omega0_rad_s, first, eta_prime, dead_time_s))
    path = cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
    try:
        table = json.loads(path.read_text())
        if table.get("key") == key and str(S) in table["fractions"]:
            return float(table["fractions"][str(S)])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        table = None
    value = registered_fraction(model, S, 0 if first else 2, eta_prime, dead_time_s)
    fractions = dict(table["fractions"]) if table else {}
    fractions[str(S)] = value
    try:  # best effort: a read-only or full disk only costs the next run its set-up again
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "fractions": fractions}))
        os.replace(tmp, path)
    except OSError as exc:
        _log.debug("dead-time node cache not written (%s)", exc)
    return value
