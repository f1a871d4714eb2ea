"""Choose the CPU the engine thread runs on, with the writer thread it starts (``[engine]
pin_cpu``).

On a machine whose two logical CPUs share a core, the writer thread's work on the other CPU
slows the engine thread by ~15 %, and the hand-overs between them move their data from one
CPU's cache to the other's. Python runs one thread at a time (the GIL), so the engine thread and
its writer lose nothing by sharing one CPU: measured on this project's 2-vCPU machine, 29-32k
against 34-36k pulses/s, and the writer's own CPU 4.5 against 2.8 µs per pulse. A thread
started from a pinned thread inherits its CPU (Linux), so pinning the engine thread before it
starts the writer pins both; the rest of the process (a GUI's event loop, a caller's threads)
stays where the OS puts it.
"""

from __future__ import annotations

import os

from heralder.config import Config
from heralder.control.estimator_setup import arrival_times_used
from heralder.errors import ConfigError

__all__ = ["engine_cpu", "pin_current_thread"]


def _allowed_cpus() -> set[int] | None:
    """Return the CPUs this thread may run on, or None where threads cannot be pinned."""
    getter = getattr(os, "sched_getaffinity", None)
    return None if getter is None else set(getter(0))


def engine_cpu(config: Config) -> int | None:
    """Return the CPU to pin the engine thread to under ``config``, or None to leave it free.

    Raises
    ------
    ConfigError
        If ``[engine] pin_cpu`` names a CPU this process may not use, or the platform cannot
        pin threads.
    """
    setting = config.engine.pin_cpu
    if setting == "off":
        return None
    allowed = _allowed_cpus()
    if setting == "auto":
        if allowed is None or len(allowed) < 2 or arrival_times_used(config):
            return None
        return max(allowed)
    if allowed is None:
        raise ConfigError("this platform cannot pin threads to a CPU; use \"auto\" or \"off\"",
                          key="engine.pin_cpu")
    cpu = int(setting)
    if cpu not in allowed:
        raise ConfigError(f"CPU {cpu} is not one this process may use ({sorted(allowed)})",
                          key="engine.pin_cpu")
    return cpu


def pin_current_thread(cpu: int) -> None:
    """Run the calling thread, and the threads it starts from now on, on CPU ``cpu`` only."""
    os.sched_setaffinity(0, {cpu})  # on Linux, pid 0 is the calling thread, not the process
