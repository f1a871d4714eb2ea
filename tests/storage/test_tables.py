"""ShotTables and journal format 3: joined per-pulse rows, split only when read, bit for bit."""

from __future__ import annotations

import base64
import json

import h5py
import numpy as np
import pytest

from heralder.storage.hdf5 import _CHUNK_ROWS, H5RunFile
from heralder.storage.schema import decode_record, encode_record
from heralder.storage.tables import (
    PULSE_ROW_TABLES,
    ROW_BYTES,
    SHOT_TABLES,
    ShotTables,
    table_dtype,
)


def _separate(tables: ShotTables) -> dict[str, np.ndarray]:
    return {name: tables[name].copy() for name in SHOT_TABLES}


def test_split_tables_are_the_joined_rows_and_join_back(records):
    tables = records(with_tags=True)[2]["tables"]
    assert isinstance(tables, ShotTables) and list(tables) == list(SHOT_TABLES)
    separate = _separate(tables)
    again = ShotTables.from_tables(separate)
    assert again.rows == tables.rows and len(again.rows) == ROW_BYTES * tables.n_pulses
    for name in SHOT_TABLES:
        assert again[name].dtype == table_dtype(name)
        assert again[name].tobytes() == separate[name].tobytes()
    # the first pulse's joined row is its rows of the three tables, in order
    first = b"".join(separate[name][:1].tobytes() for name in PULSE_ROW_TABLES)
    assert tables.rows[:ROW_BYTES] == first


def test_a_table_handed_out_is_the_table_written(records):
    record = records()[2]
    tables = record["tables"]
    before = tables.rows
    assert tables["decisions"] is tables["decisions"]  # split once, kept
    tables["decisions"]["value"][0] = np.nan
    tables["photons"]  # an empty block handed out changes nothing
    assert tables.rows != before
    decoded = decode_record(encode_record(record))["tables"]
    assert np.isnan(decoded["decisions"]["value"][0])
    assert decoded["pulses"].tobytes() == tables["pulses"].tobytes()


def test_bad_shot_tables_are_refused(records):
    tables = records()[2]["tables"]
    separate = _separate(tables)
    with pytest.raises(ValueError, match="whole joined rows"):
        ShotTables(tables.rows[:-1])
    with pytest.raises(ValueError, match="blocks"):
        ShotTables(tables.rows, {"pulses": separate["pulses"]})
    with pytest.raises(ValueError, match="blocks"):
        ShotTables(tables.rows, {"photons": separate["posterior_full"]})
    with pytest.raises(ValueError, match="among"):
        ShotTables.from_tables({**separate, "heralds": separate["pulses"]})
    with pytest.raises(ValueError, match="one row per pulse"):
        ShotTables.from_tables({**separate, "decisions": separate["decisions"][:-1]})
    with pytest.raises(ValueError, match="one row per pulse"):
        ShotTables.from_tables({"pulses": separate["pulses"]})
    with pytest.raises(KeyError):
        tables["heralds"]


def test_format_2_journal_lines_are_still_read(records):
    shot = records(with_tags=True)[2]
    separate = _separate(shot["tables"])
    packed = {name: {"fields": list(rows.dtype.names),
                     "b64": base64.b64encode(rows.tobytes()).decode()}
              for name, rows in separate.items()}
    decoded = decode_record(json.dumps(dict(shot, tables=packed)))
    assert decoded["tables"].rows == shot["tables"].rows
    for name, rows in separate.items():
        assert decoded["tables"][name].tobytes() == rows.tobytes()


def test_format_3_line_holds_the_joined_rows_once(records):
    shot = records(with_tags=True)[2]
    line = json.loads(encode_record(shot))
    assert set(line["tables"]) == {"pulses,decisions,posterior", "posterior_full", "photons"}
    joined = line["tables"]["pulses,decisions,posterior"]
    assert joined["fields"] == [list(table_dtype(name).names) for name in PULSE_ROW_TABLES]
    assert base64.b64decode(joined["b64"]) == shot["tables"].rows
    joined["fields"][0][1] = "renamed"
    with pytest.raises(ValueError, match="columns"):
        decode_record(json.dumps(line))


def test_hdf5_tables_are_the_records_bit_for_bit_across_chunks(tmp_path, records):
    recs = records(n_shots=3, with_tags=True)
    header, shots = recs[0], [r for r in recs if r["type"] == "shot"]
    shots[1]["herald"]["true_s"] = None  # unknown truth: stored as -1
    per_shot = _CHUNK_ROWS // 3 + 5  # a big shot straddles chunk boundaries
    rng = np.random.default_rng(5)
    big = ShotTables.from_tables({
        name: np.frombuffer(rng.bytes(per_shot * table_dtype(name).itemsize),
                            table_dtype(name)) for name in PULSE_ROW_TABLES})
    shots.append(dict(shots[0], shot=3, tables=big, herald=dict(shots[0]["herald"], shot=3)))
    h5 = H5RunFile(tmp_path)
    h5.add(header)
    for shot in shots * 2:  # 8 shots, more than two chunks of joined rows
        h5.add(shot)
        h5.flush()  # the writer thread's periodic flush: whole chunks only
    path = h5.close()
    with h5py.File(path) as f:
        user = f["user/heralder"]
        for name in SHOT_TABLES:
            expected = np.concatenate([s["tables"][name] for s in shots * 2])
            for column in expected.dtype.names:
                stored = user[f"{name}/{column}"][:]
                assert stored.dtype == expected[column].dtype, (name, column)
                assert stored.tobytes() == expected[column].tobytes(), (name, column)
        assert user["heralds/true_s"][:].tolist() == [30, -1, 30, 30] * 2
        assert [r.decode() for r in user["heralds/reason"][:]] == ["pmax"] * 8
        assert user["heralds/shot"][:].tolist() == [0, 1, 2, 3] * 2


def test_a_herald_goes_packed_or_else_as_plain_json_and_decodes_the_same(records):
    shot = records()[2]
    shot["herald"]["pmax"] = 0.1 + 0.2  # a float without a short decimal
    line = encode_record(shot)
    assert b'"herald":{"fields"' in line
    decoded = decode_record(line)["herald"]
    assert decoded == shot["herald"]
    assert {k: type(v) for k, v in decoded.items()} == {k: type(v) for k, v in
                                                        shot["herald"].items()}
    for herald in (dict(shot["herald"], true_s=None), dict(shot["herald"], extra=1)):
        line = encode_record(dict(shot, herald=herald))
        assert b'"herald":{"shot"' in line  # plain JSON
        assert decode_record(line)["herald"] == herald
    damaged = json.loads(encode_record(shot))
    damaged["herald"]["b64"] = damaged["herald"]["b64"][:-8]
    with pytest.raises(ValueError):
        decode_record(json.dumps(damaged))
