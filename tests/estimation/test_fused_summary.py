"""Check the summary the compiled update computes with each count (one kernel call per pulse)."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.estimation import DetectorModel, Posterior
from heralder.estimation.backend import compiled_kernels

needs_numba = pytest.mark.skipif(compiled_kernels() is None, reason="numba (extra 'fast') absent")

DETECTORS = [
    DetectorModel(eta=0.5, dark_counts_per_gate=0.02),
    DetectorModel(eta=0.6, jump_eps=1e-3, dark_counts_per_gate=0.02),
]


def _counts(seed: int, s: int, eta: float, pulses: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(rng.binomial(s if k == 0 else 2 * s, eta)) for k in range(pulses)]


@needs_numba
@pytest.mark.parametrize("det", DETECTORS)
def test_fused_summary_matches_numpy_reference_and_a_fresh_summary(det):
    compiled = Posterior(300, det, backend="numba")
    reference = Posterior(300, det, backend="numpy")
    kernels = compiled_kernels()
    for count in _counts(3, 24, det.eta, 12):
        compiled.update(count)
        reference.update(count)
        fused = compiled.summary()
        fresh = kernels.summary(compiled._S, compiled._logp)
        assert fused == (int(fresh[0]), *fresh[1:])  # the cache is the state's summary
        assert compiled.pmax == fused[1]
        assert fused[0] == reference.summary()[0]
        np.testing.assert_allclose(fused[1:], reference.summary()[1:], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_summary_is_recomputed_after_every_change_of_state(backend):
    if backend == "numba" and compiled_kernels() is None:
        pytest.skip("numba (extra 'fast') absent")
    post = Posterior(200, DetectorModel(eta=0.5, jump_eps=1e-3), backend=backend)
    before = post.summary()
    copy = post.copy()
    post.update(30)
    after = post.summary()
    assert after != before and copy.summary() == before  # a copy keeps its own state
    post.update(10_000)  # skipped or implausible: the summary still describes the state
    assert post.summary()[0] == post.map_S
    assert post.pmax == pytest.approx(float(np.exp(post.log_p.max())), rel=1e-15)
