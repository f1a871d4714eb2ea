"""Smoke-test ``heralder study policy`` end to end on the virtual lab (tiny grid)."""

from __future__ import annotations

import csv

from heralder.cli import main
from heralder.studies.policy import PolicyStudy, run_cell, summarise


def test_study_policy_writes_markdown_csv_and_png(tmp_path, capsys):
    out = tmp_path / "policy"
    code = main(["study", "policy", "--quick", "--trials", "4", "--eta", "0.5", "--cap", "120",
                 "--out", str(out)])
    assert code == 0
    with (out / "policy_study.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["estimator"] for r in rows} == {"counts", "times"}
    assert len({r["policy"] for r in rows}) == 4
    assert all(int(r["trials"]) == 4 for r in rows)
    text = (out / "policy_study.md").read_text()
    assert "Arrival times against counts" in text and "± " in text
    assert (out / "policy_study.png").stat().st_size > 10_000
    assert "fewer switches" in capsys.readouterr().out


def test_study_policy_rejects_bad_options(capsys):
    assert main(["study", "policy", "--quick", "--trials", "1"]) == 2
    assert "--trials" in capsys.readouterr().err
    assert main(["study", "policy", "--quick", "--eta", "1.5"]) == 2


def test_policies_read_the_same_record_and_fixed_stops_on_time():
    study = PolicyStudy(n_values=(100,), etas=(0.9,), trials={100: 5}, times_n_values=(),
                        cap=60)
    cell = run_cell(study, 100, 0.9, with_times=False)
    fixed = cell.stops[("counts", "(a) fixed 30")]
    assert [r.switches for r in fixed] == [29] * 5
    rows = summarise([cell])
    pmax = next(r for r in rows if r["policy"] == "(b) pmax>=0.99")
    assert pmax["mean_switches"] < 29 and 0.0 <= pmax["p_wrong"] <= 1.0
    again = run_cell(study, 100, 0.9, with_times=False)
    assert again.stops == cell.stops  # seeded: the same study gives the same stops
