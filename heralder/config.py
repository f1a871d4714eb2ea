"""Load one TOML setup file into frozen, validated dataclasses (DESIGN §7).

Every section of the file is a dataclass below; an unknown key, a value of the wrong type, a missing
required key or a value a section rejects raises :class:`~heralder.errors.ConfigError` naming the
key, the file and the line (the checks live in :mod:`heralder.tomlschema`, which study sweep files
share).

Examples
--------
>>> cfg = load_config("examples/simulated.toml")          # doctest: +SKIP
>>> cfg.detector.eta, cfg.devices.counter.address          # doctest: +SKIP
(0.7, 'sim://sr400')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w

from heralder.errors import ConfigError
from heralder.estimation.detector import DetectorModel
from heralder.tomlschema import read_toml, section_from_dict, to_plain

__all__ = [
    "AtomsConfig",
    "Config",
    "DeviceConfig",
    "DevicesConfig",
    "EngineConfig",
    "EstimatorConfig",
    "FaultConfig",
    "GuiConfig",
    "LabConfig",
    "PolicyConfig",
    "RunConfig",
    "StorageConfig",
    "config_from_dict",
    "dump_config",
    "load_config",
    "updated_config",
]


@dataclass(frozen=True)
class RunConfig:
    """Name a run and set how many shots it takes.

    Attributes
    ----------
    name
        Short label stored with the data.
    seed
        Master seed; every random stream of the run is spawned from it.
    shots
        Number of heralding shots.
    mode
        ``"stepped"`` (the host sets the switch before each pulse) or ``"streamed"``
        (hardware-clocked alternation read from a time tagger).
    realtime
        Pace a simulated lab to the wall clock instead of running as fast as possible.
    operator, notes
        Free text stored with the data.
    """

    name: str = "heralder"
    seed: int = 0
    shots: int = 100
    mode: Literal["stepped", "streamed"] = "stepped"
    realtime: bool = False
    operator: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.shots < 1:
            raise ValueError(f"shots must be >= 1, got {self.shots}")


@dataclass(frozen=True)
class AtomsConfig:
    """Describe the atoms and the cavity coupling (the physics of a real or simulated lab).

    Attributes
    ----------
    n_atoms
        Number N of spin-1 atoms, all prepared in m_F = 0.
    preset
        Named parameter set: ``"paper"`` ({g, κ, γ}/2π = {10, 0.2, 6} MHz, Ω/Δ = 0.01),
        ``"bad-cavity"``, or ``"custom"`` (the fields below).
    g_hz, kappa_hz, gamma_hz
        {g, κ, γ}/2π in Hz (used by the ``custom`` preset).
    omega_over_delta_tc, omega_over_delta_antitc
        Ω₋/Δ and Ω₊/Δ of the two drive polarisations (``custom`` preset).
    fixed_s
        Simulated labs only: use this spin length for every shot instead of drawing from |c_S|².
    """

    n_atoms: int = 1000
    preset: Literal["paper", "bad-cavity", "custom"] = "paper"
    g_hz: float = 10e6
    kappa_hz: float = 0.2e6
    gamma_hz: float = 6e6
    omega_over_delta_tc: float = 0.01
    omega_over_delta_antitc: float = 0.01
    fixed_s: int | None = None

    def __post_init__(self) -> None:
        if self.n_atoms < 1:
            raise ValueError(f"n_atoms must be >= 1, got {self.n_atoms}")
        for name in ("g_hz", "kappa_hz", "gamma_hz", "omega_over_delta_tc",
                     "omega_over_delta_antitc"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.fixed_s is not None and not (
            0 <= self.fixed_s <= self.n_atoms and (self.n_atoms - self.fixed_s) % 2 == 0
        ):
            raise ValueError(
                f"fixed_s must lie in [0, n_atoms] with the parity of n_atoms "
                f"({self.n_atoms}), got {self.fixed_s}"
            )


@dataclass(frozen=True)
class LabConfig:
    """Describe what a simulated lab does beyond the estimator's model (``[lab]``; DESIGN §5).

    Attributes
    ----------
    jitter_s
        Standard deviation of the Gaussian timing jitter of every registered click, seconds.
    background_rate_hz
        Stray-light clicks per second on top of the detector's dark counts (Poisson).
    afterpulse_delay_s
        Mean delay (exponential) of an afterpulse after its parent click's dead time ends.
    switch_settle_s
        Time from a switch request until the new polarisation is clean, seconds.
    switch_failure
        ``"none"``; ``"stuck"`` (a request is acknowledged but the optics do not change) or
        ``"late"`` (the optics change ``switch_late_s`` after the settle time).
    switch_failure_prob
        Probability per request that the failure happens (when ``switch_failure`` is not none).
    switch_late_s
        Extra delay of a late switch, seconds.
    jump_kernel
        Relative weights of ΔS = −2, −1, 0, +1, +2 when a free-space scattering event corrupts S
        (DESIGN §10: uniform over −1, 0, +1 in v1).
    detector
        The TRUE detector when it differs from the estimator's ``[detector]`` (model-mismatch
        studies); ``None`` means the lab's detector is exactly ``[detector]``.
    dynamics
        Photon times from the bad-cavity ``"cascade"``, the ``"exact"`` atom–cavity dynamics
        (:mod:`heralder.simulators.exact_sampler`), or ``"auto"``: exact when
        λ√(S(S+1))/(κ/2) > 0.3 at the largest likely S.
    """

    jitter_s: float = 0.0
    background_rate_hz: float = 0.0
    afterpulse_delay_s: float = 50e-9
    switch_settle_s: float = 1e-6
    switch_failure: Literal["none", "stuck", "late"] = "none"
    switch_failure_prob: float = 1.0
    switch_late_s: float = 0.0
    jump_kernel: tuple[float, ...] = (0.0, 1.0, 1.0, 1.0, 0.0)
    detector: DetectorModel | None = None
    dynamics: Literal["cascade", "exact", "auto"] = "cascade"

    def __post_init__(self) -> None:
        for name in ("jitter_s", "background_rate_hz", "afterpulse_delay_s", "switch_settle_s",
                     "switch_late_s"):
            value = getattr(self, name)
            if not (0.0 <= value < float("inf")):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= self.switch_failure_prob <= 1.0:
            raise ValueError(
                f"switch_failure_prob must lie in [0, 1], got {self.switch_failure_prob!r}"
            )
        kernel = self.jump_kernel
        if (len(kernel) != 5 or not all(0.0 <= w < float("inf") for w in kernel)
                or sum(kernel) <= 0.0):
            raise ValueError(
                f"jump_kernel must be 5 finite weights >= 0 (ΔS = -2..+2) with a positive sum, "
                f"got {kernel!r}"
            )


@dataclass(frozen=True)
class EstimatorConfig:
    """Choose how the posterior over S is computed.

    Attributes
    ----------
    backend
        ``"numpy"`` (reference), ``"numba"`` (compiled) or ``"auto"`` (compiled when installed).
    use_arrival_times
        Update with photon arrival times when the source delivers tags.
    prune_nats
        Drop values of S whose log-posterior is this far below the maximum.
    outlier_rho
        Weight of the S-independent outlier component of the likelihood.
    dead_time_model
        Photon stream the count likelihood's dead-time efficiency η_i(S) assumes: the bad-cavity
        ``"cascade"`` (closed form), the ``"exact"`` atom–cavity dynamics (tabulated from
        ``[atoms]`` when the run starts), or ``"auto"``: exact where the cascade is invalid
        (:func:`heralder.physics.cavity.cascade_validity`).
    """

    backend: Literal["auto", "numpy", "numba"] = "auto"
    use_arrival_times: bool = False
    prune_nats: float = 50.0
    outlier_rho: float = 1e-9
    dead_time_model: Literal["auto", "cascade", "exact"] = "auto"

    def __post_init__(self) -> None:
        if not self.prune_nats >= 30.0:  # notes/estimator.md R6: never prune below 30 nats
            raise ValueError(f"prune_nats must be >= 30, got {self.prune_nats}")
        if not 0.0 <= self.outlier_rho < 1.0:
            raise ValueError(f"outlier_rho must lie in [0, 1), got {self.outlier_rho}")
        if self.dead_time_model not in ("auto", "cascade", "exact"):
            raise ValueError(f"dead_time_model must be 'auto', 'cascade' or 'exact', "
                             f"got {self.dead_time_model!r}")


@dataclass(frozen=True)
class PolicyConfig:
    """Choose when to stop switching and herald (notes/estimator.md §7).

    Attributes
    ----------
    kind
        ``"fixed"`` (a fixed number of pulses), ``"pmax"`` (stop when max p ≥ threshold),
        ``"qfi_fraction"`` (stop when F(ρ) ≥ fraction × Σ p_S F_S) or ``"voi"`` (decision-theoretic
        value of information, rule (d)).
    n_pulses
        Pulses per shot for ``fixed``.
    pmax_threshold
        Threshold for ``pmax``.
    qfi_fraction
        Threshold for ``qfi_fraction``.
    voi_cost
        Cost c of one more pulse for ``voi``, as a fraction of F_ideal.
    min_pulses, max_pulses
        Guard rails for every policy.
    """

    kind: Literal["fixed", "pmax", "qfi_fraction", "voi"] = "voi"
    n_pulses: int = 10
    pmax_threshold: float = 0.99
    qfi_fraction: float = 0.95
    voi_cost: float = 1e-4
    min_pulses: int = 2
    max_pulses: int = 400

    def __post_init__(self) -> None:
        if self.n_pulses < 1:
            raise ValueError(f"n_pulses must be >= 1, got {self.n_pulses}")
        if not 0.0 < self.pmax_threshold <= 1.0:
            raise ValueError(f"pmax_threshold must lie in (0, 1], got {self.pmax_threshold}")
        if not 0.0 < self.qfi_fraction <= 1.0:
            raise ValueError(f"qfi_fraction must lie in (0, 1], got {self.qfi_fraction}")
        if not self.voi_cost > 0.0:
            raise ValueError(f"voi_cost must be > 0, got {self.voi_cost}")
        if not 1 <= self.min_pulses <= self.max_pulses:
            raise ValueError(
                f"need 1 <= min_pulses <= max_pulses, got {self.min_pulses} and {self.max_pulses}"
            )


@dataclass(frozen=True)
class EngineConfig:
    """Set the engine's timing, deadlines and reactions to faults.

    Attributes
    ----------
    pulse_period_s
        Time from one pulse to the next (gate + switch settle + margin).
    decision_deadline_s
        Time from data in to switch acknowledged before a decision counts as late.
    read_timeout_s
        Timeout of every device read.
    on_deadline_miss
        ``"stop"`` heralds the shot with what is known; ``"continue"`` records the miss and goes on.
    on_device_error
        ``"stop"`` ends the run; ``"continue"`` marks the shot failed, reopens the device and
        goes on.
    qfi_every_pulse
        Compute F(ρ) and Σ p_S F_S after every pulse (stored, and the GUI's history); ``false``
        computes them only at the herald (NaN in between), which is faster at large N.
    pin_cpu
        The CPU the engine thread and its writer run on: ``"auto"`` (one CPU, the last this
        process may use, when it may use two or more and the estimator reads counts; arrival
        times spread their work over two cores and are left unpinned), ``"off"`` (the OS
        places them), or a CPU number such as ``"3"``.
    """

    pulse_period_s: float = 200e-6
    decision_deadline_s: float = 1e-3
    read_timeout_s: float = 1.0
    on_deadline_miss: Literal["stop", "continue"] = "continue"
    on_device_error: Literal["stop", "continue"] = "stop"
    qfi_every_pulse: bool = True
    pin_cpu: str = "auto"

    def __post_init__(self) -> None:
        for name in ("pulse_period_s", "decision_deadline_s", "read_timeout_s"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.pin_cpu not in ("auto", "off") and not (self.pin_cpu.isascii()
                                                         and self.pin_cpu.isdigit()):
            raise ValueError(f'pin_cpu must be "auto", "off" or a CPU number such as "3", '
                             f"got {self.pin_cpu!r}")


@dataclass(frozen=True)
class DeviceConfig:
    """Say which driver talks to a device and where it is.

    Attributes
    ----------
    driver
        Registry name of the driver (``sr400``, ``keysight_53230a``, ``swabian``, ``lcc25``,
        ``keysight_33500``, or a ``virtual_*`` in-process simulator).
    address
        VISA resource string, serial port, ``socket://host:port`` or ``sim://<instrument>``.
    timeout_s
        Default timeout of every exchange with the device.
    settings
        Driver-specific settings; the driver validates them when it is built.
    """

    driver: str
    address: str
    timeout_s: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.driver:
            raise ValueError("driver must not be empty")
        if not self.address:
            raise ValueError("address must not be empty")
        if not self.timeout_s > 0.0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")


@dataclass(frozen=True)
class DevicesConfig:
    """Assign a device to each role of the experiment (any may be absent)."""

    counter: DeviceConfig | None = None
    tagger: DeviceConfig | None = None
    switch: DeviceConfig | None = None
    trigger: DeviceConfig | None = None

    def items(self) -> list[tuple[str, DeviceConfig]]:
        """Return the configured ``(role, device)`` pairs in a fixed order."""
        roles = ("counter", "tagger", "switch", "trigger")
        return [(role, getattr(self, role)) for role in roles if getattr(self, role) is not None]


@dataclass(frozen=True)
class FaultConfig:
    """Script one injected fault of a simulated device (``[[faults]]`` tables).

    Attributes
    ----------
    device
        Role of the device the fault hits (``counter``, ``switch``, ...).
    kind
        What goes wrong.
    after_commands
        Number of commands the device answers normally before the fault starts.
    probability
        Probability per command once started (1 = every command).
    delay_s
        Extra reply delay for ``slow_reply``, or the lag of ``switch_late``.
    count
        Fire at most this many times (0: no limit), e.g. one dropped connection.
    """

    device: str
    kind: Literal[
        "no_reply", "slow_reply", "disconnect", "garbage", "truncated_block", "error_state",
        "switch_stuck", "switch_late",
    ]
    after_commands: int = 0
    probability: float = 1.0
    delay_s: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")
        if self.after_commands < 0:
            raise ValueError(f"after_commands must be >= 0, got {self.after_commands}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must lie in [0, 1], got {self.probability}")
        if not self.delay_s >= 0.0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")


@dataclass(frozen=True)
class StorageConfig:
    """Say where and how runs are recorded (DESIGN §6).

    Attributes
    ----------
    root
        Directory under which ``<date>/<time>_<uid>/`` run folders are made.
    queue_size
        Capacity of the writer queue, in records; a full queue is reported as backpressure.
    posterior_stride
        Store the full posterior every this many pulses (0: only at the herald).
    writer
        Where the journal and HDF5 file are written: ``"thread"`` (a thread of the engine's
        process) or ``"process"`` (a writer process, off the engine's GIL).
    """

    root: str = "runs"
    queue_size: int = 10000
    posterior_stride: int = 0
    writer: str = "thread"

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {self.queue_size}")
        if self.writer not in ("process", "thread"):
            raise ValueError(f"writer must be 'process' or 'thread', got {self.writer!r}")
        if self.posterior_stride < 0:
            raise ValueError(f"posterior_stride must be >= 0, got {self.posterior_stride}")


@dataclass(frozen=True)
class GuiConfig:
    """Set how the GUI refreshes and how much history it keeps."""

    refresh_hz: float = 25.0
    history_pulses: int = 2000
    history_shots: int = 10000

    def __post_init__(self) -> None:
        if not 0.0 < self.refresh_hz <= 200.0:
            raise ValueError(f"refresh_hz must lie in (0, 200], got {self.refresh_hz}")
        if self.history_pulses < 10 or self.history_shots < 10:
            raise ValueError("history_pulses and history_shots must be >= 10")


@dataclass(frozen=True)
class Config:
    """Hold one complete, validated setup."""

    run: RunConfig = field(default_factory=RunConfig)
    atoms: AtomsConfig = field(default_factory=AtomsConfig)
    detector: DetectorModel = field(default_factory=DetectorModel)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    faults: tuple[FaultConfig, ...] = ()
    storage: StorageConfig = field(default_factory=StorageConfig)
    gui: GuiConfig = field(default_factory=GuiConfig)
    lab: LabConfig = field(default_factory=LabConfig)
    source: str | None = field(default=None, compare=False)


def config_from_dict(
    data: dict[str, Any], *, path: str | None = None, text: str | None = None
) -> Config:
    """Build a validated :class:`Config` from a parsed TOML document.

    Raises
    ------
    ConfigError
        If a key is unknown, missing or has a value the section rejects.
    """
    config = section_from_dict(Config, data, path=path, text=text)
    return dataclasses.replace(config, source=path)


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML setup file at ``path``.

    Raises
    ------
    ConfigError
        If the file is missing, unreadable, not TOML, or any value is invalid; the message names
        the file, the key and its line.
    """
    data, text = read_toml(path)
    return config_from_dict(data, path=str(path), text=text)


def dump_config(config: Config) -> str:
    """Return ``config`` as TOML text that :func:`load_config` reads back unchanged."""
    return tomli_w.dumps(to_plain(config))


def updated_config(config: Config, changes: dict[str, Any]) -> Config:
    """Return a copy of ``config`` with dotted-key ``changes`` applied and validated.

    Parameters
    ----------
    changes
        For example ``{"policy.kind": "pmax", "detector.eta": 0.6}``.

    Raises
    ------
    ConfigError
        If a key is unknown or a value is invalid.
    """
    data = to_plain(config)
    for dotted_key, value in changes.items():
        node = data
        *parents, leaf = dotted_key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"'{part}' is not a table", key=dotted_key)
        node[leaf] = value
    return dataclasses.replace(config_from_dict(data), source=config.source)
