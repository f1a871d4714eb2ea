"""Plot exact vs cascade emission profiles of the first (TC) pulse for x = √S λ/(κ/2).

One panel per spin length: the mean output flux R(t) of the exact atom–cavity dynamics
(:func:`heralder.physics.exact_dynamics.emission_profile`) beside the bad-cavity cascade's, in
units where the cascade's mean pulse duration T_c = Σ_j 1/(Γ r_j) is 1 (so every x shares an
axis: the cascade curve is the same for all x, the exact one is delayed and capped by κ).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from scipy.sparse import diags
from scipy.sparse.linalg import expm_multiply

from heralder.physics.cascade import cascade_rates
from heralder.physics.exact_dynamics import AtomCavity, emission_moments, emission_profile

__all__ = ["EXACT_X", "cascade_flux", "exact_profile_figure"]

EXACT_X = (0.1, 0.5, 1.0, 2.0)
_HORIZON = 3.0  # grid end in units of the cascade's mean pulse duration


def cascade_flux(rates_per_s: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """Return the mean photon flux of a pure-death cascade with step rates ``rates_per_s``.

    The ladder position j (photons emitted) obeys dp/dt = Q p with Q the bidiagonal generator;
    the flux is Σ_j rate_j p_j(t), propagated exactly with ``expm_multiply`` on a uniform grid.
    """
    k = rates_per_s.size
    rates = np.append(rates_per_s, 0.0)
    generator = diags([-rates, rates[:-1]], [0, -1], shape=(k + 1, k + 1), format="csr")
    p0 = np.zeros(k + 1)
    p0[0] = 1.0
    probs = expm_multiply(generator, p0, start=float(times_s[0]), stop=float(times_s[-1]),
                          num=times_s.size, endpoint=True)
    return probs @ rates


def exact_profile_figure(out: Path, spins: tuple[int, ...] = (10, 100),
                         points: int = 1000) -> dict:
    """Write ``exact_vs_cascade.png`` and ``exact_vs_cascade.json`` into ``out``.

    Returns
    -------
    dict
        Per S and x: the exact mean emission time and duration over the cascade's, and the
        seconds the exact profile took.
    """
    fig = Figure(figsize=(5.0 * len(spins), 4.0), constrained_layout=True)
    axes = fig.subplots(1, len(spins), squeeze=False)[0]
    colours = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, len(EXACT_X)))
    summary: dict = {}
    for ax, S in zip(axes, spins, strict=True):
        rates = cascade_rates(S, 0)
        unit = np.sum(1.0 / rates)  # T_c in units of 1/Γ
        grid = np.linspace(0.0, _HORIZON, points)
        ax.plot(grid, cascade_flux(rates * unit, grid), color="k", lw=2.0, ls="--",
                label="cascade (any x)")
        summary[f"S={S}"] = {}
        for colour, x in zip(colours, EXACT_X, strict=True):
            model = AtomCavity(x / (2.0 * math.sqrt(S)), 1.0)  # κ = 1
            t_c = unit / model.gamma_per_s
            started = time.perf_counter()
            profile = emission_profile(model, S, grid * t_c)
            elapsed = time.perf_counter() - started
            ax.plot(grid, profile.flux_hz * t_c, color=colour, lw=1.4,
                    label=f"exact x = {x:g} (y = {model.y(S):.2g})")
            moments = emission_moments(model, S)
            cascade_mean = np.cumsum(1.0 / (model.gamma_per_s * rates)).mean()
            summary[f"S={S}"][f"x={x:g}"] = {
                "y": model.y(S),
                "mean_emission_over_cascade": moments.mean_emission_s / cascade_mean,
                "duration_over_cascade": moments.duration_mean_s / t_c,
                "profile_seconds": elapsed, "cutoff": profile.cutoff}
        ax.set_xlabel(r"time / cascade mean pulse duration $T_c$")
        ax.set_ylabel(r"photon flux $R(t)\,T_c$")
        ax.set_title(f"first (TC) pulse, S = {S}")
        ax.set_yscale("log")
        ax.set_ylim(1e-2 * S, None)
        ax.legend(fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "exact_vs_cascade.png", dpi=150)
    (out / "exact_vs_cascade.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
