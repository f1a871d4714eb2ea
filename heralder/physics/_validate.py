"""Validate the arguments shared by the physics functions (one place, one wording)."""

from __future__ import annotations

import math
import operator

import numpy as np

#: Largest atom number accepted; the prior's support (~10 sqrt(N) values) stays small up to here.
N_MAX = 10**12


def check_n(N: object) -> int:
    """Return ``N`` as an int after checking it is an integer atom number in [1, N_MAX]."""
    if isinstance(N, bool):
        raise ValueError(f"N must be an integer number of atoms, got {N!r}")
    try:
        value = operator.index(N)  # type: ignore[arg-type]
    except TypeError:
        if isinstance(N, float | np.floating) and math.isfinite(N) and float(N).is_integer():
            value = int(N)
        else:
            raise ValueError(f"N must be an integer number of atoms, got {N!r}") from None
    if not 1 <= value <= N_MAX:
        raise ValueError(f"N must lie in [1, {N_MAX:.0e}], got {value}")
    return value


def check_spin_values(S: object, name: str = "S") -> np.ndarray:
    """Return ``S`` as a float64 array after checking it is finite, integer-valued and >= 0."""
    arr = np.asarray(S)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                 or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be integer spin lengths, got dtype {arr.dtype}")
    values = arr.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite, got {values[~np.isfinite(values)][:3]}")
    if np.any(values < 0):
        raise ValueError(f"{name} must be >= 0, got {values[values < 0][:3]}")
    if np.any(values != np.floor(values)):
        raise ValueError(f"{name} must be integers, got {values[values != np.floor(values)][:3]}")
    return values


def check_state_spins(N: int, S: object, name: str = "S") -> np.ndarray:
    """Return ``S`` as float64 after checking every value is a spin length of N atoms.

    A state |S, ±S> of N spin-1 atoms in the family exists for 0 <= S <= N with N - S even.
    """
    values = check_spin_values(S, name)
    if np.any(values > N):
        raise ValueError(f"{name} must lie in [0, N={N}], got {values[values > N][:3]}")
    wrong = (N - values) % 2 != 0
    if np.any(wrong):
        raise ValueError(f"{name} must have the parity of N={N}, got {values[wrong][:3]}")
    return values


def check_eta(eta: object) -> float:
    """Return the detection efficiency ``eta`` as a float after checking it lies in [0, 1]."""
    try:
        value = float(eta)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
    return value
