"""Shared fixtures of the exact-dynamics tests: models at a given x or y (time unit 1/κ)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from heralder.physics.exact_dynamics import AtomCavity


@pytest.fixture
def model_at_x() -> Callable[..., AtomCavity]:
    """Return a factory of the model with x = √S λ/(κ/2) at spin S (κ = 1)."""

    def make(S: int, x: float, *, omega: float = 0.0, omega0: float = 0.0) -> AtomCavity:
        return AtomCavity(x / (2.0 * math.sqrt(S)), 1.0, omega, omega0)

    return make


@pytest.fixture
def model_at_y() -> Callable[[int, float], AtomCavity]:
    """Return a factory of the model with y = λ√(S(S+1))/(κ/2) at spin S (κ = 1)."""

    def make(S: int, y: float) -> AtomCavity:
        return AtomCavity(y / (2.0 * math.sqrt(S * (S + 1.0))), 1.0)

    return make
