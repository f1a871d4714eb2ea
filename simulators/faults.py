"""Inject seeded faults into the instrument emulators, as scripted by ``[[faults]]`` config tables.

Each emulator asks its :class:`FaultInjector` once per received command which fault, if any, hits
that command. A fault starts after ``after_commands`` commands, then fires with ``probability``
per command, at most ``count`` times (0: no limit). The random stream is seeded from the run's
seed and the device role, so the same config and seed fault the same commands.

What each kind does on the wire, and what a correct driver reports:

==================  ==========================================================  ================
kind                emulator behaviour                                          driver raises
==================  ==========================================================  ================
``no_reply``        the command is lost: not executed, nothing sent back        DeviceTimeout
``slow_reply``      the reply leaves ``delay_s`` late                           DeviceTimeout if
                                                                                late > timeout
``disconnect``      half the reply is sent, then the connection drops           DeviceDisconnected
                                                                                or DeviceTimeout
``garbage``         the reply is replaced by non-ASCII bytes + terminator       DeviceProtocolError
``truncated_block`` a block reply stops short (other replies lose their end)    DeviceTimeout or
                                                                                DeviceProtocolError
``error_state``     the instrument flags an error (SCPI error queue, SR400      DeviceProtocolError
                    status bit 7, LCC25 ``CMD_ARG_INVALID``)
``switch_stuck``    a switch ignores the change; its read-back keeps the old    SwitchAck.ok False
                    state (the optics do not move)
``switch_late``     a switch applies the change ``delay_s`` late: the LCC25's   late SwitchAck, or
                    read-back and optics both follow late; the 33500B reads     ok False after the
                    back at once while the optics lag (a slow HV driver)        timeout
==================  ==========================================================  ================
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from heralder.config import FaultConfig

__all__ = ["FaultInjector"]


class FaultInjector:
    """Decide, command by command, which configured fault hits a device.

    Parameters
    ----------
    faults
        The ``[[faults]]`` entries of this device (their ``device`` field is not checked here).
    seed
        The run's seed.
    role
        The device's role; mixed into the seed so devices draw independent streams.
    """

    def __init__(self, faults: Sequence[FaultConfig], seed: int = 0, role: str = "") -> None:
        self.faults = tuple(faults)
        for fault in self.faults:
            if not isinstance(fault, FaultConfig):
                raise ValueError(f"faults must be FaultConfig entries, got {fault!r}")
        self._rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(role.encode())])
        self._fired = [0] * len(self.faults)
        self.commands = 0
        self.history: list[tuple[int, str]] = []

    @property
    def rng(self) -> np.random.Generator:
        """Return the injector's random stream (also used to draw garbage bytes)."""
        return self._rng

    def next_command(self) -> FaultConfig | None:
        """Count one command and return the fault that hits it, or ``None``."""
        index = self.commands
        self.commands += 1
        for i, fault in enumerate(self.faults):
            if index < fault.after_commands:
                continue
            if fault.count and self._fired[i] >= fault.count:
                continue
            if fault.probability >= 1.0 or self._rng.random() < fault.probability:
                self._fired[i] += 1
                self.history.append((index, fault.kind))
                return fault
        return None

    @classmethod
    def for_role(cls, faults: Sequence[FaultConfig], seed: int, role: str) -> FaultInjector:
        """Return an injector holding the entries of ``faults`` whose ``device`` is ``role``."""
        return cls([f for f in faults if f.device == role], seed, role)
