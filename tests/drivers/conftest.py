"""Share the scripted transport, a minimal lab double and simulated-run builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from heralder.config import config_from_dict
from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.errors import DeviceDisconnected, DeviceTimeout
from heralder.registry import DeviceContext, build_devices


class ScriptedTransport:
    """Play a byte-exact script: every write must match, every read must be scripted.

    ``script`` is a list of ``(sent, reply)`` byte pairs; ``reply`` becomes readable once
    ``sent`` has been written. Unexpected writes fail the test at once; unused steps fail it at
    teardown. Reads with nothing pending raise :class:`DeviceTimeout` immediately.
    """

    def __init__(self, address: str, script: list[tuple[bytes, bytes]], *,
                 read_termination: str = "\n", write_termination: str = "\n",
                 timeout_s: float = 1.0, **_: object) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.script = list(script)
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.pending = bytearray()
        self._open = True

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    def write_bytes(self, data: bytes) -> None:
        if not self._open:
            raise DeviceDisconnected("closed")
        assert self.script, f"unexpected write {data!r}: script is finished"
        sent, reply = self.script.pop(0)
        assert data == sent, f"sent {data!r}, script expects {sent!r}"
        self.pending += reply

    def write(self, command: str) -> None:
        self.write_bytes((command + self.write_termination).encode("ascii"))

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        index = self.pending.find(terminator)
        if index < 0:
            raise DeviceTimeout(f"no {terminator!r} in {bytes(self.pending)!r}")
        data = bytes(self.pending[: index + len(terminator)])
        del self.pending[: index + len(terminator)]
        return data

    def read(self, timeout_s: float | None = None) -> str:
        term = self.read_termination.encode()
        return self.read_until(term, timeout_s)[: -len(term)].decode("ascii")

    def read_bytes(self, count: int, timeout_s: float | None = None) -> bytes:
        if len(self.pending) < count:
            raise DeviceTimeout(f"wanted {count} bytes, have {bytes(self.pending)!r}")
        data = bytes(self.pending[:count])
        del self.pending[:count]
        return data

    def query(self, command: str, timeout_s: float | None = None) -> str:
        self.write(command)
        return self.read(timeout_s)

    def clear_input(self) -> None:
        self.pending.clear()

    def assert_done(self) -> None:
        assert not self.script, f"unused script steps: {self.script[:3]}"
        assert not self.pending, f"unread reply bytes: {bytes(self.pending)!r}"


@pytest.fixture
def scripted() -> Iterator[Callable[[list[tuple[bytes, bytes]]], Callable[..., ScriptedTransport]]]:
    """Return ``make(script)`` -> a transport factory; every transport is checked at teardown."""
    made: list[ScriptedTransport] = []

    def make(script: list[tuple[bytes, bytes]]) -> Callable[..., ScriptedTransport]:
        def factory(address: str, **kwargs: object) -> ScriptedTransport:
            transport = ScriptedTransport(address, script, **kwargs)  # type: ignore[arg-type]
            made.append(transport)
            return transport
        return factory

    yield make
    for transport in made:
        transport.assert_done()


@dataclass
class _Pulse:
    count: int


class LabSwitchDouble:
    """Record what the emulators ask of the lab's switch."""

    def __init__(self) -> None:
        self.state = SwitchState.TC
        self.pattern: tuple[SwitchState, ...] = ()
        self.requests: list[SwitchState] = []

    def request(self, state: SwitchState, at_s: float | None = None) -> float:
        self.state = state
        self.requests.append(state)
        return 0.0

    def arm_pattern(self, pattern) -> None:
        self.pattern = tuple(pattern)

    def stop_pattern(self) -> None:
        self.pattern = ()


class LabDouble:
    """Fire pulses with scripted counts (10, 20, 30, ... by default)."""

    def __init__(self, counts: list[int] | None = None) -> None:
        self.counts = counts
        self.fired = 0
        self.shots = 0
        self.switch = LabSwitchDouble()

    def new_shot(self, fixed_s: int | None = None) -> int:
        self.shots += 1
        return 0

    def fire_pulse(self) -> _Pulse:
        self.fired += 1
        if self.counts is not None:
            return _Pulse(self.counts[self.fired - 1])
        return _Pulse(10 * self.fired)


@pytest.fixture
def lab_double() -> LabDouble:
    """Return a lab double whose pulse k registers 10·k photons."""
    return LabDouble()


BASE = {"run": {"seed": 7}, "atoms": {"n_atoms": 100}}


def simulated_run(devices: dict, faults: list | None = None, **sections: dict
                  ) -> tuple[dict, DeviceContext]:
    """Build the (closed) devices of a config on a simulated clock; return them and the context."""
    raw = {**BASE, **sections, "devices": devices}
    if faults:
        raw["faults"] = faults
    config = config_from_dict(raw)
    context = DeviceContext(clock=SimClock(), seed=config.run.seed, config=config)
    return build_devices(config, context), context


@pytest.fixture
def sim_run() -> Callable[..., tuple[dict, DeviceContext]]:
    """Return :func:`simulated_run`."""
    return simulated_run
