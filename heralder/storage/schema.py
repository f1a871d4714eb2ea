"""Define what a run records: the record kinds, their tables and the column types (DESIGN §6).

A run is a sequence of plain records (dicts). The journal stores them one JSON line each; the HDF5
file stores their rows in column tables under ``/user/heralder/<table>/<column>``. Both writers and
:mod:`heralder.storage.recover` go through :func:`record_rows`, so the two files cannot disagree.

Record kinds (``record["type"]``):

``run``
    First record: ``run_uid``, ``created_utc``, ``config_toml`` (the resolved config), ``versions``
    and ``seeds`` (dicts), ``mode``, ``has_tags``, ``pulse_period_s``, ``heralder_version``,
    ``estimator_backend`` (the backend the posterior really used, for a bit-exact replay),
    ``journal_format`` (absent before format 2).
``devices``
    Device snapshots: ``t_s`` and ``snapshots`` (a list of :class:`DeviceSnapshot` dicts).
``shot``
    One heralding shot: ``shot``, ``tables`` (``{table: structured array}`` for the per-pulse
    tables below, each of dtype :func:`table_dtype`, so ``tables["pulses"]["counts"]`` is a
    column) and ``herald`` (one row of the ``heralds`` table).
``event``
    ``t_s``, ``kind``, ``level``, ``message``, ``data`` (an :class:`EngineEvent` as a dict).
``end``
    Last record: ``t_s``, ``state``, ``message``, ``duration_s``.

Journal encoding (:data:`JOURNAL_FORMAT` 2, stored in the ``run`` record): a shot's tables are
written as ``{"fields": [column names], "b64": base64 of the packed little-endian rows}``, exact to
the bit and about ten times cheaper to encode than decimal floats. Format 1 journals (each column
a JSON list) are still read.

Time bases: ``t_data_s`` of a pulse and every ``t_s`` are run-clock seconds since the run started
(simulated time on a :class:`SimClock`); the decision latencies (``t_decided_s``, ``t_sent_s``,
``t_ack_s``, ``deadline_s``) are host wall-clock seconds since the run started, because deadlines
are about the host's real reaction time. Photon ``times_s`` are relative to their pulse's start;
``timestamp_ps`` and ``marker_ps`` are the tagger's int64 picoseconds (``-1`` without tags).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

__all__ = [
    "JOURNAL_FORMAT",
    "RECORD_TYPES",
    "SHOT_TABLES",
    "STATE_CODES",
    "TABLES",
    "as_table",
    "decode_record",
    "encode_record",
    "record_rows",
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

RECORD_TYPES = ("run", "devices", "shot", "event", "end")

#: Polarisation code stored in ``pulses/state``.
STATE_CODES = {"tc": 0, "anti_tc": 1}


#: Journal format written by :func:`encode_record` (1: shot columns as JSON lists).
JOURNAL_FORMAT = 2

#: Table name -> structured dtype of its rows (packed, little-endian; strings are objects).
_TABLE_DTYPES = {name: np.dtype([(column, dtype.newbyteorder("<")) for column, dtype in
                                 spec.items()]) for name, spec in TABLES.items()}


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


def _plain(value: Any) -> Any:
    """Return numpy values as JSON-ready Python values (floats keep their exact repr)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the journal")


#: The journal's JSON encoder (json.dumps builds a new one per call when given options: ~6 µs).
_JSON = json.JSONEncoder(separators=(",", ":"), default=_plain)

#: Table name -> the start of its packed JSON object, up to the opening quote of the base64.
_PACK_HEADS = {
    name: f'"{name}":{{"fields":{json.dumps(dtype.names, separators=(",", ":"))},"b64":"'.encode()
    for name, dtype in _TABLE_DTYPES.items()}


def _packed_tables(tables: dict[str, Any]) -> bytes:
    """Return the JSON members of a shot's packed tables (base64 needs no JSON escaping, so it
    is spliced in directly: passing it through the JSON encoder costs more than the packing)."""
    return b",".join(_PACK_HEADS[name] + base64.b64encode(as_table(name, rows).tobytes()) + b'"}'
                     for name, rows in tables.items())


def _unpack(table: str, packed: dict[str, Any]) -> np.ndarray:
    if "b64" not in packed:  # format 1: {column: list}
        return as_table(table, {name: np.asarray(values) for name, values in packed.items()})
    dtype = table_dtype(table)
    if tuple(packed["fields"]) != dtype.names:
        raise ValueError(f"table {table!r} was written with columns {packed['fields']}")
    raw = bytearray(base64.b64decode(packed["b64"], validate=True))  # writable result
    if len(raw) % dtype.itemsize:
        raise ValueError(f"table {table!r}: {len(raw)} bytes is not a whole number of rows")
    return np.frombuffer(raw, dtype)


def encode_record(record: dict[str, Any]) -> bytes:
    """Return ``record`` as one JSON line (UTF-8, newline-terminated).

    A shot's tables are packed binary (see the module notes); other floats are written with
    Python's shortest round-trip repr. Either way a decoded record is bit-for-bit the encoded one.
    """
    if record.get("type") not in RECORD_TYPES:
        raise ValueError(f"record type must be one of {RECORD_TYPES}, got {record.get('type')!r}")
    if record["type"] != "shot":
        return (_JSON.encode(record) + "\n").encode()
    tables = _packed_tables(record["tables"])  # raises ValueError for an unknown table first
    head = _JSON.encode({k: v for k, v in record.items() if k != "tables"}).encode()
    return b"".join((head[:-1], b',"tables":{', tables, b"}}\n"))


def decode_record(line: bytes | str) -> dict[str, Any]:
    """Return the record of one journal line, with shot tables as structured arrays.

    Raises
    ------
    ValueError
        If the line is not a JSON object of a known record type, or a table does not decode.
    """
    record = json.loads(line)
    if not isinstance(record, dict) or record.get("type") not in RECORD_TYPES:
        raise ValueError("journal line is not a heralder record")
    if record["type"] == "shot":
        try:
            record["tables"] = {name: _unpack(name, packed)
                                for name, packed in record["tables"].items()}
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"shot record does not decode: {exc!r}") from exc
    return record


def _one_row(table: str, row: dict[str, Any]) -> np.ndarray:
    names = table_dtype(table).names
    if row.keys() != set(names):
        return as_table(table, {k: [v] for k, v in row.items()})  # raises, naming the columns
    return np.array([tuple(row[name] for name in names)], table_dtype(table))


def record_rows(record: dict[str, Any]) -> dict[str, np.ndarray]:
    """Return the table rows ``record`` adds, as ``{table: structured array}``.

    Raises
    ------
    ValueError
        If a table or column is unknown, missing, or of inconsistent length.
    """
    kind = record["type"]
    if kind == "shot":
        rows = {name: as_table(name, table) for name, table in record["tables"].items()}
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
        return {"snapshots": as_table("snapshots", {
            "t_s": [record["t_s"]] * len(snaps),
            "role": [s["name"] for s in snaps], "driver": [s["driver"] for s in snaps],
            "address": [s["address"] for s in snaps], "identity": [s["identity"] for s in snaps],
            "settings_json": [json.dumps(s["settings"], default=str) for s in snaps]})}
    return {}
