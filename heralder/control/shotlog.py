"""Collect what happens in one shot, pulse by pulse, into the ``shot`` record storage writes.

Columns are typed :class:`array.array` s (appending costs what a list append costs, and the
writer turns them into numpy arrays without copying). The names
and meaning of every column are those of :data:`heralder.storage.schema.TABLES`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from heralder.control.snapshot import HeraldSummary
from heralder.storage.schema import SHOT_TABLES, STATE_CODES, TABLES, new_column

__all__ = ["DecisionTiming", "ShotLog"]


class DecisionTiming(NamedTuple):
    """Time one decision on the host's wall clock (seconds since the run started).

    A named tuple: one is built per pulse, and a tuple costs a fraction of a frozen dataclass.

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


#: Empty columns of every shot table; a shot's log starts from copies (cheaper than new ones).
_EMPTY = {t: {c: new_column(d) for c, d in TABLES[t].items()} for t in SHOT_TABLES}


class ShotLog:
    """Accumulate the pulses, decisions and posterior summaries of shot ``shot``."""

    def __init__(self, shot: int) -> None:
        self.shot = shot
        self.columns: dict[str, dict[str, Any]] = {
            t: {c: col[:] for c, col in cols.items()} for t, cols in _EMPTY.items()}
        # Per table, the columns' append methods in column order: a row is one zip.
        self._appends = {t: tuple(col.append for col in cols.values())
                         for t, cols in self.columns.items()}

    @property
    def n_pulses(self) -> int:
        """Return the number of pulses logged."""
        return len(self.columns["pulses"]["counts"])

    def _add_row(self, table: str, row: tuple) -> None:
        for append, value in zip(self._appends[table], row, strict=True):
            append(value)

    def add_pulse(self, index: int, state: str, counts: int, valid: bool, t_data_s: float,
                  marker_ps: int = -1) -> None:
        """Log one pulse's data (``state`` is ``"tc"`` or ``"anti_tc"``)."""
        self._add_row("pulses", (self.shot, index, STATE_CODES[state], int(counts), bool(valid),
                                 t_data_s, int(marker_ps)))

    def add_decision(self, index: int, stop: bool, value: float, timing: DecisionTiming,
                     policy_stop: bool | None = None) -> None:
        """Log the action taken after pulse ``index`` (``stop``) and the policy's own verdict.

        ``policy_stop`` differs from ``stop`` when the engine overrode the policy (deadline,
        data loss, a stop request, a fault); it defaults to ``stop``.
        """
        self._add_row("decisions", (
            self.shot, index, bool(stop), bool(stop if policy_stop is None else policy_stop),
            float(value), timing.t_data_s, timing.t_decided_s, timing.t_sent_s, timing.t_ack_s,
            timing.deadline_s, timing.late, timing.ack_ok))

    def add_posterior(self, index: int, map_s: int, pmax: float, mean_s: float, std_s: float,
                      qfi: float, qfi_ideal: float, support: int) -> None:
        """Log the posterior summary after pulse ``index``."""
        self._add_row("posterior", (self.shot, index, int(map_s), float(pmax), float(mean_s),
                                    float(std_s), float(qfi), float(qfi_ideal), int(support)))

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
