"""Summarise the timing study's records as a CSV, a Markdown table and a PNG figure."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

__all__ = ["ESTIMATORS", "FIELDS", "summarise", "write_report"]

#: The estimators of the timing study (``remedy`` is the engine's choice of counts and times;
#: ``counts_cascade`` is counts with the cascade's dead-time efficiency everywhere).
ESTIMATORS = ("counts", "counts_cascade", "times", "remedy")

FIELDS = ("cavity", "x_typ", "y_max", "N", "eta", "dynamics", "estimator", "trials", "p_wrong",
          "se_p_wrong", "mean_switches", "se_switches", "mean_error", "se_error", "capped",
          "uses_times", "deadtime_loss", "se_deadtime_loss", "deadtime_loss_model",
          "deadtime_loss_exact", "exact_loss_ratio", "se_exact_loss_ratio",
          "loss_ratio", "se_loss_ratio")
_COLOURS = {"counts": "C0", "counts_cascade": "C4", "times": "C3", "remedy": "C2"}
_X_TICKS = (0.1, 0.2, 0.5, 1.0, 2.0)
_STYLES = {"exact": ("-", "o"), "cascade": (":", "s")}


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    n = values.size
    mean = float(values.mean()) if n else math.nan
    return mean, float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def _cavity(params: dict[str, Any]) -> str:
    return f"x={params['x']:g}" if params["preset"] == "custom" else str(params["preset"])


def summarise(frame: Any) -> list[dict[str, Any]]:
    """Return one row per (point, estimator): means with standard errors (see :data:`FIELDS`)."""
    rows = []
    for _point, group in frame.groupby("point", sort=True):
        first = group.iloc[0]
        n = len(group)
        loss, se_loss = _mean_se(group["deadtime_loss"].to_numpy(float))
        model = group["deadtime_loss_model"].to_numpy(float)
        # paired per shot: the spread of S between shots cancels
        ratio, se_ratio = _mean_se(group["deadtime_loss"].to_numpy(float)[model > 0]
                                   / model[model > 0])
        exact = (group["deadtime_loss_exact"].to_numpy(float) if "deadtime_loss_exact" in group
                 else np.full(n, np.nan))
        exact_ratio, se_exact_ratio = _mean_se(group["deadtime_loss"].to_numpy(float)[exact > 0]
                                               / exact[exact > 0])
        common = {"cavity": _cavity(first), "x_typ": float(first["x_typ"]),
                  "y_max": float(first["y_max"]), "N": int(first["n_atoms"]),
                  "eta": float(first["eta"]), "dynamics": str(first["dynamics"]), "trials": n,
                  "deadtime_loss": loss, "se_deadtime_loss": se_loss,
                  "deadtime_loss_model": float(model.mean()), "loss_ratio": ratio,
                  "se_loss_ratio": se_ratio, "deadtime_loss_exact": float(np.mean(exact)),
                  "exact_loss_ratio": exact_ratio, "se_exact_loss_ratio": se_exact_ratio}
        for estimator in ESTIMATORS:
            p_wrong = float(group[f"{estimator}_wrong"].astype(float).mean())
            switches, se_switches = _mean_se(group[f"{estimator}_switches"].to_numpy(float))
            error, se_error = _mean_se(group[f"{estimator}_error"].to_numpy(float))
            uses = (estimator == "times" or (estimator == "remedy"
                                             and bool(group["remedy_uses_times"].all())))
            rows.append({**common, "estimator": estimator, "p_wrong": p_wrong,
                         "se_p_wrong": math.sqrt(p_wrong * (1.0 - p_wrong) / n),
                         "mean_switches": switches, "se_switches": se_switches,
                         "mean_error": error, "se_error": se_error,
                         "capped": int(group[f"{estimator}_capped"].sum()),
                         "uses_times": uses})
    return rows


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _points(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, dict[str, Any]]]:
    """Return point key (cavity, N, η, dynamics) -> estimator -> row, in table order."""
    points: dict[tuple, dict[str, dict[str, Any]]] = {}
    order = sorted(rows, key=lambda r: (r["N"], r["eta"], r["x_typ"], r["cavity"],
                                        r["dynamics"] != "cascade"))
    for row in order:
        key = (row["cavity"], row["N"], row["eta"], row["dynamics"])
        points.setdefault(key, {})[row["estimator"]] = row
    return points


def _write_markdown(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    head = ["cavity", "x at S_typ", "y at S_max", "N", "η", "data", "trials"]
    head += [f"P(wrong) {e}" for e in ESTIMATORS] + [f"switches {e}" for e in ESTIMATORS]
    head += ["remedy uses", "dead-time loss (measured)", "dead-time loss (cascade model)",
             "measured / model", "dead-time loss (exact model)", "measured / exact model"]
    lines = [f"# {title}", "",
             "Each estimator heralds at max p ≥ threshold on the same record; P(wrong) is the "
             "fraction of shots whose herald differs from the true S, switches = pulses − 1; "
             "mean ± one standard error. `remedy` is the engine's choice (counts when the "
             "cascade is invalid at the plausible S). x is √S λ/(κ/2) at the prior's most "
             "probable S, y = λ√(S(S+1))/(κ/2) at the largest plausible S. Cascade data "
             "depend on Γ = 2λ²/κ alone, which every cavity here shares (the paper's), so a "
             "cascade row stands for every x.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for (cavity, n, eta, dynamics), by in _points(rows).items():
        first = by[ESTIMATORS[0]]
        cells = [cavity, f"{first['x_typ']:.3g}", f"{first['y_max']:.3g}", str(n), f"{eta:g}",
                 dynamics, str(first["trials"])]
        cells += [f"{by[e]['p_wrong']:.3f} ± {by[e]['se_p_wrong']:.3f}" for e in ESTIMATORS]
        cells += [f"{by[e]['mean_switches']:.1f} ± {by[e]['se_switches']:.1f}"
                  for e in ESTIMATORS]
        cells += ["times" if by["remedy"]["uses_times"] else "counts",
                  f"{100 * first['deadtime_loss']:.2f} ± {100 * first['se_deadtime_loss']:.2f} %",
                  f"{100 * first['deadtime_loss_model']:.2f} %",
                  f"{first['loss_ratio']:.3f} ± {first['se_loss_ratio']:.3f}",
                  f"{100 * first['deadtime_loss_exact']:.2f} %",
                  f"{first['exact_loss_ratio']:.3f} ± {first['se_exact_loss_ratio']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


def _write_png(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Plot P(wrong), switches and the measured over the modelled dead-time loss against x,
    one row per (N, η)."""
    cells = sorted({(r["N"], r["eta"]) for r in rows})
    fig = Figure(figsize=(15, 3.4 * len(cells) + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(len(cells), 3, squeeze=False))
    for line, (n, eta) in zip(axes, cells, strict=True):
        sel = [r for r in rows if r["N"] == n and r["eta"] == eta]
        for estimator in ESTIMATORS:
            for dynamics, (style, marker) in _STYLES.items():
                mine = [r for r in sel if r["estimator"] == estimator and r["dynamics"] == dynamics]
                # the paper preset has the custom cavities' Γ: it lies on their curve
                custom = sorted((r for r in mine if r["cavity"] != "bad-cavity"),
                                key=lambda r: r["x_typ"])
                presets = [r for r in mine if not r["cavity"].startswith("x=")]
                kw = {"color": _COLOURS[estimator], "capsize": 2,
                      "alpha": 0.5 if estimator == "remedy" else 1.0,
                      "linewidth": 4 if estimator == "remedy" else 1.4}
                for ax, (key, err) in zip(line[:2], (("p_wrong", "se_p_wrong"),
                                                     ("mean_switches", "se_switches")),
                                          strict=True):
                    ax.errorbar([r["x_typ"] for r in custom], [r[key] for r in custom],
                                yerr=[np.nan_to_num(r[err]) for r in custom], linestyle=style,
                                marker=marker, markersize=4,
                                label=f"{estimator}, {dynamics} data", **kw)
                    ax.errorbar([r["x_typ"] for r in presets], [r[key] for r in presets],
                                yerr=[np.nan_to_num(r[err]) for r in presets], linestyle="none",
                                marker="*", markersize=11, **kw)
                    if dynamics == "cascade" and len(mine) == 1:  # stands for every x
                        ax.axhline(mine[0][key], color=kw["color"], linestyle=style,
                                   alpha=kw["alpha"], linewidth=1.0)
        loss_ax = line[2]
        for dynamics, (style, marker) in _STYLES.items():
            mine = sorted((r for r in sel if r["estimator"] == "counts"
                           and r["dynamics"] == dynamics), key=lambda r: r["x_typ"])
            for key, colour, model in (("loss_ratio", "C1", "cascade"),
                                       ("exact_loss_ratio", "C0", "exact")):
                loss_ax.errorbar([r["x_typ"] for r in mine], [r[key] for r in mine],
                                 yerr=[np.nan_to_num(r[f"se_{key}"]) for r in mine],
                                 linestyle=style if dynamics == "exact" else "none",
                                 marker=marker, capsize=2, color=colour,
                                 label=f"{dynamics} data / {model} model")
        loss_ax.axhline(1.0, color="k", linewidth=0.8)
        for ax, label in zip(line, ("P(wrong herald)", "mean switches",
                                    "dead-time loss: measured / model"), strict=True):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator(_X_TICKS))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("x = √S λ/(κ/2) at the typical S")
            ax.set_ylabel(label)
            ax.set_title(f"N = {n}, η = {eta:g}", fontsize=9)
        line[1].set_yscale("log")
        line[1].yaxis.set_major_formatter(FormatStrFormatter("%g"))
        line[1].yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    axes[0, 0].legend(fontsize=7)
    axes[0, 2].legend(fontsize=7)
    fig.suptitle(f"{title}\nx set through κ at the paper's Γ = 2λ²/κ; stars: the paper's "
                 "preset (at its own x); solid: exact data; dotted: cascade data (any x)")
    fig.savefig(path, dpi=110)


def write_report(frame: Any, out: Path, title: str) -> str:
    """Write ``timing_study.{csv,md,png}`` into ``out`` from the records; return the table."""
    rows = summarise(frame)
    _write_csv(rows, out / "timing_study.csv")
    _write_markdown(rows, out / "timing_study.md", title)
    _write_png(rows, out / "timing_study.png", title)
    return (out / "timing_study.md").read_text()
