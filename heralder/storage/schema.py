"""Define what a run records: the record kinds, their tables and the column types (DESIGN §6).

A run is a sequence of plain records (dicts). The journal stores them one JSON line each; the HDF5
file stores their rows in column tables under ``/user/heralder/<table>/<column>``. Both writers and
:mod:`heralder.storage.recover` go through :func:`record_rows`, so the two files cannot disagree.

Record kinds (``record["type"]``):

``run``
    First record: ``run_uid``, ``created_utc``, ``config_toml`` (the resolved config), ``versions``
    and ``seeds`` (dicts), ``mode``, ``has_tags``, ``pulse_period_s``, ``heralder_version``,
    ``estimator_backend`` (the backend the posterior really used, for a bit-exact replay).
``devices``
    Device snapshots: ``t_s`` and ``snapshots`` (a list of :class:`DeviceSnapshot` dicts).
``shot``
    One heralding shot: ``shot``, ``tables`` (``{table: {column: array}}`` for the per-pulse
    tables below) and ``herald`` (one row of the ``heralds`` table).
``event``
    ``t_s``, ``kind``, ``level``, ``message``, ``data`` (an :class:`EngineEvent` as a dict).
``end``
    Last record: ``t_s``, ``state``, ``message``, ``duration_s``.

Time bases: ``t_data_s`` of a pulse and every ``t_s`` are run-clock seconds since the run started
(simulated time on a :class:`SimClock`); the decision latencies (``t_decided_s``, ``t_sent_s``,
``t_ack_s``, ``deadline_s``) are host wall-clock seconds since the run started, because deadlines
are about the host's real reaction time. Photon ``times_s`` are relative to their pulse's start;
``timestamp_ps`` and ``marker_ps`` are the tagger's int64 picoseconds (``-1`` without tags).
"""

from __future__ import annotations

import array
import json
from typing import Any

import numpy as np

__all__ = [
    "RECORD_TYPES",
    "SHOT_TABLES",
    "STATE_CODES",
    "TABLES",
    "column_array",
    "decode_record",
    "encode_record",
    "new_column",
    "record_rows",
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

#: :mod:`array` type code of each numeric column type (``None``: strings, kept in lists).
_TYPECODES = {np.dtype(np.int64): "q", np.dtype(np.int32): "i", np.dtype(np.int8): "b",
              np.dtype(np.bool_): "b", np.dtype(np.float64): "d", _STR: None}


def new_column(dtype: np.dtype) -> array.array | list:
    """Return an empty, cheaply appendable column of ``dtype`` (an :class:`array.array`).

    Typed arrays append as fast as lists and become numpy arrays without copying
    (:func:`column_array`), which is what makes batched HDF5 writes cheap.
    """
    code = _TYPECODES[np.dtype(dtype)]
    return [] if code is None else array.array(code)


def column_array(values: array.array | list, dtype: np.dtype) -> np.ndarray:
    """Return a column built by :func:`new_column` as a numpy array of ``dtype``."""
    if isinstance(values, array.array):
        return np.frombuffer(values, dtype=dtype) if values else np.zeros(0, dtype)
    return np.asarray(values, dtype=dtype)


#: Tables a ``shot`` record carries in its ``tables`` entry.
SHOT_TABLES = ("pulses", "decisions", "posterior", "posterior_full", "photons")

RECORD_TYPES = ("run", "devices", "shot", "event", "end")

#: Polarisation code stored in ``pulses/state``.
STATE_CODES = {"tc": 0, "anti_tc": 1}


def _plain(value: Any) -> Any:
    """Return numpy values as JSON-ready Python values (floats keep their exact repr)."""
    if isinstance(value, np.ndarray | np.generic | array.array):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the journal")


def encode_record(record: dict[str, Any]) -> bytes:
    """Return ``record`` as one JSON line (UTF-8, newline-terminated).

    Floats are written with Python's shortest round-trip repr, so a decoded record is bit-for-bit
    the encoded one; NaN and infinities use JSON's common ``NaN``/``Infinity`` extension.
    """
    if record.get("type") not in RECORD_TYPES:
        raise ValueError(f"record type must be one of {RECORD_TYPES}, got {record.get('type')!r}")
    return (json.dumps(record, separators=(",", ":"), default=_plain) + "\n").encode()


def _columns(table: str, columns: dict[str, Any], *, typed: bool = True) -> dict[str, Any]:
    """Return ``columns`` checked against the table (as typed arrays if ``typed``)."""
    spec = TABLES[table]
    if columns.keys() != spec.keys():
        unknown = set(columns) - set(spec)
        if unknown:
            raise ValueError(f"table {table!r} has no column(s) {sorted(unknown)}")
        raise ValueError(f"table {table!r} rows lack column(s) "
                         f"{sorted(set(spec) - set(columns))}")
    out = ({name: np.asarray(columns[name], dtype=dtype) for name, dtype in spec.items()}
           if typed else columns)
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ValueError(f"table {table!r} has columns of different lengths {sorted(lengths)}")
    return out


def decode_record(line: bytes | str) -> dict[str, Any]:
    """Return the record of one journal line, with shot tables as typed numpy arrays.

    Raises
    ------
    ValueError
        If the line is not a JSON object of a known record type.
    """
    record = json.loads(line)
    if not isinstance(record, dict) or record.get("type") not in RECORD_TYPES:
        raise ValueError("journal line is not a heralder record")
    if record["type"] == "shot":
        record["tables"] = {name: _columns(name, cols) for name, cols in record["tables"].items()}
    return record


def _one_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    return _columns(table, {k: [v] for k, v in row.items()}, typed=False)


def record_rows(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the table rows ``record`` adds, as ``{table: {column: sequence}}``.

    Columns are checked (names, lengths) but not converted: the HDF5 writer converts whole
    batches at once, which is far cheaper than converting each shot.

    Raises
    ------
    ValueError
        If a table or column is unknown, missing, or of inconsistent length.
    """
    kind = record["type"]
    if kind == "shot":
        rows = {name: _columns(name, cols, typed=False)
                for name, cols in record["tables"].items()}
        herald = dict(record["herald"])
        herald["true_s"] = -1 if herald.get("true_s") is None else herald["true_s"]
        rows["heralds"] = _one_row("heralds", herald)
        return rows
    if kind == "event":
        return {"events": _one_row("events", {
            "t_s": record["t_s"], "kind": record["kind"], "level": record["level"],
            "message": record["message"], "data_json": json.dumps(record.get("data", {}))})}
    if kind == "devices":
        snaps = record["snapshots"]
        return {"snapshots": _columns("snapshots", typed=False, columns={
            "t_s": [record["t_s"]] * len(snaps),
            "role": [s["name"] for s in snaps], "driver": [s["driver"] for s in snaps],
            "address": [s["address"] for s in snaps], "identity": [s["identity"] for s in snaps],
            "settings_json": [json.dumps(s["settings"], default=str) for s in snaps]})}
    return {}
