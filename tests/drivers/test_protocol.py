"""Check every byte each driver sends and parses against transcripts written from the manuals."""

from __future__ import annotations

import numpy as np
import pytest

from heralder.control.records import SwitchState
from heralder.drivers.keysight_33500 import Keysight33500
from heralder.drivers.keysight_53230a import Keysight53230A
from heralder.drivers.lcc25 import LCC25
from heralder.drivers.sr400 import SR400
from heralder.errors import DeviceError, DeviceProtocolError

OK = b'+0,"No error"\n'


def _cr(*pairs: tuple[str, str | None]) -> list[tuple[bytes, bytes]]:
    return [(s.encode() + b"\r", (r.encode() + b"\r") if r is not None else b"") for s, r in pairs]


def _lf(*pairs: tuple[str, str | bytes | None]) -> list[tuple[bytes, bytes]]:
    out = []
    for sent, reply in pairs:
        if isinstance(reply, str):
            reply = reply.encode() + b"\n"
        out.append((sent.encode() + b"\n", reply or b""))
    return out


def _line(commands: list[str], replies: list[str]) -> tuple[bytes, bytes]:
    return ";".join(commands).encode() + b"\r", b"".join(r.encode() + b"\r" for r in replies)


CONFIGURE = ["CH", "CR", "CM0", "CI0,1", "CI1,2", "CI2,3", "CP2,1", "GM0,1", "GD0,0.0000E+00",
             "GW0,1.0000E-04", "DS0,1", "DL0,-0.0100", "NE0", "DT0"]


def test_sr400_configure_arm_read_close(scripted):
    script = [_line(["SW0", "CM", "SS"], ["0", "0"]),
              _line([*CONFIGURE, "SS", "GW0", "DL0", "CI2"], ["0", "1.000E-4", "-0.0100", "3"]),
              _line(["CR", "NP2", "NP", "SS", "CS"], ["2", "0"]),
              _line(["SS", "QA1"], ["0", "-1"]), _line(["SS", "QA1"], ["2", "12"]),
              _line(["SS", "QA2"], ["10", "7"]), _line(["CH"], [])]
    assert len(script[1][0]) < 240  # the SR400's input buffer holds 256 characters
    counter = SR400("counter", "COM9", poll_interval_s=0.0, transport_factory=scripted(script))
    counter.open()
    settings = counter.configure(1e-4, -0.01, "external")
    assert settings.gate_s == pytest.approx(1e-4) and settings.threshold_v == -0.01
    counter.arm(2)
    block = counter.read(1.0)
    assert block.counts.tolist() == [12, 7] and block.first_gate == 0
    assert not block.valid.any()  # status bit 3 (overflow) was seen during this read
    with pytest.raises(DeviceError, match="no armed gates"):
        counter.read(0.1)
    counter.close()


def test_sr400_command_error_in_status_byte(scripted):
    counter = SR400("counter", "COM9", transport_factory=scripted(
        [_line(["SW0", "CM", "SS"], ["0", "128"])]))
    with pytest.raises(DeviceProtocolError, match="command error"):
        counter.open()
    assert not counter.is_open


def test_sr400_validates_before_the_wire(scripted):
    counter = SR400("counter", "COM9", transport_factory=scripted(
        [_line(["SW0", "CM", "SS"], ["1", "0"])]))
    counter.open()
    for bad in (dict(gate_s=1.0), dict(gate_s=1e-4, threshold_v=0.5),
                dict(gate_s=1e-4, trigger="manual"), dict(gate_s=float("nan"))):
        with pytest.raises(ValueError):
            counter.configure(**bad)
    for n in (0, 2001, 1.5, True):
        with pytest.raises(ValueError, match="n_gates"):
            counter.arm(n)


def _scpi(commands: list[str], *answers: str) -> tuple[bytes, bytes]:
    """Return one exchange: the commands joined as a program message + SYST:ERR?."""
    parts = [c if c.startswith("*") else ":" + c for c in [*commands, "SYST:ERR?"]]
    sent = ";".join(parts).lstrip(":").encode() + b"\n"
    return sent, ";".join([*answers, '+0,"No error"']).encode() + b"\n"


def test_53230a_configure_arm_read(scripted):
    script = [*_lf(("*IDN?", "Agilent Technologies,53230A,MY1,1.0")), _scpi(["*CLS"])]
    script.append(_scpi(["ABOR", "CONF:TOT:TIM 1.000000E-04,(@1)", "INP1:IMP 50", "INP1:COUP DC",
                         "INP1:LEV -0.0100", "INP1:SLOP NEG", "TRIG:SOUR EXT", "FORM ASC",
                         "TOT:GATE:TIME?", "INP1:LEV?", "TRIG:SOUR?"],
                        "+1.000000000000000E-04", "-1.000000000000000E-02", "EXT"))
    script.append(_scpi(["ABOR", "TRIG:COUN 3", "SAMP:COUN 1", "TRIG:COUN?", "INIT"], "+3"))
    script += _lf(("R?", b"#10\n"),
                  ("R?", b"#245+1.20000000000000E+001,+9.91000000000000E+037\n"),
                  ("SYST:ERR?", OK), ("ABOR", None))
    counter = Keysight53230A("counter", "TCPIP::h::5025::SOCKET", poll_interval_s=0.0,
                             transport_factory=scripted(script))
    counter.open()
    assert counter.model == "53230A"
    counter.configure(1e-4)
    counter.arm(3)
    block = counter.read(1.0)
    assert block.counts.tolist() == [12, 0] and block.valid.tolist() == [True, False]
    counter.close()


def test_53230a_error_queue_raises(scripted):
    script = [*_lf(("*IDN?", "Agilent Technologies,53220A,MY1,1.0")),
              (b"*CLS;:SYST:ERR?\n", b'-222,"Data out of range"\n'),
              *_lf(("SYST:ERR?", b'-113,"Undefined header"\n'), ("SYST:ERR?", OK))]
    counter = Keysight53230A("counter", "X", transport_factory=scripted(script))
    with pytest.raises(DeviceProtocolError, match="-222.*-113"):
        counter.open()


def test_53230a_rejects_other_instruments_and_bad_gates(scripted):
    counter = Keysight53230A("counter", "X", transport_factory=scripted(
        _lf(("*IDN?", "Agilent Technologies,34401A,MY1,1.0"))))
    with pytest.raises(DeviceProtocolError, match="not a 53220A"):
        counter.open()
    counter = Keysight53230A("counter", "X", transport_factory=scripted(
        [*_lf(("*IDN?", "Agilent Technologies,53220A,MY1,1.0")), _scpi(["*CLS"])]))
    counter.open()
    with pytest.raises(ValueError, match="gate_s"):
        counter.configure(1e-5)  # below the 53220A's 100 µs
    with pytest.raises(ValueError, match="multiple"):
        counter.configure(1.5e-4 + 3e-6)


def _lcc(command: str, answer: str | None = None) -> tuple[bytes, bytes]:
    reply = command.encode() + b"\r" + (answer.encode() + b"\r" if answer else b"") + b"> "
    return command.encode() + b"\r", reply


def test_lcc25_open_switch_close(scripted):
    script = [_lcc("*idn?", "THORLABS LCC25 vers 1.01"), _lcc("volt1=1.850"),
              _lcc("volt1?", "1.85"), _lcc("volt2=7.300"), _lcc("volt2?", "7.3"),
              _lcc("extern=0"), _lcc("enable=1"),
              _lcc("mode=2"), _lcc("mode?", "1"), _lcc("mode?", "2"),
              _lcc("mode=1"), _lcc("mode?", "1")]
    switch = LCC25("switch", "COM3", voltage1_v=1.85, voltage2_v=7.3, poll_interval_s=0.0,
                   transport_factory=scripted(script))
    switch.open()
    ack = switch.set_state(SwitchState.ANTI_TC, 1.0)
    assert ack.ok and ack.read_back is SwitchState.ANTI_TC and ack.settle_time_s == 0.03
    switch.close()


def test_lcc25_errors_and_bad_echo(scripted):
    switch = LCC25("switch", "COM3", transport_factory=scripted([
        _lcc("*idn?", "THORLABS LCC25 vers 1.01"), _lcc("volt1=5.000", "CMD_ARG_INVALID")]))
    with pytest.raises(DeviceProtocolError, match="CMD_ARG_INVALID"):
        switch.open()
    switch = LCC25("switch", "COM3", transport_factory=scripted([
        (b"*idn?\r", b"*idx?\rTHORLABS LCC25 vers 1.01\r> ")]))
    with pytest.raises(DeviceProtocolError, match="echoed"):
        switch.open()
    with pytest.raises(ValueError, match="voltage1_v"):
        LCC25("switch", "COM3", voltage1_v=30.0)


def test_33500_switch_pattern_and_trigger(scripted):
    opening = [*_lf(("*IDN?", "Agilent Technologies,33522B,MY1,3.05")), _scpi(["*CLS"])]
    state = ["SOUR1:FUNC?", "SOUR1:VOLT:OFFS?", "OUTP1?"]
    script = [*opening, _scpi(["SOUR1:APPL:DC DEF,DEF,3.3000", *state],
                              "DC", "+3.300000000000000E+00", "1")]
    script.append(_scpi(["OUTP1 OFF", "SOUR1:FUNC SQU", "SOUR1:FREQ 2.500000000E+03",
                         "SOUR1:VOLT:HIGH 3.3000", "SOUR1:VOLT:LOW 0.0000", "SOUR1:BURS:MODE TRIG",
                         "SOUR1:BURS:NCYC 2", "SOUR1:BURS:PHAS 180", "TRIG1:SOUR EXT",
                         "SOUR1:BURS:STAT ON", "OUTP1 ON", "SOUR1:BURS:STAT?"], "1"))
    switch = Keysight33500("switch", "X", transport_factory=scripted(script))
    switch.open()
    assert switch.set_state(SwitchState.ANTI_TC, 1.0).ok
    pattern = [SwitchState.TC, SwitchState.ANTI_TC] * 2
    switch.arm_pattern(pattern, 1.0)
    with pytest.raises(ValueError, match="alternate"):
        switch.arm_pattern([SwitchState.TC, SwitchState.TC], 1.0)
    switch.close()

    script = [*opening, _scpi([
        "OUTP2 OFF", "SOUR2:FUNC PULS", "SOUR2:FUNC:PULS:PER 4.000000E-05",
        "SOUR2:FUNC:PULS:WIDT 1.000000E-05", "SOUR2:VOLT:LOW 0", "SOUR2:VOLT:HIGH 3.3",
        "SOUR2:BURS:MODE TRIG", "SOUR2:BURS:NCYC 1", "TRIG2:SOUR BUS", "SOUR2:BURS:STAT ON",
        "OUTP2 ON"])]
    script += [*_lf(("*TRG;*OPC?", "1")), _scpi(["OUTP2 OFF"])]
    trigger = Keysight33500("trigger", "X", channel=2, transport_factory=scripted(script))
    trigger.open()
    assert isinstance(trigger.fire(1.0), float)
    trigger.close()


def test_33500_level_neither_state(scripted):
    script = [*_lf(("*IDN?", "Agilent Technologies,33622A,MY1,3.05")), _scpi(["*CLS"]),
              _scpi(["SOUR1:FUNC?", "SOUR1:VOLT:OFFS?", "OUTP1?"], "SIN", "+1.0E+00", "1")]
    switch = Keysight33500("switch", "X", tc_level_v=1.0, anti_tc_level_v=4.0,
                           transport_factory=scripted(script))
    switch.open()
    with pytest.raises(DeviceProtocolError, match="neither"):
        switch.get_state(1.0)


def test_counts_are_int64_arrays(scripted):
    from heralder.drivers.keysight_53230a import parse_readings

    counts, valid = parse_readings(b"+3.00000000000000E+000")
    assert counts.dtype == np.int64 and valid.dtype == bool
