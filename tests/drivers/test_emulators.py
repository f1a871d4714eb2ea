"""Check the emulators byte for byte against the manuals' protocol facts (lab double behind)."""

from __future__ import annotations

import pytest

from heralder.control.records import SwitchState
from heralder.simulators.instruments.keysight_33500 import Keysight33500Emulator
from heralder.simulators.instruments.keysight_53230a import (
    Keysight53220AEmulator,
    Keysight53230AEmulator,
    format_reading,
)
from heralder.simulators.instruments.lablink import LabLink
from heralder.simulators.instruments.lcc25 import LCC25Emulator
from heralder.simulators.instruments.scpi import compile_header
from heralder.simulators.instruments.sr400 import SR400Emulator


def talk(emulator, data: bytes) -> bytes:
    return b"".join(o.data for o in emulator.feed(data))


def test_sr400_framing_status_and_not_ready(lab_double):
    sr = SR400Emulator(LabLink(lab_double))
    assert talk(sr, b"CM\r") == b"0\r"
    assert talk(sr, b"cm 2\r\ncm\n") == b"2\r"  # CR LF is one terminator, case and spaces free
    assert talk(sr, b"CM0;CI2,3;CI2\r") == b"3\r"
    assert talk(sr, b"CP2,12;CP2\r") == b"1E1\r"  # one significant digit kept
    assert talk(sr, b"GW0,1.23456E-5;GW0\r") == b"1.235E-5\r"
    assert talk(sr, b"QA\r") == b"-1\r"  # nothing complete yet
    assert talk(sr, b"NP2;NE0;CS\r") == b""
    assert talk(sr, b"SS\r") == b"2\r"  # the poll completed gate 1: data ready
    assert talk(sr, b"QA1;QA2\r") == b"10\r20\r"
    assert talk(sr, b"SS\r") == b"6\r"  # data ready + scan finished (end mode STOP)
    assert talk(sr, b"SS\r") == b"0\r"  # reading cleared it
    assert talk(sr, b"QA3\r") == b"-1\r"
    assert lab_double.fired == 2


def test_sr400_command_error_discards_rest_of_line(lab_double):
    sr = SR400Emulator(LabLink(lab_double))
    assert talk(sr, b"ZZ;CM\r") == b""
    assert talk(sr, b"QA0\r") == b""  # m = 0 is illegal
    assert talk(sr, b"SS7\r") == b"1\r"
    assert talk(sr, b"CI0,3\r") == b""  # A cannot count TRIG
    assert talk(sr, b"SS\r") == b"128\r"
    assert talk(sr, b"SE 13,10,0,0;CM\r") == b"0\r\n"  # terminator changed to CR LF
    assert talk(sr, b"CL\r") == b"" and talk(sr, b"CM\r") == b"0\r"


def test_53230a_totalize_blocks_and_errors(lab_double):
    dev = Keysight53230AEmulator(LabLink(lab_double))
    assert talk(dev, b"*IDN?\n").split(b",")[1] == b"53230A"
    assert talk(dev, b"TRIG:SOUR EXT;COUN 5\n") == b""
    assert talk(dev, b"CONF:TOT:TIM 1E-3,(@1)\n") == b""
    assert talk(dev, b"TRIG:SOUR?;:TRIG:COUN?\n") == b"IMM;+1\n"  # CONF restored defaults
    assert talk(dev, b"CONF?\n") == b'"TOT:TIM +1.000000000000000E-03,(@1)"\n'
    talk(dev, b"TRIG:SOUR EXT\nTRIG:COUN 3\nINIT\n")
    assert talk(dev, b"R?\n") == b"#222+1.00000000000000E+001\n"
    assert talk(dev, b"R? 5\n") == b"#222+2.00000000000000E+001\n"
    assert talk(dev, b"R?\n") == b"#222+3.00000000000000E+001\n"
    assert talk(dev, b"R?\n") == b""  # idle and empty: -230, no reply
    assert talk(dev, b"SYST:ERR?\n") == b'-230,"Data corrupt or stale"\n'
    assert talk(dev, b"SYST:ERR?\n") == b'+0,"No error"\n'
    assert talk(dev, b"TOT:GATE:TIME 1E-7\nFORM REAL\nBOGUS\n") == b""
    errors = [talk(dev, b"SYST:ERR?\n") for _ in range(4)]
    assert [e.split(b",")[0] for e in errors] == [b"-222", b"-221", b"-113", b"+0"]


def test_53230a_bus_trigger_and_fetch(lab_double):
    dev = Keysight53230AEmulator(LabLink(lab_double))
    talk(dev, b"CONF:TOT:TIM 1E-4\nTRIG:SOUR BUS;COUN 2\nINIT\n")
    assert talk(dev, b"R?\n") == b"#10\n"  # measuring, nothing triggered: empty block
    talk(dev, b"*TRG\n*TRG\n")
    assert talk(dev, b"FETC?\n") == b"+1.00000000000000E+001,+2.00000000000000E+001\n"
    assert talk(dev, b"DATA:POIN?\n") == b"+2\n"
    assert Keysight53220AEmulator.min_gate_s == 1e-4
    assert format_reading(12151.0) == "+1.21510000000000E+004"


def test_53230a_error_queue_overflows_at_20(lab_double):
    dev = Keysight53230AEmulator(LabLink(lab_double))
    talk(dev, b"BAD\n" * 25)
    replies = [talk(dev, b"SYST:ERR?\n") for _ in range(21)]
    assert replies[18].startswith(b"-113") and replies[19] == b'-350,"Queue overflow"\n'
    assert replies[20] == b'+0,"No error"\n'


def test_lcc25_echo_prompt_and_switch(lab_double):
    lcc = LCC25Emulator(LabLink(lab_double))
    assert talk(lcc, b"*idn?\r") == b"*idn?\rTHORLABS LCC25 vers 1.01\r> "
    assert talk(lcc, b"volt1=1.5\r") == b"volt1=1.5\r> "
    assert talk(lcc, b"volt1?\r") == b"volt1?\r1.5\r> "
    assert talk(lcc, b"volt1=26\r") == b"volt1=26\rCMD_ARG_INVALID\r> "
    assert talk(lcc, b"bogus?\r") == b"bogus?\rCMD_NOT_DEFINED\r> "
    assert talk(lcc, b"mode=2\r") == b"mode=2\r> "
    assert lab_double.switch.state is SwitchState.ANTI_TC
    assert talk(lcc, b"mode?\r") == b"mode?\r2\r> "
    talk(lcc, b"extern=1\r")  # the TTL toggles from the current output (mode 2: anti-TC)
    assert lab_double.switch.pattern == (SwitchState.ANTI_TC, SwitchState.TC)
    talk(lcc, b"extern=0\r")
    assert lab_double.switch.pattern == () and lab_double.switch.state is SwitchState.ANTI_TC
    assert talk(lcc, b"set=2\r") == b"set=2\r1\r> "
    assert talk(lcc, b"freq=151\r").endswith(b"CMD_ARG_INVALID\r> ")


def test_33500_levels_burst_and_coupling(lab_double):
    gen = Keysight33500Emulator(LabLink(lab_double))
    assert talk(gen, b"*IDN?\n").split(b",")[1] == b"33522B"
    talk(gen, b"SOURce1:FUNCtion DC\nSOUR1:VOLT:OFFS 3.3\nOUTP1 ON\n")
    assert lab_double.switch.state is SwitchState.ANTI_TC
    assert talk(gen, b"OUTP1?;:SOUR1:FUNC?\n") == b"1;DC\n"
    talk(gen, b"OUTP1 OFF\n")
    assert lab_double.switch.state is SwitchState.TC
    talk(gen, b"FUNC SIN;:VOLT 2;VOLT:OFFS 1\n")
    assert talk(gen, b"VOLT:HIGH?;LOW?\n") == b"+2.000000000000000E+00;+0.000000000000000E+00\n"
    talk(gen, b"VOLT 9\n")
    assert talk(gen, b"SYST:ERR?\n").startswith(b"-222")
    talk(gen, b"FUNC SQU;:VOLT:HIGH 3.3;LOW 0;:BURS:MODE TRIG;NCYC 2;PHAS 180\n"
              b"TRIG1:SOUR EXT\nBURS:STAT ON\nOUTP1 ON\n")
    assert lab_double.switch.pattern == (SwitchState.TC, SwitchState.ANTI_TC)
    talk(gen, b"FUNC DC\nBURS:STAT ON\n")
    assert talk(gen, b"SYST:ERR?\n").startswith(b"-221")  # DC is not allowed in burst
    assert talk(gen, b"*OPC?\n") == b"1\n"


def test_scpi_headers_match_short_and_long_forms():
    regex = compile_header("[SOURce#:]FUNCtion:PULSe:WIDTh")
    for text in ("SOURce1:FUNCtion:PULSE:WIDTh", "FUNC:PULS:WIDT", "sour2:func:puls:widt"):
        assert regex.match(text)
    assert not regex.match("FUNC:PUL:WIDT")
    assert compile_header("SYSTem:ERRor[:NEXT]").match("syst:err:next")


@pytest.mark.parametrize("cls", [SR400Emulator, Keysight53230AEmulator, LCC25Emulator,
                                 Keysight33500Emulator])
def test_half_commands_wait_for_their_terminator(lab_double, cls):
    emulator = cls(LabLink(lab_double))
    end = b"\r" if cls in (SR400Emulator, LCC25Emulator) else b"\n"
    command = b"CM" if cls is SR400Emulator else (b"*idn?" if cls is LCC25Emulator
                                                    else b"*IDN?")
    assert emulator.feed(command[:2]) == []
    emulator.new_session()  # a reconnect drops the half command
    assert talk(emulator, command[2:] + end) in (b"", b"" + command[2:] + b"\rCMD_NOT_DEFINED\r> ")
    assert talk(emulator, command + end)
