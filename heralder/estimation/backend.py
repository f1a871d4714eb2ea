"""Choose between the numpy reference and the compiled (numba, extra ``fast``) kernels."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

__all__ = ["BACKENDS", "compiled_arrival_kernels", "compiled_kernels", "compiled_select_kernels",
           "resolve_backend"]

BACKENDS = ("auto", "numpy", "numba")


@functools.cache
def compiled_kernels() -> ModuleType | None:
    """Return the compiled kernel module, or None when numba is not installed."""
    try:
        return importlib.import_module("heralder.estimation._kernels")
    except ImportError:
        return None


@functools.cache
def compiled_arrival_kernels() -> ModuleType | None:
    """Return the compiled arrival-time kernel module, or None when numba is not installed."""
    if compiled_kernels() is None:
        return None
    return importlib.import_module("heralder.estimation._arrival_kernels")


@functools.cache
def compiled_select_kernels() -> ModuleType | None:
    """Return the compiled candidate-selection module, or None when numba is not installed."""
    if compiled_kernels() is None:
        return None
    return importlib.import_module("heralder.estimation._select_kernels")


def resolve_backend(backend: str) -> str:
    """Return ``"numpy"`` or ``"numba"`` for a requested backend.

    Raises
    ------
    ValueError
        If ``backend`` is unknown, or ``"numba"`` is requested without numba installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy":
        return "numpy"
    if compiled_kernels() is None:
        if backend == "numba":
            raise ValueError("backend 'numba' needs numba: pip install 'heralder[fast]'")
        return "numpy"
    return "numba"
