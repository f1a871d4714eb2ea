"""Check the closed forms against brute-force linear algebra on the symmetric subspace."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.physics import log_prior, qfi_coupling, qfi_mixed, qfi_pure

SMALL_N = [1, 2, 3, 4, 5, 6, 9, 12]


@pytest.mark.parametrize("N", SMALL_N)
def test_prior_matches_projection_onto_spin_eigenspaces(ensemble, N):
    model = ensemble(N)
    dicke = model.prior_and_dicke()
    assert set(dicke) == set(range(N % 2, N + 1, 2))  # parity: only S ≡ N (mod 2) occur
    for S, (weight, _) in dicke.items():
        assert np.exp(log_prior(N, S)) == pytest.approx(weight, rel=1e-10, abs=0)
    assert sum(w for w, _ in dicke.values()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("N", SMALL_N)
def test_pure_qfi_and_coupling_match_matrices(ensemble, N):
    model = ensemble(N)
    lowest = {S: model.lowest(state, S) for S, (_, state) in model.prior_and_dicke().items()}
    for S, psi in lowest.items():
        assert psi @ model.sz @ psi == pytest.approx(-S, abs=1e-9)
        mean_g = psi @ model.g @ psi
        brute = 4.0 * (psi @ model.g @ model.g @ psi - mean_g**2)
        assert qfi_pure(N, S) == pytest.approx(brute, rel=1e-10)
        if S + 2 in lowest:
            brute_g = abs(lowest[S + 2] @ model.g @ psi)
            assert qfi_coupling(N, S) == pytest.approx(brute_g, rel=1e-10)
        # G moves M by ±2 only: nothing couples S to S±4 or beyond inside the family
        for other, phi in lowest.items():
            if abs(other - S) not in (2,):
                assert abs(phi @ model.g @ psi) < 1e-9


@pytest.mark.parametrize("N", [4, 6, 9, 12])
def test_mixed_qfi_matches_eq1(ensemble, qfi_from_density, N):
    model = ensemble(N)
    states = {S: model.lowest(v, S) for S, (_, v) in model.prior_and_dicke().items()}
    spins = np.array(sorted(states))
    rng = np.random.default_rng(N)
    for trial in range(4):
        p = rng.random(spins.size)
        if trial == 1:
            p[::2] = 0.0  # gaps: no S±2 neighbours
        p /= p.sum()
        rho = sum(pk * np.outer(states[S], states[S]) for S, pk in zip(spins, p, strict=True))
        assert qfi_mixed(N, spins, p) == pytest.approx(qfi_from_density(rho, model.g),
                                                       rel=1e-10, abs=1e-10)
