"""Define what a run records: the record kinds, their tables and the column types (DESIGN §6).

A run is a sequence of plain records (dicts). The journal stores them one JSON line each
(:func:`encode_record`); the HDF5 file stores their rows in the column tables of
:mod:`heralder.storage.tables` under ``/user/heralder/<table>/<column>``, taken from the same
records by :func:`record_rows` and :func:`herald_row`, also when ``recover`` rebuilds it.

Record kinds (``record["type"]``):

``run``
    First record: ``run_uid``, ``created_utc``, ``config_toml`` (the resolved config), ``versions``
    and ``seeds`` (dicts), ``mode``, ``has_tags``, ``pulse_period_s``, ``heralder_version``,
    ``estimator_backend`` (the backend the posterior really used, for a bit-exact replay),
    ``journal_format`` (absent before format 2).
``devices``
    Device snapshots: ``t_s`` and ``snapshots`` (a list of :class:`DeviceSnapshot` dicts).
``shot``
    One heralding shot: ``shot``, ``tables`` (a :class:`~heralder.storage.tables.ShotTables`,
    or any ``{table: structured array}`` of the :data:`SHOT_TABLES`, each of dtype
    :func:`table_dtype`, so ``tables["pulses"]["counts"]`` is a column) and ``herald`` (one row
    of the ``heralds`` table, ``true_s`` ``None`` when unknown).
``event``
    ``t_s``, ``kind``, ``level``, ``message``, ``data`` (an :class:`EngineEvent` as a dict).
``end``
    Last record: ``t_s``, ``state``, ``message``, ``duration_s``.

Journal encoding (:data:`JOURNAL_FORMAT` 3, stored in the ``run`` record): a shot's tables are
packed binary, exact to the bit and about ten times cheaper to encode than decimal floats. The
per-pulse tables go as their joined rows, ``"pulses,decisions,posterior": {"fields": [[columns of
each table]], "b64": base64 of the joined rows}``; a block table with rows as ``"<table>":
{"fields": [columns], "b64": base64 of its packed little-endian rows}`` (absent: no rows). The
herald's numeric columns are packed the same way, ``"herald": {"fields": [...], "b64": ...,
"reason": ...}``, or, when they do not pack (``true_s`` unknown), the herald is plain JSON.
Format 2 (every table packed on its own, the herald JSON) and format 1 (each column a JSON list)
are still read.

Time bases: ``t_data_s`` of a pulse and every ``t_s`` are run-clock seconds since the run started
(simulated time on a :class:`SimClock`); the decision latencies (``t_decided_s``, ``t_sent_s``,
``t_ack_s``, ``deadline_s``) are host wall-clock seconds since the run started, because deadlines
are about the host's real reaction time. Photon ``times_s`` are relative to their pulse's start;
``timestamp_ps`` and ``marker_ps`` are the tagger's int64 picoseconds (``-1`` without tags).
"""

from __future__ import annotations

import base64
import json
import operator
import struct
from binascii import b2a_base64
from typing import Any

import numpy as np

from heralder.storage.tables import (
    PULSE_ROW_TABLES,
    SHOT_TABLES,
    TABLES,
    ShotTables,
    as_table,
    struct_codes,
    table_dtype,
)

__all__ = [
    "JOURNAL_FORMAT",
    "RECORD_TYPES",
    "SHOT_TABLES",
    "STATE_CODES",
    "TABLES",
    "as_table",
    "decode_record",
    "encode_record",
    "herald_row",
    "record_rows",
    "table_dtype",
]

RECORD_TYPES = ("run", "devices", "shot", "event", "end")

#: Polarisation code stored in ``pulses/state``.
STATE_CODES = {"tc": 0, "anti_tc": 1}

#: Journal format written by :func:`encode_record` (1: shot columns as JSON lists; 2: each shot
#: table packed on its own).
JOURNAL_FORMAT = 3


def _plain(value: Any) -> Any:
    """Return numpy values as JSON-ready Python values (floats keep their exact repr)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the journal")


#: The journal's JSON encoder (json.dumps builds a new one per call when given options: ~6 µs).
_JSON = json.JSONEncoder(separators=(",", ":"), default=_plain)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


#: The key of the joined per-pulse rows in a format-3 line's tables, and their column lists.
_ROWS_KEY = ",".join(PULSE_ROW_TABLES)
_ROWS_FIELDS = [list(table_dtype(name).names) for name in PULSE_ROW_TABLES]
#: Table (or joined rows) -> the start of its packed JSON object, up to the base64's quote.
_PACK_HEADS = {name: f'"{name}":{{"fields":{_compact(table_dtype(name).names)},"b64":"'.encode()
               for name in TABLES}
_PACK_HEADS[_ROWS_KEY] = f'"{_ROWS_KEY}":{{"fields":{_compact(_ROWS_FIELDS)},"b64":"'.encode()


#: The columns of a herald row, in table order, and the getter of a herald's row from its dict.
_HERALD_COLUMNS = table_dtype("heralds").names
_HERALD_ROW = operator.itemgetter(*_HERALD_COLUMNS)
_TRUE_S = _HERALD_COLUMNS.index("true_s")
#: A herald's numeric columns: a format-3 line packs them (the reason stays JSON beside them).
_HERALD_NUMERIC = [c for c in _HERALD_COLUMNS if not table_dtype("heralds")[c].hasobject]
_HERALD_NUMBERS = operator.itemgetter(*_HERALD_NUMERIC)
_HERALD_STRUCT = struct.Struct("<" + struct_codes(table_dtype("heralds"), _HERALD_NUMERIC))
_HERALD_HEAD = f'"herald":{{"fields":{_compact(_HERALD_NUMERIC)},"b64":"'.encode()


def _packed_herald(herald: dict[str, Any]) -> list[bytes] | None:
    """Return ``,`` and the JSON member of a herald with its numbers packed, in parts, or
    ``None`` if they do not pack (an unknown ``true_s``, a column more or less): the herald
    then goes as plain JSON. Packed, it costs far less than the JSON encoder takes for its
    floats."""
    reason = herald.get("reason")
    if len(herald) != len(_HERALD_COLUMNS) or not isinstance(reason, str):
        return None
    try:
        raw = _HERALD_STRUCT.pack(*_HERALD_NUMBERS(herald))
    except (KeyError, TypeError, struct.error):
        return None
    return [b",", _HERALD_HEAD, b2a_base64(raw, newline=False), b'","reason":',
            _JSON.encode(reason).encode(), b"}"]


def _unpack_herald(herald: dict[str, Any]) -> dict[str, Any]:
    if "b64" not in herald:  # plain JSON
        return herald
    if herald["fields"] != _HERALD_NUMERIC:
        raise ValueError(f"the herald was written with columns {herald['fields']}")
    out = dict(zip(_HERALD_NUMERIC, _HERALD_STRUCT.unpack(_raw(herald)), strict=True))
    out["reason"] = herald["reason"]
    return out


def _packed_tables(tables: ShotTables) -> list[bytes]:
    """Return the JSON members of a shot's packed tables, in parts (base64 needs no JSON
    escaping, so it is spliced in directly: passing it through the JSON encoder costs more than
    the packing)."""
    parts = [_PACK_HEADS[_ROWS_KEY], b2a_base64(tables.rows, newline=False), b'"}']
    for name, rows in tables.blocks.items():
        if len(rows):
            parts += (b",", _PACK_HEADS[name], b2a_base64(rows.tobytes(), newline=False), b'"}')
    return parts


def _raw(packed: dict[str, Any]) -> bytes:
    return base64.b64decode(packed["b64"], validate=True)


def _unpack(table: str, packed: dict[str, Any]) -> np.ndarray:
    if "b64" not in packed:  # format 1: {column: list}
        return as_table(table, {name: np.asarray(values) for name, values in packed.items()})
    dtype = table_dtype(table)
    if tuple(packed["fields"]) != dtype.names:
        raise ValueError(f"table {table!r} was written with columns {packed['fields']}")
    raw = bytearray(_raw(packed))  # writable result
    if len(raw) % dtype.itemsize:
        raise ValueError(f"table {table!r}: {len(raw)} bytes is not a whole number of rows")
    return np.frombuffer(raw, dtype)


def _unpack_tables(packed: dict[str, Any]) -> ShotTables:
    joined = packed.pop(_ROWS_KEY, None)
    if joined is None:  # formats 1 and 2: every table on its own
        return ShotTables.from_tables({name: _unpack(name, rows) for name, rows in packed.items()})
    if joined["fields"] != _ROWS_FIELDS:
        raise ValueError(f"the per-pulse tables were written with columns {joined['fields']}")
    return ShotTables(_raw(joined), {name: _unpack(name, rows) for name, rows in packed.items()})


_SHOT_KEYS = {"type", "shot", "tables", "herald"}


def encode_record(record: dict[str, Any]) -> bytes:
    """Return ``record`` as one JSON line (UTF-8, newline-terminated).

    A shot's tables are packed binary (see the module notes); other floats are written with
    Python's shortest round-trip repr. Either way a decoded record is bit-for-bit the encoded one.

    Raises
    ------
    ValueError
        If the record type is unknown, or a shot's tables are not valid shot tables.
    """
    if record.get("type") not in RECORD_TYPES:
        raise ValueError(f"record type must be one of {RECORD_TYPES}, got {record.get('type')!r}")
    if record["type"] != "shot":
        return (_JSON.encode(record) + "\n").encode()
    tables = _packed_tables(ShotTables.of(record["tables"]))  # raises for bad tables first
    herald = _packed_herald(record["herald"])
    if herald is not None and record.keys() == _SHOT_KEYS and type(record["shot"]) is int:
        head = b'{"type":"shot","shot":%d' % record["shot"]  # the engine's records: no encoder
    else:
        plain = ("tables",) if herald is None else ("tables", "herald")
        head = _JSON.encode({k: v for k, v in record.items() if k not in plain}).encode()[:-1]
    return b"".join([head, *(herald or ()), b',"tables":{', *tables, b"}}\n"])


def decode_record(line: bytes | str) -> dict[str, Any]:
    """Return the record of one journal line, a shot's tables as a
    :class:`~heralder.storage.tables.ShotTables` (structured arrays on access).

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
            record["tables"] = _unpack_tables(record["tables"])
            record["herald"] = _unpack_herald(record["herald"])
        except (TypeError, KeyError, AttributeError, struct.error) as exc:
            raise ValueError(f"shot record does not decode: {exc!r}") from exc
    return record


def herald_row(herald: dict[str, Any]) -> tuple:
    """Return a shot record's ``herald`` as one row (a tuple in column order) of ``heralds``
    (an unknown ``true_s``, ``None``, is stored as ``-1``).

    Raises
    ------
    ValueError
        If a column is unknown or missing.
    """
    try:
        row = _HERALD_ROW(herald)
    except KeyError:
        row = ()
    if len(row) != len(herald):  # a column missing, or one more
        as_table("heralds", {k: [v] for k, v in herald.items()})  # raises, naming the columns
    if row[_TRUE_S] is None:
        return (*row[:_TRUE_S], -1, *row[_TRUE_S + 1:])
    return row


def record_rows(record: dict[str, Any]) -> dict[str, list[tuple]]:
    """Return the table rows a ``devices`` or ``event`` record adds, ``{table: [row tuple]}``
    (other kinds add none here: a shot's rows are its tables and :func:`herald_row`).

    Raises
    ------
    KeyError
        If the record lacks an entry its kind needs.
    """
    kind = record["type"]
    if kind == "event":
        return {"events": [(record["t_s"], record["kind"], record["level"], record["message"],
                            json.dumps(record.get("data", {})))]}
    if kind == "devices":
        return {"snapshots": [(record["t_s"], s["name"], s["driver"], s["address"],
                               s["identity"], json.dumps(s["settings"], default=str))
                              for s in record["snapshots"]]}
    return {}
