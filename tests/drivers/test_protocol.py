"""Check every byte each driver sends and parses against transcripts written from the manuals."""

from __future__ import annotations

import numpy as np
import pytest
from heralder.drivers.keysight_33500 import Keysight33500
from heralder.drivers.keysight_53230a import Keysight53230A
from heralder.drivers.lcc25 import LCC25
from heralder.drivers.sr400 import SR400

from heralder.control.records import SwitchState
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


def test_sr400_configure_arm_read_close(scripted):
    script = _cr(("SW0", None), ("CM", "0"), ("SS", "0"))
    script += _cr(*[(c, None) for c in ("CH", "CR", "CM0", "CI0,1", "CI1,2", "CI2,3", "CP2,1",
                                        "GM0,1", "GD0,0.0000E+00", "GW0,1.0000E-04", "DS0,1",
                                        "DL0,-0.0100", "NE0", "DT0")])
    script += _cr(("SS", "0"), ("GW0", "1.000E-4"), ("DL0", "-0.0100"), ("CI2", "3"))
    script += _cr(("CR", None), ("NP2", None), ("NP", "2"), ("SS", "0"), ("CS", None))
    script += _cr(("SS", "0"), ("QA1", "-1"), ("SS", "2"), ("QA1", "12"), ("SS", "10"),
                  ("QA2", "7"))
    script += _cr(("CH", None))
    counter = SR400("counter", "COM9", poll_interval_s=0.0, transport_factory=scripted(script))
    counter.open()
    assert counter.identify  # opened: identity read during open
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
    script = _cr(("SW0", None), ("CM", "0"), ("SS", "128"))
    counter = SR400("counter", "COM9", transport_factory=scripted(script))
    with pytest.raises(DeviceProtocolError, match="command error"):
        counter.open()
    assert not counter.is_open


def test_sr400_validates_before_the_wire(scripted):
    counter = SR400("counter", "COM9", transport_factory=scripted(
        _cr(("SW0", None), ("CM", "1"), ("SS", "0"))))
    counter.open()
    for bad in (dict(gate_s=1.0), dict(gate_s=1e-4, threshold_v=0.5),
                dict(gate_s=1e-4, trigger="manual"), dict(gate_s=float("nan"))):
        with pytest.raises(ValueError):
            counter.configure(**bad)
    for n in (0, 2001, 1.5, True):
        with pytest.raises(ValueError, match="n_gates"):
            counter.arm(n)


def test_53230a_configure_arm_read(scripted):
    script = _lf(("*IDN?", "Agilent Technologies,53230A,MY1,1.0"), ("*CLS", None),
                 ("SYST:ERR?", OK))
    script += _lf(*[(c, None) for c in ("ABOR", "CONF:TOT:TIM 1.000000E-04,(@1)", "INP1:IMP 50",
                                        "INP1:COUP DC", "INP1:LEV -0.0100", "INP1:SLOP NEG",
                                        "TRIG:SOUR EXT", "FORM ASC")])
    script += _lf(("SYST:ERR?", OK), ("TOT:GATE:TIME?", "+1.000000000000000E-04"),
                  ("INP1:LEV?", "-1.000000000000000E-02"), ("TRIG:SOUR?", "EXT"))
    script += _lf(("ABOR", None), ("TRIG:COUN 3", None), ("SAMP:COUN 1", None),
                  ("TRIG:COUN?", "+3"), ("INIT", None), ("SYST:ERR?", OK))
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
    script = _lf(("*IDN?", "Agilent Technologies,53220A,MY1,1.0"), ("*CLS", None),
                 ("SYST:ERR?", b'-222,"Data out of range"\n'), ("SYST:ERR?", OK))
    counter = Keysight53230A("counter", "X", transport_factory=scripted(script))
    with pytest.raises(DeviceProtocolError, match="-222"):
        counter.open()


def test_53230a_rejects_other_instruments_and_bad_gates(scripted):
    counter = Keysight53230A("counter", "X", transport_factory=scripted(
        _lf(("*IDN?", "Agilent Technologies,34401A,MY1,1.0"))))
    with pytest.raises(DeviceProtocolError, match="not a 53220A"):
        counter.open()
    counter = Keysight53230A("counter", "X", transport_factory=scripted(_lf(
        ("*IDN?", "Agilent Technologies,53220A,MY1,1.0"), ("*CLS", None), ("SYST:ERR?", OK))))
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
    opening = _lf(("*IDN?", "Agilent Technologies,33522B,MY1,3.05"), ("*CLS", None),
                  ("SYST:ERR?", OK))
    script = opening + _lf(("SOUR1:APPL:DC DEF,DEF,3.3000", None), ("SOUR1:FUNC?", "DC"),
                           ("SOUR1:VOLT:OFFS?", "+3.300000000000000E+00"), ("OUTP1?", "1"),
                           ("SYST:ERR?", OK))
    script += _lf(*[(c, None) for c in (
        "OUTP1 OFF", "SOUR1:FUNC SQU", "SOUR1:FREQ 2.500000000E+03", "SOUR1:VOLT:HIGH 3.3000",
        "SOUR1:VOLT:LOW 0.0000", "SOUR1:BURS:MODE TRIG", "SOUR1:BURS:NCYC 2",
        "SOUR1:BURS:PHAS 180", "TRIG1:SOUR EXT", "SOUR1:BURS:STAT ON", "OUTP1 ON")])
    script += _lf(("SYST:ERR?", OK), ("SOUR1:BURS:STAT?", "1"))
    switch = Keysight33500("switch", "X", transport_factory=scripted(script))
    switch.open()
    assert switch.set_state(SwitchState.ANTI_TC, 1.0).ok
    pattern = [SwitchState.TC, SwitchState.ANTI_TC] * 2
    switch.arm_pattern(pattern, 1.0)
    with pytest.raises(ValueError, match="alternate"):
        switch.arm_pattern([SwitchState.TC, SwitchState.TC], 1.0)
    switch.close()

    script = opening + _lf(*[(c, None) for c in (
        "OUTP2 OFF", "SOUR2:FUNC PULS", "SOUR2:FUNC:PULS:PER 4.000000E-05",
        "SOUR2:FUNC:PULS:WIDT 1.000000E-05", "SOUR2:VOLT:LOW 0", "SOUR2:VOLT:HIGH 3.3",
        "SOUR2:BURS:MODE TRIG", "SOUR2:BURS:NCYC 1", "TRIG2:SOUR BUS", "SOUR2:BURS:STAT ON",
        "OUTP2 ON")])
    script += _lf(("SYST:ERR?", OK), ("*TRG", None), ("*OPC?", "1"), ("OUTP2 OFF", None),
                  ("SYST:ERR?", OK))
    trigger = Keysight33500("trigger", "X", channel=2, transport_factory=scripted(script))
    trigger.open()
    assert isinstance(trigger.fire(1.0), float)
    trigger.close()


def test_33500_level_neither_state(scripted):
    script = _lf(("*IDN?", "Agilent Technologies,33622A,MY1,3.05"), ("*CLS", None),
                 ("SYST:ERR?", OK), ("SOUR1:FUNC?", "SIN"), ("SOUR1:VOLT:OFFS?", "+1.0E+00"),
                 ("OUTP1?", "1"))
    switch = Keysight33500("switch", "X", tc_level_v=1.0, anti_tc_level_v=4.0,
                           transport_factory=scripted(script))
    switch.open()
    with pytest.raises(DeviceProtocolError, match="neither"):
        switch.get_state(1.0)


def test_counts_are_int64_arrays(scripted):
    from heralder.drivers.keysight_53230a import parse_readings

    counts, valid = parse_readings(b"+3.00000000000000E+000")
    assert counts.dtype == np.int64 and valid.dtype == bool
