"""Serve emulators on loopback TCP and in-process: reconnects, vanishing clients, the CLI."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from heralder.config import FaultConfig, config_from_dict
from heralder.control.records import SwitchState
from heralder.drivers.lcc25 import LCC25
from heralder.errors import DeviceDisconnected, DeviceTimeout
from heralder.simulators.emulate import serve
from heralder.simulators.faults import FaultInjector
from heralder.simulators.instruments.lablink import LabLink
from heralder.simulators.instruments.lcc25 import LCC25Emulator
from heralder.simulators.instruments.sr400 import SR400Emulator
from heralder.simulators.tcp_server import EmulatorServer
from heralder.transport import SerialTransport, VisaTransport


def _exchange(port: int, data: bytes, until: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(data)
        reply = b""
        while not reply.endswith(until):
            reply += conn.recv(4096)
        return reply


def test_new_client_after_disconnect_and_vanishing_client(lab_double):
    with EmulatorServer(SR400Emulator(LabLink(lab_double))) as server:
        assert _exchange(server.port, b"CM 2\rCM\r", b"\r") == b"2\r"
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.sendall(b"CM 1")  # half a command, then the client vanishes
        # state survives, the half command is dropped, the server still answers
        assert _exchange(server.port, b"\rCM\r", b"\r") == b"2\r"
        assert server.sessions == 3


def test_driver_over_tcp_with_both_transports(lab_double):
    with EmulatorServer(LCC25Emulator(LabLink(lab_double))) as server:
        for address in (f"socket://127.0.0.1:{server.port}",
                        f"TCPIP::127.0.0.1::{server.port}::SOCKET"):
            switch = LCC25("switch", address)
            switch.open()
            assert switch.set_state(SwitchState.ANTI_TC, 1.0).ok
            assert lab_double.switch.state is SwitchState.ANTI_TC
            switch.close()


def test_disconnect_fault_over_tcp(lab_double):


    faults = FaultInjector([FaultConfig(device="s", kind="disconnect", after_commands=1,
                                        count=1)])
    with EmulatorServer(LCC25Emulator(LabLink(lab_double), faults=faults)) as server:
        switch = LCC25("switch", f"socket://127.0.0.1:{server.port}", timeout_s=0.3)
        with pytest.raises((DeviceDisconnected, DeviceTimeout)):
            switch.open()
        switch.close()
        switch.open()  # a fresh connection works again
        assert switch.get_state(1.0) in SwitchState
        switch.close()


def test_sim_url_through_pyvisa_asrl(sim_run):
    sim_run({"counter": {"driver": "sr400", "address": "sim://sr400"}})  # the active context
    transport = VisaTransport("ASRLsim://sr400::INSTR", read_termination="\r",
                              write_termination="\r")
    transport.open()
    assert transport.query("CM") == "0"
    transport.close()
    serial_transport = SerialTransport("sim://sr400?role=counter", read_termination="\r",
                                       write_termination="\r")
    serial_transport.open()
    assert serial_transport.query("CM") == "0"
    serial_transport.close()
    with pytest.raises(DeviceDisconnected, match="unknown instrument"):
        SerialTransport("sim://nosuch").open()


def test_emulate_command_prints_its_port_and_serves():
    proc = subprocess.Popen([sys.executable, "-m", "heralder.cli", "emulate", "sr400",
                             "--seed", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"NP3;CS\rSS;QA1;QA2;QA3\r")
            reply = b""
            while reply.count(b"\r") < 4:
                reply += conn.recv(4096)
        status, *counts = reply.split(b"\r")[:4]
        assert int(status) & 0x02 and all(int(c) >= 0 for c in counts)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_served_emulator_takes_faults_from_config():
    config = config_from_dict({"faults": [{"device": "counter", "kind": "garbage",
                                           "after_commands": 1, "count": 1}]})
    server = serve("53230a", config=config, role="counter")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(b"*IDN?\n")
            first = conn.recv(4096)
            conn.sendall(b"*IDN?\n")
            second = b""
            while not second.endswith(b"\n"):
                second += conn.recv(4096)
        assert b"53230A" in first and all(b >= 0x80 for b in second[:-1])
    finally:
        server.stop()
