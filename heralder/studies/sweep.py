"""Declare a sweep in TOML and split it into seeded tasks.

A sweep file::

    [study]
    kind = "policy"          # a name of heralder.studies.kinds.KINDS
    trials = 200             # trials per grid point (>= 1)
    seed = 2024              # root of every random stream
    trials_per_task = 10     # optional; the kind's default otherwise

    [params]                 # optional: fixed parameters of the kind
    cap = 600

    [grid]                   # every combination of these values is one point
    n_atoms = [100, 1000, 10000]
    eta = [0.3, 0.5, 0.7, 0.9]

    [cluster]                # optional: the batch jobs of --cluster slurm|pbs
    queue = "normal"
    cores = 8
    memory = "16GB"
    walltime = "01:00:00"
    jobs = 4

Each point's trials are cut into tasks of ``trials_per_task``; task ``(point, chunk)`` draws its
trials from ``SeedSequence(seed, spawn_key=(point, chunk)).spawn(n)``, so a record depends on
the seed and its place in the grid only, never on the workers or the order tasks finish in.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heralder.studies.kinds import KINDS, StudyKind, get_kind
from heralder.tomlschema import key_error, read_toml, section_from_dict

__all__ = ["ClusterSection", "Point", "Sweep", "Task", "load_sweep", "plan_tasks",
           "sweep_from_dict"]


@dataclass(frozen=True)
class StudySection:
    """Hold the ``[study]`` table: kind, trials per point, seed, trials per task."""

    kind: str
    trials: int
    seed: int = 0
    trials_per_task: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind '{self.kind}' is not a known study "
                             f"(known: {', '.join(sorted(KINDS))})")
        if self.trials < 1:
            raise ValueError(f"trials must be >= 1, got {self.trials}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.trials_per_task is not None and self.trials_per_task < 1:
            raise ValueError(f"trials_per_task must be >= 1, got {self.trials_per_task}")


@dataclass(frozen=True)
class ClusterSection:
    """Hold the ``[cluster]`` table: the batch jobs dask-jobqueue submits.

    Attributes
    ----------
    queue, account
        Partition/queue and account of the jobs (the site default if empty).
    cores, memory
        Cores and memory of one job (one single-threaded Dask worker per core).
    walltime
        Wall-time limit of one job, ``HH:MM:SS``.
    jobs
        Number of jobs to start.
    """

    queue: str = ""
    account: str = ""
    cores: int = 1
    memory: str = "4GB"
    walltime: str = "01:00:00"
    jobs: int = 1

    def __post_init__(self) -> None:
        if self.cores < 1:
            raise ValueError(f"cores must be >= 1, got {self.cores}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        if not self.memory.strip():
            raise ValueError("memory must name an amount such as '4GB'")


@dataclass(frozen=True)
class _SweepFile:
    study: StudySection
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, Any] = field(default_factory=dict)
    cluster: ClusterSection = field(default_factory=ClusterSection)


@dataclass(frozen=True)
class Point:
    """Hold one grid point: the kind's parameters there and its number of trials."""

    params: Any
    trials: int


@dataclass(frozen=True)
class Sweep:
    """Describe a whole sweep: the kind, its points, the seed and the task size."""

    kind: str
    points: tuple[Point, ...]
    seed: int
    trials_per_task: int
    grid_keys: tuple[str, ...]
    cluster: ClusterSection = field(default_factory=ClusterSection)

    @property
    def study(self) -> StudyKind:
        """Return the study kind."""
        return get_kind(self.kind)

    def manifest(self) -> dict[str, Any]:
        """Return what fixes the records (kind, points, seed, task size) as plain data."""
        return {"kind": self.kind, "seed": self.seed, "trials_per_task": self.trials_per_task,
                "grid_keys": list(self.grid_keys),
                "points": [{"params": asdict(p.params), "trials": p.trials}
                           for p in self.points]}


@dataclass(frozen=True)
class Task:
    """Describe one unit of work: trials ``first_trial ..`` of one point, with their seed."""

    kind: str
    point: int
    chunk: int
    params: Any
    first_trial: int
    n_trials: int
    seed: int

    @property
    def name(self) -> str:
        """Return the task's file stem, ``p0003-t0001``."""
        return f"p{self.point:04d}-t{self.chunk:04d}"

    @property
    def seed_sequence(self) -> np.random.SeedSequence:
        """Return the task's seed: spawned from the sweep's seed at (point, chunk)."""
        return np.random.SeedSequence(self.seed, spawn_key=(self.point, self.chunk))

    def describe(self) -> str:
        """Return the task's parameters and seed in one line (for error reports)."""
        values = ", ".join(f"{k}={v!r}" for k, v in asdict(self.params).items())
        return (f"task {self.name} ({values}; trials {self.first_trial}.."
                f"{self.first_trial + self.n_trials - 1}; seed SeedSequence({self.seed}, "
                f"spawn_key=({self.point}, {self.chunk})))")


def sweep_from_dict(data: dict[str, Any], *, path: str | None = None,
                    text: str | None = None) -> Sweep:
    """Build a :class:`Sweep` from a parsed sweep file.

    Raises
    ------
    ConfigError
        If the study is unknown, a parameter is unknown or invalid, the grid has no points or
        ``trials`` < 1 (naming the key, the file and the line).
    """
    spec: _SweepFile = section_from_dict(_SweepFile, data, path=path, text=text)
    kind = get_kind(spec.study.kind)

    def build(table: dict[str, Any], key: str) -> Any:
        return section_from_dict(kind.params, table, key=key, path=path, text=text)

    build(spec.params, "params")
    if not spec.grid:
        raise key_error("the grid has no parameters; give at least one list of values",
                        key="grid", path=path, text=text)
    axes: dict[str, list[Any]] = {}
    for name, values in spec.grid.items():
        line_key = f"grid.{name}"
        values = values if isinstance(values, list) else [values]
        if not values:
            raise key_error(f"'{name}' has no values (the grid has no points)",
                            key=line_key, path=path, text=text)
        for value in values:  # names an unknown parameter or a bad value at its grid line
            build({**spec.params, name: value}, "grid")
        if name in spec.params:
            raise key_error(f"'{name}' is set in both [params] and [grid]",
                            key=line_key, path=path, text=text)
        axes[name] = values
    points = tuple(Point(build({**spec.params, **dict(zip(axes, combo, strict=True))}, "grid"),
                         spec.study.trials)
                   for combo in itertools.product(*axes.values()))
    return Sweep(kind=kind.name, points=points, seed=spec.study.seed,
                 trials_per_task=spec.study.trials_per_task or kind.trials_per_task,
                 grid_keys=tuple(axes), cluster=spec.cluster)


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate the sweep file at ``path`` (see the module notes for its tables)."""
    data, text = read_toml(path)
    return sweep_from_dict(data, path=str(path), text=text)


def plan_tasks(sweep: Sweep) -> list[Task]:
    """Return every task of ``sweep``, point by point, each of at most ``trials_per_task``."""
    tasks = []
    for index, point in enumerate(sweep.points):
        for chunk, first in enumerate(range(0, point.trials, sweep.trials_per_task)):
            tasks.append(Task(sweep.kind, index, chunk, point.params, first,
                              min(sweep.trials_per_task, point.trials - first), sweep.seed))
    return tasks
