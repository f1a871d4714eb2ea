"""Run a compiled per-candidate kernel on two cores: half the candidates on a helper thread.

The kernels are compiled with ``nogil=True``, so the calling thread and one helper thread run
them at the same time. Each half is an independent kernel call with its own work buffers, so
the split changes no result. A process limited to one thread (``OMP_NUM_THREADS=1``, as Dask
sets for its single-threaded worker processes) does not split. One helper thread per process,
created on first use and forgotten in a forked child (whose copy of it would never run).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["MIN_SPLIT", "split_candidates"]

#: Fewest candidates worth splitting (the hand-over costs ~20–50 µs).
MIN_SPLIT = 4

_lock = threading.Lock()
_helper: ThreadPoolExecutor | None = None


def _forget_helper() -> None:
    global _helper, _lock
    _helper, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_helper)


def _cores() -> int:
    """Return the cores this process may use: its CPU affinity, capped by OMP_NUM_THREADS
    (set to 1 by Dask for its workers, one per core, which must not split again)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


def _get_helper() -> ThreadPoolExecutor:
    global _helper
    with _lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heralder-estimator")
        return _helper


def split_candidates(kernel: Callable[[np.ndarray], np.ndarray], S: np.ndarray) -> np.ndarray:
    """Return ``kernel(S)``, computing every other candidate on the helper thread.

    Interleaving balances the halves (a candidate's cost grows with S). Runs on the calling
    thread alone with one core or fewer than ``MIN_SPLIT`` candidates, and takes the helper's
    half back when the helper has not started on it by the time the first half is done.
    """
    if S.size < MIN_SPLIT or _cores() < 2:
        return kernel(S)
    future = _get_helper().submit(kernel, S[1::2])
    out = np.empty(S.size)
    try:
        out[0::2] = kernel(S[0::2])
    finally:
        # On a busy machine the helper may not have started yet: then do its half here rather
        # than wait for a core.
        out[1::2] = kernel(S[1::2]) if future.cancel() else future.result()
    return out
