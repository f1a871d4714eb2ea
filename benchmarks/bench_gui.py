"""Measure the engine's throughput with the lab window attached against headless, and stalls.

The same simulated-lab run (same seed, same shots) goes through the real engine three ways, in
alternating rounds so machine load hits all alike: headless (the throughput baseline: the engine
thread in this process, as ``heralder run`` uses it), in its child process under a bare Qt event
loop without a window (the stall floor: what the machine alone costs the GUI thread; its
throughput tells the process's own cost from the window's), and in its
child process with the window attached (as ``heralder gui`` runs it). Throughput is wall-clock
pulses per second from the engine's start to its end (for the child: from its "started" message,
so the one-off process start-up, reported on its own, is not counted); stalls are gaps between
ticks of a 5 ms QTimer.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time

from PyQt6.QtCore import QEventLoop, QTimer

from heralder.bench import BenchResult, compare
from heralder.config import Config, updated_config
from heralder.control.engine import Engine
from heralder.control.run_cmd import run_clock
from heralder.gui.app import SCREENSHOT_SIZE, application, simulated_config
from heralder.gui.bridge import default_engine_factory
from heralder.gui.main_window import MainWindow
from heralder.gui.timing import StallMeter

_TIMEOUT_S = 600.0
_STALL_LIMIT_S = 0.050


def _headless(config: Config) -> float:
    engine = Engine(config, clock=run_clock(config))
    start = time.perf_counter()
    engine.start()
    if not engine.join(_TIMEOUT_S):
        engine.stop()
        raise RuntimeError("headless run did not end")
    return engine.snapshot().pulses_total / (time.perf_counter() - start)


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
    shots, rounds = (40, 1) if quick else (400, 5)
    headless: list[float] = []
    attached: list[float] = []
    process: list[float] = []  # the engine process without a window: the process's own cost
    floors: list[StallMeter] = []
    meters: list[StallMeter] = []
    frames: list[int] = []
    startups: list[float] = []
    app = application(headless=True)  # kept referenced: the bare-loop rounds need it alive
    with tempfile.TemporaryDirectory() as root:
        config = updated_config(simulated_config(), {"run.shots": shots, "storage.root": root})
        _headless(updated_config(config, {"run.shots": 2}))  # warm-up: imports, compilation
        for _ in range(rounds):
            gc.collect()  # a previous round's garbage must not be collected inside this one
            headless.append(_headless(config))
            gc.collect()
            process_rate, floor = _bare_loop(config)
            process.append(process_rate)
            floors.append(floor)
            gc.collect()
            rate, meter, drawn, startup_s = _with_gui(config)
            attached.append(rate)
            meters.append(meter)
            frames.append(drawn)
            startups.append(startup_s)
    base, ours = statistics.median(headless), statistics.median(attached)
    details = {"shots": shots, "rounds": rounds, "headless": headless, "attached": attached,
               "process_no_window": process,
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
        BenchResult("engine headless (baseline)", base, "pulses/s", details=details),
        BenchResult("engine with the GUI attached", ours, "pulses/s", target="≥ 0.9 × headless",
                    ok=ours >= 0.9 * base, baseline=base,
                    ratio=compare(ours, base, higher_is_better=True), details=details),
        BenchResult("engine process under a bare Qt loop (no window)",
                    statistics.median(process), "pulses/s", baseline=base,
                    ratio=compare(statistics.median(process), base, higher_is_better=True)),
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
