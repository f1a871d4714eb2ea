"""Write the policy study's summary rows as Markdown, CSV and a PNG figure."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FIELDS", "times_reduction", "write_csv", "write_markdown", "write_png"]

FIELDS = ("N", "eta", "estimator", "policy", "trials", "mean_switches", "se_switches",
          "p_wrong", "se_p_wrong", "mean_f_ratio", "se_f_ratio", "capped")
_COMPARED = "(b) pmax>=0.99"


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    """Write one line per row with the columns of :data:`FIELDS`."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def times_reduction(rows: list[dict[str, object]]) -> list[dict[str, float]]:
    """Return, per cell with both estimators, the switch reduction of arrival times under (b)."""
    by_key = {(r["N"], r["eta"], r["estimator"]): r for r in rows if r["policy"] == _COMPARED}
    out = []
    for (n, eta, estimator), counts in sorted(by_key.items()):
        timed = by_key.get((n, eta, "times"))
        if estimator != "counts" or timed is None:
            continue
        c, t = float(counts["mean_switches"]), float(timed["mean_switches"])
        se = np.hypot(float(counts["se_switches"]) * t / c**2, float(timed["se_switches"]) / c)
        out.append({"N": n, "eta": eta, "switches_counts": c, "switches_times": t,
                    "reduction": 1.0 - t / c if c > 0 else 0.0, "se_reduction": float(se),
                    "p_wrong_counts": float(counts["p_wrong"]),
                    "p_wrong_times": float(timed["p_wrong"])})
    return out


def write_markdown(rows: list[dict[str, object]], path: Path, title: str) -> None:
    """Write the table (value ± standard error) and the counts-vs-times comparison."""
    lines = [f"# {title}", "",
             "Mean switches (pulses − 1), P(wrong herald) and F(ρ)/F̄ (F̄ = Σ|c_S|² F_S), "
             "each ± one standard error.", "",
             "| N | η | estimator | policy | trials | switches | P(wrong) | F/F̄ | capped |",
             "|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['N']} | {r['eta']} | {r['estimator']} | {r['policy']} | {r['trials']} | "
            f"{r['mean_switches']:.1f} ± {r['se_switches']:.1f} | "
            f"{r['p_wrong']:.3f} ± {r['se_p_wrong']:.3f} | "
            f"{r['mean_f_ratio']:.3f} ± {r['se_f_ratio']:.3f} | {r['capped']} |")
    reductions = times_reduction(rows)
    if reductions:
        lines += ["", f"## Arrival times against counts, policy {_COMPARED} on the same records",
                  "", "| N | η | switches (counts) | switches (times) | reduction | "
                  "P(wrong) counts / times |", "|---:|---:|---:|---:|---:|---|"]
        for r in reductions:
            lines.append(
                f"| {r['N']} | {r['eta']} | {r['switches_counts']:.1f} | "
                f"{r['switches_times']:.1f} | {100 * r['reduction']:.0f} ± "
                f"{100 * r['se_reduction']:.0f} % | {r['p_wrong_counts']:.3f} / "
                f"{r['p_wrong_times']:.3f} |")
    path.write_text("\n".join(lines) + "\n")


def write_png(rows: list[dict[str, object]], path: Path) -> None:
    """Plot switches, P(wrong) and F/F̄ against η, one line per (N, policy), counts estimator;
    arrival-time results dashed."""
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    metrics = [("mean_switches", "se_switches", "mean switches", True),
               ("p_wrong", "se_p_wrong", "P(wrong herald)", False),
               ("mean_f_ratio", "se_f_ratio", "F(ρ) / F̄", False)]
    policies = sorted({str(r["policy"]) for r in rows})
    n_values = sorted({int(r["N"]) for r in rows})
    colors = dict(zip(policies, ("C0", "C1", "C2", "C3", "C4", "C5"), strict=False))
    markers = dict(zip(n_values, ("o", "s", "^", "D"), strict=False))
    for ax, (key, err, label, log) in zip(axes, metrics, strict=True):
        for estimator, style in (("counts", "-"), ("times", "--")):
            for n in n_values:
                for policy in policies:
                    sel = [r for r in rows if r["estimator"] == estimator and r["N"] == n
                           and r["policy"] == policy]
                    if not sel:
                        continue
                    sel.sort(key=lambda r: float(r["eta"]))
                    ax.errorbar([r["eta"] for r in sel], [r[key] for r in sel],
                                yerr=[r[err] for r in sel], color=colors[policy],
                                marker=markers[n], linestyle=style, capsize=2, markersize=4,
                                label=f"{policy}, N={n}" + (" (times)" if estimator == "times"
                                                             else ""))
        ax.set_xlabel("η")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=6)
    fig.suptitle("Stopping policies on the virtual lab (solid: counts, dashed: arrival times)")
    fig.savefig(path, dpi=120)
