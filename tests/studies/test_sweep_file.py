"""Sweep files: parsing, grid expansion, seeds per task, and one clear error per bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heralder.cli import main
from heralder.errors import ConfigError
from heralder.studies.dark import DarkParams
from heralder.studies.sweep import load_sweep, plan_tasks

DARK = """\
[study]
kind = "dark"
trials = 5
seed = 3
trials_per_task = 2

[params]
gates = 50

[grid]
dark_counts_per_gate = [0.01, 0.1]
"""


def test_grid_expands_to_points_and_tasks_with_distinct_seeds(write_sweep):
    sweep = load_sweep(write_sweep(DARK))
    assert [p.params for p in sweep.points] == [DarkParams(0.01, 50), DarkParams(0.1, 50)]
    tasks = plan_tasks(sweep)
    assert [(t.point, t.chunk, t.first_trial, t.n_trials) for t in tasks] == [
        (0, 0, 0, 2), (0, 1, 2, 2), (0, 2, 4, 1), (1, 0, 0, 2), (1, 1, 2, 2), (1, 2, 4, 1)]
    states = {tuple(t.seed_sequence.generate_state(2)) for t in tasks}
    assert len(states) == len(tasks)
    assert tasks[4].seed_sequence.spawn_key == (1, 1)
    assert np.array_equal(tasks[4].seed_sequence.generate_state(4),
                          np.random.SeedSequence(3).spawn(2)[1].spawn(2)[1].generate_state(4))


def test_cluster_table_is_read(write_sweep):
    text = DARK + '\n[cluster]\nqueue = "short"\ncores = 8\nmemory = "16GB"\njobs = 3\n'
    cluster = load_sweep(write_sweep(text)).cluster
    assert (cluster.queue, cluster.cores, cluster.memory, cluster.jobs) == ("short", 8, "16GB", 3)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('kind = "dark"', 'kind = "nope"',
     ":2: study.kind: kind 'nope' is not a known study (known: dark, policy"),
    ("[grid]\n", "[grid]\ncolour = [1]\n", ":11: grid.colour: unknown key 'colour'"),
    ("dark_counts_per_gate = [0.01, 0.1]", "dark_counts_per_gate = []",
     ":11: grid.dark_counts_per_gate: 'dark_counts_per_gate' has no values"),
    ("dark_counts_per_gate = [0.01, 0.1]", "", "grid: the grid has no parameters"),
    ("trials = 5", "trials = 0", ":3: study.trials: trials must be >= 1, got 0"),
    ("gates = 50", "gates = -1", ":8: params.gates: gates must be >= 1"),
    ("[0.01, 0.1]", '[0.01, "x"]', ":11: grid.dark_counts_per_gate: must be a number"),
    ("seed = 3", "seed = 3\nwho = 1", ":5: study.who: unknown key 'who'"),
])
def test_bad_sweep_file_is_one_line_naming_the_key(write_sweep, tmp_path, capsys, old, new,
                                                  expected):
    assert old in DARK
    path = write_sweep(DARK.replace(old, new))
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert expected in str(info.value)
    assert main(["study", "run", str(path), "--workers", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1:8786", "--scheduler must look like tcp://HOST:PORT"),
    ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
])
def test_bad_scheduler_is_one_line_and_writes_nothing(write_sweep, tmp_path, capsys, address,
                                                     expected):
    out = tmp_path / "out"
    code = main(["study", "run", str(write_sweep(DARK)), "--scheduler", address,
                 "--connect-timeout-s", "1", "--out", str(out), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert not out.exists()


@pytest.mark.parametrize(("system", "command"), [("slurm", "sbatch"), ("pbs", "qsub")])
def test_cluster_without_its_batch_system_is_one_line(write_sweep, tmp_path, capsys, monkeypatch,
                                                      system, command):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch/qsub here
    out = tmp_path / "out"
    assert main(["study", "run", str(write_sweep(DARK)), "--cluster", system, "--out",
                 str(out)]) == 2
    assert f"--cluster {system}: {command} is not on PATH" in capsys.readouterr().err
    assert not out.exists()


def test_missing_dask_says_how_to_install(write_sweep, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    out = tmp_path / "out"
    assert main(["study", "run", str(write_sweep(DARK)), "--workers", "2", "--out",
                 str(out)]) == 2
    assert "pip install 'heralder[studies]'" in capsys.readouterr().err
    assert not out.exists()


def test_existing_results_need_resume_and_the_same_sweep(write_sweep, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["study", "run", str(write_sweep(DARK)), "--workers", "0", "--out", str(out),
            "--no-progress"]
    assert main(args) == 0
    assert main(args) == 2
    assert "pass --resume" in capsys.readouterr().err
    other = write_sweep(DARK.replace("seed = 3", "seed = 4"), "other.toml")
    assert main(["study", "run", str(other), "--workers", "0", "--out", str(out),
                 "--resume"]) == 2
    assert "different sweep" in capsys.readouterr().err


def test_example_sweep_is_the_counts_only_policy_grid():
    sweep = load_sweep(Path(__file__).parents[2] / "examples" / "sweeps" / "policy_counts.toml")
    assert sweep.kind == "policy" and len(sweep.points) == 12
    assert {p.trials for p in sweep.points} == {200}
    assert not any(p.params.times for p in sweep.points)
    assert len(plan_tasks(sweep)) == 96 and sweep.cluster.jobs == 4
