"""Measure speed the same way everywhere: warm-up, repeats, p50/p99, ratio to a baseline.

Benchmarks live in ``benchmarks/bench_*.py`` at the repository root. Each module defines
``run(quick: bool) -> list[BenchResult]``; ``heralder bench`` (and ``make bench``) imports
every one,
prints one table and writes the results as JSON. Speed is measured here, never in timed tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BenchResult", "Timing", "compare", "main_table", "time_call"]


@dataclass(frozen=True)
class Timing:
    """Summarise repeated timings of one call, in seconds."""

    p50_s: float
    p99_s: float
    mean_s: float
    repeats: int


def time_call(
    func: Callable[[], Any],
    *,
    repeats: int = 200,
    warmup: int = 5,
    number: int = 1,
    max_time_s: float = 10.0,
) -> Timing:
    """Time ``func`` after ``warmup`` untimed calls.

    Parameters
    ----------
    func
        The call to time; its result is discarded.
    repeats
        Number of timed samples (fewer if ``max_time_s`` runs out, never fewer than 3).
    number
        Calls per sample; each sample is divided by ``number`` (use for sub-µs calls).
    max_time_s
        Upper bound on the timed part.
    """
    if repeats < 1 or number < 1 or warmup < 0:
        raise ValueError("repeats and number must be >= 1 and warmup >= 0")
    for _ in range(warmup):
        func()
    samples = []
    started = time.perf_counter()
    for i in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        samples.append((time.perf_counter() - t0) / number)
        if i >= 2 and time.perf_counter() - started > max_time_s:
            break
    values = np.asarray(samples)
    return Timing(
        p50_s=float(np.percentile(values, 50)),
        p99_s=float(np.percentile(values, 99)),
        mean_s=float(values.mean()),
        repeats=len(samples),
    )


@dataclass(frozen=True)
class BenchResult:
    """Report one measured figure against its target.

    Attributes
    ----------
    name
        What was measured (``"count update N=1e4, numba"``).
    value, unit
        The figure (``12.3``, ``"µs p50"`` or ``"pulses/s"``).
    target
        The issue's target in words (``"<= 10 µs"``), empty if none.
    ok
        Whether the target is met (``None`` without a target).
    baseline, ratio
        The baseline's figure in the same unit and how many times better this one is.
    details
        Anything else worth recording (p99, sizes, repeats).
    """

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    baseline: float | None = None
    ratio: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def compare(ours: float, baseline: float, *, higher_is_better: bool = False) -> float:
    """Return how many times better ``ours`` is than ``baseline`` (time: lower is better)."""
    if ours <= 0 or baseline <= 0:
        return math.nan
    return ours / baseline if higher_is_better else baseline / ours


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def main_table(results: list[BenchResult]) -> str:
    """Return the results as a fixed-width text table."""
    header = ("benchmark", "value", "unit", "baseline", "ratio", "target", "ok")
    rows = [
        (r.name, _format(r.value), r.unit, _format(r.baseline), _format(r.ratio), r.target,
         {True: "yes", False: "NO", None: "-"}[r.ok])
        for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True))
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"heralder_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark options."""
    parser.add_argument("--dir", default="benchmarks", help="folder of bench_*.py files")
    parser.add_argument("--only", default="", help="run only files whose name contains this")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    parser.add_argument("--json", default="benchmarks/results.json",
                        help="where to write the results ('' to skip)")


def run(args: argparse.Namespace) -> int:
    """Run every benchmark file, print one table and write JSON; exit 1 if a target is missed."""
    folder = Path(args.dir)
    files = sorted(p for p in folder.glob("bench_*.py") if args.only in p.stem)
    if not files:
        print(f"heralder bench: no bench_*.py files in {folder}", file=sys.stderr)
        return 2
    results: list[BenchResult] = []
    for path in files:
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        results.extend(_load_module(path).run(quick=args.quick))
    print(main_table(results))
    if args.json:
        payload = {
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "processor": platform.processor()},
            "results": [asdict(r) for r in results],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if any(r.ok is False for r in results) else 0
