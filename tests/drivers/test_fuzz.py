"""Fuzz every reply parser and every emulator: only typed errors may come out."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heralder.control.records import SwitchState
from heralder.drivers.keysight_33500 import Keysight33500
from heralder.drivers.keysight_53230a import Keysight53230A, parse_readings
from heralder.drivers.lcc25 import LCC25, parse_exchange
from heralder.drivers.scpi import (
    format_definite_block,
    parse_definite_block,
    parse_error,
    parse_scpi_bool,
    parse_scpi_float,
)
from heralder.drivers.sr400 import SR400, parse_float, parse_int
from heralder.errors import DeviceError, DeviceProtocolError, DeviceTimeout
from heralder.simulators.instruments.keysight_33500 import Keysight33500Emulator
from heralder.simulators.instruments.keysight_53230a import Keysight53230AEmulator
from heralder.simulators.instruments.lablink import LabLink
from heralder.simulators.instruments.lcc25 import LCC25Emulator
from heralder.simulators.instruments.sr400 import SR400Emulator

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.text(max_size=60)


@FUZZ
@given(TEXT)
def test_text_parsers_raise_only_protocol_errors(text):
    for parse in (parse_error, lambda t: parse_scpi_float(t, "x"),
                  lambda t: parse_scpi_bool(t, "x"), lambda t: parse_int(t, "x"),
                  lambda t: parse_float(t, "x")):
        with contextlib.suppress(DeviceProtocolError):
            parse(text)


@FUZZ
@given(st.binary(max_size=80))
def test_byte_parsers_raise_only_protocol_errors(data):
    for parse in (parse_definite_block, parse_readings, lambda d: parse_exchange("mode?", d)):
        with contextlib.suppress(DeviceProtocolError):
            parse(data)


@FUZZ
@given(st.binary(max_size=200))
def test_definite_blocks_round_trip(payload):
    body, rest = parse_definite_block(format_definite_block(payload) + b"\n")
    assert body == payload and rest == b"\n"


class FuzzTransport:
    """Answer every read with bytes from one fuzzed stream."""

    def __init__(self, address, stream: bytes, **_):
        self.address, self.stream, self.timeout_s = address, bytearray(stream), 1.0
        self.is_open = True

    def close(self):
        self.is_open = False

    def open(self):
        self.is_open = True

    def write(self, command):
        pass

    def write_bytes(self, data):
        pass

    def clear_input(self):
        pass

    def read_until(self, terminator, timeout_s=None):
        index = self.stream.find(terminator)
        if index < 0:
            raise DeviceTimeout("fuzz stream exhausted")
        data = bytes(self.stream[: index + len(terminator)])
        del self.stream[: index + len(terminator)]
        return data

    def read(self, timeout_s=None):
        raw = self.read_until(b"\n" if self.terminator == "\n" else b"\r")
        try:
            return raw.decode("ascii").rstrip("\r\n")
        except UnicodeDecodeError:
            raise DeviceProtocolError("not ascii") from None

    def read_bytes(self, count, timeout_s=None):
        if len(self.stream) < count:
            raise DeviceTimeout("fuzz stream exhausted")
        data = bytes(self.stream[:count])
        del self.stream[:count]
        return data

    def query(self, command, timeout_s=None):
        return self.read(timeout_s)


def _factory(stream, terminator):
    def make(address, **kwargs):
        transport = FuzzTransport(address, stream)
        transport.terminator = terminator
        return transport
    return make


PIECES = st.lists(st.sampled_from([
    b"0\r", b"-1\r", b"12\r", b"1.000E-4\r", b"-0.0100\r", b"3\r", b"128\r", b"\xff\r",
    b"Agilent Technologies,53230A,X,1\n", b'+0,"No error"\n', b'-113,"Undefined"\n',
    b"+1.000000000000000E-04\n", b"EXT\n", b"#10\n", b"#15+1.0E0\n", b"#9\n", b"DC\n", b"1\n",
    b"Agilent Technologies,33522B,X,1\n", b"+0.0E+00\n", b"garbage\n",
    b"*idn?\rTHORLABS LCC25 vers 1.01\r> ", b"mode=2\r> ", b"mode?\r2\r> ", b"x\r> ",
]), max_size=30).map(b"".join)


@FUZZ
@given(PIECES)
def test_drivers_raise_only_typed_errors_on_any_reply(stream):
    drivers = [
        (SR400, "\r", lambda d: (d.configure(1e-4), d.arm(2), d.read(0.01))),
        (Keysight53230A, "\n", lambda d: (d.configure(1e-4), d.arm(2), d.read(0.01))),
        (LCC25, "\r", lambda d: d.set_state(SwitchState.ANTI_TC, 0.01)),
        (Keysight33500, "\n", lambda d: d.set_state(SwitchState.TC, 0.01)),
    ]
    for cls, terminator, action in drivers:
        device = cls("x", "fuzz", transport_factory=_factory(stream, terminator),
                     **({"poll_interval_s": 0.0} if cls is not Keysight33500 else {}))
        try:
            device.open()
            action(device)
        except DeviceError:
            pass
        finally:
            device.close()


@pytest.mark.parametrize("cls", [SR400Emulator, Keysight53230AEmulator, LCC25Emulator,
                                 Keysight33500Emulator])
def test_emulators_survive_any_bytes(lab_double, cls):
    emulator = cls(LabLink(lab_double))

    @FUZZ
    @given(st.binary(max_size=120))
    def feed(data):
        for output in emulator.feed(data):
            assert isinstance(output.data, bytes)

    feed()
