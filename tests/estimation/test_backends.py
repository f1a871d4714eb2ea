"""Check that the compiled kernels agree with the numpy reference and that numba is optional."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from heralder.config import PolicyConfig
from heralder.estimation import DetectorModel, Posterior, make_policy
from heralder.estimation.arrival import log_likelihood_times
from heralder.estimation.backend import compiled_kernels, resolve_backend

needs_numba = pytest.mark.skipif(compiled_kernels() is None, reason="numba (extra 'fast') absent")

DETECTORS = [
    DetectorModel(eta=0.5, dark_counts_per_gate=0.02),
    DetectorModel(eta=0.7, dark_counts_per_gate=2.0, leak_r2=1e-4, dead_time_s=1e-6,
                  gamma_tc_per_s=20.0, gamma_antitc_per_s=25.0, afterpulse_prob=0.01,
                  scatter_eps=1e-3),
    DetectorModel(eta=1.0),
    DetectorModel(eta=0.0, dark_counts_per_gate=0.1),
    DetectorModel(eta=0.6, jump_eps=1e-3, dark_counts_per_gate=0.02),
]


@needs_numba
@pytest.mark.parametrize("det", DETECTORS)
def test_compiled_update_and_policy_agree_with_numpy(det):
    rng = np.random.default_rng(1)
    a = Posterior(1000, det, backend="numpy")
    b = Posterior(1000, det, backend="numba")
    policy = make_policy(PolicyConfig(kind="voi", min_pulses=1), 1000, det)
    S = 30
    counts = [int(rng.binomial(S, det.eta))]
    counts += [int(rng.binomial(2 * S, det.eta) + rng.poisson(det.dark_counts_per_gate))
               for _ in range(25)]
    counts += [10**7, 3]
    for n in counts:
        a.update(n)
        b.update(n)
        assert np.array_equal(a.S, b.S)
        assert np.max(np.abs(a.p - b.p)) < 1e-12
        finite = np.isfinite(a.log_p)
        assert np.array_equal(finite, np.isfinite(b.log_p))
        assert np.max(np.abs(a.log_p[finite] - b.log_p[finite]), initial=0.0) < 1e-11
        ta, tb = a.voi_terms(), b.voi_terms()
        scale = max(ta.f_ideal, 1.0)
        assert abs(ta.f_next - tb.f_next) / scale < 1e-12
        assert abs(ta.f_now - tb.f_now) / scale < 1e-12
        da, db = policy.decide(a), policy.decide(b)
        assert da.stop == db.stop and abs(da.value - db.value) < 1e-11
    assert [f.kind for f in a.flags] == [f.kind for f in b.flags]


@needs_numba
def test_compiled_arrival_times_agree_with_numpy(simulate):
    rng = np.random.default_rng(3)
    det = DetectorModel(eta=0.5, dark_counts_per_gate=0.05, gate_s=10.0, dead_time_s=1e-3,
                        gamma_tc_per_s=1.0, gamma_antitc_per_s=1.3)
    for S, pulse in [(1, 0), (4, 1), (12, 2), (25, 1), (25, 0)]:
        _, times = simulate(rng, S, pulse, eta=0.5, gamma_per_s=1.3 if pulse % 2 else 1.0,
                            dark_per_gate=0.05, gate_s=10.0, dead_time_s=1e-3)
        cands = np.array([max(S - 2, 0), S, S + 2])
        a = log_likelihood_times(times, 10.0, cands, pulse, det, backend="numpy")
        b = log_likelihood_times(times, 10.0, cands, pulse, det, backend="numba")
        assert np.allclose(a, b, rtol=0, atol=1e-11)


def test_backend_resolution():
    assert resolve_backend("numpy") == "numpy"
    assert resolve_backend("auto") in ("numpy", "numba")
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("gpu")


def test_package_works_without_numba():
    """Hide numba from the import system: auto falls back to numpy, 'numba' says what to do."""
    code = """
import sys
sys.modules["numba"] = None
from heralder.config import PolicyConfig
from heralder.estimation import DetectorModel, Posterior, make_policy
det = DetectorModel(eta=0.5, dark_counts_per_gate=0.02)
post = Posterior(1000, det)
assert post.backend == "numpy", post.backend
for n in (15, 33, 29, 31):
    post.update(n)
decision = make_policy(PolicyConfig(), 1000, det).decide(post)
try:
    Posterior(100, det, backend="numba")
except ValueError as exc:
    assert "fast" in str(exc)
else:
    raise SystemExit("backend='numba' without numba must fail")
print(post.map_S, decision.reason)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "voi"


def test_missing_numba_in_process_falls_back(monkeypatch):
    import heralder.estimation.backend as backend

    backend.compiled_kernels.cache_clear()
    backend.compiled_arrival_kernels.cache_clear()
    monkeypatch.setitem(sys.modules, "heralder.estimation._kernels", None)
    try:
        assert backend.compiled_kernels() is None
        assert backend.compiled_arrival_kernels() is None
        post = Posterior(100, DetectorModel(eta=0.5), backend="auto")
        post.update(5)
        assert post.backend == "numpy"
    finally:
        backend.compiled_kernels.cache_clear()
        backend.compiled_arrival_kernels.cache_clear()


@needs_numba
def test_compiled_dark_convolution_matches_full_sum_to_1e_12():
    from scipy import stats
    from scipy.special import gammaln, logsumexp

    kernels = compiled_kernels()
    lnfact = gammaln(np.arange(6000) + 1.0)
    rng = np.random.default_rng(8)
    for case in range(300):
        k = int(rng.integers(0, 400))
        p = float(rng.choice([0.0, 1.0])) if case % 15 == 0 else float(rng.random())
        d = float(rng.choice([1e-6, 0.02, 0.5, 5.0, 20.0]))
        n = k + int(rng.integers(0, 60)) if case % 6 == 0 else int(
            rng.integers(0, int(k * p * 2 + 3 * d + 5)))
        m = np.arange(n + 1)
        full = logsumexp(stats.poisson.logpmf(m, d) + stats.binom.logpmf(n - m, k, p))
        got = kernels._log_dark_binom(n, k, p, d, lnfact)
        assert (got == -np.inf) if not np.isfinite(full) else abs(got - full) < 1e-12


def _family_run(det: DetectorModel, shots: list[list[int]]) -> list[tuple]:
    """Return each pulse's (support, log-posterior, evidence, flags) for shots run as copies of
    one template posterior (as the engine does: the copies share the memoised likelihoods)."""
    template = Posterior(200, det, backend="numba")
    out = []
    for counts in shots:
        post = template.copy()
        for n in counts:
            post.update(n)
            out.append((post.S, post.log_p, post.log_evidence, len(post.flags), post.summary()))
    return out


@needs_numba
@pytest.mark.parametrize("det", DETECTORS)
def test_memoised_likelihoods_change_no_bit(det, monkeypatch):
    """The compiled update reads a count's likelihoods from the memo its pulse kind keeps after
    the first time; with the memo off (no budget) every value is computed again. Both must give
    the same posteriors bit for bit, over shots that repeat counts (memo hits), with jumps,
    leaks and implausible counts."""
    from heralder.estimation import posterior as posterior_module

    rng = np.random.default_rng(7)
    shots = [[int(rng.binomial(2 * s, max(det.eta, 0.05))) for _ in range(8)] + [10**6]
             for s in rng.integers(5, 40, size=12)]
    memoised = _family_run(det, shots)
    monkeypatch.setattr(posterior_module, "MEMO_BYTES_PER_KIND", 0)
    computed = _family_run(det, shots)
    assert len(memoised) == len(computed) == 12 * 9
    for (s1, lp1, ev1, f1, sum1), (s2, lp2, ev2, f2, sum2) in zip(memoised, computed,
                                                                  strict=True):
        assert np.array_equal(s1, s2)
        assert np.array_equal(lp1, lp2)  # bit for bit (-inf included)
        assert ev1 == ev2 and f1 == f2 and sum1 == sum2


@needs_numba
def test_memo_stays_within_its_budget(monkeypatch):
    from heralder.estimation import posterior as posterior_module

    det = DetectorModel(eta=0.5, dark_counts_per_gate=0.02)
    template = Posterior(200, det, backend="numba")
    columns = template._kernel_entry()[0][2].size
    monkeypatch.setattr(posterior_module, "MEMO_BYTES_PER_KIND", 3 * 16 * columns)
    for n in range(10):  # ten counts on the first pulse: three memoised, the rest computed
        post = template.copy()
        post.update(n)
    memos = template._kernel_args[0][1]
    assert sorted(memos) == [0, 1, 2]
    assert all(memo.shape == (2, columns) for memo in memos.values())
    assert np.isfinite(memos[2][1]).sum() > 0  # filled where the support was
