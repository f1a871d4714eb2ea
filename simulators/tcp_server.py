"""Serve one instrument emulator on a loopback TCP port (``socket://`` or ``TCPIP::...::SOCKET``).

Each client gets its own thread; the emulator (and its lock) is shared, so the instrument keeps
its state from one client to the next, as a real unit does. A client that disconnects, even in the
middle of a command, only ends its own session: the half-received command is dropped and the
server keeps accepting. Injected faults act on the wire: delayed replies, and a dropped connection
closes that client's socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from heralder.simulators.instruments.base import Emulator

__all__ = ["EmulatorServer"]

_POLL_S = 0.05


class EmulatorServer:
    """Accept TCP clients on 127.0.0.1 and connect each to ``emulator``.

    Parameters
    ----------
    emulator
        The instrument state machine to serve.
    port
        TCP port; 0 picks a free one (read it from :attr:`port`).
    host
        Interface to bind; loopback by default (never expose an emulator on a network).
    """

    def __init__(self, emulator: Emulator, port: int = 0, host: str = "127.0.0.1") -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must lie in 0..65535, got {port}")
        self.emulator = emulator
        self._server = socket.create_server((host, port))
        self._server.settimeout(_POLL_S)
        self.host = host
        self.port = self._server.getsockname()[1]
        self.sessions = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, name=f"emulator:{self.port}",
                                        daemon=True)

    def start(self) -> EmulatorServer:
        """Start accepting clients in a background thread; return ``self``."""
        self._accept.start()
        return self

    def wait(self) -> None:
        """Block until :meth:`stop` is called (Ctrl-C interrupts the wait)."""
        while self._accept.is_alive():
            self._accept.join(timeout=0.2)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listening socket was closed by stop()
            self.sessions += 1
            thread = threading.Thread(target=self._session, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _session(self, conn: socket.socket) -> None:
        pending = bytearray()  # this client's half-received command, dropped when it leaves
        with conn:
            conn.settimeout(_POLL_S)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return  # the client went away; a half-received command is dropped
                for output in self.emulator.feed(data, pending):
                    if output.delay_s and self._stop.wait(output.delay_s):
                        return
                    try:
                        if output.data:
                            conn.sendall(output.data)
                    except OSError:
                        return
                    if output.disconnect:
                        with contextlib.suppress(OSError):
                            conn.shutdown(socket.SHUT_RDWR)
                        return

    def stop(self) -> None:
        """Stop accepting, end every session and release the port."""
        self._stop.set()
        self._server.close()
        if self._accept.is_alive():
            self._accept.join(timeout=1.0)
        for thread in self._threads:
            thread.join(timeout=1.0)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
