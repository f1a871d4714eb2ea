"""Provide ``njit``: numba's compiler when the ``fast`` extra is installed, else a no-op.

The simulator kernels are plain Python loops over numpy arrays; numba compiles them, and without
numba they run unchanged (slowly). Random numbers are always drawn by numpy Generators outside
the kernels, so a run is the same with and without numba.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["njit"]

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is the optional "fast" extra

    def njit(*args: Any, **kwargs: Any) -> Any:
        """Return the function unchanged (numba is not installed)."""
        if args and callable(args[0]):
            return args[0]

        def wrap(func: Callable) -> Callable:
            return func

        return wrap
