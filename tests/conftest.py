"""Share fixtures across the suite: loopback TCP peers for transport and driver tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest


class LoopbackPeer:
    """Serve one TCP client at a time on 127.0.0.1 with a scripted reply function.

    ``reply(line) -> bytes | None`` gets each received LF-terminated line (without the LF); ``None``
    means stay silent. ``close_after`` drops the connection after that many lines.
    """

    def __init__(self, reply: Callable[[bytes], bytes | None], close_after: int | None = None):
        self.reply = reply
        self.close_after = close_after
        self.received: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.1)
                buffer = b""
                while not self._stop.is_set():
                    try:
                        chunk = conn.recv(4096)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        self.received.append(line)
                        answer = self.reply(line)
                        if answer is not None:
                            conn.sendall(answer)
                        if self.close_after is not None and len(self.received) >= self.close_after:
                            conn.shutdown(socket.SHUT_RDWR)
                            break
                    else:
                        continue
                    break

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()


@pytest.fixture
def loopback_peer() -> Iterator[Callable[..., LoopbackPeer]]:
    """Return a factory of loopback peers that are all shut down after the test."""
    peers: list[LoopbackPeer] = []

    def make(
        reply: Callable[[bytes], bytes | None], close_after: int | None = None
    ) -> LoopbackPeer:
        peer = LoopbackPeer(reply, close_after)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()
