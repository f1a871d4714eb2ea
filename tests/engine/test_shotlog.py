"""ShotLog: the per-pulse tables it hands out are the rows it was given, as independent arrays."""

import math

import numpy as np

from heralder.control.shotlog import ShotLog
from heralder.control.snapshot import HeraldSummary
from heralder.storage.schema import table_dtype


def _rows(k: int) -> tuple[tuple, tuple, tuple]:
    """Return pulse k's (data, decision, summary) with a distinct value in every column."""
    data = (k, k % 2, 10 * k + 3, k != 2, 0.25 * k, -1 if k % 3 else 1000 * k)
    decision = (k == 4, k == 3, 0.1 * k, 1.0 + k, 1.5 + k, 2.0 + k, 2.5 + k, 3.0 + k, k == 1,
                k != 0)
    summary = (40 + k, 0.5 + 0.01 * k, 40.5 + k, 2.0 / (k + 1), math.nan if k else 7.0,
               100.0 + k, 60 - k)
    return data, decision, summary


def _filled(n: int) -> ShotLog:
    log = ShotLog(7)
    for k in range(n):
        data, decision, summary = _rows(k)
        log.add(*data, decision, summary)
    return log


def test_tables_match_the_logged_rows_and_are_independent_arrays():
    log = _filled(5)
    tables = log.tables(("pulses", "decisions", "posterior"))
    expected = {
        "pulses": [(7, *_rows(k)[0]) for k in range(5)],
        "decisions": [(7, k, *_rows(k)[1]) for k in range(5)],
        "posterior": [(7, k, *_rows(k)[2]) for k in range(5)]}
    for name, rows in expected.items():
        table = tables[name]
        reference = np.array(rows, table_dtype(name))
        assert table.dtype == table_dtype(name)
        assert table.tobytes() == reference.tobytes()  # bit for bit, NaN included
        assert table.flags.c_contiguous and table.flags.writeable
    tables["pulses"]["counts"][:] = -5  # the caller's copy: the log keeps its rows
    assert log.table("pulses")["counts"].tolist() == [10 * k + 3 for k in range(5)]


def test_an_empty_log_gives_empty_tables():
    tables = ShotLog(0).tables(("pulses", "decisions", "posterior", "photons"))
    assert all(len(table) == 0 for table in tables.values())


def test_the_record_takes_a_single_block_and_live_views_get_copies():
    log = _filled(3)
    s, p = np.array([38, 40, 42]), np.array([0.25, 0.5, 0.25])
    log.add_full_posterior(2, s, p)
    live = log.table("posterior_full")
    herald = HeraldSummary(shot=7, map_s=40, pmax=0.5, qfi=1.0, qfi_ideal=2.0, pulses=3,
                           final_sign=1, true_s=40, reason="pmax")
    record = log.record(herald, 1.5)
    full = record["tables"]["posterior_full"]
    assert full.tolist() == live.tolist() == [(7, 2, 38, 0.25), (7, 2, 40, 0.5), (7, 2, 42, 0.25)]
    live["p"][:] = 0.0  # a live view's array is its own
    assert log.table("posterior_full")["p"].tolist() == [0.25, 0.5, 0.25]
    assert record["herald"]["t_s"] == 1.5 and record["tables"]["pulses"]["index"].tolist() == [
        0, 1, 2]
