"""Study what the exact atom–cavity photon timing does to heralding (issue 12, item 4).

One trial is one heralding shot on the virtual lab whose photon times come from the exact
atom–cavity dynamics (``dynamics = "exact"``) or from the bad-cavity cascade (``"cascade"``, the
model the arrival-time likelihood assumes). Three estimators read the same detection record,
each stopping at max p ≥ ``pmax_threshold``:

* ``counts``: the count likelihood (photon numbers are exact in every regime), with the
  engine's dead-time efficiency: the cascade's where it holds, the exact dynamics' where it does
  not (``[estimator] dead_time_model = "auto"``);
* ``counts_cascade``: the same with the cascade's dead-time efficiency everywhere (the count
  estimator before that choice existed);
* ``times``: the cascade arrival-time likelihood (:meth:`Posterior.update_times`);
* ``remedy``: what the engine does, :func:`heralder.control.estimator_setup.arrival_times_used`
  with arrival times requested: the times where the cascade holds at every plausible S
  (y = λ√(S(S+1))/(κ/2) ≤ 0.3), counts otherwise. It is one of the two above on the same
  record, so its columns are copied from the one it chose.

The cavity: ``preset = "paper"`` ({g, κ}/2π = {10, 0.2} MHz, Ω/Δ = 0.01), ``"bad-cavity"``, or
``"custom"`` with x = √S λ/(κ/2) = ``x`` at the prior's most probable S (≈ √N,
:func:`heralder.physics.prior.peak_spin`). The custom cavity keeps the paper's cascade rate
Γ = 2λ²/κ and reaches x through κ = 2SΓ/x² (λ = xκ/(2√S)): the cascade model, hence the
estimators' likelihoods and the cascade data, are the same at every x, and only the exact
photon times change with x.

Columns of a record: ``<estimator>_{wrong,error,switches,capped}`` (herald ≠ true S, herald −
true S, pulses − 1, stopped by the cap), ``remedy_uses_times``, ``true_s``, ``pulses`` (fired),
``photons`` (emitted into the cavity), ``deadtime_loss`` (measured on the shot's true emission
times: the fraction of the photons kept by η that a non-paralysable dead time removes; dark
counts, 0.02 per gate, are left out), ``deadtime_loss_model`` (what the cascade model predicts
for the same pulses), ``deadtime_loss_exact`` (what the exact dynamics' efficiency predicts for
them), ``x_typ`` and ``y_max`` (x at the typical S and y at the largest plausible S of the
cavity).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from heralder.config import (
    AtomsConfig,
    Config,
    EstimatorConfig,
    LabConfig,
    PolicyConfig,
    updated_config,
)
from heralder.control.clock import SimClock
from heralder.control.estimator_setup import (
    arrival_times_used,
    cascade_validity,
    dead_time_efficiency,
    new_policy,
    new_posterior,
)
from heralder.control.records import SwitchState
from heralder.estimation.efficiency import effective_efficiency
from heralder.physics.cavity import PAPER_PARAMETERS, cavity_parameters
from heralder.physics.exact_dynamics import AtomCavity
from heralder.physics.prior import peak_spin
from heralder.studies.kinds import Record, StudyKind
from heralder.studies.shots import run_policies, study_detector
from heralder.studies.timing_report import write_report

__all__ = ["KIND", "TimingParams", "cavity_atoms", "study_config", "timing_trial", "typical_x"]

_METRICS = ("wrong", "error", "switches", "capped")
_LOSS_REPEATS = 4  # detector draws pooled per shot for the measured dead-time loss


@dataclass(frozen=True)
class TimingParams:
    """Set one point of the timing study (the ``timing`` kind's parameters).

    Attributes
    ----------
    n_atoms, eta
        Atom number and detection efficiency.
    preset
        ``"paper"``, ``"bad-cavity"`` or ``"custom"`` (the cavity of ``x``; see the module).
    x
        √S λ/(κ/2) at the prior's most probable S; used by ``preset = "custom"`` only.
    dynamics
        Photon times of the lab: ``"exact"`` atom–cavity dynamics or the ``"cascade"``.
    dead_time_s, dark_counts_per_gate
        The detector's dead time and dark counts per gate (the estimators model both).
    pmax_threshold
        Each estimator heralds when its largest posterior probability reaches this.
    cap
        Largest number of pulses of a shot (a capped herald is the MAP S there).
    backend
        Estimator backend.
    """

    n_atoms: int = 1000
    eta: float = 0.5
    preset: Literal["paper", "bad-cavity", "custom"] = "custom"
    x: float = 1.0
    dynamics: Literal["exact", "cascade"] = "exact"
    dead_time_s: float = 22e-9
    dark_counts_per_gate: float = 0.02
    pmax_threshold: float = 0.99
    cap: int = 400
    backend: Literal["auto", "numpy", "numba"] = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.n_atoms, bool) or not isinstance(self.n_atoms, int) \
                or self.n_atoms < 1:
            raise ValueError(f"n_atoms must be an integer >= 1, got {self.n_atoms!r}")
        if not 0.0 < self.eta <= 1.0:
            raise ValueError(f"eta must lie in (0, 1], got {self.eta!r}")
        if self.preset not in ("paper", "bad-cavity", "custom"):
            raise ValueError(f"preset must be 'paper', 'bad-cavity' or 'custom', "
                             f"got {self.preset!r}")
        if not (math.isfinite(self.x) and self.x > 0.0):
            raise ValueError(f"x must be a finite number > 0, got {self.x!r}")
        if self.dynamics not in ("exact", "cascade"):
            raise ValueError(f"dynamics must be 'exact' or 'cascade', got {self.dynamics!r}")
        for name in ("dead_time_s", "dark_counts_per_gate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 < self.pmax_threshold < 1.0:
            raise ValueError(f"pmax_threshold must lie in (0, 1), got {self.pmax_threshold!r}")
        if isinstance(self.cap, bool) or not isinstance(self.cap, int) or self.cap < 2:
            raise ValueError(f"cap must be an integer >= 2, got {self.cap!r}")


def cavity_atoms(params: TimingParams) -> AtomsConfig:
    """Return the ``[atoms]`` section of a study point (the custom cavity of ``x`` built from
    the paper's Γ and g, see the module)."""
    if params.preset != "custom":
        return AtomsConfig(n_atoms=params.n_atoms, preset=params.preset)
    paper = PAPER_PARAMETERS
    s_typ = max(peak_spin(params.n_atoms), 1)
    kappa_rad_s = 2.0 * s_typ * paper.gamma_tc_per_s / params.x**2
    lambda_rad_s = params.x * kappa_rad_s / (2.0 * math.sqrt(s_typ))
    omega_over_delta = lambda_rad_s * 12.0 * math.sqrt(2.0) / (2.0 * math.pi * paper.g_hz)
    return AtomsConfig(n_atoms=params.n_atoms, preset="custom", g_hz=paper.g_hz,
                       kappa_hz=kappa_rad_s / (2.0 * math.pi), gamma_hz=paper.gamma_hz,
                       omega_over_delta_tc=omega_over_delta,
                       omega_over_delta_antitc=omega_over_delta)


def typical_x(atoms: AtomsConfig) -> float:
    """Return x = √S λ/(κ/2) of the faster polarisation at the prior's most probable S."""
    params = cavity_parameters(atoms)
    s_typ = max(peak_spin(atoms.n_atoms), 1)
    return max(AtomCavity.from_cavity(params, state).x(s_typ)
               for state in (SwitchState.TC, SwitchState.ANTI_TC))


def _model_loss(config: Config, blocks: list[Any], efficiency: Any = None) -> float:
    """Return the dead-time loss ``efficiency`` (default: the cascade's closed form) predicts
    for the fired pulses."""
    detector = config.detector
    efficiency = efficiency or partial(effective_efficiency, detector)
    index = np.concatenate([b.first_index + np.arange(len(b)) for b in blocks])
    spins = np.concatenate([b.s_before for b in blocks])
    emitted = np.concatenate([b.emitted for b in blocks]).astype(float)
    eta_i = np.empty(index.size)
    # η_i(S) depends on the pulse only through "first pulse" and the polarisation's Γ.
    for group in (index == 0, (index > 0) & (index % 2 == 0), index % 2 == 1):
        if group.any():
            eta_i[group] = efficiency(spins[group], int(index[group][0]))
    eta = detector.eta * (1.0 - detector.scatter_eps)
    return float(1.0 - (eta_i @ emitted) / (eta * emitted.sum())) if emitted.sum() else 0.0


class _RecordingAtoms:
    """Stand in for the lab's atoms, passing everything on and keeping each driven block (the
    photon emission times the dead-time loss is measured on)."""

    def __init__(self, atoms: Any) -> None:
        self._atoms = atoms
        self.blocks: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._atoms, name)

    def drive(self, tc: np.ndarray, gate_s: float, *, times: bool) -> Any:
        """Drive the pulses (see ``CollectiveAtoms.drive``) and keep the block."""
        block = self._atoms.drive(tc, gate_s, times=times)
        self.blocks.append(block)
        return block


def _measured_loss(blocks: list[Any], period_s: float, gate_s: float, eta: float,
                   dead_time_s: float, rng: np.random.Generator, apply_dead_time: Any) -> float:
    """Return the fraction of detectable photons a non-paralysable dead time removes, on the
    shot's true emission times: each photon kept with probability η (``_LOSS_REPEATS`` draws,
    pooled), then the dead time applied on the time line of all pulses."""
    kept = registered = 0
    for block in blocks:  # each block's pulses are timed from its own start
        if block.times_s is None:
            continue
        in_gate = block.times_s < gate_s
        line = (block.pulse_of * period_s + block.times_s)[in_gate]
        for _ in range(_LOSS_REPEATS):
            thinned = line[rng.random(line.size) < eta]
            kept += thinned.size
            registered += apply_dead_time(thinned, dead_time_s).size
    return 1.0 - registered / kept if kept else 0.0


def study_config(params: TimingParams) -> Config:
    """Return the run config of a study point with arrival times requested (the engine's
    view: its estimator, policy and arrival-time choice are built from it)."""
    atoms = cavity_atoms(params)
    detector = study_detector(atoms, params.eta, params.dark_counts_per_gate, params.dead_time_s)
    return Config(
        atoms=atoms, detector=detector,
        estimator=EstimatorConfig(backend=params.backend, use_arrival_times=True),
        policy=PolicyConfig(kind="pmax", pmax_threshold=params.pmax_threshold, min_pulses=1,
                            max_pulses=params.cap),
        lab=LabConfig(dynamics=params.dynamics))


def timing_trial(params: TimingParams, rng: np.random.Generator) -> Record:
    """Run one shot with the three estimators on the same record; return the record."""
    # Studies are the composition layer: the lab is loaded here, never imported by core modules.
    lab_module = importlib.import_module("heralder.simulators.lab")
    detector_sim = importlib.import_module("heralder.simulators.detector_sim")
    config = study_config(params)
    lab = lab_module.VirtualLab(config.atoms, config.detector, SimClock(),
                                int(rng.integers(2**63)), lab=config.lab, times=True)
    lab.atoms = recorder = _RecordingAtoms(lab.atoms)
    cascade_config = updated_config(config, {"estimator.dead_time_model": "cascade"})
    posteriors = {"counts": new_posterior(config, params.backend),
                  "counts_cascade": new_posterior(cascade_config, params.backend),
                  "times": new_posterior(config, params.backend)}
    policies = {(name, "pmax"): new_policy(config) for name in posteriors}
    record: Record = {}

    def stop(key: tuple[str, str], post: Any, decision: Any, pulse: Any) -> None:
        name = key[0]
        record[f"{name}_wrong"] = post.map_S != pulse.true_s_after
        record[f"{name}_error"] = post.map_S - pulse.true_s_after
        record[f"{name}_switches"] = post.pulses - 1
        record[f"{name}_capped"] = decision.reason == "max_pulses"

    true_s = lab.new_shot()
    blocks = run_policies(lab, posteriors, {"times"}, policies, params.cap, stop)
    uses_times = arrival_times_used(config)
    chosen = "times" if uses_times else "counts"
    for metric in _METRICS:
        record[f"remedy_{metric}"] = record[f"{chosen}_{metric}"]
    record["remedy_uses_times"] = uses_times
    record["true_s"] = true_s
    record["pulses"] = sum(len(b) for b in blocks)
    record["photons"] = sum(int(b.emitted.sum()) for b in blocks)
    detector = config.detector
    record["deadtime_loss"] = _measured_loss(recorder.blocks, lab.pulse_period_s,
                                             detector.gate_s, detector.eta, detector.dead_time_s,
                                             rng, detector_sim.apply_dead_time)
    record["deadtime_loss_model"] = _model_loss(config, blocks)
    exact = dead_time_efficiency(updated_config(config, {"estimator.dead_time_model": "exact"}))
    record["deadtime_loss_exact"] = _model_loss(config, blocks, exact)
    record["x_typ"] = typical_x(config.atoms)
    record["y_max"] = cascade_validity(config.atoms)[0]
    return record


KIND = StudyKind("timing", TimingParams, timing_trial,
                 "exact vs cascade photon timing: counts, cascade arrival times and the fallback",
                 trials_per_task=2, report=write_report)
