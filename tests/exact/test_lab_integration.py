"""Check the virtual lab's dynamics switch: exact photon times through the unchanged detector."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from heralder.config import AtomsConfig, LabConfig
from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.estimation.detector import DetectorModel
from heralder.physics.cavity import cavity_parameters, recommended_gate_s
from heralder.physics.exact_dynamics import AtomCavity, emission_moments
from heralder.simulators.exact_sampler import ExactSampler, sampler_for_lab
from heralder.simulators.lab import VirtualLab

PAPER = AtomsConfig(n_atoms=400, preset="paper", fixed_s=20)


def test_auto_picks_exact_outside_the_cascade_validity_and_says_so(caplog):
    with caplog.at_level(logging.INFO, logger="heralder.simulators.exact_sampler"):
        assert isinstance(sampler_for_lab(PAPER, "auto"), ExactSampler)
    assert sum("dynamics = auto" in r.getMessage() for r in caplog.records) == 1
    bad_cavity = AtomsConfig(n_atoms=400, preset="bad-cavity")
    assert sampler_for_lab(bad_cavity, "auto") is None
    assert sampler_for_lab(bad_cavity, "exact") is not None
    assert sampler_for_lab(PAPER, "cascade") is None
    with pytest.raises(ValueError, match="dynamics"):
        sampler_for_lab(PAPER, "quantum")


def test_exact_lab_emits_the_exact_numbers_at_the_exact_times():
    """Ideal detector: every photon is registered; counts are S then 2S, times are exact."""
    gate_s = recommended_gate_s(PAPER)
    detector = DetectorModel(eta=1.0, gate_s=gate_s)
    lab = VirtualLab(PAPER, detector, SimClock(), 3, lab=LabConfig(dynamics="exact"),
                     pulse_period_s=1.1 * gate_s)
    first_times = []
    for _ in range(60):
        assert lab.new_shot() == 20
        state = SwitchState.TC
        for index in range(3):
            lab.switch.request(state)
            lab.clock.sleep(lab.switch.settle_time_s)
            pulse = lab.fire_pulse()
            assert pulse.emitted == pulse.count == (20 if index == 0 else 40)
            if index == 0:
                first_times.append(pulse.times_s)
            state = state.other()
    model = AtomCavity.from_cavity(cavity_parameters(PAPER), SwitchState.TC)
    exact = emission_moments(model, 20)
    mean_time = np.mean([t.mean() for t in first_times])
    spread = np.std([t.mean() for t in first_times]) / np.sqrt(len(first_times))
    assert abs(mean_time - exact.mean_emission_s) < 4.5 * spread
