"""Run one heralding shot of a study on the virtual lab, with several estimators on one record.

Shared by the study kinds (policy, timing): the lab fires alternating TC / anti-TC pulses (an
armed switch pattern, fired in blocks) and every estimator's posterior reads the same pulses;
each (estimator, policy) pair stops on its own, and the shot ends when all have stopped or
``cap`` pulses were fired. The lab is passed in, so core modules never import the simulators.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from heralder.config import AtomsConfig
from heralder.control.records import SwitchState
from heralder.estimation import DetectorModel, Policy, PolicyDecision, Posterior
from heralder.physics.cavity import cascade_gammas_per_s, recommended_gate_s

__all__ = ["BLOCK", "run_policies", "study_detector"]

#: Pulses fired per block between decisions' bookkeeping (the lab's streamed mode).
BLOCK = 16

#: ``on_stop(key, posterior, decision, pulse)``: called once when the policy ``key`` stops.
OnStop = Callable[[tuple[str, str], Posterior, PolicyDecision, Any], None]


def study_detector(atoms: AtomsConfig, eta: float, dark_counts_per_gate: float,
                   dead_time_s: float = 0.0) -> DetectorModel:
    """Return the detector of a study point: the cascade Γ of ``atoms`` and the recommended gate.

    Raises
    ------
    ValueError
        If a detector parameter is out of range (names it).
    """
    gamma_tc, gamma_antitc = cascade_gammas_per_s(atoms)
    return DetectorModel(eta=eta, dark_counts_per_gate=dark_counts_per_gate,
                         gate_s=recommended_gate_s(atoms), dead_time_s=dead_time_s,
                         gamma_tc_per_s=gamma_tc, gamma_antitc_per_s=gamma_antitc)


def run_policies(lab: Any, posteriors: Mapping[str, Posterior], timed: Collection[str],
                 policies: Mapping[tuple[str, str], Policy], cap: int,
                 on_stop: OnStop) -> list[Any]:
    """Fire pulses on ``lab`` (after its ``new_shot``) until every policy stopped or ``cap``.

    Parameters
    ----------
    lab
        A :class:`heralder.simulators.lab.VirtualLab` with a new shot prepared.
    posteriors
        Estimator name -> its posterior; each is updated while one of its policies runs.
    timed
        Names of the estimators that update with arrival times (the others with counts).
    policies
        (estimator, policy name) -> policy; every estimator of a key must be in ``posteriors``.
    cap
        Largest number of pulses.
    on_stop
        Called when a policy stops, with the pulse it stopped after.

    Returns
    -------
    list of PulseBlock
        The blocks fired (the last may hold pulses after the final stop).
    """
    active = dict(policies)
    blocks = []
    lab.switch.arm_pattern([SwitchState.TC, SwitchState.ANTI_TC])
    fired = 0
    while active and fired < cap:
        block = lab.fire_pulses(min(BLOCK, cap - fired))
        blocks.append(block)
        for i in range(len(block)):
            pulse = block.pulse(i)
            fired += 1
            running = {key[0] for key in active}
            for name, post in posteriors.items():
                if name not in running:  # every policy of this estimator has stopped
                    continue
                if name in timed:
                    post.update_times(pulse.times_s, pulse.gate_s)
                else:
                    post.update(pulse.count)
            for key in list(active):
                post = posteriors[key[0]]
                decision = active[key].decide(post)
                if decision.stop:
                    on_stop(key, post, decision, pulse)
                    del active[key]
            if not active:
                break
    lab.switch.stop_pattern()
    return blocks
