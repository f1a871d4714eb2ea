"""Open the Dask client a sweep runs on: this machine, an existing cluster or batch jobs.

* ``workers=None`` (default): a ``distributed.LocalCluster`` with one single-threaded worker
  process per core; ``workers=N`` sets the count; ``workers=0`` runs in this process (no Dask).
* ``scheduler="tcp://HOST:PORT"``: connect to a running ``dask scheduler``.
* ``cluster="slurm"|"pbs"``: dask-jobqueue submits ``[cluster] jobs`` batch jobs built from
  the sweep's ``[cluster]`` table; :func:`jobqueue_cluster` gives the cluster (and its
  ``job_script()``) without scaling it.

Dask is the optional ``studies`` extra; without it a clear error says how to install it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator
from typing import Any

from heralder.errors import ConfigError, HeralderError
from heralder.studies.sweep import ClusterSection

__all__ = ["BATCH_SYSTEMS", "INSTALL_HINT", "jobqueue_cluster", "open_client"]

INSTALL_HINT = "pip install 'heralder[studies]'"
BATCH_SYSTEMS = ("slurm", "pbs")
_SUBMIT = {"slurm": "sbatch", "pbs": "qsub"}
_ADDRESS = re.compile(r"(tcp|tls|inproc|ucx)://[^\s:/]+(:\d+)?")
#: Our LocalCluster runs batch studies: no task profiler, a slower event-loop tick and system
#: monitor (an idle 1-worker cluster drops from ~8% to ~2% of a core, CPU the tasks get back).
_QUIET = {"distributed.worker.profile.enabled": False,
          "distributed.admin.tick.interval": "200ms",
          "distributed.admin.system-monitor.interval": "2s"}


def _require(module: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ModuleNotFoundError:
        raise HeralderError(f"this needs {module}, part of the optional 'studies' extra: "
                            f"{INSTALL_HINT} (or run in this process with --workers 0)") from None


def jobqueue_cluster(system: str, section: ClusterSection) -> Any:
    """Return a dask-jobqueue cluster for ``system`` ("slurm" or "pbs") with no job started.

    Each job runs ``section.cores`` single-threaded workers with this Python.

    Raises
    ------
    ValueError
        If ``system`` is not a known batch system.
    """
    if system not in BATCH_SYSTEMS:
        raise ValueError(f"system must be one of {BATCH_SYSTEMS}, got {system!r}")
    jobqueue = _require("dask_jobqueue")
    cls = jobqueue.SLURMCluster if system == "slurm" else jobqueue.PBSCluster
    return cls(queue=section.queue or None, account=section.account or None,
               cores=section.cores, processes=section.cores, memory=section.memory,
               walltime=section.walltime, python=sys.executable,
               scheduler_options={"dashboard_address": ":0"})


@contextlib.contextmanager
def open_client(*, workers: int | None = None, scheduler: str | None = None,
                cluster: str | None = None, section: ClusterSection | None = None,
                timeout_s: float = 20.0) -> Iterator[Any]:
    """Yield a connected ``distributed.Client`` (or ``None`` for ``workers=0``); close it after.

    Raises
    ------
    ConfigError
        If the scheduler address is malformed or unreachable within ``timeout_s``, the batch
        system's submit command is missing, or ``workers`` < 0.
    HeralderError
        If Dask (the ``studies`` extra) is not installed.
    """
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    if scheduler is None and cluster is None and workers == 0:
        yield None
        return
    distributed = _require("distributed")
    if not logging.getLogger().isEnabledFor(logging.INFO):  # Dask logs INFO unless told (-v)
        logging.getLogger("distributed").setLevel(logging.WARNING)
    owned: Any = None
    if scheduler is not None:
        if not _ADDRESS.fullmatch(scheduler):
            raise ConfigError(f"--scheduler must look like tcp://HOST:PORT, got {scheduler!r}")
        try:
            client = distributed.Client(scheduler, timeout=timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--scheduler: cannot reach the Dask scheduler at {scheduler} "
                              f"within {timeout_s:g} s ({type(exc).__name__})") from None
    else:
        if cluster is not None:
            section = section or ClusterSection()
            if shutil.which(_SUBMIT[cluster]) is None:  # else the jobs fail and nothing starts
                raise ConfigError(f"--cluster {cluster}: {_SUBMIT[cluster]} is not on PATH; run "
                                  "this on a login node of the cluster")
            owned = jobqueue_cluster(cluster, section)
            owned.scale(jobs=section.jobs)
            # Tasks start when the batch system starts the jobs (maybe after a queue wait).
            print(f"submitted {section.jobs} {cluster} job(s) of {section.cores} worker(s)",
                  file=sys.stderr)
        else:
            with _require("dask").config.set(_QUIET):
                owned = distributed.LocalCluster(
                    n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                    processes=True, dashboard_address=":0")
        client = distributed.Client(owned, timeout=timeout_s)
    print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
    try:
        yield client
    finally:
        client.close()
        if owned is not None:
            owned.close()
