"""Exercise the window's widgets against a scripted engine (no devices involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PyQt6.QtCore import Qt

from heralder.config import load_config, updated_config
from heralder.control.snapshot import EngineSnapshot, EngineState
from heralder.gui.app import simulated_config
from heralder.gui.main_window import MainWindow
from heralder.gui.settings_form import FIELDS, THRESHOLD_KEYS, config_value, parse_text

LEFT = Qt.MouseButton.LeftButton


def make_window(qtbot, factory, **changes):
    window = MainWindow(updated_config(simulated_config(), changes), factory=factory)
    qtbot.addWidget(window)
    window.show()
    return window


def test_run_to_the_end_fills_plots_and_status(qtbot, scripted):
    window = make_window(qtbot, scripted, **{"run.shots": 5})
    qtbot.mouseClick(window.run_panel.start_button, LEFT)
    with qtbot.waitSignal(window.bridge.run_ended, timeout=10_000):
        pass
    assert window.last_snapshot.state is EngineState.FINISHED
    assert window.status.labels["heralded"].text() == "heralded 5"
    qtbot.waitUntil(lambda: window.plots.settled, timeout=5_000)  # the final redraw, plot by plot
    assert len(window.plots.counts_tc.getData()[0]) > 0
    assert window.run_panel.start_button.isEnabled()
    assert not window.run_panel.stop_button.isEnabled()


def test_bad_values_are_refused_beside_their_field(qtbot, scripted, type_into):
    window = make_window(qtbot, scripted)
    form = window.setup.form
    type_into(form.edit("detector.eta"), "1.5")
    assert "eta must lie in [0, 1]" in form.error_text("detector.eta")
    assert window.config.detector.eta == 0.7
    type_into(form.edit("atoms.n_atoms"), "ten")
    assert "must be an integer" in form.error_text("atoms.n_atoms")
    type_into(form.edit("detector.eta"), "0.5")
    assert form.error_text("detector.eta") == ""
    assert window.config.detector.eta == 0.5
    assert "must be an integer" in form.error_text("atoms.n_atoms")


def test_policy_kind_relabels_the_threshold_field(qtbot, scripted, type_into):
    window = make_window(qtbot, scripted)
    assert window.apply_change("policy.kind", "pmax")
    key, _label = THRESHOLD_KEYS["pmax"]
    type_into(window.setup.form.edit(key), "0")
    assert "pmax_threshold must lie in (0, 1]" in window.setup.form.error_text(key)
    type_into(window.setup.form.edit(key), "0.95")
    assert window.config.policy.pmax_threshold == 0.95
    assert window.plots.threshold.isVisible()


def test_nothing_typed_crashes_the_window(qtbot, scripted):
    window = make_window(qtbot, scripted)
    keys = [key for key, _ in FIELDS] + [key for key, _ in THRESHOLD_KEYS.values()]

    @settings(max_examples=200, deadline=None)
    @given(text=st.text(max_size=30), key=st.sampled_from(keys))
    def type_anything(text, key):
        before = window.config
        value = parse_text(text)
        if window.apply_change(key, value):
            stored = config_value(window.config, key)
            assert stored == type(stored)(value)  # the config keeps floats as floats
        else:
            assert window.config is before
            assert window.log.text().splitlines()[-1].startswith("WARNING refused " + key)

    type_anything()


def test_setup_round_trips_through_toml_and_bad_files_are_refused(qtbot, scripted, tmp_path):
    window = make_window(qtbot, scripted)
    window.apply_change("policy.kind", "pmax")
    path = tmp_path / "setup.toml"
    assert window.save_path(path)
    assert load_config(path).policy.kind == "pmax"
    bad = tmp_path / "bad.toml"
    bad.write_text("[detector]\neta = 3\n")
    assert not window.load_path(bad)
    assert "bad.toml:2: detector.eta" in window.notice.label.text()
    assert window.config.policy.kind == "pmax"
    assert window.load_path(path)
    assert window.setup.source_label.text().endswith("setup.toml")
    assert not window.save_path(tmp_path / "no" / "such" / "dir.toml")


def test_log_scale_posterior_with_zeros_raises_no_warning(qtbot, scripted):
    window = make_window(qtbot, scripted)
    window.plots.log_posterior.setChecked(True)
    snap = EngineSnapshot(posterior_s=np.arange(0, 10, 2), posterior_p=np.array([0, .5, .5, 0, 0]))
    window.plots.show_snapshot(snap)
    assert math.isfinite(float(np.min(window.plots.posterior.getData()[1])))
    window.plots.log_posterior.setChecked(False)


def test_device_check_runs_off_the_gui_thread_and_shows_identities(qtbot, scripted):
    window = make_window(qtbot, scripted)
    assert window.setup.device_state("counter") == ("not checked", "")
    with qtbot.waitSignal(window.checker.finished, timeout=20_000):
        qtbot.mouseClick(window.setup.check_button, LEFT)
        assert window.setup.device_state("counter")[0] == "checking…"
    assert window.setup.device_state("counter") == (
        "reachable", "heralder,virtual_counter,0,0.1.0")
    assert window.setup.device_state("switch")[0] == "reachable"


def test_device_check_failure_is_shown_per_device(qtbot, scripted):
    window = make_window(qtbot, scripted)
    window.config = updated_config(window.config, {"devices.counter": {
        "driver": "sr400", "address": "socket://127.0.0.1:9", "timeout_s": 0.2}})
    window.setup.set_config(window.config)
    with qtbot.waitSignals([window.checker.finished], timeout=20_000):
        window.check_devices()
    state, message = window.setup.device_state("counter")
    assert state == "FAILED" and message
    assert "device check failed: counter" in window.notice.label.text()


def test_arrival_times_fill_a_histogram_when_tags_exist(qtbot, scripted):
    window = make_window(qtbot, scripted)
    plots = window.plots
    assert "no time tags" in plots.arrival_plot.titleLabel.text
    times_s = np.array([1e-6, 2e-6, 2.5e-6, 9e-6])
    for pulses_total in (1, 2):
        plots.show_snapshot(EngineSnapshot(pulses_total=pulses_total, arrival_times_s=times_s))
    edges, counts = plots.arrivals.getData()
    assert counts.sum() == 2 * len(times_s)
    assert edges[0] == pytest.approx(1e-6) and edges[-1] == pytest.approx(9e-6)
    assert plots.arrival_plot.titleLabel.text == "Photon arrival times within a pulse"
