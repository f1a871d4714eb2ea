"""Name the study kinds the sweep runner can run, and define what a kind is.

A study kind is a :class:`StudyKind`: a frozen dataclass of its parameters (typed fields with
defaults, validated in ``__post_init__`` like every config section) and a pure function
``trial(params, rng) -> record`` that runs ONE Monte Carlo trial with the given
``numpy.random.Generator`` and returns a flat ``dict`` of scalars (numbers or booleans). The
runner does everything else: grid, seeds, tasks, Parquet files, resume, summary, plots.

Adding a kind (for example ``heralder study timing``) takes two steps:

1. In a module of its own (``heralder/studies/timing.py``) write the parameters dataclass, the
   trial function and ``KIND = StudyKind("timing", TimingParams, timing_trial, "one line",
   trials_per_task=...)``; choose ``trials_per_task`` so a task takes a few seconds.
2. Add ``"timing": "heralder.studies.timing:KIND"`` to :data:`KINDS`.

Then ``heralder study run sweep.toml`` with ``[study] kind = "timing"`` runs it on one core, all
cores or a cluster. A kind may also give ``report(frame, out_dir, title) -> str`` to write its
own tables and figures next to the generic ones (the policy kind does). Kinds that need the
simulators load them with :func:`importlib.import_module` inside the trial: core modules never
import ``heralder.simulators`` statically.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["KINDS", "Record", "StudyKind", "get_kind"]

#: Record of one trial: column name -> scalar.
Record = dict[str, float | int | bool]


@dataclass(frozen=True)
class StudyKind:
    """Describe one kind of study.

    Attributes
    ----------
    name
        The name used in ``[study] kind``.
    params
        Frozen dataclass of the parameters; every field has a default.
    trial
        ``trial(params, rng) -> record``: one trial, a pure function of its arguments.
    help
        One line for ``--help`` and the summary title.
    trials_per_task
        Default number of trials in one task (aim for a few seconds of work).
    report
        Optional ``report(frame, out_dir, title) -> str`` writing kind-specific tables/plots
        from the records (a pandas DataFrame) and returning text to print.
    """

    name: str
    params: type
    trial: Callable[[Any, np.random.Generator], Mapping[str, Any]]
    help: str
    trials_per_task: int = 10
    report: Callable[[Any, Path, str], str] | None = None


#: Kind name -> "module:attribute" of its :class:`StudyKind`, imported when first used (a
#: :class:`StudyKind` object registered at run time works in-process too).
KINDS: dict[str, str | StudyKind] = {
    "policy": "heralder.studies.policy:KIND",
    "dark": "heralder.studies.dark:KIND",
    "timing": "heralder.studies.timing:KIND",
}


def get_kind(name: str) -> StudyKind:
    """Return the study kind called ``name``.

    Raises
    ------
    ValueError
        If no kind has that name (the message lists the known ones).
    """
    target = KINDS.get(name)
    if target is None:
        raise ValueError(f"unknown study '{name}' (known: {', '.join(sorted(KINDS))})")
    if isinstance(target, StudyKind):
        return target
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)
