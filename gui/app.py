"""Start the Qt application: the interactive window, or one run saved as a screenshot."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PyQt6.QtCore import QEventLoop, QTimer
from PyQt6.QtWidgets import QApplication

from heralder.config import Config, config_from_dict, updated_config
from heralder.control.snapshot import EngineSnapshot
from heralder.errors import HeralderError
from heralder.gui.bridge import EngineFactory, default_engine_factory
from heralder.gui.main_window import MainWindow

__all__ = ["application", "run_window", "save_screenshot", "simulated_config"]

#: The simulated lab a fresh install runs (the same setup as ``examples/simulated.toml``).
SIMULATED_LAB = {
    "run": {"name": "simulated-lab", "seed": 2026, "shots": 200},
    "atoms": {"n_atoms": 1000, "preset": "paper"},
    # The gate is as long as the paper's slowest likely cascade needs (recommended_gate_s,
    # 3.8 ms at N = 1000), as in ``heralder demo``: a shorter one would bias heralds low.
    "detector": {"eta": 0.7, "dark_rate_hz": 500.0, "gate_s": 4e-3, "dead_time_s": 22e-9,
                 "afterpulse_prob": 0.005},
    "policy": {"kind": "voi", "min_pulses": 2, "max_pulses": 400},
    "engine": {"pulse_period_s": 5e-3, "decision_deadline_s": 1e-3},
    "devices": {
        "counter": {"driver": "virtual_counter", "address": "sim://lab"},
        "switch": {"driver": "virtual_switch", "address": "sim://lab"},
    },
}

#: Size of the window in a screenshot, pixels.
SCREENSHOT_SIZE = (1800, 1080)


def simulated_config() -> Config:
    """Return the built-in simulated-lab setup (in-process virtual devices)."""
    return config_from_dict(SIMULATED_LAB)


def application(*, headless: bool = False) -> QApplication:
    """Return the process's QApplication, creating it (offscreen when there is no display).

    Parameters
    ----------
    headless
        Render offscreen even if a display exists (screenshots).
    """
    app = QApplication.instance()
    if app is not None:
        return app
    no_display = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if (headless or no_display) and sys.platform.startswith("linux"):
        # Without this a machine without a display aborts the process (DESIGN §9).
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return QApplication(sys.argv[:1])


def run_window(config: Config, *, factory: EngineFactory = default_engine_factory) -> int:
    """Open the window on ``config`` and run the Qt event loop until it closes."""
    app = application()
    window = MainWindow(config, factory=factory)

    def report(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        # An exception in a Qt slot must not take the window (and a live run) down.
        traceback.print_exception(kind, value, tb)
        window.report("error", f"internal error: {value!r} (traceback on stderr)")

    previous, sys.excepthook = sys.excepthook, report
    try:
        window.show()
        return app.exec()
    finally:
        sys.excepthook = previous


def save_screenshot(
    config: Config, path: str | Path, *, shots: int, timeout_s: float = 600.0,
    factory: EngineFactory = default_engine_factory,
) -> EngineSnapshot:
    """Run ``shots`` shots of ``config`` in the window and save it as a PNG at ``path``.

    Returns
    -------
    EngineSnapshot
        The last snapshot of the run.

    Raises
    ------
    HeralderError
        If the run cannot start, does not end within ``timeout_s``, or the PNG cannot be written.
    ConfigError
        If ``shots`` is invalid.
    """
    app = application(headless=True)
    window = MainWindow(updated_config(config, {"run.shots": shots}), factory=factory)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    loop = QEventLoop()
    failures: list[str] = []
    window.bridge.run_ended.connect(loop.quit)
    window.bridge.start_failed.connect(failures.append)
    window.bridge.start_failed.connect(loop.quit)
    QTimer.singleShot(round(timeout_s * 1000), loop.quit)
    window.start_run()
    loop.exec()
    if failures:
        window.close()
        raise HeralderError(f"run not started: {failures[0]}")
    ended = not window.bridge.active
    while not window.plots.settled:  # the final redraw takes a few passes of the event loop
        app.processEvents()
    app.processEvents()
    saved = ended and window.grab().save(str(path), "PNG")
    window.close()
    while window.bridge.active:  # a run that timed out: let close() stop it cleanly
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    if not ended:
        raise HeralderError(f"the run did not end within {timeout_s} s")
    if not saved:
        raise HeralderError(f"cannot write the screenshot {path}")
    return window.last_snapshot
