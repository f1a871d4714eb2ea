"""Move bytes to and from an instrument: one protocol, a pyserial and a pyvisa implementation.

Drivers speak only to a :class:`Transport`. :class:`SerialTransport` opens any pyserial URL
(``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``, ``sim://sr400``); :class:`VisaTransport` opens
any VISA resource through pyvisa-py (``TCPIP::host::5025::SOCKET``, ``ASRL/dev/ttyUSB0::INSTR``,
``GPIB0::23::INSTR``). Both enforce an explicit timeout on every read, map failures onto the typed
errors of :mod:`heralder.errors` and log every exchange on the ``heralder.wire`` logger at DEBUG.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import serial

from heralder.errors import DeviceDisconnected, DeviceError, DeviceTimeout

__all__ = ["SerialTransport", "Transport", "VisaTransport", "open_transport"]

wire_log = logging.getLogger("heralder.wire")

# pyserial looks up ``sim://`` URLs in ``heralder.simulators.protocol_sim`` (the emulators).
if "heralder.simulators" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("heralder.simulators")


@runtime_checkable
class Transport(Protocol):
    """Exchange bytes with one instrument, every read bounded by a timeout."""

    address: str
    timeout_s: float

    def open(self) -> None:
        """Connect; opening an open transport does nothing."""
        ...

    def close(self) -> None:
        """Disconnect; closing a closed transport does nothing."""
        ...

    @property
    def is_open(self) -> bool:
        """Return ``True`` while connected."""
        ...

    def write(self, command: str) -> None:
        """Send ``command`` followed by the write terminator."""
        ...

    def write_bytes(self, data: bytes) -> None:
        """Send ``data`` as it is."""
        ...

    def read(self, timeout_s: float | None = None) -> str:
        """Return one reply up to the read terminator (which is stripped)."""
        ...

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        """Return the bytes up to and including ``terminator``."""
        ...

    def read_bytes(self, count: int, timeout_s: float | None = None) -> bytes:
        """Return exactly ``count`` bytes."""
        ...

    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send ``command`` and return the reply."""
        ...

    def clear_input(self) -> None:
        """Discard bytes already received and not read."""
        ...


def _check_timeout(timeout_s: float) -> float:
    timeout_s = float(timeout_s)
    if not (0.0 < timeout_s < float("inf")):
        raise ValueError(f"timeout_s must be a finite number > 0, got {timeout_s!r}")
    return timeout_s


class _TransportBase:
    """Share terminator handling, timeouts and the wire log between transports."""

    def __init__(
        self,
        address: str,
        *,
        timeout_s: float = 1.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
        encoding: str = "ascii",
    ) -> None:
        if not read_termination:
            raise ValueError("read_termination must not be empty")
        self.address = address
        self.timeout_s = _check_timeout(timeout_s)
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.encoding = encoding

    def _timeout(self, timeout_s: float | None) -> float:
        return self.timeout_s if timeout_s is None else _check_timeout(timeout_s)

    def _log(self, direction: str, data: bytes) -> None:
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s %s %r", self.address, direction, data)

    def _decode(self, data: bytes) -> str:
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError:
            from heralder.errors import DeviceProtocolError

            raise DeviceProtocolError(
                f"{self.address}: reply is not {self.encoding} text: {data[:40]!r}"
            ) from None

    def write(self, command: str) -> None:
        """Send ``command`` followed by the write terminator."""
        self.write_bytes((command + self.write_termination).encode(self.encoding))

    def read(self, timeout_s: float | None = None) -> str:
        """Return one reply up to the read terminator (which is stripped)."""
        terminator = self.read_termination.encode(self.encoding)
        data = self.read_until(terminator, timeout_s)
        return self._decode(data[: -len(terminator)])

    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send ``command`` and return the reply."""
        self.write(command)
        return self.read(timeout_s)

    def write_bytes(self, data: bytes) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        raise NotImplementedError  # pragma: no cover - overridden

    def __enter__(self) -> _TransportBase:
        self.open()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


class SerialTransport(_TransportBase):
    """Talk to an instrument through pyserial's ``serial_for_url``.

    Parameters
    ----------
    address
        A port (``/dev/ttyUSB0``, ``COM3``) or URL (``socket://127.0.0.1:5025``, ``sim://sr400``).
    baudrate
        Serial line speed (ignored by network URLs).
    timeout_s
        Default timeout of each read, seconds.
    read_termination, write_termination
        Terminators of replies and commands.
    """

    def __init__(self, address: str, *, baudrate: int = 9600, **kwargs: object) -> None:
        super().__init__(address, **kwargs)  # type: ignore[arg-type]
        self.baudrate = baudrate
        self._port: serial.SerialBase | None = None
        self._pending = bytearray()

    @property
    def is_open(self) -> bool:
        """Return ``True`` while the port is open."""
        return self._port is not None and self._port.is_open

    def open(self) -> None:
        """Open the port or URL.

        Raises
        ------
        DeviceDisconnected
            If the port does not exist or the peer refuses the connection.
        """
        if self.is_open:
            return
        try:
            self._port = serial.serial_for_url(
                self.address, baudrate=self.baudrate, timeout=self.timeout_s,
                write_timeout=self.timeout_s,
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            self._port = None
            raise DeviceDisconnected(f"{self.address}: cannot open: {exc}") from exc

    def close(self) -> None:
        """Close the port; closing a closed port does nothing."""
        port, self._port = self._port, None
        self._pending.clear()
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                wire_log.debug("%s close failed: %s", self.address, exc)

    def _require_port(self) -> serial.SerialBase:
        if self._port is None or not self._port.is_open:
            raise DeviceDisconnected(f"{self.address}: transport is not open")
        return self._port

    def write_bytes(self, data: bytes) -> None:
        """Send ``data`` as it is."""
        port = self._require_port()
        self._log(">>", data)
        try:
            port.write(data)
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeout(f"{self.address}: write timed out") from exc
        except (serial.SerialException, OSError) as exc:
            raise DeviceDisconnected(f"{self.address}: write failed: {exc}") from exc

    def _read_loop(
        self, complete: Callable[[bytearray], int | None], timeout_s: float | None, what: str
    ) -> bytes:
        """Read until ``complete(buffer)`` gives a message length, within one overall deadline.

        Bytes past the message stay buffered for the next read, so nothing received is lost.
        """
        port = self._require_port()
        timeout_s = self._timeout(timeout_s)
        deadline = time.monotonic() + timeout_s
        buffer = self._pending
        while (length := complete(buffer)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._log("<< (partial)", bytes(buffer))
                raise DeviceTimeout(
                    f"{self.address}: no {what} within {timeout_s:g} s"
                    + (f" (got {bytes(buffer)[:60]!r})" if buffer else "")
                )
            try:
                port.timeout = remaining
                chunk = port.read(max(1, min(port.in_waiting, 4096)))
            except (serial.SerialException, OSError) as exc:
                raise DeviceDisconnected(f"{self.address}: read failed: {exc}") from exc
            buffer += chunk
        message = bytes(buffer[:length])
        del buffer[:length]
        self._log("<<", message)
        return message

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        """Return the bytes up to and including ``terminator``.

        Raises
        ------
        DeviceTimeout
            If the terminator does not arrive within the timeout.
        DeviceDisconnected
            If the connection is closed or lost.
        """
        if not terminator:
            raise ValueError("terminator must not be empty")

        def complete(buffer: bytearray) -> int | None:
            index = buffer.find(terminator)
            return None if index < 0 else index + len(terminator)

        return self._read_loop(complete, timeout_s, f"{terminator!r}")

    def read_bytes(self, count: int, timeout_s: float | None = None) -> bytes:
        """Return exactly ``count`` bytes, or raise :class:`DeviceTimeout`."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        return self._read_loop(
            lambda buffer: count if len(buffer) >= count else None, timeout_s, f"{count} bytes"
        )

    def clear_input(self) -> None:
        """Discard bytes already received and not read."""
        port = self._require_port()
        self._pending.clear()
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise DeviceDisconnected(f"{self.address}: {exc}") from exc


class VisaTransport(_TransportBase):
    """Talk to an instrument through pyvisa with the pure-Python pyvisa-py backend.

    Parameters
    ----------
    address
        A VISA resource string, e.g. ``TCPIP::127.0.0.1::5025::SOCKET`` or
        ``ASRLsim://sr400::INSTR``.
    backend
        The pyvisa backend; ``"@py"`` (pyvisa-py) by default.
    timeout_s, read_termination, write_termination
        As for :class:`SerialTransport`.
    """

    def __init__(self, address: str, *, backend: str = "@py", **kwargs: object) -> None:
        super().__init__(address, **kwargs)  # type: ignore[arg-type]
        self.backend = backend
        self._manager = None
        self._resource = None

    @property
    def is_open(self) -> bool:
        """Return ``True`` while the resource is open."""
        return self._resource is not None

    def open(self) -> None:
        """Open the VISA resource.

        Raises
        ------
        DeviceDisconnected
            If the resource cannot be opened.
        """
        if self.is_open:
            return
        import pyvisa

        try:
            self._manager = pyvisa.ResourceManager(self.backend)
            self._resource = self._manager.open_resource(
                self.address,
                read_termination=self.read_termination,
                write_termination=self.write_termination,
                timeout=self.timeout_s * 1000.0,
                encoding=self.encoding,
            )
        except (pyvisa.Error, OSError, ValueError) as exc:
            self._resource = None
            raise DeviceDisconnected(f"{self.address}: cannot open: {exc}") from exc

    def close(self) -> None:
        """Close the resource; closing a closed resource does nothing."""
        resource, self._resource = self._resource, None
        if resource is not None:
            try:
                resource.close()
            except Exception as exc:
                wire_log.debug("%s close failed: %s", self.address, exc)

    def _call(self, what: str, timeout_s: float | None, func: object) -> bytes:
        import pyvisa
        from pyvisa import constants

        if self._resource is None:
            raise DeviceDisconnected(f"{self.address}: transport is not open")
        timeout_s = self._timeout(timeout_s)
        self._resource.timeout = timeout_s * 1000.0
        try:
            return func()  # type: ignore[operator]
        except pyvisa.VisaIOError as exc:
            if exc.error_code == constants.StatusCode.error_timeout:
                raise DeviceTimeout(f"{self.address}: no {what} within {timeout_s:g} s") from exc
            if exc.error_code in (
                constants.StatusCode.error_connection_lost,
                constants.StatusCode.error_resource_not_found,
                constants.StatusCode.error_io,
            ):
                raise DeviceDisconnected(f"{self.address}: {exc.description}") from exc
            raise DeviceError(f"{self.address}: {exc.description}") from exc
        except (ConnectionError, OSError) as exc:
            raise DeviceDisconnected(f"{self.address}: {exc}") from exc

    def write_bytes(self, data: bytes) -> None:
        """Send ``data`` as it is."""
        self._log(">>", data)
        self._call("write", None, lambda: self._resource.write_raw(data))

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        """Return the bytes up to and including ``terminator``."""
        if not terminator:
            raise ValueError("terminator must not be empty")
        timeout = self._timeout(timeout_s)
        deadline = time.monotonic() + timeout
        buffer = bytearray()
        while not buffer.endswith(terminator):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"{self.address}: no {terminator!r} within {timeout:g} s")
            buffer += self._call(
                f"{terminator!r}", remaining, lambda: self._resource.read_bytes(1)
            )
        self._log("<<", bytes(buffer))
        return bytes(buffer)

    def read(self, timeout_s: float | None = None) -> str:
        """Return one reply up to the read terminator (which is stripped)."""
        data = self._call(
            "reply",
            timeout_s,
            lambda: self._resource.read_raw(),
        )
        self._log("<<", data)
        terminator = self.read_termination.encode(self.encoding)
        return self._decode(data[: -len(terminator)] if data.endswith(terminator) else data)

    def read_bytes(self, count: int, timeout_s: float | None = None) -> bytes:
        """Return exactly ``count`` bytes."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        data = self._call(
            f"{count} bytes",
            timeout_s,
            lambda: self._resource.read_bytes(count, break_on_termchar=False),
        )
        self._log("<<", data)
        return data

    def clear_input(self) -> None:
        """Discard bytes already received and not read."""
        if self._resource is None:
            raise DeviceDisconnected(f"{self.address}: transport is not open")
        from pyvisa import constants

        self._resource.flush(constants.BufferOperation.discard_read_buffer_no_io)


def open_transport(
    address: str,
    *,
    timeout_s: float = 1.0,
    read_termination: str = "\n",
    write_termination: str = "\n",
    baudrate: int = 9600,
) -> Transport:
    """Return an open transport for ``address``, choosing pyvisa or pyserial by its form.

    VISA resource strings (``TCPIP::…``, ``GPIB…``, ``USB…``, ``ASRL…::INSTR``) go through pyvisa;
    everything else (a port name or a pyserial URL such as ``sim://`` or ``socket://``) through
    pyserial.
    """
    common = {
        "timeout_s": timeout_s,
        "read_termination": read_termination,
        "write_termination": write_termination,
    }
    head = address.split("::", 1)[0].upper()
    transport: Transport
    if "::" in address and head.startswith(("TCPIP", "GPIB", "USB", "ASRL", "VXI")):
        transport = VisaTransport(address, **common)
    else:
        transport = SerialTransport(address, baudrate=baudrate, **common)
    transport.open()
    return transport
