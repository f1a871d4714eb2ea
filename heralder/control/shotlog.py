"""Collect what happens in one shot, pulse by pulse, into the ``shot`` record storage writes.

Each pulse packs its rows of the ``pulses``, ``decisions`` and ``posterior`` tables into one
bytes object (one :class:`struct.Struct` call, as cheap as building the three tuples), laid out
as a joined row of :mod:`heralder.storage.tables` (each table's packed little-endian row in turn).
The shot's record takes the joined rows as they are, in a
:class:`~heralder.storage.tables.ShotTables`: the writers store them without splitting them per
shot, and a reader that looks at a table gets it split out then. The names and meaning of every
column are those of :data:`heralder.storage.tables.TABLES`.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from heralder.control.snapshot import HeraldSummary
from heralder.storage.tables import (
    BLOCK_TABLES,
    PULSE_ROW_TABLES,
    ROW_BYTES,
    ShotTables,
    struct_codes,
    table_dtype,
)

__all__ = ["ShotLog"]

#: The herald's columns a HeraldSummary holds: the ``heralds`` table's, less the time it is logged.
_HERALD_FIELDS = tuple(name for name in table_dtype("heralds").names if name != "t_s")


def _row_struct() -> struct.Struct:
    """Return the packer of a pulse's joined row."""
    packer = struct.Struct("<" + "".join(struct_codes(table_dtype(t)) for t in PULSE_ROW_TABLES))
    if packer.size != ROW_BYTES:  # a padded dtype would shift every column after the padding
        raise RuntimeError("the per-pulse table dtypes must be packed")
    return packer


_ROW = _row_struct()


class ShotLog:
    """Accumulate the pulses, decisions and posterior summaries of shot ``shot``."""

    def __init__(self, shot: int) -> None:
        self.shot = shot
        self._rows: list[bytes] = []  # one packed row of the three per-pulse tables per pulse
        self._blocks: dict[str, list[np.ndarray]] = {"photons": [], "posterior_full": []}

    @property
    def n_pulses(self) -> int:
        """Return the number of pulses logged."""
        return len(self._rows)

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
        shot = self.shot  # one pack per pulse: this runs on the engine's hot path
        self._rows.append(_ROW.pack(shot, index, state, counts, valid, t_data_s, marker_ps,
                                    shot, index, *decision, shot, index, *summary))

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
        """Return table ``name`` (one of :data:`~heralder.storage.tables.SHOT_TABLES`) so far,
        as a new structured array."""
        return self.tables((name,))[name]

    def tables(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Return the tables ``names`` so far as new (writable) structured arrays."""
        tables = self._shot_tables()
        return {name: tables[name].copy() if name in BLOCK_TABLES else tables[name]
                for name in names}

    def _shot_tables(self) -> ShotTables:
        """Return the tables so far (a block table logged as one block is that block)."""
        blocks = {name: parts[0] if len(parts) == 1 else np.concatenate(parts)
                  for name, parts in self._blocks.items() if parts}
        return ShotTables(b"".join(self._rows), blocks)

    def record(self, herald: HeraldSummary, t_s: float) -> dict[str, Any]:
        """Return the ``shot`` record (it owns its tables: the joined rows, and blocks the log
        hands over; the log never changes a block it holds)."""
        herald_row = {name: getattr(herald, name) for name in _HERALD_FIELDS}
        herald_row["t_s"] = t_s
        return {"type": "shot", "shot": self.shot, "tables": self._shot_tables(),
                "herald": herald_row}
