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

    def add_pulse(self, index: int, state: int, counts: int, valid: bool, t_data_s: float,
                  marker_ps: int = -1) -> None:
        """Log one pulse's data (``state``: its polarisation's code in
        :data:`~heralder.storage.schema.STATE_CODES`, 0 TC, 1 anti-TC)."""
        self._pulses.append((self.shot, index, state, counts, valid, t_data_s, marker_ps))

    def add_decision(self, index: int, stop: bool, policy_stop: bool, value: float,
                     t_data_s: float, t_decided_s: float, t_sent_s: float, t_ack_s: float,
                     deadline_s: float, ack_ok: bool = True) -> None:
        """Log the action taken after pulse ``index`` and how long it took.

        Parameters
        ----------
        stop, policy_stop
            The action taken and the policy's own verdict (they differ when the engine overrode
            the policy: deadline, data loss, a stop request, a fault).
        value
            The policy's decision figure.
        t_data_s, t_decided_s, t_sent_s, t_ack_s
            Host wall-clock seconds since the run started: data in, decided, switch command
            sent, read-back acknowledged (``t_sent_s = t_ack_s = t_decided_s`` when no command
            was needed).
        deadline_s
            Latest acceptable ``t_ack_s``; the decision is late when ``t_ack_s`` is after it.
        ack_ok
            Whether the switch read back what was requested.
        """
        self._decisions.append((self.shot, index, stop, policy_stop, value, t_data_s,
                                t_decided_s, t_sent_s, t_ack_s, deadline_s,
                                t_ack_s > deadline_s, ack_ok))

    def add_posterior(self, index: int, map_s: int, pmax: float, mean_s: float, std_s: float,
                      qfi: float, qfi_ideal: float, support: int) -> None:
        """Log the posterior summary after pulse ``index``."""
        self._posterior.append((self.shot, index, map_s, pmax, mean_s, std_s, qfi, qfi_ideal,
                                support))

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
