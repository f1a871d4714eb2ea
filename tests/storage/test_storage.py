"""Journal, HDF5 writer thread, recover and validate on synthetic records."""

from __future__ import annotations

import json
import threading
import time

import h5py
import numpy as np
import pytest

from heralder.control.shotlog import ShotLog
from heralder.control.snapshot import HeraldSummary
from heralder.errors import DataLossError
from heralder.storage.hdf5 import _CHUNK_ROWS, FINAL_NAME, PARTIAL_NAME, H5RunFile
from heralder.storage.journal import Journal, JournalContents, read_journal
from heralder.storage.recover import recover_run
from heralder.storage.rundir import CONFIG_NAME, make_run_dir
from heralder.storage.schema import decode_record, encode_record
from heralder.storage.validate import check_photon_hdf5, validate_run
from heralder.storage.writer import JOURNAL_NAME, RunWriter


def write_run(run_dir, records, **kwargs):
    (run_dir / CONFIG_NAME).write_text(records[0]["config_toml"])
    writer = RunWriter(run_dir, **kwargs)
    for record in records:
        writer.put(record)
    return writer.close()


def test_record_round_trip_is_bit_exact(records):
    shot = records(with_tags=True)[2]
    shot["tables"]["posterior"]["pmax"][0] = 0.1 + 0.2  # a float without a short decimal
    shot["tables"]["posterior"]["qfi"][1] = np.nan
    line = encode_record(shot)
    assert b'"b64"' in line and line.endswith(b"\n") and line.count(b"\n") == 1
    decoded = decode_record(line)
    for table, rows in shot["tables"].items():
        assert decoded["tables"][table].dtype == rows.dtype
        assert decoded["tables"][table].tobytes() == rows.tobytes()  # every bit, NaN included
    assert decoded["tables"]["posterior"]["pmax"][0] == 0.1 + 0.2
    decoded["tables"]["pulses"]["counts"][0] += 1  # decoded tables are writable


def test_format_1_journal_lines_are_still_read(records):
    shot = records(with_tags=True)[2]
    old = dict(shot, tables={name: {column: rows[column].tolist() for column in rows.dtype.names}
                             for name, rows in shot["tables"].items()})
    decoded = decode_record(json.dumps(old))
    for table, rows in shot["tables"].items():
        assert decoded["tables"][table].tobytes() == rows.tobytes()


def test_a_damaged_binary_table_is_a_bad_line(records):
    line = json.loads(encode_record(records()[2]))
    rows = line["tables"]["pulses,decisions,posterior"]
    rows["b64"] = rows["b64"][:-8]
    with pytest.raises(ValueError):
        decode_record(json.dumps(line))
    rows["b64"] = "!!"
    with pytest.raises(ValueError):
        decode_record(json.dumps(line))


def test_bad_records_are_rejected():
    with pytest.raises(ValueError, match="record type"):
        encode_record({"type": "nonsense"})
    with pytest.raises(ValueError, match="no column"):
        encode_record({"type": "shot", "tables": {"pulses": {"bogus": [1]}}, "herald": {}})
    with pytest.raises(ValueError, match="not a heralder record"):
        decode_record(b"[1, 2]")


def test_writer_produces_consistent_journal_and_hdf5(tmp_path, records):
    recs = records(n_shots=6)
    path = write_run(tmp_path, recs)
    assert path == tmp_path / FINAL_NAME and not (tmp_path / PARTIAL_NAME).exists()
    journal = list(read_journal(tmp_path / JOURNAL_NAME))
    assert [r["type"] for r in journal] == [r["type"] for r in recs]
    shots = [r for r in recs if r["type"] == "shot"]
    with h5py.File(path, "r") as f:
        user = f["user/heralder"]
        assert user.attrs["complete"] and not user.attrs["recovered"]
        assert user["config_toml"][()].decode() == recs[0]["config_toml"]
        assert user["seeds"].attrs["run"] == 7
        counts = np.concatenate([s["tables"]["pulses"]["counts"] for s in shots])
        np.testing.assert_array_equal(user["pulses/counts"][:], counts)
        np.testing.assert_array_equal(user["heralds/shot"][:], np.arange(6))
        assert user["heralds/reason"][0].decode() == "pmax"
        assert json.loads(user["snapshots/settings_json"][0]) == {"gate_s": 1e-4}
        assert user["events/kind"].len() == 6
        assert len(user["posterior_full/p"]) == 18
        assert "photon_data" not in f
    report = validate_run(tmp_path)
    assert report.ok, report.problems
    assert report.shots == 6 and report.pulses == len(counts) and report.complete
    assert report.photon_hdf5 is None


def test_time_tags_make_a_valid_photon_hdf5_file(tmp_path, records):
    recs = records(n_shots=3, with_tags=True)
    path = write_run(tmp_path, recs)
    assert check_photon_hdf5(path) == ""
    with h5py.File(path, "r") as f:
        stamps = f["photon_data/timestamps"][:]
        assert stamps.dtype == np.int64 and len(stamps) > 0
        np.testing.assert_array_equal(stamps, f["user/heralder/photons/timestamp_ps"][:])
        assert f["photon_data/timestamps_specs/timestamps_unit"][()] == 1e-12
    report = validate_run(tmp_path)
    assert report.ok and report.photon_hdf5 is True


def test_photon_hdf5_check_catches_a_broken_file(tmp_path, records):
    path = write_run(tmp_path, records(n_shots=2, with_tags=True))
    with h5py.File(path, "a") as f:
        del f["photon_data/timestamps_specs/timestamps_unit"]
    assert "timestamps_unit" in check_photon_hdf5(path)
    assert not validate_run(tmp_path).ok


def test_recover_rebuilds_the_same_tables(tmp_path, records):
    recs = records(n_shots=5, with_tags=True)
    path = write_run(tmp_path, recs)
    with h5py.File(path, "r") as f:
        before = {k: f["user/heralder/pulses"][k][:] for k in f["user/heralder/pulses"]}
    path.unlink()
    report = recover_run(tmp_path)
    assert report.shots == 5 and report.complete and report.bad_lines == []
    with h5py.File(report.path, "r") as f:
        assert f["user/heralder"].attrs["recovered"]
        for key, values in before.items():
            np.testing.assert_array_equal(f["user/heralder/pulses"][key][:], values)
    assert validate_run(tmp_path).ok


def test_torn_last_line_is_skipped_and_reported(tmp_path, records):
    recs = records(n_shots=3)[:-1]  # no end record: a crashed run
    journal = Journal(tmp_path / JOURNAL_NAME)
    journal.append(recs)
    journal.close()
    with open(tmp_path / JOURNAL_NAME, "ab") as f:
        f.write(encode_record(recs[2])[:40])
    contents = JournalContents()
    assert len(list(read_journal(tmp_path / JOURNAL_NAME, contents))) == len(recs)
    assert contents.bad_lines == [len(recs) + 1]
    (tmp_path / CONFIG_NAME).write_text(recs[0]["config_toml"])
    report = recover_run(tmp_path)
    assert report.shots == 3 and not report.complete
    validation = validate_run(tmp_path)
    assert validation.ok and any("torn" in n for n in validation.notes)


def test_recover_refuses_a_journal_without_header(tmp_path, records):
    journal = Journal(tmp_path / JOURNAL_NAME)
    journal.append(records()[2:3])
    journal.close()
    with pytest.raises(ValueError, match="first record"):
        recover_run(tmp_path)
    assert not (tmp_path / PARTIAL_NAME).exists()
    with pytest.raises(FileNotFoundError):
        recover_run(tmp_path / "nowhere")


def test_validate_names_missing_pieces(tmp_path, records):
    assert "no journal.jsonl" in validate_run(tmp_path).problems[0]
    journal = Journal(tmp_path / JOURNAL_NAME)
    journal.append(records(n_shots=1))
    journal.close()
    (tmp_path / PARTIAL_NAME).write_bytes(b"")
    problems = validate_run(tmp_path).problems
    assert any("no config.toml" in p for p in problems)
    assert any("heralder recover" in p for p in problems)


def test_full_queue_waits_and_reports_backpressure(tmp_path, records):
    event = {"type": "event", "t_s": 0.0, "kind": "log", "level": "info", "message": "m"}
    recs = records(n_shots=1) + [event] * 600  # more than one group commit gathers
    writer = RunWriter(tmp_path, queue_size=1)
    release = threading.Event()
    original = writer.h5.add

    def slow_add(record):
        release.wait(5.0)
        original(record)

    writer.h5.add = slow_add
    waited = []
    putter = threading.Thread(target=lambda: waited.extend(writer.put(r) for r in recs))
    putter.start()
    putter.join(0.5)
    assert putter.is_alive()  # blocked on the full queue, not dropping
    release.set()
    putter.join(5.0)
    assert any(waited) and writer.stats().backpressure_waits >= 1
    writer.close()
    assert len(list(read_journal(tmp_path / JOURNAL_NAME))) == len(recs)


def test_writer_failure_is_raised_not_swallowed(tmp_path, records):
    recs = records(n_shots=2)
    writer = RunWriter(tmp_path, queue_size=4)

    def broken(record):
        raise OSError("disk full")

    writer.h5.add = broken
    writer.put(recs[0])
    deadline = time.monotonic() + 10
    with pytest.raises(DataLossError, match="disk full"):
        while time.monotonic() < deadline:
            writer.put(recs[1], timeout_s=0.05)
            time.sleep(0.01)
    with pytest.raises(DataLossError):
        writer.close()
    assert writer.stats().error


def test_run_dirs_are_unique_and_dated(tmp_path):
    import datetime as dt

    now = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    first, uid = make_run_dir(tmp_path, now)
    second, _ = make_run_dir(tmp_path, now)
    assert first.parent.name == "2026-03-04" and first.name.startswith("050607_")
    assert uid in first.name and first != second


def test_rows_across_chunk_boundaries_are_written_once_in_order(tmp_path):
    per_shot = _CHUNK_ROWS // 3 + 7  # records straddle chunk boundaries
    h5 = H5RunFile(tmp_path)
    h5.add({"type": "run", "config_toml": "", "has_tags": False, "pulse_period_s": 1e-3})
    expected = []
    for shot in range(4):
        log = ShotLog(shot)
        for k in range(per_shot):
            log.add(k, 0, shot * per_shot + k, True, 0.0, -1,
                    (False, False, 0.0, 0, 0, 0, 0, 1, False, True),
                    (1, 1.0, 1.0, 0.0, 0.0, 0.0, 1))
        expected.extend(range(shot * per_shot, (shot + 1) * per_shot))
        h5.add(log.record(HeraldSummary(shot, 1, 1.0, 0.0, 0.0, per_shot, -1), 0.0))
        h5.flush()  # the writer thread's periodic flush: whole chunks only
    path = h5.close()
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["user/heralder/pulses/counts"][:], expected)
        assert len(f["user/heralder/decisions/value"]) == len(expected)
