"""Provide ``njit``: numba's compiler (cached) when the ``fast`` extra is installed, else a no-op.

The simulator kernels are plain Python loops over numpy arrays; numba compiles them, and without
numba they run unchanged (slowly). Random numbers are always drawn by numpy Generators outside
the kernels, so a run is the same with and without numba. Compiled kernels are cached under the
user's cache directory (not beside the installed sources, DESIGN §9) unless NUMBA_CACHE_DIR says
otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["njit"]

try:
    import numba
except ImportError:  # pragma: no cover - numba is the optional "fast" extra
    numba = None


def njit(func: Callable) -> Callable:
    """Return ``func`` compiled by numba (nopython, cached, GIL released), or unchanged."""
    if numba is None:  # pragma: no cover
        return func
    return numba.njit(cache=True, nogil=True)(func)


if numba is not None and not os.environ.get("NUMBA_CACHE_DIR"):
    _base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    numba.config.CACHE_DIR = str(Path(_base) / "heralder" / "numba")
