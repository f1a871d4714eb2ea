"""Build what observers see while a run goes on: the live snapshot and herald events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from heralder.control.shotlog import ShotLog
from heralder.control.snapshot import EngineEvent, EngineSnapshot, HeraldSummary

__all__ = ["herald_event", "latency_percentiles", "live_snapshot"]


def latency_percentiles(latencies_s: Sequence[float]) -> tuple[float, float]:
    """Return the 50th and 99th percentiles of ``latencies_s`` (zeros when empty)."""
    if not latencies_s:
        return 0.0, 0.0
    p50, p99 = np.percentile(np.fromiter(latencies_s, float, len(latencies_s)), (50, 99))
    return float(p50), float(p99)


def live_snapshot(previous: EngineSnapshot, shot_log: ShotLog, posterior: Any, *, n_atoms: int,
                  pulses_total: int, pulses_per_s: float, latency_pcts_s: tuple[float, float],
                  true_s: int | None, **counters: int) -> EngineSnapshot:
    """Return ``previous`` updated with the current shot (arrays copied, never shared).

    ``latency_pcts_s`` are the decision latencies' (p50, p99), see :func:`latency_percentiles`.
    """
    tables = shot_log.tables(("pulses", "posterior", "photons"))  # new arrays
    pulses, summary, photons = tables["pulses"], tables["posterior"], tables["photons"]
    n2 = float(n_atoms) ** 2
    last = shot_log.n_pulses - 1
    return replace(
        previous, shot=shot_log.shot, pulses_total=pulses_total, pulses_per_s=pulses_per_s,
        latency_p50_s=latency_pcts_s[0], latency_p99_s=latency_pcts_s[1],
        counts=pulses["counts"].copy(),
        states=tuple("tc" if s == 0 else "anti_tc" for s in pulses["state"].tolist()),
        posterior_s=np.array(posterior.S), posterior_p=np.array(posterior.p),
        pmax_history=summary["pmax"].copy(),
        qfi_history=summary["qfi"] / n2, qfi_ideal_history=summary["qfi_ideal"] / n2,
        arrival_times_s=photons["times_s"][photons["pulse_index"] == last],
        true_s=true_s, **counters)


def herald_event(herald: HeraldSummary, t_s: float) -> EngineEvent:
    """Return the ``herald`` event of a shot's herald, published at run time ``t_s``."""
    return EngineEvent("herald", f"shot {herald.shot}: S = {herald.map_s} (p = "
                       f"{herald.pmax:.3f}) after {herald.pulses} pulses ({herald.reason})",
                       "info", t_s, {"shot": herald.shot, "map_s": herald.map_s,
                                     "pmax": herald.pmax, "pulses": herald.pulses,
                                     "true_s": herald.true_s, "reason": herald.reason})
