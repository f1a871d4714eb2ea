"""Measure the study runner against issue 11's targets.

* Scheduling overhead per task: M near-empty tasks (one dark-count trial each) through a warm
  1-worker LocalCluster, everything included (Dask, the worker writing each task's Parquet
  file, the group commits, the client's bookkeeping): (wall time - M x task work) / M, where
  the task work is the same trials timed alone in this process. The same through the
  in-process runner is the baseline; the cluster start is reported apart, and so is the CPU
  time per task of the client, scheduler and worker processes together (what the wall time
  becomes when the machine is not shared).
* 2 workers against 1 on the policy study: the same CPU-bound tasks of a few seconds (N = 10⁴,
  η = 0.5) on two warm LocalClusters (1 and 2 single-threaded worker processes, started
  together, every worker warmed up with one trial), timed alternately so that the machine's
  load drifts over both alike. The machine is shared, and Linux shares its CPU between
  sessions (autogroup) rather than threads, so while other sessions are busy our two workers
  get about the CPU our one did: beside the wall-clock speedup (with the load average) comes the
  speedup on free cores, 2 x (busy fraction with 2 workers / with 1) x (task CPU with 1 / with
  2), where the busy fraction is task time / (workers x wall time) -- what the runner controls;
  and the machine's own ceiling at that moment: a plain CPU loop in 2 processes against 1.
* The counts-only policy grid of issue 5 (``examples/sweeps/policy_counts.toml``: N = 100,
  1000, 10000 x η = 0.3, 0.5, 0.7, 0.9, 200 trials per point): run whole on a LocalCluster of
  every core (quick: a few trials per point, projected), with the CPU time of each task and the
  projected time on 100 cores (longest-task-first scheduling of the measured tasks).
"""

from __future__ import annotations

import heapq
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from heralder.bench import BenchResult
from heralder.studies.cluster import open_client
from heralder.studies.runner import SweepOutcome, execute_task, run_sweep
from heralder.studies.sweep import Sweep, load_sweep, plan_tasks, sweep_from_dict

__all__ = ["run"]

GRID_FILE = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "policy_counts.toml"


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


def _blas_threads(client: object) -> str:
    """Return the BLAS/OpenMP thread limits the workers run with (1 each: no oversubscription)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    limits = client.run(lambda: tuple(os.environ.get(n, "unset") for n in names))
    return ", ".join(sorted({"/".join(v) for v in limits.values()}))


def _makespan(costs: list[float], cores: int) -> float:
    """Return the finishing time of ``costs`` on ``cores`` by longest-task-first scheduling."""
    loads = [0.0] * cores
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(loads, loads[0] + cost)
    return max(loads)


def _overhead(quick: bool) -> list[BenchResult]:
    tasks = 400 if quick else 2000
    sweep = _sweep("dark", tasks, 1, {"gates": [1]})
    work_s = sum(execute_task(t).elapsed_s for t in plan_tasks(sweep))
    inline = _timed(sweep, None)
    started = time.perf_counter()
    with open_client(workers=1) as client:
        start_s = time.perf_counter() - started
        _timed(_sweep("dark", 200, 1, {"gates": [2]}), client)  # imports, connections
        # CPU of this process (client and scheduler) and of the worker, whatever the load.
        cpu = time.process_time() + sum(client.run(time.process_time).values())
        dask = _timed(sweep, client)
        cpu = time.process_time() + sum(client.run(time.process_time).values()) - cpu
    per_task_ms = (dask.elapsed_s - work_s) / tasks * 1e3
    inline_ms = (inline.elapsed_s - work_s) / tasks * 1e3
    cpu_ms = cpu / tasks * 1e3
    load = os.getloadavg()[0]
    return [
        BenchResult(
            "scheduling overhead per task (1-worker LocalCluster, incl. Parquet write + commit)",
            per_task_ms, "ms/task", "<= 5 ms", per_task_ms <= 5.0, baseline=inline_ms,
            ratio=inline_ms / per_task_ms,
            details={"tasks": tasks, "task_work_ms": work_s / tasks * 1e3,
                     "wall_ms_per_task": dask.elapsed_s / tasks * 1e3,
                     "in_process_overhead_ms_per_task": inline_ms,
                     "cluster_start_s": start_s, "loadavg_1min": load}),
        # The CPU it takes depends far less on how much of the machine others leave us.
        BenchResult("scheduling overhead per task, CPU of client + scheduler + worker",
                    cpu_ms, "ms/task", "<= 5 ms", cpu_ms <= 5.0,
                    details={"task_work_ms": work_s / tasks * 1e3, "loadavg_1min": load}),
    ]


def _autogroup() -> str:
    """Return whether Linux shares the CPU per session (autogroup) rather than per thread."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        return "unknown"


#: A pure-Python CPU loop for the machine's own 2-vs-1 process ceiling; prints its wall time.
_LOOP = ("import time; t = time.perf_counter(); x = 0\n"
         "for i in range({n}): x += i * i % 7\n"
         "print(time.perf_counter() - t)")


def _machine_ceiling(quick: bool) -> float:
    """Return what two processes get done at once against one on this machine right now:
    2 x (wall of one loop alone) / (wall of two loops side by side). 2 on free cores."""
    code = _LOOP.format(n=3_000_000 if quick else 10_000_000)

    def walls(count: int) -> list[float]:
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                  text=True) for _ in range(count)]
        return [float(p.communicate(timeout=600)[0]) for p in procs]

    return 2 * walls(1)[0] / max(walls(2))


def _speedup(quick: bool) -> list[BenchResult]:
    per_task, tasks, rounds = (20, 4, 1) if quick else (40, 16, 2)
    sweep = _sweep("policy", per_task * tasks, per_task, {"n_atoms": [10000]}, {"eta": 0.5})
    runs: dict[int, list[SweepOutcome]] = {1: [], 2: []}
    loads = []
    with open_client(workers=1) as one, open_client(workers=2) as two:
        clients = {1: one, 2: two}
        for client in clients.values():
            _warm(client)
        blas = _blas_threads(two)
        ceilings = []
        for _ in range(rounds):
            ceilings.append(_machine_ceiling(quick))
            for workers, client in clients.items():
                loads.append(os.getloadavg()[0])
                runs[workers].append(_timed(sweep, client))
    ratios = [a.elapsed_s / b.elapsed_s for a, b in zip(runs[1], runs[2], strict=True)]
    speedup = statistics.median(ratios)
    wall = {w: sum(r.elapsed_s for r in rs) for w, rs in runs.items()}
    cpu = {w: sum(r.cpu_s for r in rs) for w, rs in runs.items()}
    # Busy fraction: how much of the time the runner kept every worker on a task.
    busy = {w: sum(r.busy_s for r in rs) / (w * wall[w]) for w, rs in runs.items()}
    # What the run would take on free cores: the same CPU per task, the same busy fraction.
    free = 2 * busy[2] / busy[1] * cpu[1] / cpu[2]
    details = {"wall_1_s": wall[1] / rounds, "wall_2_s": wall[2] / rounds, "speedups": ratios,
               "tasks": tasks, "task_cpu_s_mean": cpu[1] / (rounds * tasks),
               "cpu_share_1": cpu[1] / sum(r.busy_s for r in runs[1]),
               "cpu_share_2": cpu[2] / sum(r.busy_s for r in runs[2]),
               "busy_fraction_1": busy[1], "busy_fraction_2": busy[2],
               "cpu_per_task_2_over_1": cpu[2] / cpu[1], "worker_blas_threads": blas,
               "loadavg_1min": loads, "cores": os.cpu_count(), "autogroup": _autogroup(),
               "machine_2_vs_1_process_ceiling": ceilings}
    return [
        BenchResult("policy study, 2 workers vs 1 (wall-clock speedup, shared machine)",
                    speedup, "x", ">= 1.7", speedup >= 1.7, baseline=wall[1] / rounds,
                    ratio=speedup, details=details),
        BenchResult("policy study, 2 workers vs 1 on free cores (busy fraction x CPU/task)",
                    free, "x", ">= 1.7", free >= 1.7,
                    details={"busy_fraction_1": busy[1], "busy_fraction_2": busy[2],
                             "cpu_per_task_2_over_1": cpu[2] / cpu[1]}),
    ]


def _grid_sample(grid: Sweep, sample: int = 5) -> dict[tuple[int, float], float]:
    """Return the CPU seconds per trial at each point of ``grid`` (``sample`` trials each)."""
    axes = {"n_atoms": sorted({p.params.n_atoms for p in grid.points}),
            "eta": sorted({p.params.eta for p in grid.points})}
    sweep = _sweep("policy", sample, sample, axes,
                   {"times": False, "cap": grid.points[0].params.cap})
    with open_client(workers=None) as client:
        _warm(client)
        outcomes = client.gather(client.map(execute_task, plan_tasks(sweep), pure=False))
    return {(o.task.params.n_atoms, o.task.params.eta): o.cpu_s / o.task.n_trials
            for o in outcomes}


def _grid(quick: bool) -> list[BenchResult]:
    sweep = load_sweep(GRID_FILE)
    cores = os.cpu_count() or 1
    details: dict[str, object] = {"cores": cores}
    if quick:  # project from a few trials per point
        per_trial = _grid_sample(sweep)
        costs = [per_trial[(t.params.n_atoms, t.params.eta)] * t.n_trials
                 for t in plan_tasks(sweep)]
        here_min = _makespan(costs, cores) / 60
        label = "projected"
    else:  # the whole study
        started = time.perf_counter()
        with open_client(workers=None) as client:
            details["cluster_start_s"] = time.perf_counter() - started
            outcome = _timed(sweep, client)
        costs = list(outcome.task_cpu_s.values())
        here_min = outcome.elapsed_s / 60
        label = "measured"
        details.update({"failed": len(outcome.failures), "task_wall_s_mean":
                        outcome.busy_s / len(costs), "loadavg_1min": os.getloadavg()[0]})
    total_s = sum(costs)
    details.update({"tasks": len(costs), "task_cpu_s_mean": total_s / len(costs),
                    "task_cpu_s_max": max(costs), "total_cpu_min": total_s / 60})
    return [
        BenchResult(f"counts-only policy grid, 200 trials/point, {label} on {cores} cores",
                    here_min, "min", "< 15 min", here_min < 15.0, details=details),
        BenchResult("counts-only policy grid, projected on 100 cores (these tasks)",
                    _makespan(costs, 100) / 60, "min",
                    details={"tasks": len(costs), "cpu_bound_if_split_finer_min":
                             total_s / 100 / 60}),
    ]


def run(quick: bool) -> list[BenchResult]:
    """Return the overhead, speedup and policy-grid figures."""
    return [*_overhead(quick), *_speedup(quick), *_grid(quick)]
