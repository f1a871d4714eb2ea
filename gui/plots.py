"""Draw the live plots of a run from engine snapshots (pyqtgraph).

Per shot: counts per pulse coloured by polarisation, the posterior over S with the simulated truth,
pmax and F/N² versus pulse number, photon arrival times within a pulse. Over the run: heralded S
against the prior |c_S|², and switches per shot. History lives in bounded deques; long curves are
downsampled and clipped to the view, so a refresh costs the same after 10 shots or 10⁶.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from heralder.config import Config
from heralder.control.snapshot import EngineSnapshot, HeraldSummary
from heralder.physics import prior_support

__all__ = ["LivePlots"]

_TC = (31, 119, 180)
_ANTI_TC = (255, 127, 14)
_TRUTH = (192, 57, 43)
_GREY = (110, 110, 110)
_HIST_BINS = 60
_TAGS_TITLE = "Photon arrival times within a pulse"
_NO_TAGS_TITLE = "Arrival times (no time tags: counter only)"
#: Prior values of S carrying less than exp(-_PRIOR_NATS) of the peak are not drawn.
_PRIOR_NATS = 30.0
#: Floor of probabilities drawn on a log axis (log of 0 is undefined).
_LOG_FLOOR = 1e-300


def _long_curve(plot: pg.PlotItem, **style) -> pg.PlotDataItem:
    curve = plot.plot(**style)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    return curve


class LivePlots(QWidget):
    """Show the live plots of one run.

    Parameters
    ----------
    history_pulses
        Pulses whose arrival times feed the arrival-time histogram.
    history_shots
        Shots kept for the heralded-S histogram and the switches-per-shot plot.
    """

    def __init__(
        self, *, history_pulses: int = 2000, history_shots: int = 10000,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True, foreground="k")
        self._arrivals: deque[np.ndarray] = deque(maxlen=history_pulses)
        self._herald_s: deque[int] = deque(maxlen=history_shots)
        self._switches: deque[tuple[int, int]] = deque(maxlen=history_shots)
        self._last_pulses = -1
        self._last_herald_shot = -1
        self._n_atoms = 0

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        options = QHBoxLayout()
        self.log_posterior = QCheckBox("posterior on a log scale")
        self.log_posterior.toggled.connect(self._set_log_posterior)
        self.caption = QLabel()
        options.addWidget(self.log_posterior)
        options.addStretch(1)
        options.addWidget(self.caption)
        layout.addLayout(options)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        layout.addWidget(self.canvas, 1)
        self._build()

    def _plot(self, row: int, col: int, title: str, x: tuple, y: tuple, colspan: int = 1):
        plot = self.canvas.addPlot(row=row, col=col, colspan=colspan, title=title)
        plot.setLabel("bottom", x[0], units=x[1])
        plot.setLabel("left", y[0], units=y[1])
        for side, (_label, units) in (("bottom", x), ("left", y)):
            if units is None:  # a pure number: no "(x0.001)" scale factor on the axis
                plot.getAxis(side).enableAutoSIPrefix(False)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        return plot

    def _build(self) -> None:
        self.counts_plot = self._plot(
            0, 0, "Counts per pulse, this shot", ("pulse number", None), ("photon counts", None),
            colspan=2)
        dots = {"pen": None, "symbol": "o", "symbolSize": 7, "symbolPen": None}
        self.counts_tc = self.counts_plot.plot(
            name="TC pulse (σ−)", symbolBrush=_TC, **dots)
        self.counts_anti = self.counts_plot.plot(
            name="anti-TC pulse (σ+)", symbolBrush=_ANTI_TC, **dots)

        self.posterior_plot = self._plot(
            0, 2, "Posterior over S, this shot", ("spin length S", None), ("P(S | counts)", None))
        self.posterior = self.posterior_plot.plot(
            pen=pg.mkPen(_TC, width=2), fillLevel=0, brush=(*_TC, 60), name="posterior")
        self.truth = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(_TRUTH, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
            label="true S (simulated)", labelOpts={"position": 0.9, "color": _TRUTH})
        self.posterior_plot.addItem(self.truth)
        self.truth.hide()

        self.arrival_plot = self._plot(
            0, 3, _NO_TAGS_TITLE, ("arrival time after pulse start", "s"),
            ("photons", None))
        self.arrivals = self.arrival_plot.plot(
            stepMode="center", fillLevel=0, brush=(*_GREY, 120), pen=pg.mkPen(_GREY))

        self.pmax_plot = self._plot(
            1, 0, "Max posterior probability, this shot", ("pulse number", None), ("pmax", None))
        self.pmax = _long_curve(self.pmax_plot, pen=pg.mkPen(_TC, width=2), name="pmax")
        self.pmax_plot.setYRange(0.0, 1.05)
        self.threshold = pg.InfiniteLine(
            angle=0, pen=pg.mkPen(_GREY, style=pg.QtCore.Qt.PenStyle.DotLine),
            label="stop threshold", labelOpts={"position": 0.15, "color": _GREY})
        self.pmax_plot.addItem(self.threshold)

        self.qfi_plot = self._plot(
            1, 1, "Quantum Fisher information, this shot", ("pulse number", None),
            ("F / N²", None))
        self.qfi = _long_curve(self.qfi_plot, pen=pg.mkPen(_TC, width=2), name="F(ρ)/N², herald")
        self.qfi_ideal = _long_curve(
            self.qfi_plot, pen=pg.mkPen(_ANTI_TC, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
            name="F_ideal/N² = Σ p_S F_S/N²")

        self.herald_plot = self._plot(
            1, 2, "Heralded S over shots", ("heralded spin length S_MAP", None),
            ("fraction of shots", None))
        self.herald_bars = pg.BarGraphItem(x=[], height=[], width=1.6, brush=(*_TC, 150),
                                           pen=None, name="heralded")
        self.herald_plot.addItem(self.herald_bars)
        self.prior = self.herald_plot.plot(
            pen=pg.mkPen(_TRUTH, width=2), name="prior |c_S|²")

        self.switch_plot = self._plot(
            1, 3, "Switches per shot", ("shot number", None), ("polarisation switches", None))
        self.switches = _long_curve(
            self.switch_plot, pen=pg.mkPen((*_GREY, 120)), symbol="o", symbolSize=4,
            symbolPen=None, symbolBrush=_ANTI_TC, name="switches = pulses − 1")

    def reset(self, config: Config) -> None:
        """Forget the history and prepare the plots for a run of ``config``."""
        self._arrivals.clear()
        self._herald_s.clear()
        self._switches.clear()
        self._last_pulses = -1
        self._last_herald_shot = -1
        self._n_atoms = config.atoms.n_atoms
        self.show_policy(config)
        support_s, log_p = prior_support(self._n_atoms, _PRIOR_NATS)
        self.prior.setData(np.asarray(support_s, float), np.exp(log_p))
        self.herald_bars.setOpts(x=[], height=[])
        self.switches.setData([], [])
        self.arrivals.setData([], [])
        self.arrival_plot.setTitle(_NO_TAGS_TITLE)

    def show_policy(self, config: Config) -> None:
        """Draw the stop threshold on the pmax plot when the policy is ``pmax``."""
        self.threshold.setValue(config.policy.pmax_threshold)
        self.threshold.setVisible(config.policy.kind == "pmax")

    def _set_log_posterior(self, on: bool) -> None:
        self.posterior_plot.setLogMode(y=on)
        self.posterior.setFillLevel(None if on else 0.0)

    def show_snapshot(self, snap: EngineSnapshot) -> None:
        """Redraw everything from ``snap``."""
        self.caption.setText(f"N = {snap.n_atoms} atoms, shot {snap.shot} of {snap.shots_total}")
        self._show_counts(snap)
        self._show_posterior(snap)
        pulses = np.arange(1, len(snap.pmax_history) + 1)
        self.pmax.setData(pulses, snap.pmax_history)
        self.qfi.setData(np.arange(1, len(snap.qfi_history) + 1), snap.qfi_history)
        self.qfi_ideal.setData(
            np.arange(1, len(snap.qfi_ideal_history) + 1), snap.qfi_ideal_history)
        if snap.pulses_total != self._last_pulses and len(snap.arrival_times_s):
            self._arrivals.append(np.asarray(snap.arrival_times_s, float))
            self._show_arrivals()
        self._last_pulses = snap.pulses_total
        new = [h for h in snap.recent_heralds if h.shot > self._last_herald_shot]
        if new:
            self._add_heralds(new)

    def _show_counts(self, snap: EngineSnapshot) -> None:
        n = min(len(snap.counts), len(snap.states))
        counts = np.asarray(snap.counts[:n], float)
        pulse = np.arange(n)
        tc = np.array([state == "tc" for state in snap.states[:n]], bool)
        self.counts_tc.setData(pulse[tc], counts[tc])
        self.counts_anti.setData(pulse[~tc], counts[~tc])

    def _show_posterior(self, snap: EngineSnapshot) -> None:
        s = np.asarray(snap.posterior_s, float)
        p = np.asarray(snap.posterior_p, float)
        if self.log_posterior.isChecked():
            p = np.maximum(p, _LOG_FLOOR)
        self.posterior.setData(s, p)
        if snap.true_s is None:
            self.truth.hide()
        else:
            self.truth.setValue(snap.true_s)
            self.truth.label.setFormat(f"true S = {snap.true_s}")
            self.truth.show()

    def _show_arrivals(self) -> None:
        times_s = np.concatenate(self._arrivals)
        counts, edges = np.histogram(times_s, bins=_HIST_BINS)
        self.arrivals.setData(edges, counts)
        self.arrival_plot.setTitle(_TAGS_TITLE)

    def _add_heralds(self, heralds: list[HeraldSummary]) -> None:
        for herald in sorted(heralds, key=lambda h: h.shot):
            self._herald_s.append(herald.map_s)
            self._switches.append((herald.shot, herald.pulses - 1))
        self._last_herald_shot = max(h.shot for h in heralds)
        values, counts = np.unique(np.fromiter(self._herald_s, int), return_counts=True)
        self.herald_bars.setOpts(x=values, height=counts / counts.sum())
        shots, switches = np.array(self._switches, float).T
        self.switches.setData(shots, switches)
