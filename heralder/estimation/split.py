"""Run a compiled per-candidate kernel on two cores: half the candidates on a helper thread.

The kernels are compiled with ``nogil=True``, so the calling thread and one helper thread run
them at the same time. A kernel that works on groups of consecutive candidates (the arrival-time
kernel's lanes) is cut at a group boundary, so each half is an independent kernel call on the
same groups, with its own work buffers, and the split changes no result. A process limited to
one thread (``OMP_NUM_THREADS=1``, as Dask sets for its single-threaded worker processes) does
not split. One helper thread per process, created on first use and forgotten in a forked child
(whose copy of it would never run).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["MIN_SPLIT", "split_candidates"]

#: Fewest groups worth splitting (the hand-over costs ~20–50 µs).
MIN_SPLIT = 2

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


def split_candidates(kernel: Callable[[np.ndarray], np.ndarray], S: np.ndarray,
                     group: int = 1) -> np.ndarray:
    """Return ``kernel(S)``, computing the upper half of the candidates on the helper thread.

    The cut falls on a multiple of ``group`` (the kernel's groups of consecutive candidates),
    with the calling thread taking the extra group of an odd count. Runs on the calling thread
    alone with one core or fewer than ``MIN_SPLIT`` groups, and takes the helper's half back
    when the helper has not started on it by the time the first half is done.
    """
    groups = -(-S.size // group)
    if groups < MIN_SPLIT or _cores() < 2:
        return kernel(S)
    cut = -(-groups // 2) * group
    future = _get_helper().submit(kernel, S[cut:])
    out = np.empty(S.size)
    try:
        out[:cut] = kernel(S[:cut])
    finally:
        # On a busy machine the helper may not have started yet: then do its half here rather
        # than wait for a core.
        out[cut:] = kernel(S[cut:]) if future.cancel() else future.result()
    return out
