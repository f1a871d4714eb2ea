"""Measure the study runner against issue 11's targets.

* Scheduling overhead per task: wall time per near-empty task through a 1-worker LocalCluster
  (submit, run, return, write its Parquet file), against the same tasks in-process.
* 2 workers against 1 on the policy study (same sweep, workers warmed up first). The machine is
  shared, so beside the wall-clock speedup the details give the CPU share each task got
  (task CPU / task wall) and the runner's own efficiency (task wall / (workers x wall)); the
  "CPU-normalised" speedup is 2 x efficiency(2) / efficiency(1), what two free cores would give,
  and the "share-corrected" one is the wall speedup x share(1) / share(2).
* The counts-only policy grid of issue 5 (N = 100, 1000, 10000 x η = 0.3, 0.5, 0.7, 0.9) at
  200 trials per point: a few trials per point are timed (CPU seconds per trial) and the full
  run is projected onto this machine's cores and onto 100 cores by longest-task-first
  scheduling of its tasks.
"""

from __future__ import annotations

import heapq
import os
import tempfile
import time
from pathlib import Path

from heralder.bench import BenchResult
from heralder.studies.cluster import open_client
from heralder.studies.policy import KIND as POLICY
from heralder.studies.runner import SweepOutcome, execute_task, run_sweep
from heralder.studies.sweep import Sweep, plan_tasks, sweep_from_dict

__all__ = ["run"]

GRID_N = (100, 1000, 10000)
GRID_ETA = (0.3, 0.5, 0.7, 0.9)
GRID_TRIALS = 200


def _sweep(kind: str, trials: int, per_task: int, grid: dict, params: dict | None = None,
           ) -> Sweep:
    return sweep_from_dict({"study": {"kind": kind, "trials": trials, "seed": 1,
                                      "trials_per_task": per_task},
                            "params": params or {}, "grid": grid})


def _timed(sweep: Sweep, client: object) -> SweepOutcome:
    with tempfile.TemporaryDirectory() as out:
        return run_sweep(sweep, Path(out), client=client, progress=False)


def _warm(client: object) -> None:
    """Run one policy trial on every worker (imports, compiled kernels) before timing."""
    task = plan_tasks(_sweep("policy", 1, 1, {"n_atoms": [1000]}, {"cap": 60}))[0]
    client.run(execute_task, task)


def _makespan(costs: list[float], cores: int) -> float:
    """Return the finishing time of ``costs`` on ``cores`` by longest-task-first scheduling."""
    loads = [0.0] * cores
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(loads, loads[0] + cost)
    return max(loads)


def _overhead(quick: bool) -> BenchResult:
    tasks = 100 if quick else 400
    sweep = _sweep("dark", tasks, 1, {"gates": [1]})
    inline = _timed(sweep, None)
    with open_client(workers=1) as client:
        _timed(_sweep("dark", 20, 1, {"gates": [2]}), client)  # warm the connection
        # CPU of this process (client and scheduler) and of the worker, whatever the load.
        cpu = time.process_time() + sum(client.run(time.process_time).values())
        dask = _timed(sweep, client)
        cpu = time.process_time() + sum(client.run(time.process_time).values()) - cpu
    per_task_ms = dask.elapsed_s / tasks * 1e3
    inline_ms = inline.elapsed_s / tasks * 1e3
    return BenchResult(
        "scheduling overhead per task (1-worker LocalCluster, incl. Parquet write)",
        per_task_ms, "ms/task", "<= 5 ms", per_task_ms <= 5.0, baseline=inline_ms,
        ratio=inline_ms / per_task_ms,
        details={"tasks": tasks, "task_compute_ms": dask.busy_s / tasks * 1e3,
                 "in_process_ms_per_task": inline_ms,
                 "cpu_ms_per_task_all_processes": cpu / tasks * 1e3,
                 "loadavg_1min": os.getloadavg()[0]})


def _speedup(quick: bool) -> BenchResult:
    trials = 20 if quick else 100
    sweep = _sweep("policy", trials, 10, {"n_atoms": [10000], "eta": [0.3, 0.5]})
    runs = {}
    for workers in (1, 2):
        with open_client(workers=workers) as client:
            _warm(client)
            runs[workers] = _timed(sweep, client)
    one, two = runs[1], runs[2]
    speedup = one.elapsed_s / two.elapsed_s
    efficiency = {w: r.busy_s / (w * r.elapsed_s) for w, r in runs.items()}
    share = {w: r.cpu_s / r.busy_s for w, r in runs.items()}
    return BenchResult(
        "policy study, 2 workers vs 1 (wall-clock speedup)", speedup, "x", ">= 1.7",
        speedup >= 1.7, baseline=one.elapsed_s, ratio=speedup,
        details={"wall_1_s": one.elapsed_s, "wall_2_s": two.elapsed_s,
                 "trials": 2 * trials, "tasks": len(plan_tasks(sweep)),
                 "cpu_share_1": share[1], "cpu_share_2": share[2],
                 "runner_efficiency_1": efficiency[1], "runner_efficiency_2": efficiency[2],
                 "cpu_normalised_speedup": 2 * efficiency[2] / efficiency[1],
                 "share_corrected_speedup": speedup * share[1] / share[2],
                 "loadavg_1min": os.getloadavg()[0]})


def _grid(quick: bool) -> list[BenchResult]:
    sample = 5 if quick else POLICY.trials_per_task
    sweep = _sweep("policy", sample, sample, {"n_atoms": list(GRID_N), "eta": list(GRID_ETA)})
    with open_client(workers=None) as client:
        _warm(client)
        outcomes = client.gather(client.map(execute_task, plan_tasks(sweep), pure=False))
    per_trial = {(o.task.params.n_atoms, o.task.params.eta): o.cpu_s / o.task.n_trials
                 for o in outcomes}
    per_task = POLICY.trials_per_task
    costs = [c * per_task for c in per_trial.values() for _ in range(GRID_TRIALS // per_task)]
    cores = os.cpu_count() or 1
    here_min = _makespan(costs, cores) / 60
    details = {f"cpu_s_per_trial N={n} eta={eta}": c for (n, eta), c in per_trial.items()}
    details.update({"sampled_trials_per_point": sample, "tasks": len(costs),
                    "task_cpu_s_mean": sum(costs) / len(costs), "total_cpu_min": sum(costs) / 60,
                    "cores": cores})
    return [
        BenchResult(f"counts-only policy grid, {GRID_TRIALS} trials/point, projected on "
                    f"{cores} cores", here_min, "min", "< 15 min", here_min < 15.0,
                    details=details),
        BenchResult("counts-only policy grid, projected on 100 cores",
                    _makespan(costs, 100) / 60, "min", details={"tasks": len(costs)}),
    ]


def run(quick: bool) -> list[BenchResult]:
    """Return the overhead, speedup and policy-grid figures."""
    return [_overhead(quick), _speedup(quick), *_grid(quick)]
