"""Summarise a sweep's records: means with standard errors per point, as Markdown, CSV and PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["summarise_records", "write_summary"]


def summarise_records(frame: Any, param_names: list[str]) -> tuple[list[dict[str, Any]],
                                                                   list[str]]:
    """Return one row per point (its parameters, trials, mean and standard error of each
    metric) and the metric names.

    A metric is every numeric or boolean column that is not a parameter; a trial that did not
    record it (a missing value) does not count towards its mean.
    """
    skip = {"point", "trial", *param_names}
    metrics = [c for c in frame.columns if c not in skip
               and (frame[c].dtype == bool or np.issubdtype(frame[c].dtype, np.number))]
    rows = []
    for _point, group in frame.groupby("point", sort=True):
        row: dict[str, Any] = {name: group[name].iloc[0] for name in param_names}
        row["trials"] = len(group)
        for metric in metrics:
            values = group[metric].dropna().to_numpy(dtype=float)
            n = len(values)
            row[f"{metric}_mean"] = float(values.mean()) if n else math.nan
            row[f"{metric}_se"] = (float(values.std(ddof=1) / math.sqrt(n)) if n > 1
                                   else math.nan)
        rows.append(row)
    return rows, metrics


def write_summary(rows: list[dict[str, Any]], metrics: list[str], grid_keys: list[str],
                  out: Path, title: str, *, plot: bool = True) -> list[Path]:
    """Write ``summary.csv``, ``summary.md`` and (if ``plot``) ``summary.png`` into ``out``;
    return their paths."""
    paths = [out / "summary.csv", out / "summary.md"]
    with paths[0].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# {title}", "", "Mean ± one standard error over the trials of each point.", "",
             "| " + " | ".join([*grid_keys, "trials", *metrics]) + " |",
             "|" + "---:|" * (len(grid_keys) + 1 + len(metrics))]
    for row in rows:
        cells = [str(row[k]) for k in grid_keys] + [str(row["trials"])]
        cells += [f"{row[f'{m}_mean']:.4g} ± {row[f'{m}_se']:.2g}" for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    paths[1].write_text("\n".join(lines) + "\n")
    if plot:
        paths.append(out / "summary.png")
        _plot(rows, metrics, grid_keys, title, paths[2])
    return paths


def _plot(rows: list[dict[str, Any]], metrics: list[str], grid_keys: list[str], title: str,
          path: Path) -> None:
    """Plot each metric against the first grid parameter, one line per other combination."""
    x_key, others = grid_keys[0], grid_keys[1:]
    columns = min(len(metrics), 4) or 1
    lines = math.ceil(len(metrics) / columns) or 1
    fig = Figure(figsize=(4 * columns, 3 * lines + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(lines, columns, squeeze=False)).ravel()
    series: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault(tuple(row[k] for k in others), []).append(row)
    for ax, metric in zip(axes, metrics, strict=False):
        for label, sel in series.items():
            sel = sorted(sel, key=lambda r: r[x_key])
            ax.errorbar([r[x_key] for r in sel], [r[f"{metric}_mean"] for r in sel],
                        yerr=[np.nan_to_num(r[f"{metric}_se"]) for r in sel], marker="o",
                        markersize=3, capsize=2,
                        label=", ".join(f"{k}={v}" for k, v in zip(others, label, strict=True)))
        ax.set_xlabel(x_key)
        ax.set_title(metric, fontsize=8)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    if others:
        axes[0].legend(fontsize=6)
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
