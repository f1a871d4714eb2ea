"""Share the lifecycle of every wire-protocol driver: open/close a transport, check settings.

A driver owns one :class:`~heralder.transport.Transport`, opened by :meth:`TransportDriver.open`
and dropped by :meth:`TransportDriver.close`; a driver that lost its connection is usable again
after ``close()`` + ``open()``. Transports come from a factory (``open_transport`` by default) so
protocol tests can inject a scripted transport that asserts every byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from heralder.control.records import DeviceSnapshot, SwitchState
from heralder.errors import DeviceDisconnected, DeviceError
from heralder.transport import Transport, open_transport

__all__ = ["TransportDriver", "TransportFactory", "check_count", "check_number", "check_settings",
           "check_state"]

TransportFactory = Callable[..., Transport]


def check_settings(role: str, settings: Mapping[str, Any], allowed: Mapping[str, type | tuple]
                   ) -> dict[str, Any]:
    """Return ``settings`` after checking every key is known and of the right type.

    Raises
    ------
    ValueError
        Naming ``devices.<role>.settings.<key>`` for an unknown key or a wrong type.
    """
    checked: dict[str, Any] = {}
    for key, value in settings.items():
        where = f"devices.{role}.settings.{key}"
        if key not in allowed:
            raise ValueError(f"{where}: unknown setting (allowed: {', '.join(sorted(allowed))})")
        kinds = allowed[key]
        kind_list = kinds if isinstance(kinds, tuple) else (kinds,)
        if isinstance(value, bool) and bool not in kind_list:
            raise ValueError(f"{where}: expected {kinds}, got a boolean")
        if not isinstance(value, kinds):
            raise ValueError(f"{where}: expected {kinds}, got {type(value).__name__}")
        checked[key] = float(value) if kinds in (float, (int, float)) else value
    return checked


def check_number(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` as a float if it is finite and in ``[low, high]``.

    Raises
    ------
    ValueError
        Naming ``name`` and the allowed range otherwise (nothing is ever clipped).
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}")
    return value


def check_count(name: str, value: int, low: int, high: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) in ``[low, high]``.

    Raises
    ------
    ValueError
        Naming ``name`` and the allowed range otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            low <= value <= high):
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return int(value)


def check_state(state: SwitchState) -> SwitchState:
    """Return ``state`` if it is a :class:`SwitchState`.

    Raises
    ------
    ValueError
        Otherwise (e.g. the string ``"tc"``).
    """
    if not isinstance(state, SwitchState):
        raise ValueError(f"state must be a SwitchState, got {state!r}")
    return state


class TransportDriver:
    """Open and close one transport and describe the device (the common half of a driver).

    Subclasses set the class attributes (terminators, baud rate, registry name) and may override
    :meth:`_after_open` (e.g. to check the identity) and :meth:`_before_close` (to leave the
    instrument safe).

    Parameters
    ----------
    name
        The device's role in the config.
    address
        Where the instrument is (VISA resource, port or pyserial URL).
    timeout_s
        Default timeout of every exchange, seconds.
    transport_factory
        ``factory(address, timeout_s=, read_termination=, write_termination=, baudrate=)``
        returning an open transport; :func:`heralder.transport.open_transport` by default.
    """

    driver_name: ClassVar[str] = ""
    read_termination: ClassVar[str] = "\n"
    write_termination: ClassVar[str] = "\n"
    baudrate: ClassVar[int] = 9600

    def __init__(
        self,
        name: str,
        address: str,
        *,
        timeout_s: float = 1.0,
        transport_factory: TransportFactory | None = None,
    ) -> None:
        if not address:
            raise ValueError("address must not be empty")
        self.name = name
        self.address = address
        self.timeout_s = check_number("timeout_s", timeout_s, 1e-6, 3600.0)
        self._factory = transport_factory or open_transport
        self._transport: Transport | None = None
        self._identity = ""

    @property
    def is_open(self) -> bool:
        """Return ``True`` while the transport is open."""
        return self._transport is not None and self._transport.is_open

    def open(self) -> None:
        """Connect and check the instrument; opening an open device does nothing.

        Raises
        ------
        DeviceDisconnected
            If the address cannot be opened.
        DeviceError
            If the instrument does not answer as expected (the transport is closed again).
        """
        if self.is_open:
            return
        self._transport = self._factory(
            self.address,
            timeout_s=self.timeout_s,
            read_termination=self.read_termination,
            write_termination=self.write_termination,
            baudrate=self.baudrate,
        )
        try:
            self._after_open()
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        """Leave the instrument safe and disconnect; closing a closed device does nothing."""
        if self._transport is None:
            return
        try:
            if self._transport.is_open:
                self._before_close()
        except DeviceError:
            pass  # the connection is going away anyway; open() starts from a clean state
        finally:
            self._drop()

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    @property
    def transport(self) -> Transport:
        """Return the open transport.

        Raises
        ------
        DeviceDisconnected
            If the device is not open.
        """
        if self._transport is None:
            raise DeviceDisconnected(f"{self.name} ({self.address}): device is not open")
        return self._transport

    def _timeout(self, timeout_s: float | None) -> float:
        if timeout_s is None:
            return self.timeout_s
        return check_number("timeout_s", timeout_s, 1e-6, 3600.0)

    def _after_open(self) -> None:
        """Check the instrument after connecting (default: read its identity)."""
        self._identity = self.identify()

    def _before_close(self) -> None:
        """Leave the instrument in a safe state before disconnecting (default: nothing)."""

    def identify(self) -> str:  # pragma: no cover - every driver overrides
        """Return the instrument's identification string."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:  # pragma: no cover - every driver overrides
        """Return every setting that affects the data, as read from the instrument."""
        raise NotImplementedError

    def snapshot(self) -> DeviceSnapshot:
        """Return the identity and the settings read back from the instrument."""
        return DeviceSnapshot(
            name=self.name,
            driver=self.driver_name,
            address=self.address,
            identity=self._identity or self.identify(),
            settings=self.settings(),
        )
