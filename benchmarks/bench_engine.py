"""Measure the engine: sustained pulses/s and decision latency, in-process and over emulators.

Baseline (same run): the bare device loop, i.e. set the switch, arm, read one gate, for the same
number of pulses with no estimator, policy or storage: the ceiling the devices allow.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from heralder.bench import BenchResult, compare
from heralder.config import Config, config_from_dict, updated_config
from heralder.control.clock import SimClock
from heralder.control.demo import demo_config
from heralder.control.engine import Engine
from heralder.control.records import SwitchState
from heralder.registry import DeviceContext, build_devices


def _in_process(root: str, shots: int) -> Config:
    return config_from_dict({
        "run": {"seed": 1, "shots": shots},
        "atoms": {"n_atoms": 100},
        "detector": {"eta": 0.7, "dark_rate_hz": 200.0, "gate_s": 4e-3},
        "policy": {"kind": "pmax", "pmax_threshold": 0.99, "max_pulses": 100},
        "engine": {"pulse_period_s": 5e-3, "qfi_every_pulse": False},
        "devices": {"counter": {"driver": "virtual_counter", "address": "sim://lab"},
                    "switch": {"driver": "virtual_switch", "address": "sim://lab"}},
        "storage": {"root": root}})


def _engine_run(config: Config) -> tuple[float, np.ndarray, int]:
    """Return (pulses/s wall, latencies, pulses) of a full engine run."""
    engine = Engine(config, clock=SimClock())
    start = time.perf_counter()
    engine.start()
    engine.wait_ready()
    engine.join(3600)
    elapsed = time.perf_counter() - start
    pulses = sum(h.pulses for h in engine.heralds)
    return pulses / elapsed, np.asarray(engine.latencies_s), pulses


def _bare_loop(config: Config, pulses: int) -> float:
    """Return pulses/s of the device loop alone (switch, arm, read)."""
    context = DeviceContext(clock=SimClock(), seed=1, config=config)
    devices = build_devices(config, context)
    for device in devices.values():
        device.open()
    lab = context.shared.get("lab")
    switch, counter = devices["switch"], devices["counter"]
    state = SwitchState.TC
    start = time.perf_counter()
    for k in range(pulses):
        if k % 20 == 0 and lab is not None:
            lab.new_shot()
        switch.set_state(state, 1.0)
        counter.arm(1)
        counter.read(1.0)
        state = state.other()
    elapsed = time.perf_counter() - start
    for device in devices.values():
        device.close()
    return pulses / elapsed


def _results(label: str, config: Config, target: bool) -> list[BenchResult]:
    _bare_loop(config, 50)  # warm-up: compiled kernels of the lab
    _engine_run(updated_config(config, {"run.shots": 2}))
    rate, lat, pulses = _engine_run(config)
    bare = _bare_loop(config, min(pulses, 3000))
    p50, p99 = (float(np.percentile(lat, q)) for q in (50, 99))
    return [
        BenchResult(f"{label}: bare device loop (baseline)", bare, "pulses/s"),
        BenchResult(f"{label}: engine sustained", rate, "pulses/s",
                    target=">= 20000 pulses/s" if target else "", ok=rate >= 2e4 if target
                    else None, baseline=bare, ratio=compare(rate, bare, higher_is_better=True),
                    details={"pulses": pulses}),
        BenchResult(f"{label}: decision latency p50", p50 * 1e6, "µs"),
        BenchResult(f"{label}: decision latency p99", p99 * 1e6, "µs",
                    target="<= 1000 µs" if target else "", ok=p99 <= 1e-3 if target else None),
    ]


def run(quick: bool) -> list[BenchResult]:
    """Return engine throughput and latency in-process and over the sim:// emulators."""
    with tempfile.TemporaryDirectory() as root:
        results = _results("in-process N=100 pmax", _in_process(root, 30 if quick else 400),
                           target=True)
        demo = demo_config()
        demo["run"]["shots"] = 5 if quick else 40
        demo["storage"]["root"] = root
        results += _results("sr400+lcc25 over sim:// N=1000 voi", config_from_dict(demo),
                            target=False)
    return results
