"""Collect what happens in one shot, pulse by pulse, into the ``shot`` record storage writes.

Each pulse adds one plain tuple per table (a list append: the cheapest thing Python can do per
pulse); :meth:`ShotLog.table` turns a table's tuples into one structured array of
:func:`heralder.storage.schema.table_dtype` in a single numpy call. The names and meaning of
every column are those of :data:`heralder.storage.schema.TABLES`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heralder.control.snapshot import HeraldSummary
from heralder.storage.schema import SHOT_TABLES, table_dtype

__all__ = ["ShotLog"]

_HERALD_FIELDS = ("shot", "map_s", "pmax", "qfi", "qfi_ideal", "pulses", "final_sign", "true_s",
                  "reason")


class ShotLog:
    """Accumulate the pulses, decisions and posterior summaries of shot ``shot``."""

    def __init__(self, shot: int) -> None:
        self.shot = shot
        self._pulses: list[tuple] = []
        self._decisions: list[tuple] = []
        self._posterior: list[tuple] = []
        self._blocks: dict[str, list[np.ndarray]] = {"photons": [], "posterior_full": []}

    @property
    def n_pulses(self) -> int:
        """Return the number of pulses logged."""
        return len(self._pulses)

    def add(self, index: int, state: int, counts: int, valid: bool, t_data_s: float,
            marker_ps: int, decision: tuple, summary: tuple) -> None:
        """Log pulse ``index``: its data, the decision taken after it and the posterior then.

        Parameters
        ----------
        state
            The pulse's polarisation code in :data:`~heralder.storage.schema.STATE_CODES`
            (0 TC, 1 anti-TC).
        counts, valid, t_data_s, marker_ps
            The pulse's data (``marker_ps`` is ``-1`` without tags).
        decision
            ``(stop, policy_stop, value, t_data_s, t_decided_s, t_sent_s, t_ack_s, deadline_s,
            late, ack_ok)``: the action taken and the policy's own verdict (they differ when
            the engine overrode the policy: deadline, data loss, a stop request, a fault), the
            policy's decision figure, host wall-clock seconds since the run started (data in,
            decided, switch command sent, read-back acknowledged; ``t_sent_s = t_ack_s =
            t_decided_s`` when no command was needed), the latest acceptable ``t_ack_s``,
            whether ``t_ack_s`` was after it, and whether the switch read back what was asked.
        summary
            ``(map_s, pmax, mean_s, std_s, qfi, qfi_ideal, support)`` after the pulse.
        """
        # One call and three tuple appends per pulse: this runs on the engine's hot path.
        shot = self.shot
        self._pulses.append((shot, index, state, counts, valid, t_data_s, marker_ps))
        self._decisions.append((shot, index, *decision))
        self._posterior.append((shot, index, *summary))

    def add_full_posterior(self, index: int, s: np.ndarray, p: np.ndarray) -> None:
        """Log the whole posterior (support and probabilities) after pulse ``index``."""
        self._add_block("posterior_full", index, s=s, p=p)

    def add_photons(self, index: int, times_s: np.ndarray, timestamps_ps: np.ndarray) -> None:
        """Log the clicks of pulse ``index``: times from its marker and raw tags."""
        self._add_block("photons", index, times_s=times_s, timestamp_ps=timestamps_ps)

    def _add_block(self, table: str, index: int, **columns: np.ndarray) -> None:
        rows = np.empty(len(next(iter(columns.values()))), table_dtype(table))
        rows["shot"], rows["pulse_index"] = self.shot, index
        for name, values in columns.items():
            rows[name] = values
        self._blocks[table].append(rows)

    def table(self, name: str) -> np.ndarray:
        """Return table ``name`` (one of :data:`~heralder.storage.schema.SHOT_TABLES`) so far,
        as a new structured array."""
        dtype = table_dtype(name)
        if name in self._blocks:
            blocks = self._blocks[name]
            return np.concatenate(blocks) if blocks else np.zeros(0, dtype)
        rows = {"pulses": self._pulses, "decisions": self._decisions,
                "posterior": self._posterior}[name]
        return np.array(rows, dtype=dtype) if rows else np.zeros(0, dtype)

    def record(self, herald: HeraldSummary, t_s: float) -> dict[str, Any]:
        """Return the ``shot`` record (its tables are new arrays, owned by the record)."""
        herald_row = {name: getattr(herald, name) for name in _HERALD_FIELDS}
        herald_row["t_s"] = t_s
        return {"type": "shot", "shot": self.shot,
                "tables": {name: self.table(name) for name in SHOT_TABLES},
                "herald": herald_row}
