"""Draw the paper's Figs. 2-6 and their large-N extensions with matplotlib, as PNG.

Figures are built with the object API (``Figure``, no pyplot), so no GUI backend is touched;
call the ``plot_*`` functions and :func:`save` inside ``matplotlib.rc_context(STYLE)``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from heralder.physics.paper_data import (
    PAPER_FITS,
    PowerLawFit,
    ideal_asymptote,
    one_pulse_asymptote,
)
from heralder.physics.trajectories import SwitchStudy

__all__ = [
    "STYLE",
    "plot_fig2",
    "plot_fig2_large",
    "plot_fig3",
    "plot_fig3_large",
    "plot_fig4",
    "plot_fig4_large",
    "plot_fig5",
    "plot_fig5_large",
    "plot_fig6",
    "save",
]

STYLE = {
    "figure.figsize": (6.0, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
COLORS = {0.3: "tab:purple", 0.5: "tab:red", 0.7: "tab:green", 0.9: "tab:blue", 1.0: "black"}


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` and close it."""
    fig.savefig(path)
    return path


def _axes() -> tuple[Figure, object]:
    fig = Figure(layout="constrained")
    return fig, fig.add_subplot()


def _fit_line(ax, fit: PowerLawFit, n: np.ndarray, color: str, label: str) -> None:
    ax.plot(n, fit.prefactor * n**fit.exponent, "-", color=color, lw=1.0,
            label=f"{label}: {fit.prefactor:.2f} N$^{{{fit.exponent:.3f}}}$")


def _sci(value: float) -> str:
    mantissa, exponent = f"{value:.3g}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def plot_fig2(S: np.ndarray, p: np.ndarray, s_cut: int, tail: float) -> Figure:
    """Return Fig. 2: |c_S|² of N = 1000 up to ``s_cut``, the tail beyond in an inset."""
    fig, ax = _axes()
    shown = np.less_equal(S, s_cut)
    ax.bar(S[shown], p[shown], width=1.6, color="tab:blue")
    ax.set_xlabel("spin length $S$ (even)")
    ax.set_ylabel(r"population $|c_S|^2$")
    ax.set_xlim(-2, s_cut + 2)
    ax.set_title(r"Fig. 2: $|m_F=0\rangle^{\otimes N}$, $N = 1000$")
    ax.text(0.97, 0.95, rf"$\sum_{{S>{s_cut}}}|c_S|^2 = {_sci(tail)}$" "\n"
            rf"paper: ${_sci(PAPER_FITS['fig2_tail_above_200'])}$",
            transform=ax.transAxes, ha="right", va="top")
    inset = ax.inset_axes((0.55, 0.35, 0.42, 0.4))
    inset.semilogy(S, p, ".", ms=2, color="tab:blue")
    inset.axvline(s_cut, color="gray", lw=0.8, ls="--")
    inset.set_xlabel("$S$", fontsize=8)
    inset.set_ylabel(r"$|c_S|^2$", fontsize=8)
    inset.tick_params(labelsize=7)
    inset.set_ylim(1e-40, 1)
    return fig


def plot_fig2_large(curves: Sequence[tuple[int, np.ndarray, np.ndarray]]) -> Figure:
    """Return the prior of large N on the scaled axis S/√N against the Rayleigh limit."""
    fig, ax = _axes()
    for n, S, p in curves:
        x = S / np.sqrt(n)
        ax.plot(x, p * np.sqrt(n) / 2.0, ".", ms=3, label=f"N = {n:.0e}")
    x = np.linspace(0, 6, 400)
    ax.plot(x, x * np.exp(-x**2 / 2), "k-", lw=1, label=r"limit $x\,e^{-x^2/2}$")
    ax.set_xlim(0, 6)
    ax.set_xlabel(r"scaled spin length $x = S/\sqrt{N}$")
    ax.set_ylabel(r"$\sqrt{N}\,|c_S|^2/2$ (density in $x$)")
    ax.set_title(r"Beyond Fig. 2: the prior collapses onto $x e^{-x^2/2}$")
    ax.legend()
    return fig


def plot_fig3(data: dict, inset: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Figure:
    """Return Fig. 3: mean QFI vs N (ideal detector), even and odd N, with power-law fits."""
    fig, ax = _axes()
    for parity, marker, color in (("even", "o", "tab:blue"), ("odd", "s", "tab:orange")):
        n, f = data[parity]["N"], data[parity]["F"]
        ax.loglog(n, f, marker, ms=2.5, color=color, mfc="none", label=f"{parity} N")
        _fit_line(ax, data[parity]["fit"], n, color, f"fit {parity}")
        a, b = PAPER_FITS[f"fig3_{parity}"]
        ax.loglog(n, a * n**b, ":", color=color, lw=1, label=f"paper {parity}: {a} N$^{{{b}}}$")
    ax.set_xlabel("number of atoms $N$")
    ax.set_ylabel(r"mean QFI $\bar{\mathcal{F}}$ on $Q_{xx}-Q_{yy}$")
    ax.set_title(r"Fig. 3: $\bar{\mathcal{F}} = \sum_S |c_S|^2 \mathcal{F}(|S,-S\rangle)$")
    ax.legend(loc="lower right")
    # Inset as in the paper: populations and QFI of the single states for N = 40 (two panels:
    # a twin axis inside an inset hides the other axis' artists).
    S, p, F = inset
    top = ax.inset_axes((0.1, 0.76, 0.32, 0.2))
    top.bar(S, p, width=1.5, color="tab:gray")
    top.set_ylabel(r"$|c_S|^2$", fontsize=7)
    top.set_title("N = 40", fontsize=7, pad=2)
    top.tick_params(labelbottom=False)
    bottom = ax.inset_axes((0.1, 0.5, 0.32, 0.24), sharex=top)
    bottom.plot(S, F / 1e3, "r.-", ms=3, lw=0.8)
    bottom.set_ylabel(r"$\mathcal{F}_S/10^3$", fontsize=7)
    bottom.set_xlabel("$S$", fontsize=7, labelpad=1)
    for a in (top, bottom):
        a.tick_params(labelsize=6)
    return fig


def plot_fig3_large(n: np.ndarray, f_over_n2: np.ndarray) -> Figure:
    """Return F̄/N² up to large N with the derived asymptote and the paper's fits extrapolated."""
    fig, ax = _axes()
    ax.semilogx(n, f_over_n2, "o", ms=3, mfc="none", label="exact (even N)")
    dense = np.geomspace(n.min(), n.max(), 300)
    ax.semilogx(dense, ideal_asymptote(dense), "k-", lw=1,
                label=r"$8 - 8\sqrt{\pi/2}/\sqrt{N} + 7\ln N/N$")
    for parity, ls in (("even", "--"), ("odd", ":")):
        a, b = PAPER_FITS[f"fig3_{parity}"]
        ax.semilogx(dense, a * dense ** (b - 2.0), ls, color="tab:gray",
                    label=f"paper fit ({parity}) extrapolated")
    ax.axhline(8.0, color="tab:red", lw=0.8, label="limit 8")
    ax.set_ylim(5.5, 10)
    ax.set_xlabel("number of atoms $N$")
    ax.set_ylabel(r"$\bar{\mathcal{F}}/N^2$")
    ax.set_title("Beyond Fig. 3: Heisenberg scaling, exactly $8N^2$ asymptotically")
    ax.legend(loc="upper left")
    return fig


def plot_fig4(data: dict) -> Figure:
    """Return Fig. 4: mean QFI after one pulse vs N for several η, with power-law fits."""
    fig, ax = _axes()
    for eta, entry in data.items():
        color = COLORS.get(eta)
        n, f = entry["N"], entry["F"]
        label = f"η = {eta}" + (" (Fig. 3)" if eta == 1.0 else "")
        ax.loglog(n, f, "o", ms=2.5, mfc="none", color=color, label=label)
        if "fit" in entry:
            _fit_line(ax, entry["fit"], n, color, "fit")
    a, b = PAPER_FITS["fig4_eta0.9"]
    n = data[max(data)]["N"]
    ax.loglog(n, a * n**b, ":", color="tab:blue", lw=1, label=f"paper η = 0.9: {a} N$^{{{b}}}$")
    ax.set_xlabel("number of atoms $N$")
    ax.set_ylabel(r"mean QFI $\bar{\mathcal{F}} = \sum_n p(n)\,\mathcal{F}(\rho_n)$")
    ax.set_title("Fig. 4: one TC pulse, detection efficiency η")
    ax.legend(loc="upper left", ncol=2)
    return fig


def plot_fig4_large(data: dict) -> Figure:
    """Return F̄/N^{3/2} up to large N with the derived limits 8√(π/2) η/(1-η)."""
    fig, ax = _axes()
    for eta, (n, f) in data.items():
        color = COLORS.get(eta)
        ax.semilogx(n, f / n**1.5, "o-", ms=3, lw=0.8, mfc="none", color=color,
                    label=f"η = {eta}")
        ax.axhline(one_pulse_asymptote(eta), color=color, ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylim(2.0, 400.0)
    ax.set_xlabel("number of atoms $N$")
    ax.set_ylabel(r"$\bar{\mathcal{F}}/N^{3/2}$")
    ax.set_title(r"Beyond Fig. 4: $\bar{\mathcal{F}} \to 8\sqrt{\pi/2}\,\frac{\eta}{1-\eta}"
                 r"N^{3/2}$ (dashed)")
    ax.legend(loc="upper left", ncol=4)
    return fig


def _posterior_curves(ax, sequence: list[tuple[np.ndarray, np.ndarray, int]],
                      show: Sequence[int], S_true: int, half_width: int) -> None:
    """Draw p(S) after each pulse count in ``show`` and mark the true S."""
    cmap = mpl.colormaps["viridis"]
    for k, pulses in enumerate(show):
        S, p, _ = sequence[pulses - 1]
        ax.plot(S, p, ".-", ms=2.5, lw=0.8, color=cmap(k / max(len(show) - 1, 1)),
                label=f"after {pulses} pulse{'s' if pulses > 1 else ''}")
    ax.axvline(S_true, color="gray", ls="--", lw=0.8, label=f"true S = {S_true}")
    ax.set_xlim(max(S_true - half_width, 0), S_true + half_width)
    ax.set_xlabel("spin length $S$")
    ax.set_ylabel(r"posterior $p(S\,|\,\{n\})$")


def plot_fig5(sequence: list[tuple[np.ndarray, np.ndarray, int]], show: Sequence[int],
              N: int, S_true: int, eta: float) -> Figure:
    """Return Fig. 5: the posterior over S after successive pulses."""
    fig, ax = _axes()
    _posterior_curves(ax, sequence, show, S_true, 25)
    counts = ", ".join(str(c) for _, _, c in sequence[: max(show)])
    ax.text(0.02, 0.97, "registered counts:\n" + "\n".join(textwrap.wrap(counts, 30)),
            transform=ax.transAxes, va="top", fontsize=7, family="monospace")
    ax.set_title(f"Fig. 5: N = {N}, η = {eta}, alternating TC / anti-TC pulses")
    ax.legend(loc="upper right")
    return fig


def plot_fig5_large(sequence: list[tuple[np.ndarray, np.ndarray, int]], show: Sequence[int],
                    N: int, S_true: int, eta: float) -> Figure:
    """Return the posterior narrowing at large N, with its width against the 1/√k law."""
    fig = Figure(figsize=(9.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    _posterior_curves(left, sequence, show, S_true, 60)
    left.legend(loc="upper left")
    pulses = np.arange(1, len(sequence) + 1)
    width = np.array([math.sqrt(max(float(np.dot(p, S.astype(float) ** 2))
                                    - float(np.dot(p, S)) ** 2, 0.0)) for S, p, _ in sequence])
    right.loglog(pulses, width, "-", lw=1, label="posterior std of S")
    # count information: η/((1-η)S) from pulse 0 and twice that from each full pulse
    right.loglog(pulses, np.sqrt(S_true * (1 - eta) / (eta * (2 * pulses - 1))), "k--",
                 lw=0.8, label=r"$\sqrt{S(1-\eta)/((2k-1)\eta)}$ after $k$ pulses")
    right.set_xlabel("pulses")
    right.set_ylabel("posterior standard deviation of $S$")
    right.legend(loc="lower left")
    fig.suptitle(f"Beyond Fig. 5: N = {N:.0e}, S = {S_true}, η = {eta}")
    return fig


def plot_fig6(studies: Sequence[SwitchStudy]) -> Figure:
    """Return Fig. 6: sample-mean QFI vs number of switches, ±1 standard error."""
    fig, ax = _axes()
    for study in studies:
        k = np.arange(study.mean.size)
        ax.errorbar(k, study.mean, yerr=study.sem, fmt="o-", ms=3, lw=0.8, capsize=2,
                    color=COLORS.get(study.eta), label=f"η = {study.eta}")
    ideal = studies[0].ideal_mean
    ax.axhline(ideal, color="black", ls="--", lw=0.8,
               label=rf"ideal $\sum_S|c_S|^2\mathcal{{F}}_S = {ideal:.0f}$")
    n_traj = studies[0].qfi.shape[0]
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of polarisation switches")
    ax.set_ylabel(r"sample-mean QFI $\bar{\mathcal{F}}$")
    ax.set_title(f"Fig. 6: N = {studies[0].N}, {n_traj} trajectories per η")
    ax.legend(loc="lower right")
    return fig
