"""Connect the instrument emulators of one run to the virtual lab they share.

Counter emulators fire one lab pulse per gate through :meth:`LabLink.fire_gate`; switch emulators
move the lab's switch through :meth:`LabLink.request` (optionally late, the ``switch_late`` fault)
and :meth:`LabLink.arm_pattern` (hardware-clocked alternation); a trigger generator's pulse
triggers are queued (:meth:`LabLink.trigger`) for the time tagger's fake to fire. A standalone
counter emulator (``heralder emulate sr400``) has no switch device: it runs the link in
*auto-alternate* mode, where the lab's switch steps TC, anti-TC, TC, ... on each pulse and a new
shot starts every ``pulses_per_shot`` gates, so the counts stay physical (2S photons per pulse
after the first).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from heralder.control.records import SwitchState

__all__ = ["LabLink", "link_from_context"]

ALTERNATE = (SwitchState.TC, SwitchState.ANTI_TC)
_LINK_LOCK = threading.Lock()


class LabLink:
    """Drive one virtual lab from several emulators.

    Parameters
    ----------
    lab
        The virtual lab (``new_shot``, ``fire_pulse``, ``switch``).
    auto_alternate
        Step the switch TC/anti-TC on every pulse and start a new shot every
        ``pulses_per_shot`` gates (for a counter served without a switch).
    pulses_per_shot
        Gates per shot in auto-alternate mode (>= 1).
    """

    def __init__(self, lab: Any, *, auto_alternate: bool = False, pulses_per_shot: int = 20
                 ) -> None:
        if pulses_per_shot < 1:
            raise ValueError(f"pulses_per_shot must be >= 1, got {pulses_per_shot}")
        self.lab = lab
        self.auto_alternate = auto_alternate
        self.pulses_per_shot = int(pulses_per_shot)
        self.pulses = 0
        self.triggers = 0
        self._untaken = 0
        self._late: list[tuple[float, SwitchState]] = []
        self._lock = threading.RLock()

    def fire_gate(self) -> int:
        """Fire one lab pulse (one counter gate) and return the registered count."""
        with self._lock:
            self.apply_due()
            if self.auto_alternate and self.pulses % self.pulses_per_shot == 0:
                self.lab.new_shot()
                self.lab.switch.arm_pattern(ALTERNATE)  # the lab steps it before each pulse
            self.pulses += 1
            return int(self.lab.fire_pulse().count)

    def request(self, state: SwitchState, late_s: float = 0.0) -> None:
        """Ask the lab's switch for ``state`` now, or ``late_s`` seconds (wall time) from now."""
        with self._lock:
            if late_s > 0.0:
                self._late.append((time.monotonic() + late_s, state))
            else:
                self._late.clear()
                self.lab.switch.request(state)

    def apply_due(self) -> None:
        """Apply the late requests whose time has come."""
        with self._lock:
            now = time.monotonic()
            while self._late and self._late[0][0] <= now:
                self.lab.switch.request(self._late.pop(0)[1])

    def pending(self) -> bool:
        """Return ``True`` while a late request has not been applied yet."""
        self.apply_due()
        return bool(self._late)

    def arm_pattern(self, pattern: Sequence[SwitchState]) -> None:
        """Make the lab's switch step through ``pattern`` on each pulse."""
        with self._lock:
            self.lab.switch.arm_pattern(pattern)

    def stop_pattern(self) -> None:
        """Stop a running pattern; the switch keeps its current state."""
        with self._lock:
            self.lab.switch.stop_pattern()

    def trigger(self) -> None:
        """Count one pulse trigger sent by a trigger generator (it fires one lab pulse)."""
        with self._lock:
            self.triggers += 1
            self._untaken += 1

    def take_triggers(self) -> int:
        """Return the triggers sent since the last call: the pulses a tagger has yet to fire."""
        with self._lock:
            untaken, self._untaken = self._untaken, 0
            return untaken


def link_from_context(context: Any, *, auto_alternate: bool = False) -> LabLink:
    """Return the run's link (made once per context) to the run's shared virtual lab."""
    shared = context.shared
    with _LINK_LOCK:
        link = shared.get("lab_link")
        if link is None:
            lab = shared.get("lab")
            if lab is None:
                from heralder.simulators.lab import lab_from_context

                lab = lab_from_context(context)
            link = shared["lab_link"] = LabLink(lab, auto_alternate=auto_alternate)
    return link
