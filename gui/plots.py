"""Draw the live plots of a run from engine snapshots (pyqtgraph).

Per shot: counts per pulse coloured by polarisation, the posterior over S with the simulated truth,
pmax and F/N² versus pulse number, photon arrival times within a pulse. Over the run: heralded S
against the prior |c_S|², and switches per shot. History lives in bounded deques; long curves are
downsampled and clipped to the view, so a refresh costs the same after 10 shots or 10⁶.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from heralder.config import Config
from heralder.control.snapshot import EngineSnapshot
from heralder.physics import prior_support

__all__ = ["LivePlots"]

_TC = (31, 119, 180)
_ANTI_TC = (255, 127, 14)
_TRUTH = (192, 57, 43)
_GREY = (110, 110, 110)
_HIST_BINS = 60
_AXIS_WIDTH_PX = 62
_AXIS_HEIGHT_PX = 42
#: An axis is re-ranged when its data fill less than this share of it, with this headroom.
_FILL_MIN = 0.25
_HEADROOM = 0.5
_TAGS_TITLE = "Photon arrival times within a pulse"
_NO_TAGS_TITLE = "Arrival times (no time tags: counter only)"
#: Prior values of S carrying less than exp(-_PRIOR_NATS) of the peak are not drawn.
_PRIOR_NATS = 12.0
#: Narrowest span of S the posterior plot shows on each side of its support's centre.
_MIN_HALF_WIDTH_S = 6.0
#: Floor of probabilities drawn on a log axis (log of 0 is undefined).
_LOG_FLOOR = 1e-300


def _fit(plot: pg.PlotItem, axis: int, lo: float, hi: float, pad_low: float = 0.0, *,
         shrink: bool = True) -> None:
    """Re-range one axis only when ``[lo, hi]`` leaves the view or fills under a quarter of it.

    An axis whose range stays put keeps its cached ticks; regenerating them is most of the cost
    of a frame, so ranges move in jumps with headroom instead of following every point. With
    ``shrink`` false the axis only grows (per-shot plots: a new shot restarts their data, and
    re-ranging on every shot would regenerate their ticks every shot); the run's final redraw
    fits them to the data.
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return
    view_lo, view_hi = plot.viewRange()[axis]
    span = hi - lo
    if span <= 0.0:  # a single value: give it room around itself
        span = 0.1 * max(abs(hi), 1.0)
    if view_lo <= lo and hi <= view_hi and (not shrink or
                                            span >= _FILL_MIN * (view_hi - view_lo)):
        return
    low, high = lo - pad_low * span, hi + _HEADROOM * span
    if axis == 0:
        plot.setXRange(low, high, padding=0.0)
    else:
        plot.setYRange(low, high, padding=0.0)


def _stems(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the segment pairs (x, 0) → (x, y) of a stem plot (for ``connect="pairs"``)."""
    return np.repeat(x, 2), np.column_stack([np.zeros_like(y), y]).ravel()


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
        pg.setConfigOptions(antialias=False, foreground="k")
        self._arrivals: deque[np.ndarray] = deque(maxlen=history_pulses)
        self._herald_s: deque[int] = deque(maxlen=history_shots)
        self._switches: deque[tuple[int, int]] = deque(maxlen=history_shots)
        self._last_pulses = -1
        self._last_herald_shot = -1
        self._n_atoms = 0
        self._prior_peak = 0.0

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
        self._tight_plots = (self.counts_plot, self.arrival_plot, self.pmax_plot, self.qfi_plot,
                             self.herald_plot, self.switch_plot)
        self._always = (self._show_counts, self._show_posterior, self._show_histories)
        self._parts = (*self._always, self._show_arrivals, self._show_heralds)
        self._stale: set = set()
        self._next_part = 0
        self._steps: deque[Callable[[], object]] = deque()
        self._step_timer = QTimer(self)
        self._step_timer.setInterval(0)
        self._step_timer.timeout.connect(self._step)
        self._frame: EngineSnapshot | None = None
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.setInterval(0)
        self._frame_timer.timeout.connect(self._draw_frame)

    def _plot(
        self, row: int, col: int, title: str, x: tuple, y: tuple, colspan: int = 1,
        legend_at: tuple[int, int] = (-10, 10),
    ) -> pg.PlotItem:
        plot = self.canvas.addPlot(row=row, col=col, colspan=colspan, title=title)
        plot.setLabel("bottom", x[0], units=x[1])
        plot.setLabel("left", y[0], units=y[1])
        for side, (_label, units) in (("bottom", x), ("left", y)):
            if units is None:  # a pure number: no "(x0.001)" scale factor on the axis
                plot.getAxis(side).enableAutoSIPrefix(False)
        # Fixed axis sizes: wider tick labels must not re-flow the grid (a full, slow redraw).
        plot.getAxis("left").setWidth(_AXIS_WIDTH_PX)
        plot.getAxis("bottom").setHeight(_AXIS_HEIGHT_PX)
        plot.addLegend(offset=legend_at, labelTextSize="8pt")
        plot.disableAutoRange()  # ranges move by _fit, in jumps (see there)
        return plot

    def _build(self) -> None:
        self.counts_plot = self._plot(
            0, 0, "Counts per pulse, this shot", ("pulse number", None), ("photon counts", None),
            colspan=2)
        # One stem per pulse, drawn as a single path of segment pairs: far cheaper to update and
        # paint than a scatter of symbols, so a frame stays short.
        self.counts_tc = self.counts_plot.plot(
            name="TC pulse (σ−)", pen=pg.mkPen(_TC, width=3), connect="pairs")
        self.counts_anti = self.counts_plot.plot(
            name="anti-TC pulse (σ+)", pen=pg.mkPen(_ANTI_TC, width=3), connect="pairs")

        self.posterior_plot = self._plot(
            0, 2, "Posterior over S, this shot", ("spin length S", None), ("P(S | counts)", None))
        self.posterior = self.posterior_plot.plot(
            stepMode="center", pen=pg.mkPen(_TC, width=2), fillLevel=0, brush=(*_TC, 90))
        self.truth = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(_TRUTH, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
            label="true S (simulated)", labelOpts={"position": 0.96, "color": _TRUTH,
                                                  "anchors": [(0, 0), (0, 0)]})
        self.posterior_plot.addItem(self.truth)
        self.truth.hide()

        self.arrival_plot = self._plot(
            0, 3, _NO_TAGS_TITLE, ("arrival time after pulse start", "s"),
            ("photons", None))
        self.arrivals = self.arrival_plot.plot(
            stepMode="center", fillLevel=0, brush=(*_GREY, 120), pen=pg.mkPen(_GREY))

        self.pmax_plot = self._plot(
            1, 0, "Max posterior probability, this shot", ("pulse number", None), ("pmax", None),
            legend_at=(-10, -10))
        self.pmax = _long_curve(self.pmax_plot, pen=pg.mkPen(_TC, width=2), name="pmax")
        self.pmax_plot.setYRange(0.0, 1.05, padding=0.0)
        self.threshold = pg.InfiniteLine(
            angle=0, pen=pg.mkPen(_GREY, style=pg.QtCore.Qt.PenStyle.DotLine),
            label="stop threshold", labelOpts={"position": 0.15, "color": _GREY})
        self.pmax_plot.addItem(self.threshold)

        self.qfi_plot = self._plot(
            1, 1, "Quantum Fisher information, this shot", ("pulse number", None),
            ("F / N²", None), legend_at=(-10, -10))
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
        self._stale.clear()
        self._steps.clear()
        self._frame = None
        self._n_atoms = config.atoms.n_atoms
        self.show_policy(config)
        support_s, log_p = prior_support(self._n_atoms, _PRIOR_NATS)
        prior_p = np.exp(log_p)
        self.prior.setData(np.asarray(support_s, float), prior_p)
        self.herald_plot.setXRange(support_s[0] - 1, support_s[-1] + 1, padding=0.0)
        self._prior_peak = float(prior_p.max())
        self.herald_plot.setYRange(0.0, 1.5 * self._prior_peak, padding=0.0)
        for plot in (self.counts_plot, self.pmax_plot, self.qfi_plot):  # they only grow in a run
            plot.setXRange(-0.5, 10.0, padding=0.0)
        self.counts_plot.setYRange(0.0, 10.0, padding=0.0)
        self.qfi_plot.setYRange(0.0, 1e-9, padding=0.0)
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
        self.posterior_plot.enableAutoRange(axis="y", enable=on)
        if not on:
            self.posterior_plot.setYRange(0.0, 1.0, padding=0.0)

    def show_snapshot(self, snap: EngineSnapshot) -> None:
        """Take in ``snap`` and redraw every plot from it at once."""
        self.ingest(snap)
        for part in self._parts:
            part(snap)

    def show_final(self, snap: EngineSnapshot) -> None:
        """Redraw every plot from a run's last snapshot with its ranges fitted to the data.

        One plot per pass of the event loop: all of them at once would stall the window for
        a whole-canvas repaint. :attr:`settled` tells when the last one is drawn.
        """
        self.ingest(snap)
        self._steps = deque([*(partial(part, snap) for part in self._parts),
                             *(partial(plot.getViewBox().autoRange, padding=0.05)
                               for plot in self._tight_plots)])
        self._step_timer.start()

    @property
    def settled(self) -> bool:
        """Return ``True`` when no redraw of :meth:`show_final` is pending."""
        return not self._steps

    def _step(self) -> None:
        if self._steps:
            self._steps.popleft()()
        if not self._steps:
            self._step_timer.stop()

    def ingest(self, snap: EngineSnapshot) -> None:
        """Keep what must not be missed between frames (photon times, heralds); cheap."""
        if snap.pulses_total != self._last_pulses and len(snap.arrival_times_s):
            self._arrivals.append(np.asarray(snap.arrival_times_s, float))
            self._stale.add(self._show_arrivals)
        self._last_pulses = snap.pulses_total
        new = [h for h in snap.recent_heralds if h.shot > self._last_herald_shot]
        if new:
            for herald in sorted(new, key=lambda h: h.shot):
                self._herald_s.append(herald.map_s)
                self._switches.append((herald.shot, herald.pulses - 1))
            self._last_herald_shot = max(h.shot for h in new)
            self._stale.add(self._show_heralds)

    def draw_soon(self, snap: EngineSnapshot) -> None:
        """Call :meth:`draw_next` with ``snap`` in a later pass of the event loop.

        The caller's pass (a snapshot's status line and log) and the plot's update then never
        add up to one long pass; of several snapshots waiting, only the latest is drawn.
        """
        self._frame = snap
        self._frame_timer.start()

    def _draw_frame(self) -> None:
        if self._frame is not None:
            snap, self._frame = self._frame, None
            self.draw_next(snap)

    def draw_next(self, snap: EngineSnapshot) -> None:
        """Redraw the next plot group that has news, round robin.

        One group per call keeps each pass of the event loop short (and its repaint small):
        the window never stalls for a whole frame.
        """
        for _ in self._parts:
            part = self._parts[self._next_part]
            self._next_part = (self._next_part + 1) % len(self._parts)
            if part in self._always or part in self._stale:
                part(snap)
                return

    def _show_histories(self, snap: EngineSnapshot) -> None:
        n = len(snap.pmax_history)
        self.pmax.setData(np.arange(1, n + 1), snap.pmax_history)
        self.qfi.setData(np.arange(1, len(snap.qfi_history) + 1), snap.qfi_history)
        self.qfi_ideal.setData(
            np.arange(1, len(snap.qfi_ideal_history) + 1), snap.qfi_ideal_history)
        _fit(self.pmax_plot, 0, 0.0, max(n, 2), shrink=False)
        _fit(self.qfi_plot, 0, 0.0, max(n, 2), shrink=False)
        if len(snap.qfi_ideal_history) or len(snap.qfi_history):
            top = np.nanmax(np.concatenate([snap.qfi_history, snap.qfi_ideal_history]))
            _fit(self.qfi_plot, 1, 0.0, float(top), shrink=False)

    def _show_counts(self, snap: EngineSnapshot) -> None:
        self.caption.setText(f"N = {snap.n_atoms} atoms, shot {snap.shot} of {snap.shots_total}")
        n = min(len(snap.counts), len(snap.states))
        counts = np.asarray(snap.counts[:n], float)
        pulse = np.arange(n)
        tc = np.array([state == "tc" for state in snap.states[:n]], bool)
        for curve, mask in ((self.counts_tc, tc), (self.counts_anti, ~tc)):
            curve.setData(*_stems(pulse[mask], counts[mask]))
        if n:
            _fit(self.counts_plot, 0, -0.5, max(n, 4) - 0.5, shrink=False)
            _fit(self.counts_plot, 1, 0.0, float(counts.max()), shrink=False)

    def _show_posterior(self, snap: EngineSnapshot) -> None:
        s = np.asarray(snap.posterior_s, float)
        p = np.asarray(snap.posterior_p, float)
        if self.log_posterior.isChecked():
            p = np.maximum(p, _LOG_FLOOR)
        if len(s) == 0:
            self.posterior.setData([], [])
        else:  # one step per S, edges halfway between neighbours
            edges = np.concatenate([[s[0] - 1.0], (s[:-1] + s[1:]) / 2.0, [s[-1] + 1.0]])
            self.posterior.setData(edges, p)
            centre = 0.5 * (edges[0] + edges[-1])
            half = max(0.5 * (edges[-1] - edges[0]), _MIN_HALF_WIDTH_S)
            _fit(self.posterior_plot, 0, centre - half, centre + half, pad_low=0.5)
            if not self.log_posterior.isChecked():
                _fit(self.posterior_plot, 1, 0.0, float(p.max()))
        if snap.true_s is None:
            self.truth.hide()
        else:
            self.truth.setValue(snap.true_s)
            self.truth.label.setFormat(f"true S = {snap.true_s}")
            self.truth.show()

    def _show_arrivals(self, _snap: EngineSnapshot | None = None) -> None:
        self._stale.discard(self._show_arrivals)
        if not self._arrivals:
            return
        times_s = np.concatenate(self._arrivals)
        counts, edges = np.histogram(times_s, bins=_HIST_BINS)
        self.arrivals.setData(edges, counts)
        _fit(self.arrival_plot, 0, 0.0, float(edges[-1]))
        _fit(self.arrival_plot, 1, 0.0, float(counts.max()))
        self.arrival_plot.setTitle(_TAGS_TITLE)

    def _show_heralds(self, _snap: EngineSnapshot | None = None) -> None:
        self._stale.discard(self._show_heralds)
        if not self._herald_s:
            return
        values, counts = np.unique(np.fromiter(self._herald_s, int), return_counts=True)
        fractions = counts / counts.sum()
        self.herald_bars.setOpts(x=values, height=fractions)
        _fit(self.herald_plot, 1, 0.0, max(float(fractions.max()), self._prior_peak))
        shots, switches = np.array(self._switches, float).T
        self.switches.setData(shots, switches)
        _fit(self.switch_plot, 0, float(shots[0]), float(shots[-1]))
        _fit(self.switch_plot, 1, 0.0, float(switches.max()))
