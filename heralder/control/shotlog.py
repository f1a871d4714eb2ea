"""Collect what happens in one shot, pulse by pulse, into the ``shot`` record storage writes.

Columns are typed :class:`array.array` s (appending costs what a list append costs, and the
writer turns them into numpy arrays without copying). The names
and meaning of every column are those of :data:`heralder.storage.schema.TABLES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from heralder.control.snapshot import HeraldSummary
from heralder.storage.schema import SHOT_TABLES, STATE_CODES, TABLES, new_column

__all__ = ["DecisionTiming", "ShotLog"]


@dataclass(frozen=True)
class DecisionTiming:
    """Time one decision on the host's wall clock (seconds since the run started).

    Attributes
    ----------
    t_data_s
        The pulse's data arrived.
    t_decided_s
        The policy decided.
    t_sent_s, t_ack_s
        The switch command left and its read-back came (both ``t_decided_s`` when the decision
        needed no command).
    deadline_s
        Latest acceptable ``t_ack_s`` (``t_data_s`` + the configured decision deadline).
    ack_ok
        Whether the switch read back what was requested.
    """

    t_data_s: float
    t_decided_s: float
    t_sent_s: float
    t_ack_s: float
    deadline_s: float
    ack_ok: bool = True

    @property
    def late(self) -> bool:
        """Return ``True`` when the acknowledgement came after the deadline."""
        return self.t_ack_s > self.deadline_s

    @property
    def latency_s(self) -> float:
        """Return the time from data in to switch acknowledged."""
        return self.t_ack_s - self.t_data_s


class ShotLog:
    """Accumulate the pulses, decisions and posterior summaries of shot ``shot``."""

    def __init__(self, shot: int) -> None:
        self.shot = shot
        self.columns: dict[str, dict[str, Any]] = {
            t: {c: new_column(d) for c, d in TABLES[t].items()} for t in SHOT_TABLES}

    @property
    def n_pulses(self) -> int:
        """Return the number of pulses logged."""
        return len(self.columns["pulses"]["counts"])

    def add_pulse(self, index: int, state: str, counts: int, valid: bool, t_data_s: float,
                  marker_ps: int = -1) -> None:
        """Log one pulse's data (``state`` is ``"tc"`` or ``"anti_tc"``)."""
        p = self.columns["pulses"]
        p["shot"].append(self.shot)
        p["index"].append(index)
        p["state"].append(STATE_CODES[state])
        p["counts"].append(int(counts))
        p["valid"].append(bool(valid))
        p["t_data_s"].append(t_data_s)
        p["marker_ps"].append(int(marker_ps))

    def add_decision(self, index: int, stop: bool, value: float, timing: DecisionTiming,
                     policy_stop: bool | None = None) -> None:
        """Log the action taken after pulse ``index`` (``stop``) and the policy's own verdict.

        ``policy_stop`` differs from ``stop`` when the engine overrode the policy (deadline,
        data loss, a stop request, a fault); it defaults to ``stop``.
        """
        d = self.columns["decisions"]
        d["shot"].append(self.shot)
        d["pulse_index"].append(index)
        d["stop"].append(bool(stop))
        d["policy_stop"].append(bool(stop if policy_stop is None else policy_stop))
        d["value"].append(float(value))
        d["t_data_s"].append(timing.t_data_s)
        d["t_decided_s"].append(timing.t_decided_s)
        d["t_sent_s"].append(timing.t_sent_s)
        d["t_ack_s"].append(timing.t_ack_s)
        d["deadline_s"].append(timing.deadline_s)
        d["late"].append(timing.late)
        d["ack_ok"].append(timing.ack_ok)

    def add_posterior(self, index: int, map_s: int, pmax: float, mean_s: float, std_s: float,
                      qfi: float, qfi_ideal: float, support: int) -> None:
        """Log the posterior summary after pulse ``index``."""
        q = self.columns["posterior"]
        for name, value in (("shot", self.shot), ("pulse_index", index), ("map_s", int(map_s)),
                            ("pmax", float(pmax)), ("mean_s", float(mean_s)),
                            ("std_s", float(std_s)), ("qfi", float(qfi)),
                            ("qfi_ideal", float(qfi_ideal)), ("support", int(support))):
            q[name].append(value)

    def add_full_posterior(self, index: int, s: np.ndarray, p: np.ndarray) -> None:
        """Log the whole posterior (support and probabilities) after pulse ``index``."""
        f = self.columns["posterior_full"]
        f["shot"].extend([self.shot] * len(s))
        f["pulse_index"].extend([index] * len(s))
        f["s"].extend(np.asarray(s).tolist())
        f["p"].extend(np.asarray(p).tolist())

    def add_photons(self, index: int, times_s: np.ndarray, timestamps_ps: np.ndarray) -> None:
        """Log the clicks of pulse ``index``: times from its marker and raw tags."""
        f = self.columns["photons"]
        f["shot"].extend([self.shot] * len(times_s))
        f["pulse_index"].extend([index] * len(times_s))
        f["times_s"].extend(np.asarray(times_s, dtype=np.float64).tolist())
        f["timestamp_ps"].extend(np.asarray(timestamps_ps, dtype=np.int64).tolist())

    def record(self, herald: HeraldSummary, t_s: float) -> dict[str, Any]:
        """Return the ``shot`` record (the log must not be used afterwards)."""
        herald_row = {name: getattr(herald, name) for name in (
            "shot", "map_s", "pmax", "qfi", "qfi_ideal", "pulses", "final_sign", "true_s",
            "reason")}
        herald_row["t_s"] = t_s
        return {"type": "shot", "shot": self.shot, "tables": self.columns, "herald": herald_row}
