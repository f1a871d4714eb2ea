"""Define the run's tables and their column types, and :class:`ShotTables`, a shot's tables.

Every table is a set of equally long columns (``TABLES``); a table's rows are a structured array of
:func:`table_dtype` (packed, little-endian; strings are objects). The three per-pulse tables of a
shot (``pulses``, ``decisions``, ``posterior``: :data:`PULSE_ROW_TABLES`) have one row per pulse
each, so a shot carries them as *joined rows*: one byte row per pulse holding that pulse's row of
each table in turn (:data:`ROW_SPANS` gives each table's bytes in it). The engine packs a joined
row with one ``struct`` call per pulse; the journal and HDF5 writers take the joined bytes whole and
split the columns only where needed (the HDF5 writer once per chunk, not per shot).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "BLOCK_TABLES",
    "PULSE_ROW_DTYPE",
    "PULSE_ROW_TABLES",
    "ROW_BYTES",
    "ROW_SPANS",
    "SHOT_TABLES",
    "TABLES",
    "ShotTables",
    "as_table",
    "struct_codes",
    "table_dtype",
]

_STR = np.dtype(object)  # variable-length UTF-8 strings in HDF5

#: Table name -> column name -> dtype. Every column of a table has one row per table row.
TABLES: dict[str, dict[str, np.dtype]] = {
    "pulses": {
        "shot": np.dtype(np.int64), "index": np.dtype(np.int32), "state": np.dtype(np.int8),
        "counts": np.dtype(np.int64), "valid": np.dtype(np.bool_),
        "t_data_s": np.dtype(np.float64), "marker_ps": np.dtype(np.int64),
    },
    "decisions": {
        "shot": np.dtype(np.int64), "pulse_index": np.dtype(np.int32),
        "stop": np.dtype(np.bool_), "policy_stop": np.dtype(np.bool_),
        "value": np.dtype(np.float64),
        "t_data_s": np.dtype(np.float64), "t_decided_s": np.dtype(np.float64),
        "t_sent_s": np.dtype(np.float64), "t_ack_s": np.dtype(np.float64),
        "deadline_s": np.dtype(np.float64), "late": np.dtype(np.bool_),
        "ack_ok": np.dtype(np.bool_),
    },
    "posterior": {
        "shot": np.dtype(np.int64), "pulse_index": np.dtype(np.int32),
        "map_s": np.dtype(np.int64), "pmax": np.dtype(np.float64),
        "mean_s": np.dtype(np.float64), "std_s": np.dtype(np.float64),
        "qfi": np.dtype(np.float64), "qfi_ideal": np.dtype(np.float64),
        "support": np.dtype(np.int64),
    },
    "posterior_full": {
        "shot": np.dtype(np.int64), "pulse_index": np.dtype(np.int32),
        "s": np.dtype(np.int64), "p": np.dtype(np.float64),
    },
    "photons": {
        "shot": np.dtype(np.int64), "pulse_index": np.dtype(np.int32),
        "times_s": np.dtype(np.float64), "timestamp_ps": np.dtype(np.int64),
    },
    "heralds": {
        "shot": np.dtype(np.int64), "map_s": np.dtype(np.int64), "pmax": np.dtype(np.float64),
        "qfi": np.dtype(np.float64), "qfi_ideal": np.dtype(np.float64),
        "pulses": np.dtype(np.int32), "final_sign": np.dtype(np.int8),
        "true_s": np.dtype(np.int64), "reason": _STR, "t_s": np.dtype(np.float64),
    },
    "events": {
        "t_s": np.dtype(np.float64), "kind": _STR, "level": _STR, "message": _STR,
        "data_json": _STR,
    },
    "snapshots": {
        "t_s": np.dtype(np.float64), "role": _STR, "driver": _STR, "address": _STR,
        "identity": _STR, "settings_json": _STR,
    },
}

#: Tables a ``shot`` record carries in its ``tables`` entry.
SHOT_TABLES = ("pulses", "decisions", "posterior", "posterior_full", "photons")
#: The shot tables of one row per pulse, in the order of a joined row.
PULSE_ROW_TABLES = ("pulses", "decisions", "posterior")
#: The shot tables of any number of rows per pulse, logged as blocks of rows.
BLOCK_TABLES = ("posterior_full", "photons")

#: Table name -> structured dtype of its rows (packed, little-endian; strings are objects).
_TABLE_DTYPES = {name: np.dtype([(column, dtype.newbyteorder("<")) for column, dtype in
                                 spec.items()]) for name, spec in TABLES.items()}


def _row_spans() -> dict[str, tuple[int, int]]:
    spans, offset = {}, 0
    for name in PULSE_ROW_TABLES:
        spans[name] = (offset, offset + _TABLE_DTYPES[name].itemsize)
        offset += _TABLE_DTYPES[name].itemsize
    return spans


#: Table name -> (first byte, end byte) of its row within a joined row.
ROW_SPANS = _row_spans()
#: Bytes of one joined row.
ROW_BYTES = ROW_SPANS[PULSE_ROW_TABLES[-1]][1]
#: A joined row as one structured dtype, its columns named ``"<table>/<column>"``.
PULSE_ROW_DTYPE = np.dtype([(f"{name}/{column}", _TABLE_DTYPES[name][column])
                            for name in PULSE_ROW_TABLES for column in TABLES[name]])


def table_dtype(table: str) -> np.dtype:
    """Return the structured dtype of one row of ``table``.

    Raises
    ------
    ValueError
        If ``table`` is not a table of :data:`TABLES`.
    """
    try:
        return _TABLE_DTYPES[table]
    except KeyError:
        raise ValueError(f"table must be one of {sorted(TABLES)}, got {table!r}") from None


_STRUCT_CODES = {("i", 8): "q", ("i", 4): "i", ("i", 1): "b", ("b", 1): "?", ("f", 8): "d"}


def struct_codes(dtype: np.dtype, names: Sequence[str] | None = None) -> str:
    """Return the :mod:`struct` codes of the columns ``names`` (all by default) of a packed
    structured ``dtype``: with ``"<"`` before them, a :class:`struct.Struct` packs a row of
    them exactly as numpy lays it out (no padding in between)."""
    return "".join(_STRUCT_CODES[dtype[c].kind, dtype[c].itemsize]
                   for c in (dtype.names if names is None else names))


def as_table(table: str, data: np.ndarray | dict[str, Any]) -> np.ndarray:
    """Return ``data`` as a structured array of :func:`table_dtype` (no copy if it is one).

    ``data`` is a structured array with the table's columns, or ``{column: sequence}``.

    Raises
    ------
    ValueError
        If a column is unknown or missing, or the columns differ in length.
    """
    dtype = table_dtype(table)
    if isinstance(data, np.ndarray):
        if data.dtype == dtype:
            return data
        names = data.dtype.names or ()
    else:
        names = tuple(data)
    if set(names) != set(dtype.names):
        unknown = set(names) - set(dtype.names)
        if unknown:
            raise ValueError(f"table {table!r} has no column(s) {sorted(unknown)}")
        raise ValueError(f"table {table!r} rows lack column(s) "
                         f"{sorted(set(dtype.names) - set(names))}")
    lengths = {len(data[name]) for name in names}
    if len(lengths) > 1:
        raise ValueError(f"table {table!r} has columns of different lengths {sorted(lengths)}")
    out = np.empty(lengths.pop() if lengths else 0, dtype)
    for name in names:
        out[name] = data[name]
    return out


def _byte_rows(table: np.ndarray) -> np.ndarray:
    """Return the rows of a contiguous structured array as a 2-D byte array (a view)."""
    return table.view(np.uint8).reshape(len(table), table.dtype.itemsize)


class ShotTables(Mapping[str, np.ndarray]):
    """Hold a shot's tables: its joined per-pulse rows and its blocks, split only when read.

    ``tables[name]`` is a structured array of :func:`table_dtype` for every name of
    :data:`SHOT_TABLES`; a per-pulse table is split out of the joined rows on first access
    (a new, writable array, kept), a block table is the block itself. A table handed out *is* the
    table from then on: :attr:`rows` and the blocks include any change made to it in place.

    Parameters
    ----------
    rows
        The joined rows (:data:`ROW_BYTES` per pulse), kept as they are (not copied).
    blocks
        Rows of the :data:`BLOCK_TABLES` (absent: none), kept as they are.

    Raises
    ------
    ValueError
        If ``rows`` is not a whole number of joined rows, or a block is not a block table of
        its dtype.
    """

    __slots__ = ("_blocks", "_rows", "_split")

    def __init__(self, rows: bytes, blocks: dict[str, np.ndarray] | None = None) -> None:
        if len(rows) % ROW_BYTES:
            raise ValueError(f"rows must be whole joined rows of {ROW_BYTES} bytes, "
                             f"got {len(rows)} bytes")
        blocks = {} if blocks is None else blocks
        for name, block in blocks.items():
            if name not in BLOCK_TABLES or not isinstance(block, np.ndarray) \
                    or block.dtype != table_dtype(name):
                raise ValueError(f"blocks must be rows of {BLOCK_TABLES}, got {name!r}")
        self._rows, self._blocks = rows, blocks
        self._split: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, tables: Mapping[str, Any]) -> ShotTables:
        """Return ``tables`` itself if it is a :class:`ShotTables`, else
        :meth:`from_tables` of it."""
        return tables if isinstance(tables, ShotTables) else cls.from_tables(tables)

    @classmethod
    def from_tables(cls, tables: Mapping[str, Any]) -> ShotTables:
        """Return the :class:`ShotTables` of separate tables (each as :func:`as_table` takes it;
        the per-pulse tables all present and equally long, absent blocks empty).

        Raises
        ------
        ValueError
            If a table is unknown, lacks or has unknown columns, or the per-pulse tables are
            missing or differ in length.
        """
        unknown = set(tables) - set(SHOT_TABLES)
        if unknown:
            raise ValueError(f"shot tables must be among {SHOT_TABLES}, got {sorted(unknown)}")
        arrays = {name: np.ascontiguousarray(as_table(name, rows))
                  for name, rows in tables.items()}
        lengths = [len(arrays[name]) if name in arrays else None for name in PULSE_ROW_TABLES]
        if None in lengths or len(set(lengths)) > 1:
            raise ValueError(f"shot tables {PULSE_ROW_TABLES} must all be present with one row "
                             f"per pulse, got lengths {lengths}")
        raw = np.empty((lengths[0], ROW_BYTES), np.uint8)
        for name in PULSE_ROW_TABLES:
            lo, hi = ROW_SPANS[name]
            raw[:, lo:hi] = _byte_rows(arrays[name])
        return cls(raw.tobytes(), {name: arrays[name] for name in BLOCK_TABLES
                                   if len(arrays.get(name, ()))})

    @property
    def n_pulses(self) -> int:
        """Return the number of pulses (rows of each per-pulse table)."""
        return len(self._rows) // ROW_BYTES

    @property
    def rows(self) -> bytes:
        """Return the joined rows, with any change made to a per-pulse table handed out."""
        if not self._split:
            return self._rows
        raw = np.frombuffer(self._rows, np.uint8).reshape(-1, ROW_BYTES).copy()
        for name, table in self._split.items():
            lo, hi = ROW_SPANS[name]
            raw[:, lo:hi] = _byte_rows(table)
        return raw.tobytes()

    @property
    def blocks(self) -> dict[str, np.ndarray]:
        """Return ``{name: rows}`` of the block tables given or handed out (the blocks
        themselves, some perhaps without rows; do not change the dict)."""
        return self._blocks

    def __getitem__(self, name: str) -> np.ndarray:
        table = self._split.get(name)
        if table is not None:
            return table
        if name in ROW_SPANS:  # one byte-column copy, viewed as the table (a new array)
            lo, hi = ROW_SPANS[name]
            raw = np.frombuffer(self._rows, np.uint8).reshape(-1, ROW_BYTES)
            table = self._split[name] = np.frombuffer(raw[:, lo:hi].copy(), _TABLE_DTYPES[name])
            return table
        if name in BLOCK_TABLES:  # a block, or no rows (kept: the table handed out is the table)
            block = self._blocks.get(name)
            if block is None:
                block = self._blocks[name] = np.zeros(0, _TABLE_DTYPES[name])
            return block
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(SHOT_TABLES)

    def __len__(self) -> int:
        return len(SHOT_TABLES)

    def __repr__(self) -> str:
        return f"ShotTables({self.n_pulses} pulses, blocks {sorted(self._blocks)})"
