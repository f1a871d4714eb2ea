"""Drive a Keysight 53220A/53230A universal counter as a per-pulse photon counter (SCPI).

Gated totalize, one reading per external trigger (one cavity pulse): ``CONF:TOT:TIM`` first
(it resets trigger settings), then input conditioning and ``TRIG:SOUR EXT``; :meth:`arm` sets
``TRIG:COUN n`` and ``INIT``; :meth:`read` streams readings with ``R?`` (read-and-erase,
definite-length block) while the measurement runs. A reading of 9.91E37 (measurement timeout) is
reported as an invalid gate. The error queue is drained after every set and every read.

Example config::

    [devices.counter]
    driver = "keysight_53230a"
    address = "TCPIP::192.168.1.20::5025::SOCKET"   # or "sim://53230a", USB0::0x0957::...
    timeout_s = 1.0

    [devices.counter.settings]
    channel = 1               # input of the photon pulses
    slope = "fall"            # count falling edges (negative detector pulses)
    impedance_ohm = 50.0      # 50 or 1e6
    poll_interval_s = 0.001
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from heralder.config import DeviceConfig
from heralder.control.clock import Clock, WallClock
from heralder.control.records import CountBlock, CounterSettings
from heralder.drivers.base import TransportDriver, check_count, check_number, check_settings
from heralder.drivers.scpi import check_errors, exchange, parse_scpi_float, read_definite_block
from heralder.errors import DeviceError, DeviceProtocolError, DeviceTimeout

__all__ = ["Keysight53230A", "from_config", "parse_readings"]

TIMEOUT_READING = 9.91e37
MAX_TRIGGERS = 1_000_000
_MIN_GATE_S = {"53220A": 1e-4, "53230A": 1e-6}
_RESOLUTION_S = {"53220A": 1e-5, "53230A": 1e-6}


def parse_readings(payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(counts, valid)`` of an ASCII reading block (``+1.2E+001,+3.0E+000``).

    Raises
    ------
    DeviceProtocolError
        If a reading is not a number, or not a non-negative whole count.
    """
    try:
        text = payload.decode("ascii").strip()
    except UnicodeDecodeError:
        raise DeviceProtocolError(f"53230A readings are not ASCII: {payload[:40]!r}") from None
    if not text:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    values = np.array([parse_scpi_float(v, "53230A reading") for v in text.split(",")])
    timed_out = values >= 9.9e37
    counts = np.where(timed_out, 0.0, values)
    if np.any(counts < 0) or np.any(counts != np.floor(counts)) or np.any(counts > 2**62):
        raise DeviceProtocolError(f"53230A readings are not whole counts: {text[:60]!r}")
    return counts.astype(np.int64), ~timed_out


class Keysight53230A(TransportDriver):
    """Count photons per gate with a 53220A/53230A (implements :class:`PhotonCounter`).

    Parameters
    ----------
    name, address, timeout_s, transport_factory
        As for :class:`~heralder.drivers.base.TransportDriver`.
    channel
        Input of the detector pulses (1 or 2).
    slope
        ``"rise"`` or ``"fall"``: the edge counted.
    impedance_ohm
        Input impedance, 50 or 1e6.
    poll_interval_s
        Pause between ``R?`` polls while no reading is ready.
    clock
        Host clock stamping the blocks read.
    """

    driver_name = "keysight_53230a"

    def __init__(self, name: str, address: str, *, channel: int = 1, slope: str = "fall",
                 impedance_ohm: float = 50.0, poll_interval_s: float = 1e-3,
                 clock: Clock | None = None, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        if channel not in (1, 2):
            raise ValueError(f"channel must be 1 or 2, got {channel!r}")
        if slope not in ("rise", "fall"):
            raise ValueError(f"slope must be 'rise' or 'fall', got {slope!r}")
        if impedance_ohm not in (50.0, 1e6):
            raise ValueError(f"impedance_ohm must be 50 or 1e6, got {impedance_ohm!r}")
        self.channel, self.slope, self.impedance_ohm = channel, slope, float(impedance_ohm)
        self.poll_interval_s = check_number("poll_interval_s", poll_interval_s, 0.0, 1.0)
        self.clock = clock or WallClock()
        self.model = "53230A"
        self._n_gates = 0
        self._gates_read = 0

    def _query(self, command: str, timeout_s: float | None = None) -> str:
        return self.transport.query(command, self._timeout(timeout_s))

    def _exchange(self, what: str, *commands: str) -> list[str]:
        return exchange(self.transport, list(commands), what, self.timeout_s)

    def _after_open(self) -> None:
        self.transport.clear_input()
        self._identity = self.identify()
        self._exchange("open", "*CLS")

    def _before_close(self) -> None:
        self.transport.write("ABOR")

    def identify(self) -> str:
        """Return ``*IDN?`` and remember the model.

        Raises
        ------
        DeviceProtocolError
            If the instrument is not a 53220A or 53230A.
        """
        identity = self._query("*IDN?")
        fields = [f.strip() for f in identity.split(",")]
        if len(fields) < 2 or fields[1].upper() not in _MIN_GATE_S:
            raise DeviceProtocolError(f"{self.address}: not a 53220A/53230A: {identity[:60]!r}")
        self.model = fields[1].upper()
        return identity

    def settings(self) -> dict[str, Any]:
        """Return the counting settings read from the instrument."""
        ch = self.channel
        return {
            "configuration": self._query("CONF?").strip('"'),
            "gate_s": parse_scpi_float(self._query("TOT:GATE:TIME?"), "gate time"),
            "threshold_v": parse_scpi_float(self._query(f"INP{ch}:LEV?"), "input level"),
            "slope": self._query(f"INP{ch}:SLOP?"),
            "impedance_ohm": parse_scpi_float(self._query(f"INP{ch}:IMP?"), "impedance"),
            "coupling": self._query(f"INP{ch}:COUP?"),
            "trigger_source": self._query("TRIG:SOUR?"),
            "trigger_count": int(parse_scpi_float(self._query("TRIG:COUN?"), "trigger count")),
        }

    def configure(self, gate_s: float, threshold_v: float = -0.01, trigger: str = "external"
                  ) -> CounterSettings:
        """Set gated totalize with ``gate_s``, the input level and the trigger; read them back.

        Raises
        ------
        ValueError
            For a gate outside the model's range or off its resolution, a level outside ±5 V,
            or an unknown trigger.
        DeviceProtocolError
            If the instrument reports an error or a setting reads back differently.
        """
        gate_s = check_number("gate_s", gate_s, _MIN_GATE_S[self.model], 1000.0)
        step = _RESOLUTION_S[self.model]
        if abs(gate_s / step - round(gate_s / step)) > 1e-6:
            raise ValueError(f"gate_s must be a multiple of {step:g} s on the {self.model}, "
                             f"got {gate_s!r}")
        threshold_v = check_number("threshold_v", threshold_v, -5.0, 5.0)
        if trigger not in ("external", "internal"):
            raise ValueError(f"trigger must be 'external' or 'internal', got {trigger!r}")
        ch = self.channel
        slope = "NEG" if self.slope == "fall" else "POS"
        source = "EXT" if trigger == "external" else "IMM"
        gate_text, level_text, source_back = self._exchange(
            "configure", "ABOR", f"CONF:TOT:TIM {gate_s:.6E},(@{ch})",
            f"INP{ch}:IMP {self.impedance_ohm:g}", f"INP{ch}:COUP DC",
            f"INP{ch}:LEV {threshold_v:.4f}", f"INP{ch}:SLOP {slope}", f"TRIG:SOUR {source}",
            "FORM ASC", "TOT:GATE:TIME?", f"INP{ch}:LEV?", "TRIG:SOUR?")
        gate_back = parse_scpi_float(gate_text, "gate time")
        level_back = parse_scpi_float(level_text, "input level")
        source_back = source_back.strip().upper()
        if not math.isclose(gate_back, gate_s, rel_tol=1e-6, abs_tol=1e-9):
            raise DeviceProtocolError(f"53230A gate time reads back {gate_back}, set {gate_s}")
        if abs(level_back - threshold_v) > 1e-3:
            raise DeviceProtocolError(f"53230A input level reads back {level_back}")
        if source_back != source:
            raise DeviceProtocolError(f"53230A trigger source reads back {source_back!r}")
        return CounterSettings(gate_s=gate_back, threshold_v=level_back, trigger=trigger)

    def arm(self, n_gates: int) -> None:
        """Start a measurement of ``n_gates`` triggers (one reading each).

        Raises
        ------
        ValueError
            If ``n_gates`` is not an integer in 1..1e6.
        DeviceProtocolError
            If the instrument reports an error.
        """
        n_gates = check_count("n_gates", n_gates, 1, MAX_TRIGGERS)
        (count_text,) = self._exchange("arm", "ABOR", f"TRIG:COUN {n_gates}",
                                       "SAMP:COUN 1", "TRIG:COUN?", "INIT")
        count = parse_scpi_float(count_text, "trigger count")
        if count != n_gates:
            self.transport.write("ABOR")
            raise DeviceProtocolError(f"53230A trigger count reads back {count}, set {n_gates}")
        self._n_gates, self._gates_read = n_gates, 0

    def read(self, timeout_s: float) -> CountBlock:
        """Return the readings taken since the last read (at least one).

        Raises
        ------
        DeviceTimeout
            If no reading arrives within ``timeout_s`` (or a block is truncated).
        DeviceProtocolError
            On malformed blocks or readings, or an error in the queue.
        DeviceError
            If nothing is armed or every armed gate was already read.
        """
        timeout_s = self._timeout(timeout_s)
        if self._gates_read >= self._n_gates:
            raise DeviceError(f"{self.name}: no armed gates left to read (call arm())")
        deadline = time.monotonic() + timeout_s
        while True:
            # each exchange gets the device timeout; ``timeout_s`` bounds the wait for a gate
            self.transport.write("R?")
            counts, valid = parse_readings(read_definite_block(self.transport, self.timeout_s))
            if counts.size:
                break
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"{self.address}: no reading within {timeout_s:g} s")
            time.sleep(self.poll_interval_s)
        check_errors(self.transport, "read", self.timeout_s)
        first = self._gates_read
        self._gates_read += counts.size
        return CountBlock(counts=counts, valid=valid, first_gate=first,
                          t_read_s=self.clock.now())


def from_config(role: str, device: DeviceConfig, context: Any) -> Keysight53230A:
    """Build a closed :class:`Keysight53230A` from its ``[devices.<role>]`` table."""
    settings = check_settings(role, device.settings, {
        "channel": int, "slope": str, "impedance_ohm": (int, float),
        "poll_interval_s": (int, float)})
    return Keysight53230A(role, device.address, timeout_s=device.timeout_s, clock=context.clock,
                          **settings)
