"""Create run directories: ``<root>/<YYYY-MM-DD>/<HHMMSS>_<uid>/`` (DESIGN §6)."""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

__all__ = ["CONFIG_NAME", "LOG_NAME", "make_run_dir"]

CONFIG_NAME = "config.toml"
LOG_NAME = "run.log"


def make_run_dir(root: str | Path, now: _dt.datetime | None = None) -> tuple[Path, str]:
    """Create a fresh run directory under ``root`` and return it with the run's uid.

    Parameters
    ----------
    root
        The storage root (``config.storage.root``); created if missing.
    now
        The UTC time that names the folders (default: now).
    """
    now = now or _dt.datetime.now(_dt.UTC)
    uid = uuid.uuid4().hex[:8]
    run_dir = Path(root) / now.strftime("%Y-%m-%d") / f"{now.strftime('%H%M%S')}_{uid}"
    run_dir.mkdir(parents=True, exist_ok=False)
    return run_dir, uid
