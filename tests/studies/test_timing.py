"""The timing study: its kind on the runner, the arrival-time fallback, bad parameters."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from heralder.cli import main
from heralder.config import AtomsConfig, Config, EstimatorConfig, config_from_dict, updated_config
from heralder.control.clock import SimClock
from heralder.control.engine import Engine
from heralder.control.estimator_setup import (
    arrival_times_notice,
    arrival_times_used,
    cascade_validity,
)
from heralder.control.replay import replay_run
from heralder.estimation import exact_efficiency
from heralder.physics.cavity import BAD_CAVITY_X, cavity_parameters, recommended_gate_s
from heralder.physics.prior import peak_spin
from heralder.studies.kinds import get_kind
from heralder.studies.sweep import load_sweep
from heralder.studies.timing import TimingParams, cavity_atoms, timing_trial, typical_x
from heralder.studies.timing_cmd import TimingStudy, study_sweep

TINY_SWEEP = """\
[study]
kind = "timing"
trials = 2
seed = 11
trials_per_task = 2

[params]
cap = 40

[grid]
x = [2.0]
n_atoms = [100]
dynamics = ["exact", "cascade"]
"""

ESTIMATOR_COLUMNS = {f"{e}_{m}" for e in ("counts", "counts_cascade", "times", "remedy")
                     for m in ("wrong", "error", "switches", "capped")}


def test_the_kind_runs_a_tiny_grid_and_reports(write_sweep, tmp_path, records, capsys):
    out = tmp_path / "out"
    code = main(["study", "run", str(write_sweep(TINY_SWEEP)), "--out", str(out),
                 "--no-progress", "--workers", "0"])
    assert code == 0
    frame = records(out)
    assert len(frame) == 4
    assert ESTIMATOR_COLUMNS | {"remedy_uses_times", "true_s", "pulses", "photons",
                                "deadtime_loss", "deadtime_loss_model",
                                "deadtime_loss_exact", "x_typ", "y_max"} <= set(frame.columns)
    # outside the cascade's validity the remedy is the counts estimator on the same record
    assert not frame["remedy_uses_times"].any()
    for metric in ("wrong", "error", "switches", "capped"):
        assert (frame[f"remedy_{metric}"] == frame[f"counts_{metric}"]).all()
    assert np.allclose(frame["x_typ"], frame["x"])
    assert (frame["photons"] > 0).all() and frame["deadtime_loss"].between(0, 1).all()
    table = (out / "timing_study.md").read_text()
    assert "| x=2 | 2 |" in table and "| exact | 2 |" in table and "counts |" in table
    assert (out / "timing_study.png").stat().st_size > 10_000
    assert (out / "timing_study.csv").read_text().startswith("cavity,x_typ,y_max,N,eta,")
    assert "P(wrong) times" in capsys.readouterr().out


def test_the_custom_cavity_has_the_papers_gamma_and_its_x():
    for n_atoms, x in ((1000, 0.1), (10000, 2.0)):
        atoms = cavity_atoms(TimingParams(n_atoms=n_atoms, x=x))
        params = cavity_parameters(atoms)
        assert math.isclose(params.gamma_tc_per_s,
                            cavity_parameters(AtomsConfig(preset="paper")).gamma_tc_per_s)
        assert math.isclose(typical_x(atoms), x)
        s = peak_spin(n_atoms)
        assert math.isclose(math.sqrt(s) * params.lambda_tc_rad_s / (math.pi * params.kappa_hz),
                            x)
    paper = cavity_atoms(TimingParams(n_atoms=10000, preset="paper", x=2.0))
    assert paper.preset == "paper" and 0.55 < typical_x(paper) < 0.62  # √100 · λ/(κ/2)


def _scaled(atoms: AtomsConfig, factor: float) -> AtomsConfig:
    params = cavity_parameters(atoms)
    return AtomsConfig(n_atoms=atoms.n_atoms, preset="custom", g_hz=params.g_hz,
                       kappa_hz=params.kappa_hz, gamma_hz=params.gamma_hz,
                       omega_over_delta_tc=params.omega_over_delta_tc * factor,
                       omega_over_delta_antitc=params.omega_over_delta_antitc * factor)


@pytest.mark.parametrize("n_atoms", [100, 1000])
def test_the_fallback_triggers_exactly_above_the_validity_threshold(n_atoms):
    edge = AtomsConfig(n_atoms=n_atoms, preset="bad-cavity")  # y = 0.3 at the largest likely S
    y, s_hi, valid = cascade_validity(edge)
    assert math.isclose(y, BAD_CAVITY_X) and valid
    assert cascade_validity(_scaled(edge, 1.0 - 1e-6))[2]
    assert not cascade_validity(_scaled(edge, 1.0 + 1e-6))[2]
    assert not cascade_validity(_scaled(edge, 1.0 + 1e-3))[2]
    # y scales with λ: the faster polarisation decides
    one_fast = replace(_scaled(edge, 1.0), omega_over_delta_antitc=(
        cavity_parameters(edge).omega_over_delta_antitc * 1.01))
    assert not cascade_validity(one_fast)[2]
    # fixed_s (a simulation setting) does not change the estimator's choice
    assert cascade_validity(replace(_scaled(edge, 1.01), fixed_s=n_atoms % 2))[2] is False
    assert s_hi > peak_spin(n_atoms)


def test_the_engine_choice_uses_arrival_times_only_where_the_cascade_holds():
    wanted = EstimatorConfig(use_arrival_times=True)
    valid = Config(atoms=AtomsConfig(n_atoms=1000, preset="bad-cavity"), estimator=wanted)
    paper = Config(atoms=AtomsConfig(n_atoms=1000, preset="paper"), estimator=wanted)
    assert arrival_times_used(valid) and arrival_times_notice(valid) is None
    assert not arrival_times_used(paper)
    notice = arrival_times_notice(paper)
    assert notice is not None and "counts only" in notice and "> 0.3" in notice
    counts_only = replace(paper, estimator=EstimatorConfig(use_arrival_times=False))
    assert not arrival_times_used(counts_only) and arrival_times_notice(counts_only) is None


@pytest.mark.parametrize(("field", "value"), [
    ("n_atoms", 0), ("n_atoms", 2.5), ("eta", 0.0), ("eta", 1.5), ("x", 0.0), ("x", math.nan),
    ("x", -1.0), ("preset", "good"), ("dynamics", "auto"), ("dead_time_s", -1e-9),
    ("dark_counts_per_gate", math.inf), ("pmax_threshold", 1.0), ("cap", 1),
])
def test_bad_parameters_raise_naming_them(field, value):
    with pytest.raises(ValueError, match=f"^{field} "):
        TimingParams(**{field: value})


def test_bad_study_options_fail_in_one_line(tmp_path, capsys):
    assert main(["study", "timing", "--trials", "0", "--out", str(tmp_path)]) == 2
    assert main(["study", "timing", "--eta", "1.5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--trials must be >= 1" in err and "eta must lie in (0, 1]" in err


def test_cascade_data_and_cascade_likelihood_herald_right():
    params = TimingParams(n_atoms=100, x=2.0, dynamics="cascade", cap=80)
    rngs = np.random.SeedSequence(3).spawn(4)
    records = [timing_trial(params, np.random.default_rng(seed)) for seed in rngs]
    assert not any(r["times_wrong"] or r["counts_wrong"] for r in records)
    assert all(r["times_switches"] < 80 for r in records)


def test_exact_data_at_large_x_mislead_the_cascade_likelihood_not_the_counts():
    params = TimingParams(n_atoms=100, x=2.0, dynamics="exact", cap=80)
    rngs = np.random.SeedSequence(3).spawn(6)
    records = [timing_trial(params, np.random.default_rng(seed)) for seed in rngs]
    assert not any(r["counts_wrong"] for r in records)
    # exact photons arrive later than the cascade allows: it reads them as a smaller S
    assert sum(r["times_wrong"] for r in records) >= 2
    assert all(r["times_error"] <= 0 for r in records)
    assert np.mean([r["deadtime_loss"] for r in records]) < np.mean(
        [r["deadtime_loss_model"] for r in records])


def test_exact_dead_time_efficiency_heralds_right_where_the_cascade_correction_fails(
        monkeypatch, tmp_path):
    monkeypatch.setenv("HERALDER_CACHE_DIR", str(tmp_path))  # solve the table afresh
    exact_efficiency._node_fraction.cache_clear()
    # x = 2 and a 5 µs dead time: exact dynamics lose about half the photons the cascade's
    # correction predicts, so counts with it herald S high (the estimator before the exact table)
    params = TimingParams(n_atoms=30, x=2.0, eta=0.7, dead_time_s=5e-6, cap=60)
    rngs = np.random.SeedSequence(11).spawn(10)
    records = [timing_trial(params, np.random.default_rng(seed)) for seed in rngs]
    exact_wrong = sum(r["counts_wrong"] for r in records)
    cascade_wrong = sum(r["counts_cascade_wrong"] for r in records)
    assert exact_wrong <= 1 and cascade_wrong >= exact_wrong + 3
    assert all(r["counts_cascade_error"] >= 0 for r in records)
    # the exact model predicts the measured loss; the cascade's is about twice it
    measured = np.array([r["deadtime_loss"] for r in records])
    assert np.mean(measured) == pytest.approx(np.mean([r["deadtime_loss_exact"]
                                                       for r in records]), rel=0.1)
    assert np.mean([r["deadtime_loss_model"] for r in records]) > 1.5 * np.mean(measured)


def test_the_study_grid_and_the_example_sweep():
    sweep = study_sweep(TimingStudy())
    cavities = {(p.params.preset, p.params.x, p.params.dynamics) for p in sweep.points}
    assert {("custom", x, "exact") for x in (0.1, 0.5, 1.0, 2.0)} <= cavities
    assert {("paper", 1.0, "exact"), ("paper", 1.0, "cascade")} <= cavities
    assert len(sweep.points) == 2 * 2 * 6
    assert {p.trials for p in sweep.points if p.params.n_atoms == 10000} == {2}
    example = load_sweep(Path(__file__).parents[2] / "examples" / "sweeps" / "timing.toml")
    assert example.kind == "timing" and get_kind("timing").trials_per_task == 2
    assert {p.params.x for p in example.points} == {0.1, 0.5, 1.0, 2.0}


@pytest.mark.parametrize(("preset", "falls_back"), [("paper", True), ("bad-cavity", False)])
def test_the_engine_takes_the_same_choice_and_says_so_once(tmp_path, preset, falls_back):
    config = config_from_dict({
        "run": {"seed": 5, "shots": 2},
        "atoms": {"n_atoms": 100, "preset": preset},
        "detector": {"eta": 0.7, "dark_counts_per_gate": 0.02},
        "estimator": {"backend": "numpy", "use_arrival_times": True},
        "policy": {"kind": "pmax", "pmax_threshold": 0.99, "max_pulses": 30},
        "engine": {"decision_deadline_s": 10.0},
        "devices": {"tagger": {"driver": "virtual_tagger", "address": "sim://lab"},
                    "switch": {"driver": "virtual_switch", "address": "sim://lab"}},
        "storage": {"root": str(tmp_path / "runs")}})
    config = updated_config(config, {"detector.gate_s": recommended_gate_s(config.atoms),
                                     "engine.pulse_period_s":
                                         recommended_gate_s(config.atoms) + 20e-6})
    engine = Engine(config, clock=SimClock())
    engine.start()
    engine.wait_ready()
    assert engine.join(120.0), "engine did not finish"
    notices = [e for e in engine.drain_events() if e.kind == "estimator"]
    assert len(notices) == (1 if falls_back else 0)
    assert not falls_back or "counts only" in notices[0].message
    assert arrival_times_used(config) is not falls_back
    report = replay_run(engine.run_dir)  # the replay re-takes the engine's choice
    assert report.ok and report.decisions > 0, report.mismatches[:3]
