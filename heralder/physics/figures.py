"""``heralder figures``: reproduce the paper's Figs. 2-6, extend them to N = 10⁶, write fits.json.

Writes into ``--out`` (default ``figures/``): ``fig2_prior.png`` … ``fig6_switches.png``, the
``*_large_n.png`` extensions and ``fits.json`` (every fitted prefactor and exponent with its fit
range, beside the paper's printed numbers); the command also writes ``exact_vs_cascade.png`` and
``.json`` (:mod:`heralder.physics.exact_figures`). ``--quick`` uses fewer N values and trajectories.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
from tqdm import tqdm

from heralder.errors import HeralderError
from heralder.physics import figures_plot as plot
from heralder.physics.exact_figures import exact_profile_figure
from heralder.physics.paper_data import (
    PAPER_FITS,
    fit_power_law,
    ideal_asymptote,
    one_pulse_asymptote,
    prior_tail,
    qfi_curve,
)
from heralder.physics.prior import log_prior, prior_support
from heralder.physics.qfi import qfi_pure
from heralder.physics.trajectories import narrowing_sequence, switch_study

__all__ = ["FigureSettings", "configure_parser", "make_figures", "run"]

FIT_RANGE = (10, 1000)  # N range of the Fig. 3 / Fig. 4 fits (closest to the paper's numbers)
RANGE_TABLE = ((2, 100), (10, 100), (10, 1000), (100, 1000))
FIG4_ETAS = (0.5, 0.7, 0.9)
LARGE_ETAS = (0.3, 0.5, 0.7, 0.9)
FIG6_ETAS = (0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class FigureSettings:
    """Choose how much work each figure does (full run or ``--quick`` smoke run)."""

    fig4_points: int  # N values in [2, 1000] for Fig. 4 (999 = every N)
    large_n_max: int
    large_points: int
    fig5_large_pulses: int
    fig6_trajectories: int
    fig6_switches: int
    quick: bool

    @classmethod
    def choose(cls, quick: bool) -> FigureSettings:
        """Return the quick or the full settings."""
        if quick:
            return cls(fig4_points=100, large_n_max=10**5, large_points=10,
                       fig5_large_pulses=100, fig6_trajectories=100, fig6_switches=10,
                       quick=True)
        return cls(fig4_points=999, large_n_max=10**6, large_points=25,
                   fig5_large_pulses=1000, fig6_trajectories=1000, fig6_switches=20,
                   quick=False)


def _fig4_ns(points: int) -> np.ndarray:
    every = np.arange(2, 1001)
    if points >= every.size:
        return every
    return np.unique(np.concatenate([np.arange(2, 61), np.geomspace(60, 1000, points - 59)
                                     .round().astype(int)]))


def _fits_over_ranges(n: np.ndarray, f: np.ndarray) -> list[dict]:
    out = []
    for lo, hi in RANGE_TABLE:
        sel = (n >= lo) & (n <= hi)
        if sel.sum() >= 2:
            out.append(fit_power_law(n[sel], f[sel]).as_dict())
    return out


def _in_range(n: np.ndarray) -> np.ndarray:
    return (n >= FIT_RANGE[0]) & (n <= FIT_RANGE[1])


def make_figures(out: Path, settings: FigureSettings, seed: int = 2021,
                 progress: bool = True) -> dict:
    """Compute every figure, write the PNGs and ``fits.json`` into ``out``; return the fits."""
    out.mkdir(parents=True, exist_ok=True)

    def rng(figure: int) -> np.random.Generator:
        # one stream per figure: changing one figure's work leaves the others' draws alone
        return np.random.default_rng([seed, figure])

    fits: dict = {"quick": settings.quick, "seed": seed, "paper": {
        k: list(v) if isinstance(v, tuple) else v for k, v in PAPER_FITS.items()}}
    n_fig4 = _fig4_ns(settings.fig4_points)
    large_n = np.unique(np.geomspace(10, settings.large_n_max, settings.large_points)
                        .round().astype(int))
    work = (999 + len(FIG4_ETAS) * n_fig4.size + len(LARGE_ETAS) * large_n.size
            + len(FIG6_ETAS) * settings.fig6_trajectories)
    bar = tqdm(total=work, desc="figures", unit="step", file=sys.stderr, disable=not progress)

    def tick(k: int) -> None:
        bar.update(k)

    with mpl.rc_context(plot.STYLE):
        # Fig. 2 and its large-N version
        S, log_p = np.arange(0, 1001, 2), log_prior(1000, np.arange(0, 1001, 2))
        tail = prior_tail(1000, 200)
        fits["fig2"] = {"N": 1000, "s_cut": 200, "tail_above_cut": tail,
                        "paper_tail": PAPER_FITS["fig2_tail_above_200"]}
        plot.save(plot.plot_fig2(S, np.exp(log_p), 200, tail), out / "fig2_prior.png")
        curves = []
        for n in (10**2, 10**4, 10**6, 10**9):
            s, lp = prior_support(n, 30.0)
            curves.append((n, s, np.exp(lp)))
        plot.save(plot.plot_fig2_large(curves), out / "fig2_large_n.png")

        # Fig. 3: ideal detector, every N in [2, 1000]
        n_all = np.arange(2, 1001)
        f_all = qfi_curve(n_all, 1.0, tick)
        fig3: dict = {}
        for parity, rem in (("even", 0), ("odd", 1)):
            sel = n_all % 2 == rem
            n, f = n_all[sel], f_all[sel]
            fig3[parity] = {"N": n, "F": f, "fit": fit_power_law(n[_in_range(n)],
                                                                 f[_in_range(n)])}
        s40 = np.arange(0, 41, 2)
        inset = (s40, np.exp(log_prior(40, s40)), np.asarray(qfi_pure(40, s40)))
        plot.save(plot.plot_fig3(fig3, inset), out / "fig3_mean_qfi.png")
        large_even = np.unique(np.geomspace(10, 10**6, 40).round().astype(int) // 2 * 2)
        f_large = qfi_curve(large_even) / large_even.astype(float) ** 2
        plot.save(plot.plot_fig3_large(large_even, f_large), out / "fig3_large_n.png")
        fits["fig3"] = {
            parity: {"fit": fig3[parity]["fit"].as_dict(),
                     "fit_ranges": _fits_over_ranges(fig3[parity]["N"], fig3[parity]["F"])}
            for parity in ("even", "odd")}
        fits["fig3"]["asymptote"] = {
            "formula": "F/N^2 = 8 - 8 sqrt(pi/2)/sqrt(N) + 7 ln(N)/N",
            "checks": [{"N": int(n), "exact": float(v), "asymptote": float(ideal_asymptote(n))}
                       for n, v in zip(large_even[-4:], f_large[-4:], strict=True)]}

        # Fig. 4: one pulse, finite efficiency
        fig4: dict = {}
        fits["fig4"] = {}
        for eta in FIG4_ETAS:
            f = qfi_curve(n_fig4, eta, tick)
            fit = fit_power_law(n_fig4[_in_range(n_fig4)], f[_in_range(n_fig4)])
            fig4[eta] = {"N": n_fig4, "F": f, "fit": fit}
            fits["fig4"][f"eta={eta}"] = {"fit": fit.as_dict(),
                                          "fit_ranges": _fits_over_ranges(n_fig4, f)}
        fig4[1.0] = {"N": n_all, "F": f_all}
        plot.save(plot.plot_fig4(fig4), out / "fig4_mean_qfi_eta.png")
        large: dict = {}
        fits["fig4_large_n"] = {}
        for eta in LARGE_ETAS:
            f = qfi_curve(large_n, eta, tick)
            large[eta] = (large_n, f)
            top = large_n >= large_n.max() // 100
            fits["fig4_large_n"][f"eta={eta}"] = {
                "fit": fit_power_law(large_n[top], f[top]).as_dict(),
                "limit_F_over_N1.5": one_pulse_asymptote(eta),
                "F_over_N1.5_at_N_max": float(f[-1] / float(large_n[-1]) ** 1.5)}
        plot.save(plot.plot_fig4_large(large), out / "fig4_large_n.png")

        # Fig. 5: posterior narrowing (the project's estimator)
        seq = narrowing_sequence(1000, 30, 0.7, 20, rng(5))
        show = (1, 2, 3, 5, 10, 20)
        plot.save(plot.plot_fig5(seq, show, 1000, 30, 0.7), out / "fig5_posterior.png")
        fits["fig5"] = {"N": 1000, "S_true": 30, "eta": 0.7,
                        "counts": [c for _, _, c in seq],
                        "pmax_after": {str(k): float(seq[k - 1][1].max()) for k in show}}
        k_max = settings.fig5_large_pulses
        seq = narrowing_sequence(10**6, 1000, 0.7, k_max, rng(50))
        show = (*(k for k in (1, 10, 100, 1000) if k < k_max), k_max)
        plot.save(plot.plot_fig5_large(seq, show, 10**6, 1000, 0.7), out / "fig5_large_n.png")
        S_last, p_last, _ = seq[-1]
        fits["fig5_large_n"] = {
            "N": 10**6, "S_true": 1000, "eta": 0.7, "pulses": k_max,
            "map_S": int(S_last[np.argmax(p_last)]), "pmax": float(p_last.max()),
            # σ² = S(1-η)/((2k-1)η) <= 0.378 gives p_max >= 0.99 on the step-2 lattice
            "pulses_for_pmax_0.99_predicted": 0.5 + 1000 * 0.3 / (2 * 0.378 * 0.7)}

        # Fig. 6: Monte Carlo over trajectories
        studies = [switch_study(16, eta, settings.fig6_trajectories, settings.fig6_switches,
                                rng(600 + k), tick) for k, eta in enumerate(FIG6_ETAS)]
        plot.save(plot.plot_fig6(studies), out / "fig6_switches.png")
        fits["fig6"] = {"N": 16, "trajectories": settings.fig6_trajectories,
                        "ideal_mean": studies[0].ideal_mean,
                        "mean": {f"eta={s.eta}": s.mean.tolist() for s in studies},
                        "sem": {f"eta={s.eta}": s.sem.tolist() for s in studies}}
    bar.close()
    (out / "fits.json").write_text(json.dumps(fits, indent=2) + "\n")
    return fits


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``figures`` options to ``parser``."""
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="directory for the PNGs and fits.json (default: figures/)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer N values and trajectories (a smoke run, < 1 min)")
    parser.add_argument("--seed", type=int, default=2021, help="Monte Carlo seed")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--exact-spins", type=int, nargs="+", default=None, metavar="S",
                        help="spin lengths of the exact-vs-cascade panel (default 10 and 100, "
                        "10 with --quick; S = 100 takes about half a minute of CPU)")


def run(args: argparse.Namespace) -> int:
    """Write the figures and print the headline fits; return the exit status."""
    started = time.perf_counter()
    try:
        fits = make_figures(args.out, FigureSettings.choose(args.quick), args.seed,
                            progress=not args.no_progress)
        spins = args.exact_spins or ([10] if args.quick else [10, 100])
        exact = exact_profile_figure(args.out, spins=tuple(spins), points=300)
    except OSError as exc:
        raise HeralderError(f"cannot write figures to {args.out}: {exc}") from exc
    print(f"Fig. 2: sum_(S>200) |c_S|^2 = {fits['fig2']['tail_above_cut']:.4g} (paper 1.34e-9)")
    for parity in ("even", "odd"):
        f = fits["fig3"][parity]["fit"]
        print(f"Fig. 3 {parity}: {f['prefactor']:.3f} N^{f['exponent']:.3f} "
              f"(N {f['n_min']}-{f['n_max']})")
    for key, entry in fits["fig4"].items():
        f = entry["fit"]
        print(f"Fig. 4 {key}: {f['prefactor']:.3f} N^{f['exponent']:.3f} "
              f"(N {f['n_min']}-{f['n_max']})")
    for spin, by_x in exact.items():
        ratios = ", ".join(f"{x}: {v['mean_emission_over_cascade']:.3f}" for x, v in by_x.items())
        print(f"exact/cascade mean emission time, {spin}: {ratios}")
    print(f"wrote {args.out}/ in {time.perf_counter() - started:.1f} s")
    return 0
