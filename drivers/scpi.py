"""Parse and frame the SCPI pieces every SCPI driver and emulator shares.

One implementation of the IEEE 488.2 definite-length block (``#<n><len><payload>``), of the SCPI
error-queue reply (``-113,"Undefined header"``) and of draining ``SYST:ERR?`` until ``+0``.
"""

from __future__ import annotations

import re

from heralder.errors import DeviceProtocolError
from heralder.transport import Transport

__all__ = [
    "check_errors",
    "drain_errors",
    "exchange",
    "format_definite_block",
    "parse_definite_block",
    "parse_error",
    "parse_scpi_bool",
    "parse_scpi_float",
    "read_definite_block",
]

_ERROR = re.compile(r'^\s*([+-]?\d+)\s*,\s*"(.*)"\s*$', re.DOTALL)
#: Longest error queue a driver drains before it concludes the instrument is babbling.
MAX_ERRORS = 64


def parse_error(line: str) -> tuple[int, str]:
    """Return ``(code, message)`` of one ``SYST:ERR?`` reply.

    Raises
    ------
    DeviceProtocolError
        If ``line`` is not of the form ``<int>,"<text>"``.
    """
    match = _ERROR.match(line)
    if match is None:
        raise DeviceProtocolError(f"malformed SYST:ERR? reply {line[:60]!r}")
    return int(match.group(1)), match.group(2)


def drain_errors(transport: Transport, timeout_s: float) -> list[tuple[int, str]]:
    """Read the instrument's error queue until ``+0,"No error"`` and return the errors found.

    Raises
    ------
    DeviceProtocolError
        If a reply is malformed or the queue does not empty within :data:`MAX_ERRORS` reads.
    """
    errors: list[tuple[int, str]] = []
    for _ in range(MAX_ERRORS):
        code, message = parse_error(transport.query("SYST:ERR?", timeout_s))
        if code == 0:
            return errors
        errors.append((code, message))
    raise DeviceProtocolError(f"{transport.address}: error queue did not empty: {errors[:3]}")


def check_errors(transport: Transport, what: str, timeout_s: float) -> None:
    """Drain the error queue and raise if it held anything.

    Raises
    ------
    DeviceProtocolError
        Naming ``what`` (the operation) and every error the instrument reported.
    """
    errors = drain_errors(transport, timeout_s)
    if errors:
        listed = "; ".join(f"{code},{message!r}" for code, message in errors)
        raise DeviceProtocolError(f"{transport.address}: {what}: instrument reports {listed}")


def _is_query(command: str) -> bool:
    return command.split(" ", 1)[0].endswith("?")


def exchange(transport: Transport, commands: list[str], what: str, timeout_s: float) -> list[str]:
    """Send ``commands`` as one program message ending in ``SYST:ERR?``; return query replies.

    One write and one read per call: no write follows a write without a reply in between, which
    keeps Nagle's algorithm and delayed ACKs from adding tens of ms on TCP sockets, and halves the
    round trips on any bus.

    Raises
    ------
    DeviceProtocolError
        If the instrument reports an error (the whole queue is drained and named) or the reply
        has the wrong number of fields.
    """
    parts = [c if c.startswith("*") else ":" + c.lstrip(":") for c in [*commands, "SYST:ERR?"]]
    n_queries = sum(_is_query(c) for c in commands)
    fields = transport.query(";".join(parts).lstrip(":"), timeout_s).split(";", n_queries)
    if len(fields) != n_queries + 1:
        raise DeviceProtocolError(
            f"{transport.address}: {what}: expected {n_queries + 1} reply fields, got {fields!r}")
    code, message = parse_error(fields[-1])
    if code != 0:
        errors = [(code, message), *drain_errors(transport, timeout_s)]
        listed = "; ".join(f"{c},{m!r}" for c, m in errors)
        raise DeviceProtocolError(f"{transport.address}: {what}: instrument reports {listed}")
    return fields[:-1]


def format_definite_block(payload: bytes) -> bytes:
    """Return ``payload`` framed as an IEEE 488.2 definite-length block (no terminator)."""
    length = str(len(payload)).encode("ascii")
    if len(length) > 9:
        raise ValueError(f"payload of {len(payload)} bytes is too long for a definite block")
    return b"#" + str(len(length)).encode("ascii") + length + payload


def _block_header(head: bytes) -> int:
    """Return the number of length digits announced by the 2-byte header ``#<n>``."""
    if len(head) != 2 or head[:1] != b"#" or not head[1:2].isdigit() or head[1:2] == b"0":
        raise DeviceProtocolError(f"expected a definite-length block '#<1-9>', got {head!r}")
    return int(head[1:2])


def _block_length(digits: bytes) -> int:
    if not digits.isdigit():
        raise DeviceProtocolError(f"block length is not decimal digits: {digits!r}")
    return int(digits)


def parse_definite_block(data: bytes) -> tuple[bytes, bytes]:
    """Split ``data`` into the payload of its leading definite-length block and the rest.

    Raises
    ------
    DeviceProtocolError
        If the header is malformed or ``data`` is shorter than the block announces.
    """
    n_digits = _block_header(data[:2])
    length = _block_length(data[2 : 2 + n_digits])
    start = 2 + n_digits
    if len(data) < start + length:
        raise DeviceProtocolError(
            f"truncated block: header announces {length} bytes, got {len(data) - start}"
        )
    return data[start : start + length], data[start + length :]


def read_definite_block(transport: Transport, timeout_s: float, terminator: bytes = b"\n") -> bytes:
    """Read one definite-length block and its terminator from ``transport``; return the payload.

    Raises
    ------
    DeviceProtocolError
        If the framing is wrong or the terminator does not follow the payload.
    DeviceTimeout
        If the announced bytes do not arrive within ``timeout_s`` (a truncated block).
    """
    n_digits = _block_header(transport.read_bytes(2, timeout_s))
    length = _block_length(transport.read_bytes(n_digits, timeout_s))
    payload = transport.read_bytes(length + len(terminator), timeout_s)
    if not payload.endswith(terminator):
        raise DeviceProtocolError(
            f"{transport.address}: block of {length} bytes not followed by {terminator!r}"
        )
    return payload[: length]


def parse_scpi_float(text: str, what: str) -> float:
    """Return the number in a SCPI numeric reply (``+1.2E+003``, ``9.9E37``).

    Raises
    ------
    DeviceProtocolError
        Naming ``what`` if the reply is not a number.
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise DeviceProtocolError(f"{what}: expected a number, got {text[:40]!r}") from None
    if value != value:
        raise DeviceProtocolError(f"{what}: instrument returned NaN")
    return value


def parse_scpi_bool(text: str, what: str) -> bool:
    """Return the boolean of a SCPI reply (``0``/``1``, ``ON``/``OFF``).

    Raises
    ------
    DeviceProtocolError
        Naming ``what`` if the reply is not a boolean.
    """
    token = text.strip().upper()
    if token in ("1", "ON", "+1"):
        return True
    if token in ("0", "OFF", "+0"):
        return False
    raise DeviceProtocolError(f"{what}: expected 0 or 1, got {text[:40]!r}")
