"""The SR400 and LCC25 drivers poll on the run's clock: a simulated run never sleeps for real."""

from __future__ import annotations

import time

import pytest

from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.drivers.lcc25 import LCC25
from heralder.drivers.sr400 import SR400


class _Wire:
    """Answer a driver's lines; the instrument becomes ready after ``busy_polls`` polls."""

    def __init__(self, busy_polls: int, **_: object) -> None:
        self.busy_polls = busy_polls
        self.replies: list[bytes] = []
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def clear_input(self) -> None:
        self.replies.clear()

    def write(self, line: str) -> None:
        self.replies.extend(self.answer(line))

    def read(self, timeout_s: float | None = None) -> str:
        return self.replies.pop(0).decode()

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        return self.replies.pop(0)

    def answer(self, line: str) -> list[bytes]:
        raise NotImplementedError


class _SR400Wire(_Wire):
    def answer(self, line: str) -> list[bytes]:
        out = []
        for command in line.split(";"):
            if command in ("SS", "CM"):
                out.append(b"0")
            elif command == "NP":
                out.append(b"1")
            elif command == "QA1":  # -1: the gate is not complete yet
                self.busy_polls -= 1
                out.append(b"-1" if self.busy_polls >= 0 else b"17")
        return out


class _LCC25Wire(_Wire):
    mode = "1"
    pending = ""

    def answer(self, line: str) -> list[bytes]:
        answer = {"*idn?": "THORLABS LCC25 vers 1.01", "volt1?": "5", "volt2?": "20"}.get(line)
        if line.startswith("mode="):
            self.pending = line[5:]
        elif line == "mode?":
            self.busy_polls -= 1
            if self.busy_polls < 0 and self.pending:
                self.mode = self.pending
            answer = self.mode
        return [line.encode() + b"\r" + (answer.encode() + b"\r" if answer else b"") + b"> "]


def _no_real_sleep(duration_s: float) -> None:
    raise AssertionError(f"time.sleep({duration_s}) on a simulated clock")


def test_sr400_waits_for_a_gate_on_the_simulated_clock(monkeypatch):
    clock = SimClock()
    counter = SR400("counter", "COM9", poll_interval_s=0.25, clock=clock,
                    transport_factory=lambda *a, **k: _SR400Wire(busy_polls=6))
    counter.open()
    counter.arm(1)
    monkeypatch.setattr(time, "sleep", _no_real_sleep)
    block = counter.read(timeout_s=1.0)  # 1.5 s of polling on the simulated clock
    assert block.counts.tolist() == [17]
    assert clock.now() == pytest.approx(6 * 0.25)
    assert block.t_read_s == clock.now()


def test_lcc25_waits_for_its_read_back_on_the_simulated_clock(monkeypatch):
    clock = SimClock()
    switch = LCC25("switch", "COM3", poll_interval_s=0.1, clock=clock,
                   transport_factory=lambda *a, **k: _LCC25Wire(busy_polls=3))
    switch.open()
    monkeypatch.setattr(time, "sleep", _no_real_sleep)
    ack = switch.set_state(SwitchState.ANTI_TC, timeout_s=1.0)
    assert ack.ok and clock.now() == pytest.approx(3 * 0.1)
    assert ack.t_ack_s - ack.t_sent_s == pytest.approx(3 * 0.1)
