"""Measure emulator query latency over loopback TCP and the per-pulse cycle of the driver stack.

Baseline: a raw socket echo server (stdlib ``socketserver``) queried in the same run. The
per-pulse cycle (set switch -> arm one gate -> read its count) runs the real drivers against the
byte-level emulators, in-process (``sim://``) and over loopback TCP, on a simulated clock, so it
includes the virtual lab's simulation of the pulse but no physical waiting.
"""

from __future__ import annotations

import socket
import socketserver
import threading

from heralder.bench import BenchResult, compare, time_call
from heralder.config import config_from_dict
from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.registry import DeviceContext, build_devices
from heralder.simulators.emulate import warm_up
from heralder.simulators.instruments.catalog import make_emulator
from heralder.simulators.tcp_server import EmulatorServer

#: A software-switched pulse must cost far less than an LC retarder's ~30 ms settle.
CYCLE_TARGET_S = 5e-3
CYCLE_TARGET = "<= 5 ms"
#: (counter driver, counter model, switch driver, switch model, remote address form): serial
#: instruments are reached as pyserial ``socket://``, SCPI ones as pyvisa-py TCPIP SOCKET.
PAIRS = (("sr400", "sr400", "lcc25", "lcc25", "socket://127.0.0.1:{}"),
         ("keysight_53230a", "53230a", "keysight_33500", "33522b",
          "TCPIP::127.0.0.1::{}::SOCKET"))


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for line in self.rfile:
            self.wfile.write(line)


def _raw_client(port: int, command: bytes, end: bytes):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def query() -> bytes:
        conn.sendall(command)
        data = b""
        while not data.endswith(end):
            data += conn.recv(4096)
        return data

    return conn, query


def _us(seconds: float) -> float:
    return seconds * 1e6


def _context(devices: dict) -> tuple[dict, DeviceContext]:
    config = config_from_dict({"run": {"seed": 1}, "atoms": {"n_atoms": 1000},
                               "devices": devices})
    context = DeviceContext(clock=SimClock(), seed=1, config=config)
    return build_devices(config, context), context


def _cycle(counter, switch, context) -> callable:
    counter.configure(1e-4)
    state = [SwitchState.TC]
    context.shared["lab"].new_shot()

    def one_pulse() -> int:
        switch.set_state(state[0], 1.0)
        counter.arm(1)
        state[0] = state[0].other()
        return int(counter.read(1.0).counts[0])

    return one_pulse


def run(quick: bool) -> list[BenchResult]:
    """Return emulator query latencies and per-pulse cycle times, with the raw echo baseline."""
    repeats = 200 if quick else 2000
    cycles = 50 if quick else 500
    warm_up(None)  # compile the lab's kernels outside the timed region
    results: list[BenchResult] = []
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    conn, raw_query = _raw_client(echo.server_address[1], b"*IDN?\n", b"\n")
    base = time_call(raw_query, repeats=repeats)
    conn.close()
    echo.shutdown()
    echo.server_close()
    results.append(BenchResult("raw socket echo (baseline)", _us(base.p50_s), "µs p50",
                               details={"p99_us": _us(base.p99_s)}))

    _, context = _context({})
    for model, command, end in (("53230a", b"*IDN?\n", b"\n"), ("33522b", b"VOLT:OFFS?\n", b"\n"),
                                ("sr400", b"CM\r", b"\r"), ("lcc25", b"volt1?\r", b"> ")):
        with EmulatorServer(make_emulator(model, context)) as server:
            conn, query = _raw_client(server.port, command, end)
            timing = time_call(query, repeats=repeats)
            conn.close()
        results.append(BenchResult(
            f"query {model} emulator, TCP loopback", _us(timing.p50_s), "µs p50",
            target="<= 5x raw echo", ok=timing.p50_s <= 5 * base.p50_s,
            baseline=_us(base.p50_s), ratio=compare(timing.p50_s, base.p50_s),
            details={"p99_us": _us(timing.p99_s), "command": command.decode().strip()}))

    for counter_driver, counter_model, switch_driver, switch_model, remote_form in PAIRS:
        devices, context = _context({
            "counter": {"driver": counter_driver, "address": f"sim://{counter_model}"},
            "switch": {"driver": switch_driver, "address": f"sim://{switch_model}"}})
        for device in devices.values():
            device.open()
        timing = time_call(_cycle(devices["counter"], devices["switch"], context),
                           repeats=cycles)
        for device in devices.values():
            device.close()
        results.append(BenchResult(
            f"pulse cycle {switch_model}->{counter_model}, sim://", _us(timing.p50_s),
            "µs p50", target=CYCLE_TARGET, ok=timing.p50_s <= CYCLE_TARGET_S,
            details={"p99_us": _us(timing.p99_s), "repeats": timing.repeats}))

        _, context = _context({})
        servers = [EmulatorServer(make_emulator(m, context)).start()
                   for m in (counter_model, switch_model)]
        remote, _ = _context({
            "counter": {"driver": counter_driver, "address": remote_form.format(servers[0].port)},
            "switch": {"driver": switch_driver, "address": remote_form.format(servers[1].port)}})
        for device in remote.values():
            device.open()
        timing = time_call(_cycle(remote["counter"], remote["switch"], context), repeats=cycles)
        for device in remote.values():
            device.close()
        for server in servers:
            server.stop()
        results.append(BenchResult(
            f"pulse cycle {switch_model}->{counter_model}, {remote_form.split(':')[0]} loopback",
            _us(timing.p50_s), "µs p50", target=CYCLE_TARGET, ok=timing.p50_s <= CYCLE_TARGET_S,
            details={"p99_us": _us(timing.p99_s), "repeats": timing.repeats}))
    return results
