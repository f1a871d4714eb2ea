"""Check both transports on loopback: replies, timeouts within 10 %, disconnects."""

from __future__ import annotations

import time

import pytest

from heralder.errors import DeviceDisconnected, DeviceTimeout
from heralder.transport import SerialTransport, Transport, VisaTransport, open_transport


def echo_upper(line: bytes) -> bytes:
    return line.upper() + b"\n"


def addresses(port: int) -> dict[str, str]:
    return {
        "serial": f"socket://127.0.0.1:{port}",
        "visa": f"TCPIP::127.0.0.1::{port}::SOCKET",
    }


@pytest.mark.parametrize("kind", ["serial", "visa"])
def test_query_returns_reply_without_terminator(loopback_peer, kind):
    peer = loopback_peer(echo_upper)
    transport = open_transport(addresses(peer.port)[kind], timeout_s=1.0)
    try:
        assert isinstance(transport, Transport)
        assert transport.query("*idn?") == "*IDN?"
        assert transport.query("second") == "SECOND"
    finally:
        transport.close()
    assert peer.received == [b"*idn?", b"second"]


@pytest.mark.parametrize("kind", ["serial", "visa"])
@pytest.mark.parametrize("timeout_s", [0.2, 0.5])
def test_silent_peer_times_out_within_ten_percent(loopback_peer, kind, timeout_s):
    peer = loopback_peer(lambda line: None)
    transport = open_transport(addresses(peer.port)[kind], timeout_s=timeout_s)
    try:
        transport.write("*IDN?")
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout, match="within"):
            transport.read()
        elapsed = time.monotonic() - t0
    finally:
        transport.close()
    assert timeout_s * 0.9 <= elapsed <= timeout_s * 1.1


def test_partial_reply_times_out_and_names_what_arrived(loopback_peer):
    peer = loopback_peer(lambda line: b"12")  # no terminator ever
    with SerialTransport(f"socket://127.0.0.1:{peer.port}", timeout_s=0.2) as transport:
        transport.write("COUNT?")
        with pytest.raises(DeviceTimeout, match="b'12'"):
            transport.read()


def test_read_until_prompt_and_exact_bytes(loopback_peer):
    peer = loopback_peer(lambda line: b"echo\r42\r> " + b"#14ABCD")
    with SerialTransport(f"socket://127.0.0.1:{peer.port}", timeout_s=1.0) as transport:
        transport.write("x")
        assert transport.read_until(b"> ") == b"echo\r42\r> "
        assert transport.read_bytes(7) == b"#14ABCD"


@pytest.mark.parametrize("kind", ["serial", "visa"])
def test_peer_closing_gives_disconnected_or_timeout_never_a_hang(loopback_peer, kind):
    peer = loopback_peer(lambda line: None, close_after=1)
    transport = open_transport(addresses(peer.port)[kind], timeout_s=0.5)
    try:
        transport.write("bye")
        t0 = time.monotonic()
        with pytest.raises((DeviceDisconnected, DeviceTimeout)):
            transport.read()
        assert time.monotonic() - t0 < 0.6
    finally:
        transport.close()


def test_refused_connection_is_disconnected():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(DeviceDisconnected, match="cannot open"):
        open_transport(f"socket://127.0.0.1:{port}", timeout_s=0.5)


def test_use_before_open_is_disconnected():
    transport = SerialTransport("socket://127.0.0.1:9", timeout_s=0.1)
    with pytest.raises(DeviceDisconnected, match="not open"):
        transport.write("x")
    visa = VisaTransport("TCPIP::127.0.0.1::9::SOCKET", timeout_s=0.1)
    with pytest.raises(DeviceDisconnected, match="not open"):
        visa.read()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_timeout_is_rejected(bad):
    with pytest.raises(ValueError, match="timeout_s"):
        SerialTransport("socket://127.0.0.1:9", timeout_s=bad)


def test_wire_log_records_both_directions(loopback_peer, caplog):
    peer = loopback_peer(echo_upper)
    caplog.set_level("DEBUG", logger="heralder.wire")
    with SerialTransport(f"socket://127.0.0.1:{peer.port}", timeout_s=1.0) as transport:
        transport.query("ping")
    text = caplog.text
    assert ">> b'ping\\n'" in text and "<< b'PING\\n'" in text
