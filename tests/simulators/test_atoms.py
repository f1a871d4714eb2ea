"""Check the simulated atoms against closed forms: prior, photon numbers, cascade timing, jumps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from heralder.control.records import SwitchState
from heralder.physics import cascade_rates, log_prior, mean_pulse_duration
from heralder.simulators.atoms import CollectiveAtoms

GAMMA = 1000.0  # 1/s
LONG_GATE_S = 10.0
TC, ANTI = True, False


def make_atoms(seed: int = 1, n_atoms: int = 1000, **kwargs) -> CollectiveAtoms:
    return CollectiveAtoms(n_atoms, GAMMA, GAMMA, np.random.default_rng(seed), **kwargs)


def chi2_pvalue(samples: np.ndarray, N: int) -> float:
    """Return the χ² p-value of spin-length samples against |c_S|², pooling sparse tails."""
    support = np.arange(N % 2, N + 1, 2)
    expected = np.exp(log_prior(N, support)) * samples.size
    observed = np.array([(samples == s).sum() for s in support], float)
    keep = expected >= 5
    pooled_obs = np.append(observed[keep], observed[~keep].sum())
    pooled_exp = np.append(expected[keep], expected[~keep].sum())
    return float(stats.chisquare(pooled_obs, pooled_exp * pooled_obs.sum() / pooled_exp.sum())
                 .pvalue)


def test_spin_lengths_follow_the_prior_by_chi_squared() -> None:
    atoms = make_atoms(seed=11, n_atoms=100)
    samples = np.array([atoms.prepare() for _ in range(20000)])
    assert chi2_pvalue(samples, 100) > 1e-3
    # The same test rejects the prior of a different N: it can fail.
    assert chi2_pvalue(samples, 80) < 1e-6


def test_photon_numbers_follow_the_ladder() -> None:
    atoms = make_atoms()
    atoms.prepare(30)
    block = atoms.drive(np.array([TC, ANTI, TC, TC, ANTI, ANTI, TC]), LONG_GATE_S, times=True)
    assert block.emitted.tolist() == [30, 60, 60, 0, 60, 0, 60]
    assert block.times_s.size == block.emitted.sum()
    assert atoms.m == -30
    atoms.prepare(30)
    assert atoms.drive(np.array([ANTI]), LONG_GATE_S, times=False).emitted.tolist() == [30]
    assert atoms.m == 30


def test_wrong_polarisation_emits_no_photon_even_with_darkness_of_many_pulses() -> None:
    atoms = make_atoms()
    atoms.prepare(40)
    block = atoms.drive(np.array([TC] * 50), LONG_GATE_S, times=True)
    assert block.emitted[0] == 40 and block.emitted[1:].sum() == 0
    assert np.all(block.pulse_of == 0)


@pytest.mark.parametrize("first", [True, False])
def test_cascade_duration_mean_and_variance_match_the_rates(first: bool) -> None:
    S, n = 20, 4000
    atoms = make_atoms(seed=5)
    last = []
    for _ in range(n // 100):
        atoms.prepare(S)
        if not first:
            atoms.drive(np.array([TC]), LONG_GATE_S, times=False)
        tc = np.array([TC, ANTI] * 50) if first else np.array([ANTI, TC] * 50)
        if first:  # one first pulse per shot
            for _ in range(100):
                atoms.prepare(S)
                block = atoms.drive(np.array([TC]), LONG_GATE_S, times=True)
                last.append(block.times_s[-1])
        else:
            block = atoms.drive(tc, LONG_GATE_S, times=True)
            ends = np.flatnonzero(np.diff(np.append(block.pulse_of, -1)))
            last.extend(block.times_s[ends])
    last = np.array(last)
    pulse = 0 if first else 1
    rates = GAMMA * cascade_rates(S, pulse)
    mean = mean_pulse_duration(S, pulse) / GAMMA
    var = (1.0 / rates**2).sum()
    assert abs(last.mean() - mean) < 4.5 * np.sqrt(var / last.size)
    assert last.var() == pytest.approx(var, rel=0.12)


def test_emission_rate_profile_matches_every_step() -> None:
    """The j-th photon's mean time is Σ_{i≤j} 1/(Γ r_i); the first waits Exp(Γ r_1)."""
    S, n = 15, 3000
    atoms = make_atoms(seed=8, n_atoms=1001)
    atoms.prepare(S)
    atoms.drive(np.array([TC]), LONG_GATE_S, times=False)
    block = atoms.drive(np.array([ANTI, TC] * (n // 2)), LONG_GATE_S, times=True)
    times = block.times_s.reshape(n, 2 * S)
    rates = GAMMA * cascade_rates(S, 1)
    expected = np.cumsum(1.0 / rates)
    sem = np.sqrt(np.cumsum(1.0 / rates**2) / n)
    z = (times.mean(axis=0) - expected) / sem
    assert np.abs(z).max() < 4.5
    assert stats.kstest(times[:, 0], "expon", args=(0, 1 / rates[0])).pvalue > 1e-3
    steps = np.diff(times, axis=1)[:, S]  # the fastest, middle step
    assert stats.kstest(steps, "expon", args=(0, 1 / rates[S + 1])).pvalue > 1e-3


def test_a_short_gate_leaves_the_atoms_part_way_down_the_ladder() -> None:
    atoms = make_atoms(seed=3)
    atoms.prepare(50)
    short_gate_s = 0.2 * mean_pulse_duration(50, 0) / GAMMA
    block = atoms.drive(np.array([TC]), short_gate_s, times=True)
    done = int(block.emitted[0])
    assert 0 < done < 50 and atoms.m == -done
    assert block.times_s.max() < short_gate_s
    rest = atoms.drive(np.array([TC]), LONG_GATE_S, times=False)
    assert rest.emitted[0] == 50 - done


def test_counts_only_path_matches_the_timed_path() -> None:
    """Without times the photon numbers are the same: S then 2S per switched pulse."""
    atoms = make_atoms(seed=4)
    atoms.prepare(24)
    fast = atoms.drive(np.array([TC, ANTI] * 5), LONG_GATE_S, times=False)
    assert fast.times_s is None
    assert fast.emitted.tolist() == [24] + [48] * 9


def test_scattering_loses_photons_and_jumps_s_by_the_kernel() -> None:
    eps, S = 0.02, 30
    atoms = make_atoms(seed=21, scatter_eps=eps)
    deltas, lost, steps = [], 0, 0
    for _ in range(400):
        atoms.prepare(S)
        block = atoms.drive(np.array([TC]), LONG_GATE_S, times=True)
        assert block.emitted[0] + block.scattered[0] == S
        lost += int(block.scattered[0])
        steps += S
        if block.scattered[0] == 1:
            deltas.append(int(block.s_after[0]) - S)
    assert abs(lost / steps - eps) < 4 * np.sqrt(eps / steps)
    counts = np.array([deltas.count(d) for d in (-1, 0, 1)])
    assert counts.sum() == len(deltas) and set(deltas) <= {-1, 0, 1}
    assert stats.chisquare(counts).pvalue > 1e-3


def test_after_a_jump_later_pulses_emit_twice_the_new_s() -> None:
    atoms = make_atoms(seed=2, scatter_eps=0.05, jump_kernel=(0, 0, 0, 1, 0))
    atoms.prepare(20)
    block = atoms.drive(np.array([TC, ANTI] * 20), LONG_GATE_S, times=True)
    jumped = np.flatnonzero(block.s_after != block.s_before)
    assert jumped.size
    i = int(jumped[0])
    s_new = int(block.s_after[i])
    assert s_new == 20 + int(block.scattered[i])
    nxt = i + 1
    assert block.emitted[nxt] + block.scattered[nxt] == 2 * s_new


def test_leak_spreads_the_count_symmetrically_as_the_notes_table() -> None:
    """notes estimator §2.5: r² = 1e-3, S = 20, full pulse: P(k0) = 0.387, P(≤k0−2) = 0.301,
    P(≥k0+2) = 0.312 (exact quantum-jump sums)."""
    atoms = make_atoms(seed=17, leak_r2=1e-3)
    n = 500
    k = []
    for _ in range(n):
        atoms.prepare(20)
        atoms.psi = None
        atoms.m = 20  # start the full TC pulse from |S, +S>
        k.append(int(atoms.drive(np.array([TC]), LONG_GATE_S, times=False).emitted[0]))
    k = np.array(k)
    assert set(np.unique(k) - 40) <= {-6, -4, -2, 0, 2, 4, 6}
    for observed, expected in ((np.mean(k == 40), 0.387), (np.mean(k < 40), 0.301),
                               (np.mean(k > 40), 0.312)):
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_atoms": 0}, "n_atoms"),
        ({"gamma_tc_per_s": -1.0}, "gamma_tc_per_s"),
        ({"scatter_eps": 1.5}, "scatter_eps"),
        ({"leak_r2": -0.1}, "leak_r2"),
        ({"jump_kernel": (1.0, 2.0)}, "jump_kernel"),
    ],
)
def test_unphysical_parameters_raise_value_error_naming_them(kwargs: dict, name: str) -> None:
    args = {"n_atoms": 10, "gamma_tc_per_s": 1.0, "gamma_antitc_per_s": 1.0,
            "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        CollectiveAtoms(**args)


def test_bad_fixed_s_raises() -> None:
    atoms = make_atoms(n_atoms=10)
    with pytest.raises(ValueError, match="fixed_s"):
        atoms.prepare(3)
    with pytest.raises(ValueError, match="gate_s"):
        atoms.drive(np.array([TC]), -1.0, times=False)


@pytest.mark.parametrize("scatter_eps", [0.0, 0.05])
def test_single_pulses_equal_drive_also_when_the_gate_cuts_the_cascade(scatter_eps) -> None:
    """drive_one (the stepped run's scalar path) gives drive()'s result and state, draw for draw,
    also where the cascade may outlast the gate (its times are then drawn)."""
    gate_s = 4e-3  # Γ·gate ~ 0.5: short cascades (S = 2..6) are often cut by the gate
    scalar, block = (CollectiveAtoms(100, 150.0, 90.0, np.random.default_rng(5),
                                     scatter_eps=scatter_eps) for _ in range(2))
    choose = np.random.default_rng(1)
    cut = 0
    for spin in (2, 4, 6, 40):
        for _ in range(50):
            scalar.prepare(spin), block.prepare(spin)
            for _ in range(6):
                tc = bool(choose.random() < 0.6)  # sometimes forgets to switch
                state = SwitchState.TC if tc else SwitchState.ANTI_TC
                steps_before = spin + scalar.m if tc else spin - scalar.m
                one = scalar.drive_one(state, gate_s)
                run = block.drive(np.array([tc]), gate_s, times=False)
                assert one == (int(run.emitted[0]), int(run.scattered[0]))
                assert (scalar.s, scalar.m) == (block.s, block.m)
                cut += sum(one) < steps_before and not one[1]
    assert cut > 100  # the gate did cut cascades short
