"""Measure the estimator's per-pulse cost against the issue's targets (issue 5).

Every timed call acts on its own copy of a posterior prepared outside the timed region, so a
measurement never sees a posterior the previous call already narrowed. Compiled kernels are
warmed up (compiled) before timing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator

import numpy as np
from scipy import stats

from heralder.bench import BenchResult, Timing, compare, time_call
from heralder.config import PolicyConfig
from heralder.estimation import DetectorModel, Posterior, arrival, make_policy
from heralder.estimation.backend import compiled_kernels
from heralder.physics import cascade_rates, prior_support

__all__ = ["run"]

N = 10_000
S_TRUE = 100
ETA = 0.5
DARK = 0.02
DETECTOR = DetectorModel(eta=ETA, dark_counts_per_gate=DARK, gate_s=1.0, gamma_tc_per_s=1.0,
                         gamma_antitc_per_s=1.0)


def _record(rng: np.random.Generator, pulses: int) -> list[tuple[int, np.ndarray]]:
    """Return (count, times) of simulated pulses at S_TRUE: exact cascade, thinning, darks."""
    out = []
    for pulse in range(pulses):
        rates = cascade_rates(S_TRUE, pulse)
        emitted = np.cumsum(rng.exponential(1.0 / rates))
        times = np.sort(np.concatenate([emitted[rng.random(emitted.size) < ETA],
                                        rng.uniform(0, 1.0, rng.poisson(DARK))]))
        out.append((times.size, times))
    return out


def _steady(backend: str, record: list[tuple[int, np.ndarray]], pulses: int) -> Posterior:
    post = Posterior(N, DETECTOR, backend=backend)
    for count, _ in record[:pulses]:
        post.update(count)
    return post


def _time_on_copies(template: Posterior, action: Callable[[Posterior], None],
                    repeats: int) -> tuple[Timing, float]:
    """Return the wall-clock timing and the mean CPU time per call in seconds (the process's,
    so a helper thread's share counts; on a shared machine CPU time is the steadier figure)."""
    copies = iter([template.copy() for _ in range(repeats + 5)])
    cpu0 = time.process_time()
    timing = time_call(lambda: action(next(copies)), repeats=repeats, warmup=5, max_time_s=60.0)
    return timing, (time.process_time() - cpu0) / (timing.repeats + 5)


def _naive_update(S: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    """Return the posterior after a later pulse by scipy.stats over the full prior support."""
    m = np.arange(n + 1)[:, None]
    like = (stats.poisson.pmf(m, DARK) * stats.binom.pmf(n - m, 2 * S[None, :], ETA)).sum(0)
    post = p * like
    return post / post.sum()


def run(quick: bool) -> list[BenchResult]:
    """Return the count-update, first-update, decision and arrival-time figures."""
    repeats = 200 if quick else 2000
    # How busy the shared machine is: the load and the p50 of one fixed numpy call.
    values = np.linspace(0.0, 1.0, 10_000)
    load = {"loadavg_1min": os.getloadavg()[0], "cpus": os.cpu_count(),
            "np_exp_1e4_us": time_call(lambda: np.exp(values), repeats=300).p50_s * 1e6}
    rng = np.random.default_rng(1)
    record = _record(rng, 12)
    n_next = record[10][0]
    results: list[BenchResult] = []

    S_full, log_prior = prior_support(N)
    p_full = np.exp(log_prior - log_prior.max())
    p_full /= p_full.sum()
    naive = time_call(lambda: _naive_update(S_full, p_full, n_next), repeats=max(repeats // 10, 20))
    results.append(BenchResult("naive scipy.stats update, full prior (baseline)",
                               naive.p50_s * 1e6, "µs p50",
                               details={"support": S_full.size, "p99_us": naive.p99_s * 1e6,
                                        **load}))

    backends = ["numpy"] + (["numba"] if compiled_kernels() is not None else [])
    for backend in backends:
        compiled = backend == "numba"
        steady = _steady(backend, record, 10)
        timing, cpu_s = _time_on_copies(steady, lambda post: post.update(n_next), repeats)
        target_us = 10.0 if compiled else 250.0
        results.append(BenchResult(
            f"count update N=1e4 d={DARK}, {backend}", timing.p50_s * 1e6, "µs p50",
            target=f"<= {target_us:g} µs", ok=timing.p50_s * 1e6 <= target_us,
            baseline=naive.p50_s * 1e6, ratio=compare(timing.p50_s, naive.p50_s),
            details={"support": steady.S.size, "p99_us": timing.p99_s * 1e6,
                     "cpu_mean_us": cpu_s * 1e6}))
        if compiled:
            results.append(BenchResult(
                "speed-up of compiled update over naive scipy.stats", compare(
                    timing.p50_s, naive.p50_s), "×", target=">= 100×",
                ok=compare(timing.p50_s, naive.p50_s) >= 100.0))

        fresh = Posterior(N, DETECTOR, backend=backend)
        first, cpu_s = _time_on_copies(fresh, lambda post: post.update(record[0][0]),
                                       max(repeats // 10, 20))
        results.append(BenchResult(
            f"first update on the full prior N=1e4, {backend}", first.p50_s * 1e6, "µs p50",
            target="<= 1000 µs", ok=first.p50_s <= 1e-3,
            details={"support": fresh.S.size, "p99_us": first.p99_s * 1e6,
                     "cpu_mean_us": cpu_s * 1e6}))

        policy = make_policy(PolicyConfig(kind="voi"), N, DETECTOR)

        def update_and_decide(post: Posterior, policy=policy) -> None:
            post.update(n_next)
            policy.decide(post)

        both, cpu_s = _time_on_copies(steady, update_and_decide,
                                      repeats if compiled else max(repeats // 10, 20))
        results.append(BenchResult(
            f"update + rule (d) decision N=1e4, {backend}", both.p50_s * 1e6, "µs p50",
            target="<= 50 µs" if compiled else "", ok=both.p50_s <= 50e-6 if compiled else None,
            details={"p99_us": both.p99_s * 1e6, "cpu_mean_us": cpu_s * 1e6}))

    if compiled_kernels() is not None:
        results.extend(_arrival_results(record, quick))
    return results


def _arrival_results(record: list[tuple[int, np.ndarray]], quick: bool) -> list[BenchResult]:
    """Time update_times at S ≈ 100 after 10 count pulses: the numpy reference (the baseline,
    a few calls) and the compiled kernel, in the same run."""
    out = []
    _, times = record[10]
    baseline_s = None
    for backend, repeats in (("numpy", 3), ("numba", 20 if quick else 100)):
        steady = _steady(backend, record, 10)
        counted = steady.copy()
        lp = counted.log_p + counted.model.log_likelihood(times.size, counted.S, 10)
        candidates = int(np.sum(lp >= lp.max() - counted.prune_nats))
        timing, cpu_s = _time_on_copies(steady, lambda post: post.update_times(times, 1.0),
                                        repeats)
        compiled = backend == "numba"
        scored = _scored_candidates(steady, times)
        details = {"candidates": candidates, "scored": scored, "photons": int(times.size),
                   "cpu_mean_ms": cpu_s * 1e3,
                   "cpu_per_scored_candidate_ms": cpu_s * 1e3 / max(scored, 1),
                   "p99_ms": timing.p99_s * 1e3}
        if not compiled:
            baseline_s = timing.p50_s
            out.append(BenchResult(f"arrival-time update S≈100, {backend} (baseline)",
                                   timing.p50_s * 1e3, "ms p50", details=details))
            continue
        out.append(BenchResult(
            f"arrival-time update S≈100, {backend}", timing.p50_s * 1e3, "ms p50",
            target="<= 1 ms", ok=timing.p50_s <= 1e-3, baseline=baseline_s * 1e3,
            ratio=compare(timing.p50_s, baseline_s), details=details))
        # The same on one core (no helper thread, split.py): what a busy machine gives.
        with _one_thread():
            one, one_cpu_s = _time_on_copies(steady, lambda post: post.update_times(times, 1.0),
                                             repeats)
        out.append(BenchResult(
            f"arrival-time update S≈100, {backend}, one thread", one.p50_s * 1e3, "ms p50",
            baseline=baseline_s * 1e3, ratio=compare(one.p50_s, baseline_s),
            details={"cpu_mean_ms": one_cpu_s * 1e3, "p99_ms": one.p99_s * 1e3}))
    return out


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Limit the estimator to one thread inside the block (OMP_NUM_THREADS=1, which split.py
    reads on every call)."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def _scored_candidates(post: Posterior, times: np.ndarray) -> int:
    """Return how many candidates one update_times hands to the exact likelihood kernel."""
    scored = []
    original = arrival.log_likelihood_times

    def counting(times_s, gate_s, S, *args, **kwargs):
        scored.append(len(S))
        return original(times_s, gate_s, S, *args, **kwargs)

    arrival.log_likelihood_times = counting
    try:
        post.copy().update_times(times, 1.0)
    finally:
        arrival.log_likelihood_times = original
    return sum(scored)
