"""Measure the engine's throughput with the lab window attached against headless, and stalls.

The same simulated-lab run (same seed, same shots) goes through the real engine four ways:

* **headless in a fresh process** (the throughput baseline): ``heralder run``'s engine in a new
  interpreter, warmed as the GUI's engine process warms itself before it reports "started";
* **headless in this process**, after a warm-up run here (the baseline of earlier sessions, a
  process state no user's run has): reported beside the target, not used for it;
* in the GUI's child process under a **bare Qt event loop** without a window (the stall floor:
  what the machine alone costs the GUI thread; its throughput tells the process's own cost from
  the window's);
* in the child process **with the window attached** (as ``heralder gui`` runs it).

Throughput is wall-clock pulses per second from the engine's start to its end (for the child: from
its "started" message, so the one-off process start-up, reported on its own, is not counted);
stalls are gaps between ticks of a 5 ms QTimer. This machine's speed drifts by ±15 % between
identical back-to-back runs, so ratios are taken per round (against the baseline run of the same
round), rounds alternate their order (which cancels a linear drift), and a figure is the median of
the per-round ratios. Only the first rounds run all four ways; the rest run the two the target
compares, so that enough rounds fit in a few minutes.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from PyQt6.QtCore import QEventLoop, QTimer

from heralder.bench import BenchResult, compare
from heralder.config import Config, dump_config, updated_config
from heralder.control.engine import Engine
from heralder.control.run_cmd import run_clock
from heralder.gui.app import SCREENSHOT_SIZE, application, simulated_config
from heralder.gui.bridge import SIMULATED_LAB_WARM_UP, default_engine_factory
from heralder.gui.main_window import MainWindow
from heralder.gui.timing import StallMeter

_TIMEOUT_S = 600.0
_MODES = ("fresh", "warm", "bare", "window")  # one round's order; every other round reversed
#: Rounds that also run the two reference modes (warm headless, bare loop); the others run only
#: the pair the target compares, so that many rounds fit: one round's ratio varies by ±15–20 %.
_FULL_ROUNDS = 4
_STALL_LIMIT_S = 0.050
#: ``heralder run``'s engine in a fresh interpreter, warmed as the engine process warms itself
#: before it reports "started" (simulated lab and estimator kernels); prints its pulses/s.
_FRESH_HEADLESS = """
import sys, time
from heralder.config import load_config
from heralder.control.engine_process import warm_engine
engine = warm_engine(load_config(sys.argv[1]), sys.argv[3])
start = time.perf_counter()
engine.start()
if not engine.join(float(sys.argv[2])):
    engine.stop()
    sys.exit("headless run did not end")
print(engine.snapshot().pulses_total / (time.perf_counter() - start))
"""


def _headless(config: Config) -> float:
    engine = Engine(config, clock=run_clock(config))
    start = time.perf_counter()
    engine.start()
    if not engine.join(_TIMEOUT_S):
        engine.stop()
        raise RuntimeError("headless run did not end")
    return engine.snapshot().pulses_total / (time.perf_counter() - start)


def _fresh_headless(config: Config, root: str) -> float:
    """Run the engine headless in a fresh process, as ``heralder run`` does; return pulses/s."""
    path = os.path.join(root, "fresh.toml")
    with open(path, "w", encoding="utf-8") as file:
        file.write(dump_config(config))
    done = subprocess.run([sys.executable, "-c", _FRESH_HEADLESS, path, str(_TIMEOUT_S),
                           SIMULATED_LAB_WARM_UP],
                          capture_output=True, text=True, timeout=_TIMEOUT_S + 60, check=True)
    return float(done.stdout.split()[-1])


def _bare_loop(config: Config) -> tuple[float, StallMeter]:
    """Run the engine process under a bare Qt loop; return its pulses/s and the loop's stalls."""
    engine = default_engine_factory(config)
    meter = StallMeter()
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: engine.join(0.0) and loop.quit())
    engine.start()  # returns once the child says "started", as the window's rounds time it
    start = time.perf_counter()
    meter.start()
    poll.start(40)
    loop.exec()
    meter.stop()
    # the 40 ms poll quantises the end: fine for runs of a second or more
    return engine.snapshot().pulses_total / (time.perf_counter() - start), meter


def _with_gui(config: Config) -> tuple[float, StallMeter, int, float]:
    app = application(headless=True)
    window = MainWindow(config)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    app.processEvents()
    meter = StallMeter()
    loop = QEventLoop()
    started: list[float] = []
    window.bridge.started.connect(lambda: started.append(time.perf_counter()))
    window.bridge.run_ended.connect(loop.quit)
    QTimer.singleShot(round(_TIMEOUT_S * 1000), loop.quit)
    meter.start()
    clicked = time.perf_counter()
    window.start_run()
    loop.exec()
    elapsed_s = time.perf_counter() - started[0]
    meter.stop()
    if window.bridge.active:
        raise RuntimeError("run with the GUI did not end")
    pulses, frames = window.last_snapshot.pulses_total, window.pacer.frames
    window.close()
    window.deleteLater()
    QTimer.singleShot(0, loop.quit)  # deferred deletions run in an event loop, not processEvents
    loop.exec()
    return pulses / elapsed_s, meter, frames, started[0] - clicked


def run(quick: bool) -> list[BenchResult]:
    """Return headless and GUI-attached pulses/s, their ratio, and event-loop stalls."""
    shots, rounds = (40, 1) if quick else (400, 16)
    rates: dict[str, list[float]] = {mode: [] for mode in _MODES}
    floors: list[StallMeter] = []
    meters: list[StallMeter] = []
    frames: list[int] = []
    startups: list[float] = []
    app = application(headless=True)  # kept referenced: the bare-loop rounds need it alive
    with tempfile.TemporaryDirectory() as root:
        config = updated_config(simulated_config(), {"run.shots": shots, "storage.root": root})
        _headless(updated_config(config, {"run.shots": 2}))  # warm-up: imports, compilation
        for index in range(rounds):
            modes = _MODES if index < _FULL_ROUNDS else ("fresh", "window")
            for mode in modes if index % 2 == 0 else reversed(modes):
                gc.collect()  # a previous run's garbage must not be collected inside this one
                if mode == "fresh":
                    rates[mode].append(_fresh_headless(config, root))
                elif mode == "warm":
                    rates[mode].append(_headless(config))
                elif mode == "bare":
                    process_rate, floor = _bare_loop(config)
                    rates[mode].append(process_rate)
                    floors.append(floor)
                else:
                    rate, meter, drawn, startup_s = _with_gui(config)
                    rates[mode].append(rate)
                    meters.append(meter)
                    frames.append(drawn)
                    startups.append(startup_s)
    median = {mode: statistics.median(values) for mode, values in rates.items()}

    def per_round(mode: str, base: str) -> list[float]:
        """Return mode / base in each round that ran both (the first rounds run every mode)."""
        n = min(len(rates[mode]), len(rates[base]))
        return [round(a / b, 3) for a, b in zip(rates[mode][:n], rates[base][:n], strict=True)]

    window_ratios = per_round("window", "fresh")
    ratio = statistics.median(window_ratios)
    spread = (statistics.stdev(window_ratios) / math.sqrt(len(window_ratios))
              if len(window_ratios) > 1 else math.nan)
    details = {"shots": shots, "rounds": rounds, "pulses_per_s": rates,
               "window_over_fresh_per_round": window_ratios,
               "plot_updates": frames, "load_avg_1min": os.getloadavg()[0]}

    def stalls(group: list[StallMeter]) -> dict[str, object]:
        return {"max_ms": [round(m.max_gap_s * 1e3, 1) for m in group],
                "gui_cpu_in_max_ms": [round(m.busy_in_worst_gap_s() * 1e3, 1) for m in group],
                "max_gui_cpu_per_gap_ms": [round(m.max_busy_s * 1e3, 1) for m in group],
                "p99_ms": [round(m.percentile_s(99) * 1e3, 1) for m in group],
                "over_50ms": [m.count_over(_STALL_LIMIT_S) for m in group],
                "ticks": [m.ticks for m in group]}

    worst_gui = max(m.max_gap_s for m in meters)
    worst_floor = max(m.max_gap_s for m in floors)
    app.processEvents()
    return [
        BenchResult("engine headless, fresh process as heralder run (baseline)",
                    median["fresh"], "pulses/s", details=details),
        BenchResult("engine with the GUI attached", median["window"], "pulses/s",
                    baseline=median["fresh"],
                    ratio=compare(median["window"], median["fresh"], higher_is_better=True)),
        BenchResult("with the GUI / fresh headless, median of per-round ratios", ratio, "",
                    target="≥ 0.9", ok=ratio >= 0.9,
                    details={"per_round": window_ratios,
                             "mean": round(statistics.mean(window_ratios), 3),
                             "standard_error_of_mean": round(spread, 3)}),
        BenchResult("with the GUI / headless warm in this process, median per round",
                    statistics.median(per_round("window", "warm")), "",
                    details={"per_round": per_round("window", "warm")}),
        BenchResult("fresh headless / headless warm in this process, median per round",
                    statistics.median(per_round("fresh", "warm")), "",
                    details={"per_round": per_round("fresh", "warm")}),
        BenchResult("engine process under a bare Qt loop / fresh headless, median per round",
                    statistics.median(per_round("bare", "fresh")), "",
                    details={"per_round": per_round("bare", "fresh")}),
        BenchResult("event loop worst stall, engine + bare Qt loop (floor)", worst_floor * 1e3,
                    "ms", details=stalls(floors)),
        BenchResult("event loop worst stall, engine + window", worst_gui * 1e3, "ms",
                    target="≤ 50 ms", ok=worst_gui <= _STALL_LIMIT_S,
                    baseline=worst_floor * 1e3, details=stalls(meters)),
        BenchResult("event loop worst stall, engine + window, median round",
                    statistics.median(m.max_gap_s for m in meters) * 1e3, "ms",
                    target="≤ 50 ms",
                    ok=statistics.median(m.max_gap_s for m in meters) <= _STALL_LIMIT_S),
        BenchResult("engine process start-up (click to running, once per run)",
                    statistics.median(startups), "s", details={"startup_s": startups}),
        BenchResult("event loop p99 gap, engine + window",
                    max(m.percentile_s(99) for m in meters) * 1e3, "ms", target="≤ 50 ms",
                    ok=max(m.percentile_s(99) for m in meters) <= _STALL_LIMIT_S),
    ]
