"""Measure the query round trip of both transports on loopback, against a raw socket."""

from __future__ import annotations

import socket
import threading

from heralder.bench import BenchResult, compare, time_call
from heralder.transport import open_transport


def _serve_echo(server: socket.socket, stop: threading.Event) -> None:
    server.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    conn.sendall(line + b"\n")


def run(quick: bool) -> list[BenchResult]:
    """Return p50 query latency of raw socket, pyserial socket:// and pyvisa-py SOCKET."""
    repeats = 200 if quick else 2000
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=_serve_echo, args=(server, stop), daemon=True)
    thread.start()
    try:
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def raw_query() -> bytes:
            raw.sendall(b"*IDN?\n")
            data = b""
            while not data.endswith(b"\n"):
                data += raw.recv(4096)
            return data

        baseline = time_call(raw_query, repeats=repeats)
        raw.close()
        results = [BenchResult("query raw socket (baseline)", baseline.p50_s * 1e6, "µs p50",
                               details={"p99_us": baseline.p99_s * 1e6})]
        for label, address in (
            ("query SerialTransport socket://", f"socket://127.0.0.1:{port}"),
            ("query VisaTransport TCPIP SOCKET", f"TCPIP::127.0.0.1::{port}::SOCKET"),
        ):
            transport = open_transport(address, timeout_s=1.0)
            timing = time_call(lambda t=transport: t.query("*IDN?"), repeats=repeats)
            transport.close()
            results.append(BenchResult(
                label, timing.p50_s * 1e6, "µs p50", target="",
                baseline=baseline.p50_s * 1e6,
                ratio=compare(timing.p50_s, baseline.p50_s),
                details={"p99_us": timing.p99_s * 1e6, "repeats": timing.repeats},
            ))
        return results
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
