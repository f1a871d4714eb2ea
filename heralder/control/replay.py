"""Replay a run's journal through the estimator and check every decision bit for bit.

The replay starts from the config stored in the journal's ``run`` record, applies the
``parameter`` events in journal order, uses the estimator backend the run recorded, feeds each
shot's pulses (counts, or arrival times when the run used them) to a fresh posterior through
:func:`heralder.control.shot.update_posterior`, and compares the policy's verdict and value and
the posterior summary with what the run recorded, as exact floats.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heralder.config import config_from_dict, updated_config
from heralder.control.estimator_setup import arrival_times_used, new_policy, new_posterior
from heralder.control.shot import update_posterior
from heralder.storage.journal import read_journal
from heralder.storage.writer import JOURNAL_NAME

__all__ = ["ReplayReport", "replay_run"]


@dataclass
class ReplayReport:
    """Hold what :func:`replay_run` compared.

    Attributes
    ----------
    shots, decisions
        Shots and decisions replayed.
    mismatches
        One line per difference (empty when the replay reproduces the run exactly).
    """

    shots: int = 0
    decisions: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return ``True`` when every decision was reproduced."""
        return not self.mismatches


def _same(a: float, b: float) -> bool:
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def replay_run(run_dir: str | Path) -> ReplayReport:
    """Replay ``run_dir/journal.jsonl`` and return the comparison.

    Raises
    ------
    ValueError
        If the journal has no ``run`` record first.
    """
    report = ReplayReport()
    records = read_journal(Path(run_dir) / JOURNAL_NAME)
    header = next(records)
    if header["type"] != "run":
        raise ValueError(f"{run_dir}: journal does not start with a run record")
    config = config_from_dict(tomllib.loads(header["config_toml"]))
    backend = header["estimator_backend"]
    template_for = None
    template = policy = None
    for record in records:
        if record["type"] == "event" and record["kind"] == "parameter":
            config = updated_config(config, record["data"]["changes"])
        if record["type"] != "shot":
            continue
        if template_for != config:
            template, policy, template_for = new_posterior(config, backend), new_policy(config), \
                config
        posterior = template.copy()
        report.shots += 1
        _replay_shot(record, posterior, policy, config, report)
    return report


def _replay_shot(record: dict, posterior: object, policy: object, config: object,
                 report: ReplayReport) -> None:
    tables = record["tables"]
    pulses, decisions, summary = tables["pulses"], tables["decisions"], tables["posterior"]
    photons = tables["photons"]
    use_times = arrival_times_used(config)  # as the engine decided
    shot = record["shot"]
    for k in range(len(pulses["counts"])):
        if not pulses["valid"][k]:
            break  # the engine herald after lost data without updating
        times = photons["times_s"][photons["pulse_index"] == k] if use_times else None
        update_posterior(posterior, int(pulses["counts"][k]), times, use_times,
                         config.detector.gate_s)
        verdict = policy.decide(posterior)
        report.decisions += 1
        where = f"shot {shot} pulse {k}"
        if bool(verdict.stop) != bool(decisions["policy_stop"][k]):
            report.mismatches.append(f"{where}: policy stop {verdict.stop}, run had "
                                     f"{bool(decisions['policy_stop'][k])}")
        if not _same(verdict.value, decisions["value"][k]):
            report.mismatches.append(f"{where}: policy value {verdict.value!r}, run had "
                                     f"{float(decisions['value'][k])!r}")
        if posterior.map_S != summary["map_s"][k] or not _same(posterior.pmax,
                                                               summary["pmax"][k]):
            report.mismatches.append(f"{where}: posterior differs (map {posterior.map_S}, "
                                     f"pmax {posterior.pmax!r})")
