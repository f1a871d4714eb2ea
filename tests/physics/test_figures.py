"""Smoke-test the figures command on a tiny workload and check the fit helpers."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from heralder.errors import HeralderError
from heralder.physics import figures
from heralder.physics.paper_data import (
    fit_power_law,
    ideal_asymptote,
    one_pulse_asymptote,
    prior_tail,
)
from heralder.physics.qfi import mean_qfi


def test_fit_power_law_recovers_exact_law():
    n = np.arange(10, 200)
    fit = fit_power_law(n, 3.5 * n**1.75)
    assert (fit.prefactor, fit.exponent) == pytest.approx((3.5, 1.75))
    assert (fit.n_min, fit.n_max, fit.n_points) == (10, 199, 190)
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2], [1.0, -1.0])


def test_asymptotes_match_exact_values_at_large_n():
    n = 10**6
    assert mean_qfi(n) / n**2 == pytest.approx(ideal_asymptote(n), abs=1e-6)
    n = 10**5  # the one-pulse limit is approached as N^-1/4 (0.5 % and 2 % off here)
    for eta in (0.5, 0.7):
        assert mean_qfi(n, eta) / n**1.5 == pytest.approx(one_pulse_asymptote(eta), rel=0.03)
    with pytest.raises(ValueError, match="eta"):
        one_pulse_asymptote(1.0)


def test_prior_tail_fig2():
    assert prior_tail(1000, 200) == pytest.approx(1.34e-9, rel=5e-3)
    assert prior_tail(10, 10) == 0.0


def test_make_figures_writes_every_png_and_fits(tmp_path):
    settings = figures.FigureSettings(fig4_points=70, large_n_max=2000, large_points=4,
                                      fig5_large_pulses=3, fig6_trajectories=6,
                                      fig6_switches=2, quick=True)
    fits = figures.make_figures(tmp_path, settings, seed=1, progress=False)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == sorted([
        "fig2_prior.png", "fig2_large_n.png", "fig3_mean_qfi.png", "fig3_large_n.png",
        "fig4_mean_qfi_eta.png", "fig4_large_n.png", "fig5_posterior.png", "fig5_large_n.png",
        "fig6_switches.png"])
    assert all((tmp_path / p).stat().st_size > 10_000 for p in pngs)
    on_disk = json.loads((tmp_path / "fits.json").read_text())
    assert on_disk["fig2"]["tail_above_cut"] == pytest.approx(1.34e-9, rel=5e-3)
    even = on_disk["fig3"]["even"]["fit"]
    assert (even["n_min"], even["n_max"]) == (10, 1000)
    assert math.isclose(even["exponent"], 2.02, abs_tol=0.01)
    assert set(on_disk["fig4"]) == {"eta=0.5", "eta=0.7", "eta=0.9"}
    assert len(on_disk["fig6"]["mean"]["eta=0.9"]) == 3
    assert fits["fig5"]["S_true"] == 30


def test_run_reports_unwritable_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    parser = argparse.ArgumentParser()
    figures.configure_parser(parser)
    args = parser.parse_args(["--out", str(blocker / "sub"), "--quick", "--no-progress"])
    with pytest.raises(HeralderError, match="cannot write figures"):
        figures.run(args)


def test_switch_study_first_pulse_matches_exact_mean_qfi():
    # Monte Carlo through the estimator's Posterior against the closed-form eqs. (12)-(13)
    from heralder.physics.trajectories import switch_study

    study = switch_study(16, 0.5, 300, 0, np.random.default_rng(7))
    assert abs(study.mean[0] - mean_qfi(16, 0.5)) < 4 * study.sem[0]
    assert study.ideal_mean == pytest.approx(mean_qfi(16))


def test_cli_exposes_figures(capsys):
    from heralder.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["figures", "--help"])
    assert exc.value.code == 0
    assert "--quick" in capsys.readouterr().out
