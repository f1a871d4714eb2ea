"""Measure the virtual lab: counts-only pulses/s, photons/s with times and full detector, memory.

Targets (issue 6): counts-only >= 1e5 pulses/s at N = 1e4 (S ≈ 100) on one core; with arrival
times and the full detector >= 1e7 photons/s; memory flat over a 1e6-pulse run. The baseline is
a naive exact simulation of the same physics, one photon at a time in Python, in the same run.
Shots are 100 pulses of alternating polarisation (a hardware-clocked pattern, streamed mode; a
shot at N = 1e4 takes ~100 pulses, notes estimator §5) at the ``paper`` preset with the gate of
:func:`heralder.physics.cavity.recommended_gate_s`; 20-pulse shots are reported in the details.
Rates are per CPU second of this process (one core: the machine is shared, so wall-clock rates,
also recorded, vary with the load).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from heralder.bench import BenchResult
from heralder.config import AtomsConfig, LabConfig
from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.estimation.detector import DetectorModel
from heralder.physics import cascade_rates
from heralder.physics.cavity import cascade_gammas_per_s, recommended_gate_s
from heralder.simulators.lab import VirtualLab

N_ATOMS = 10_000
PULSES_PER_SHOT = 100
ATOMS = AtomsConfig(n_atoms=N_ATOMS)
GATE_S = recommended_gate_s(ATOMS)
COUNTS_ONLY = DetectorModel(eta=0.5, dark_counts_per_gate=0.01, afterpulse_prob=0.01,
                            gate_s=GATE_S)
FULL = DetectorModel(eta=0.5, dark_counts_per_gate=0.01, afterpulse_prob=0.01, gate_s=GATE_S,
                     dead_time_s=22e-9)
FULL_LAB = LabConfig(jitter_s=50e-12, afterpulse_delay_s=50e-9)


def _lab(detector: DetectorModel, times: bool, lab: LabConfig | None = None) -> VirtualLab:
    return VirtualLab(ATOMS, detector, SimClock(), 2026, lab=lab, times=times,
                      pulse_period_s=GATE_S + 20e-6)


def _shots(lab: VirtualLab, n_shots: int, pulses: int = PULSES_PER_SHOT) -> tuple[int, int]:
    """Run ``n_shots`` streamed shots; return (pulses, emitted photons)."""
    photons = 0
    for _ in range(n_shots):
        lab.new_shot()
        lab.switch.arm_pattern([SwitchState.TC, SwitchState.ANTI_TC])
        photons += int(lab.fire_pulses(pulses).emitted.sum())
    return n_shots * pulses, photons


def _naive_shot(rng: np.random.Generator, S: int, gamma: float, det: DetectorModel) -> int:
    """Simulate one shot photon by photon in Python (exact, slow); return the photons."""
    photons = 0
    for pulse in range(PULSES_PER_SHOT):
        rates = cascade_rates(S, min(pulse, 1)) * gamma
        t, blind_until, clicks = 0.0, -1.0, 0
        for rate in rates:
            t += rng.exponential(1.0 / rate)
            if t < det.gate_s and rng.random() < det.eta and t >= blind_until:
                clicks += 1
                blind_until = t + det.dead_time_s
                clicks += int(rng.random() < det.afterpulse_prob)
            photons += 1
        clicks += rng.poisson(det.dark_counts_per_gate)
    return photons


def _naive_rate(n_shots: int) -> tuple[float, float]:
    """Return (pulses/s, photons/s) of the naive simulation at the prior's typical S."""
    rng = np.random.default_rng(1)
    gamma = cascade_gammas_per_s(ATOMS)[0]
    S = int(np.sqrt(N_ATOMS))
    started = time.process_time()
    photons = sum(_naive_shot(rng, S, gamma, FULL) for _ in range(n_shots))
    elapsed = time.process_time() - started
    return n_shots * PULSES_PER_SHOT / elapsed, photons / elapsed


def _rate(lab: VirtualLab, n_shots: int, pulses: int = PULSES_PER_SHOT
          ) -> tuple[float, float, float]:
    """Return (pulses per CPU second, photons per CPU second, pulses per wall second)."""
    started, wall = time.process_time(), time.perf_counter()
    n_pulses, photons = _shots(lab, n_shots, pulses)
    elapsed = time.process_time() - started
    return n_pulses / elapsed, photons / elapsed, n_pulses / (time.perf_counter() - wall)


def _memory_growth(lab: VirtualLab, n_pulses: int, block: int, keep: bool) -> tuple[float, float]:
    """Return (traced bytes growth from 10% to 100% of the run, seconds) over ``n_pulses``."""
    kept = []
    lab.switch.arm_pattern([SwitchState.TC, SwitchState.ANTI_TC])
    n_blocks = n_pulses // block
    tracemalloc.start()
    started = time.perf_counter()
    early = 0
    for i in range(n_blocks):
        if i % (1000 // PULSES_PER_SHOT) == 0:
            lab.new_shot()
        result = lab.fire_pulses(block)
        if keep:
            kept.append(result)
        if i == n_blocks // 10:
            early = tracemalloc.get_traced_memory()[0]
    late = tracemalloc.get_traced_memory()[0]
    elapsed = time.perf_counter() - started
    tracemalloc.stop()
    return float(late - early), elapsed


def run(quick: bool) -> list[BenchResult]:
    """Return the virtual lab's throughput and memory figures with their naive baselines."""
    warm = 50 if quick else 3000  # fills the per-S caches a long run has filled anyway
    n_shots = 100 if quick else 1500
    naive_pulses_s, naive_photons_s = _naive_rate(1 if quick else 4)

    counts_lab = _lab(COUNTS_ONLY, times=False)
    _shots(counts_lab, warm, 20)
    counts_pulses_s, _, counts_wall = _rate(counts_lab, n_shots)
    short_pulses_s, _, _ = _rate(counts_lab, n_shots, 20)
    full_lab = _lab(FULL, times=True, lab=FULL_LAB)
    _shots(full_lab, warm // 20)
    full_pulses_s, full_photons_s, full_wall = _rate(full_lab, n_shots // 10)

    stepped = _lab(FULL, times=True, lab=FULL_LAB)
    stepped.new_shot()
    started = time.process_time()
    n_stepped = 500 if quick else 5000
    for i in range(n_stepped):
        stepped.switch.request(SwitchState.TC if i % 2 == 0 else SwitchState.ANTI_TC)
        stepped.clock.sleep(stepped.switch.settle_time_s)
        stepped.fire_pulse()
    stepped_pulses_s = n_stepped / (time.process_time() - started)

    n_memory = 100_000 if quick else 1_000_000
    flat_bytes, flat_s = _memory_growth(_lab(COUNTS_ONLY, times=False), n_memory, 1000, False)
    kept_bytes, _ = _memory_growth(_lab(COUNTS_ONLY, times=False), n_memory // 10, 1000, True)
    full_bytes, _ = _memory_growth(_lab(FULL, times=True, lab=FULL_LAB), n_memory // 10, 200,
                                   False)
    common = {"N": N_ATOMS, "gate_s": GATE_S, "pulses_per_shot": PULSES_PER_SHOT}
    return [
        BenchResult("naive per-photon simulation (baseline)", naive_pulses_s, "pulses/cpu-s",
                    details={"photons_per_s": naive_photons_s, **common}),
        BenchResult("counts-only, N=1e4 (eta, dark, afterpulse)", counts_pulses_s, "pulses/cpu-s",
                    target=">= 1e5 pulses/s", ok=counts_pulses_s >= 1e5,
                    baseline=naive_pulses_s, ratio=counts_pulses_s / naive_pulses_s,
                    details={"wall_pulses_per_s": counts_wall,
                             "cpu_pulses_per_s_20_pulse_shots": short_pulses_s, **common}),
        BenchResult("times + full detector (dead time, afterpulse, jitter)", full_photons_s,
                    "photons/cpu-s", target=">= 1e7 photons/s", ok=full_photons_s >= 1e7,
                    baseline=naive_photons_s, ratio=full_photons_s / naive_photons_s,
                    details={"pulses_per_s": full_pulses_s, "wall_pulses_per_s": full_wall,
                             **common}),
        BenchResult("stepped fire_pulse() one at a time, full detector", stepped_pulses_s,
                    "pulses/cpu-s", baseline=naive_pulses_s,
                    ratio=stepped_pulses_s / naive_pulses_s),
        BenchResult(f"memory growth over {n_memory:.0e} counts-only pulses", flat_bytes,
                    "bytes", target="flat (< 1 MB)", ok=flat_bytes < 1e6,
                    baseline=kept_bytes, details={"seconds": flat_s,
                                                  "baseline": "keeping every block, 1/10 run"}),
        BenchResult(f"memory growth over {n_memory // 10:.0e} pulses with times", full_bytes,
                    "bytes", target="flat (< 1 MB)", ok=full_bytes < 1e6),
    ]
