"""Reproduce notes §8: with an imperfection in the data and in the model the herald is right;
with it in the data only, the herald fails as often as the notes say. Stopping at pmax ≥ 0.99.

Monte Carlo sizes are small (30–40 trials, fixed seeds); each assertion is a one-sided bound
that a binomial with the notes' rate violates with probability below ~1 %.
"""

from __future__ import annotations

import numpy as np

from heralder.estimation import DetectorModel, Posterior
from heralder.estimation.backend import compiled_kernels

FAST = "numba" if compiled_kernels() is not None else "numpy"


def herald(N, det, pulse_count, rng, cap=600):
    """Run one shot against ``pulse_count(pulse)``; return the MAP S at pmax ≥ 0.99."""
    post = Posterior(N, det, backend=FAST)
    for pulse in range(cap):
        post.update(pulse_count(pulse))
        if post.pmax >= 0.99:
            break
    return post.map_S


def true_spins(N, trials, rng):
    template = Posterior(N, DetectorModel(eta=0.5), backend="numpy")
    return rng.choice(template.S, size=trials, p=template.p)


def test_dead_time_must_be_modelled(simulate):
    """N = 1000, Γτ_d = 2e-5: wrong 27.5 % when ignored, 1 % when modelled (notes §8)."""
    rng = np.random.default_rng(31)
    N, eta, gamma_tau, trials = 1000, 0.5, 2e-5, 40
    modelled = DetectorModel(eta=eta, dark_counts_per_gate=0.02, dead_time_s=gamma_tau,
                             gamma_tc_per_s=1.0, gamma_antitc_per_s=1.0)
    ignored = DetectorModel(eta=eta, dark_counts_per_gate=0.02)
    wrong = {"modelled": 0, "ignored": 0}
    bias_ignored = []
    for S in true_spins(N, trials, rng):
        counts = [simulate(rng, int(S), i, eta=eta, dark_per_gate=0.02, gate_s=1e3,
                           dead_time_s=gamma_tau)[0] for i in range(400)]
        for name, det in (("modelled", modelled), ("ignored", ignored)):
            s_map = herald(N, det, counts.__getitem__, rng, cap=400)
            wrong[name] += s_map != S
            if name == "ignored":
                bias_ignored.append(s_map - S)
    assert wrong["modelled"] <= 3
    assert wrong["ignored"] >= 4
    assert np.mean(bias_ignored) < 0  # unmodelled losses make S look smaller


def test_afterpulsing_must_be_modelled():
    """N = 1e4, p_ap = 1 %: wrong 57.5 % when ignored, 1.5 % when modelled (notes §8)."""
    rng = np.random.default_rng(32)
    N, eta, p_ap, d, trials = 10000, 0.5, 0.01, 0.02, 30
    modelled = DetectorModel(eta=eta, dark_counts_per_gate=d, afterpulse_prob=p_ap)
    ignored = DetectorModel(eta=eta, dark_counts_per_gate=d)
    wrong = {"modelled": 0, "ignored": 0}
    for S in true_spins(N, trials, rng):
        k = np.where(np.arange(600) == 0, S, 2 * S)
        registered = rng.binomial(k, eta) + rng.poisson(d, k.size)
        counts = registered + rng.binomial(registered, p_ap)
        for name, det in (("modelled", modelled), ("ignored", ignored)):
            wrong[name] += herald(N, det, lambda i, c=counts: int(c[i]), rng) != S
    assert wrong["modelled"] <= 3
    assert wrong["ignored"] >= 8


def test_efficiency_must_be_calibrated():
    """N = 1000: η_true = 1.02 η_model gives 31.5 % wrong heralds, the right η ~0 (notes §8)."""
    rng = np.random.default_rng(33)
    N, eta, d, trials = 1000, 0.5, 0.02, 40
    det = DetectorModel(eta=eta, dark_counts_per_gate=d)
    wrong = {"calibrated": 0, "off by 2 %": 0}
    for S in true_spins(N, trials, rng):
        k = np.where(np.arange(600) == 0, S, 2 * S)
        for name, eta_true in (("calibrated", eta), ("off by 2 %", 1.02 * eta)):
            counts = rng.binomial(k, eta_true) + rng.poisson(d, k.size)
            wrong[name] += herald(N, det, lambda i, c=counts: int(c[i]), rng) != S
    assert wrong["calibrated"] <= 3
    assert wrong["off by 2 %"] >= 5
