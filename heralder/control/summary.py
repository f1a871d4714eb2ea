"""Summarise a finished run for the command line: a table of figures and a PNG figure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heralder.control.engine import Engine
from heralder.control.estimator_setup import new_posterior

__all__ = ["RunSummary", "format_summary", "summarize", "summary_figure"]


@dataclass(frozen=True)
class RunSummary:
    """Hold the headline figures of a run (``nan`` where a figure does not apply)."""

    shots: int
    pulses: int
    accuracy: float
    mean_switches: float
    mean_qfi_n2: float
    ideal_qfi_n2: float
    latency_p50_s: float
    latency_p99_s: float
    pulses_per_s: float
    faults: int
    deadline_misses: int
    run_dir: str
    state: str
    message: str


def summarize(engine: Engine, wall_s: float) -> RunSummary:
    """Return the figures of ``engine``'s finished run (``wall_s``: its wall-clock duration)."""
    heralds = engine.heralds
    config = engine.config
    n2 = float(config.atoms.n_atoms) ** 2
    truth = [h for h in heralds if h.true_s is not None]
    lat = np.asarray(engine.latencies_s, dtype=float)
    pulses = sum(h.pulses for h in heralds)
    snap = engine.snapshot()
    return RunSummary(
        shots=len(heralds), pulses=pulses,
        accuracy=float(np.mean([h.map_s == h.true_s for h in truth])) if truth else np.nan,
        mean_switches=float(np.mean([h.pulses - 1 for h in heralds])) if heralds else np.nan,
        mean_qfi_n2=float(np.mean([h.qfi for h in heralds])) / n2 if heralds else np.nan,
        ideal_qfi_n2=new_posterior(config, "numpy").qfi_ideal() / n2,
        latency_p50_s=float(np.percentile(lat, 50)) if lat.size else np.nan,
        latency_p99_s=float(np.percentile(lat, 99)) if lat.size else np.nan,
        pulses_per_s=pulses / wall_s if wall_s > 0 else np.nan,
        faults=snap.faults, deadline_misses=snap.deadline_misses, run_dir=engine.run_dir,
        state=snap.state.value, message=snap.message)


def format_summary(s: RunSummary) -> str:
    """Return the summary as an aligned text table."""
    rows = [
        ("run", f"{s.state}" + (f" ({s.message})" if s.message else "")),
        ("shots heralded", f"{s.shots}"),
        ("herald accuracy (MAP S = true S)", f"{s.accuracy:.1%}" if np.isfinite(s.accuracy)
         else "n/a (no simulated truth)"),
        ("mean switches per shot", f"{s.mean_switches:.2f}"),
        ("mean F(ρ)/N²  (ideal Σ|c_S|²F_S/N²)", f"{s.mean_qfi_n2:.3f}  ({s.ideal_qfi_n2:.3f})"),
        ("decision latency p50 / p99", f"{s.latency_p50_s * 1e6:.0f} µs / "
                                       f"{s.latency_p99_s * 1e6:.0f} µs"),
        ("pulses / s (wall clock)", f"{s.pulses_per_s:,.0f}  ({s.pulses} pulses)"),
        ("faults / late decisions", f"{s.faults} / {s.deadline_misses}"),
        ("run directory", s.run_dir),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def summary_figure(engine: Engine, path: str | Path) -> Path:
    """Write a four-panel PNG of the run (heralds vs truth, pulses, F/N², latency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heralds = engine.heralds
    n2 = float(engine.config.atoms.n_atoms) ** 2
    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5))
    truth = [(h.true_s, h.map_s) for h in heralds if h.true_s is not None]
    if truth:
        t, m = np.array(truth).T
        ax[0, 0].plot(t, m, ".", alpha=0.6)
        lim = [0, max(t.max(), m.max()) + 1]
        ax[0, 0].plot(lim, lim, "k--", lw=0.8)
        ax[0, 0].set_xlabel("true S (simulated)")
    else:
        ax[0, 0].plot([h.map_s for h in heralds], ".")
        ax[0, 0].set_xlabel("shot")
    ax[0, 0].set_ylabel("heralded S (MAP)")
    ax[0, 1].hist([h.pulses for h in heralds], bins=30)
    ax[0, 1].set_xlabel("pulses per shot")
    ax[1, 0].plot([h.qfi / n2 for h in heralds], ".", label="F(ρ)/N²")
    ax[1, 0].plot([h.qfi_ideal / n2 for h in heralds], ".", alpha=0.5, label="Σp_S F_S/N²")
    ax[1, 0].set_xlabel("shot")
    ax[1, 0].legend()
    lat = np.asarray(engine.latencies_s) * 1e6
    ax[1, 1].hist(lat[lat > 0] if lat.size else lat, bins=50, log=True)
    ax[1, 1].set_xlabel("decision latency (µs, data in → switch acknowledged)")
    fig.suptitle(f"heralder run {Path(engine.run_dir).name}: N = {engine.config.atoms.n_atoms}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
