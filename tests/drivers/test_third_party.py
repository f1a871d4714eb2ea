"""Run maintained third-party drivers, unchanged, against the emulators over loopback TCP.

pymeasure's ``Agilent33500`` checks the 33500B emulator; InstrumentKit's ``LCC25`` (0.6.0, whose
prompt must be set to the real unit's ``"> "``) checks the LCC25 emulator. No peer driver of the
SR400 or 53220A/53230A installs, so those emulators are checked against manual transcripts
(test_emulators.py) and through pyvisa-py's own TCPIP SOCKET session below.
"""

from __future__ import annotations

import numpy as np
import pytest

from heralder.control.records import SwitchState
from heralder.simulators.emulate import serve


@pytest.fixture
def served():
    servers = []

    def make(instrument: str, **kwargs):
        server = serve(instrument, seed=3, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def test_pymeasure_agilent33500_unchanged(served):
    from pymeasure.instruments.agilent import Agilent33500

    server = served("33522b")
    gen = Agilent33500(f"TCPIP::127.0.0.1::{server.port}::SOCKET", read_termination="\n",
                       write_termination="\n", timeout=2000)
    try:
        assert "33522B" in gen.id
        gen.shape = "DC"
        gen.offset = 3.3
        gen.output = True
        assert gen.shape == "DC" and gen.offset == pytest.approx(3.3) and gen.output is True
        assert server.emulator.link.lab.switch.requested is SwitchState.ANTI_TC
        gen.shape = "SQU"
        gen.amplitude = 2.0
        gen.frequency = 2500
        assert gen.amplitude == pytest.approx(2.0) and gen.frequency == pytest.approx(2500)
        gen.burst_mode = "TRIGGERED"
        gen.burst_ncycles = 5
        gen.trigger_source = "BUS"
        gen.burst_state = True
        assert gen.burst_state is True and gen.burst_ncycles == 5
        assert gen.burst_mode == "TRIG"  # the short form, as a real unit answers
        gen.trigger()
        gen.wait_for_trigger(timeout=2)
        assert gen.check_errors() == []
        gen.ch_2.shape = "PULS"
        gen.ch_2.pulse_width = 1e-5
        assert gen.ch_2.pulse_width == pytest.approx(1e-5)
    finally:
        gen.adapter.close()
    # a second client after the first disconnected
    again = Agilent33500(f"TCPIP::127.0.0.1::{server.port}::SOCKET", read_termination="\n",
                         write_termination="\n", timeout=2000)
    assert again.shape == "SQU"
    again.adapter.close()


def test_instrumentkit_lcc25_unchanged(served):
    ik = pytest.importorskip("instruments", reason="InstrumentKit is not installed")
    server = served("lcc25")
    lcc = ik.thorlabs.LCC25.open_tcpip("127.0.0.1", server.port)
    lcc.prompt = "> "  # InstrumentKit 0.6.0 expects ">"; the real unit sends "> " (Addendum)
    assert "LCC25" in lcc.name
    lcc.voltage1 = 1.5
    assert float(lcc.voltage1.magnitude) == pytest.approx(1.5)
    lcc.mode = lcc.Mode.voltage2
    assert lcc.mode == lcc.Mode.voltage2
    assert server.emulator.link.lab.switch.requested is SwitchState.ANTI_TC
    lcc.enable = True
    assert lcc.enable is True


def test_pyvisa_socket_session_reads_53230a_blocks(served):
    import pyvisa

    server = served("53230a")
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(f"TCPIP::127.0.0.1::{server.port}::SOCKET", read_termination="\n",
                            write_termination="\n", timeout=20000)
    try:
        inst.write("*RST;*CLS")
        inst.write("CONF:TOT:TIM 1E-4,(@1)")
        inst.write("TRIG:SOUR EXT;COUN 4")
        inst.write("INIT")
        values = []
        while len(values) < 4:
            block = inst.query("R?")
            assert block.startswith("#")
            digits = int(block[1])
            payload = block[2 + digits:]
            assert len(payload) == int(block[2:2 + digits])
            values += [float(v) for v in payload.split(",") if v]
        assert np.all(np.asarray(values) >= 0) and np.any(np.asarray(values) > 0)
        assert inst.query("SYST:ERR?") == '+0,"No error"'
    finally:
        inst.close()
        rm.close()


def test_qcodes_keysight33522b_unchanged(served):
    qcodes_keysight = pytest.importorskip("qcodes.instrument_drivers.Keysight",
                                          reason="QCoDeS is not installed")
    server = served("33522b")
    gen = qcodes_keysight.Keysight33522B("awg", f"TCPIP::127.0.0.1::{server.port}::SOCKET",
                                         silent=True, visalib="@py")
    try:
        snapshot = gen.snapshot(update=True)  # queries every parameter of both channels + sync
        assert snapshot["parameters"]["IDN"]["value"]["model"] == "33522B"
        gen.ch1.function_type("DC")
        gen.ch1.offset(3.3)
        gen.ch1.output("ON")
        assert gen.ch1.offset() == pytest.approx(3.3) and gen.ch1.output() == "ON"
        assert server.emulator.link.lab.switch.requested is SwitchState.ANTI_TC
        gen.ch2.function_type("PULS")
        gen.ch2.pulse_width(2e-5)
        gen.ch2.burst_state("ON")
        gen.ch2.burst_ncycles(1)
        gen.ch2.trigger_source("BUS")
        gen.force_trigger()
        assert gen.error() == (0, "No error")
    finally:
        gen.close()
