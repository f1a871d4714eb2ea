"""Check the stopping policies: guard rails, each rule, rule (d) against a brute-force
preposterior, and bit-for-bit replay."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.config import PolicyConfig
from heralder.estimation import (
    DetectorModel,
    FixedPulses,
    PmaxThreshold,
    Posterior,
    QfiFraction,
    ValueOfInformation,
    make_policy,
)

DET = DetectorModel(eta=0.5, dark_counts_per_gate=0.02)


def shot(N=1000, S=30, pulses=6, seed=0, backend="numpy", det=DET):
    rng = np.random.default_rng(seed)
    post = Posterior(N, det, backend=backend)
    post.update(int(rng.binomial(S, det.eta)))
    for _ in range(pulses - 1):
        post.update(int(rng.binomial(2 * S, det.eta)))
    return post


def test_guard_rails_come_first():
    post = shot(pulses=1)
    policy = PmaxThreshold(1000, 0.01, min_pulses=2, max_pulses=5)
    assert policy.decide(post) == policy.decide(post)
    assert not policy.decide(post).stop and policy.decide(post).reason == "min_pulses"
    post = shot(pulses=5)
    decision = FixedPulses(1000, 100, min_pulses=1, max_pulses=5).decide(post)
    assert decision.stop and decision.reason == "max_pulses"


def test_each_rule_compares_its_figure():
    post = shot(pulses=6)
    fixed = FixedPulses(1000, 6, min_pulses=1).decide(post)
    assert fixed.stop and fixed.reason == "fixed" and fixed.value == 6
    assert not FixedPulses(1000, 7, min_pulses=1).decide(post).stop
    pmax = PmaxThreshold(1000, 0.99, min_pulses=1).decide(post)
    assert pmax.value == pytest.approx(post.pmax) and pmax.stop == (post.pmax >= 0.99)
    frac = QfiFraction(1000, 0.5, min_pulses=1).decide(post)
    assert frac.value == pytest.approx(post.qfi() / post.qfi_ideal())


def brute_force_expected_qfi(post: Posterior) -> float:
    """Return Σ_n P(n) F(ρ after n) by updating copies of the posterior for every count."""
    counts, pmf = post.predictive(mass_tol=1e-13)
    total = 0.0
    for n, w in zip(counts, pmf, strict=True):
        if w < 1e-15:
            continue
        nxt = Posterior(post.N, post.detector, outlier_rho=0.0, backend="numpy")
        nxt._S, nxt._logp, nxt.pulses = post.S, post.log_p, post.pulses
        nxt.update(int(n))
        total += w * nxt.qfi()
    return total


@pytest.mark.parametrize("pulses", [1, 3, 8])
def test_rule_d_preposterior_equals_brute_force(pulses):
    post = shot(N=400, S=20, pulses=pulses, seed=pulses)
    terms = post.voi_terms()
    # Rule (d) leaves out spin lengths 20 nats below the maximum (mass < 2e-9 each).
    assert terms.f_now == pytest.approx(post.qfi(), rel=1e-7)
    assert terms.f_ideal == pytest.approx(post.qfi_ideal(), rel=1e-7)
    assert terms.f_next == pytest.approx(brute_force_expected_qfi(post), rel=1e-7)
    assert terms.f_next >= terms.f_now * (1 - 1e-12)  # F is convex: information never hurts


def test_rule_d_stops_when_the_gain_is_below_cost_and_survival_matters():
    post = shot(pulses=4)
    cheap = ValueOfInformation(1000, 1e-9, min_pulses=1).decide(post)
    dear = ValueOfInformation(1000, 0.5, min_pulses=1).decide(post)
    assert not cheap.stop and dear.stop and cheap.value == pytest.approx(dear.value)
    fragile = ValueOfInformation(1000, 1e-9, corruption_eps=1e-2, min_pulses=1).decide(post)
    assert fragile.value < cheap.value and fragile.stop  # (1−ε)^k̄ ≈ e^-0.6 wipes out the gain


def test_rule_d_stops_earlier_at_higher_eta_and_ends_confident():
    rng = np.random.default_rng(8)
    pulses_used = {}
    for eta in (0.5, 0.9):
        det = DetectorModel(eta=eta, dark_counts_per_gate=0.02)
        policy = make_policy(PolicyConfig(), 1000, det)
        post = Posterior(1000, det)
        post.update(int(rng.binomial(32, eta)))
        while not policy.decide(post).stop:
            post.update(int(rng.binomial(64, eta)))
        pulses_used[eta] = post.pulses
        assert post.map_S == 32 and post.qfi() / post.qfi_ideal() > 0.9
    assert pulses_used[0.9] < pulses_used[0.5]


def test_make_policy_builds_every_kind_with_guard_rails():
    kinds = {"fixed": FixedPulses, "pmax": PmaxThreshold, "qfi_fraction": QfiFraction,
             "voi": ValueOfInformation}
    for kind, cls in kinds.items():
        policy = make_policy(PolicyConfig(kind=kind, min_pulses=3, max_pulses=9), 100, DET)
        assert isinstance(policy, cls) and policy.min_pulses == 3 and policy.max_pulses == 9
    assert isinstance(make_policy(PolicyConfig(), 100, DET), ValueOfInformation)


@pytest.mark.parametrize(("args", "name"), [
    (({"kind": "voi"}, 100, DET), "policy_config"),
    ((PolicyConfig(), 100.0, DET), "N"),
    ((PolicyConfig(), 100, None), "detector"),
])
def test_make_policy_rejects_wrong_types(args, name):
    with pytest.raises(ValueError, match=name):
        make_policy(*args)


def test_policy_refuses_a_posterior_of_another_n():
    with pytest.raises(ValueError, match="N="):
        PmaxThreshold(100, 0.9).decide(shot(N=1000))


@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_replay_reproduces_every_decision_bit_for_bit(backend):
    rng = np.random.default_rng(21)
    counts = [int(rng.binomial(30, 0.5))] + [int(rng.binomial(60, 0.5)) for _ in range(40)]
    runs = []
    for _ in range(2):
        post = Posterior(1000, DET, backend=backend)
        policy = make_policy(PolicyConfig(min_pulses=1), 1000, DET)
        decisions = []
        for n in counts:
            post.update(n)
            decisions.append(policy.decide(post))
        runs.append(decisions)
    assert runs[0] == runs[1]
