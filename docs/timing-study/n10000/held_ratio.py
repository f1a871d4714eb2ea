"""Run ``heralder study timing`` with the dead-time table held above S = 128 (the old table).

Before the scaled nodes (commit 2a9fdd9) the exact dead-time efficiency was tabulated up to
S = 128 only, and the exact/cascade loss ratio of S = 128 was held above it. This runs the
timing study in this process (``--workers 0``, appended) with that cap restored
(``estimator_setup.NODE_S_MAX = 128``: nodes 2, 4, ..., 128, every one solved directly), so
with the same seed and grid its records pair with the main run's shot for shot. The
comparison in ``../README.md`` was made with

    nice -n 19 python docs/timing-study/n10000/held_ratio.py --x 1,2 --no-paper \\
        --n-atoms 10000 --eta 0.5,0.7 --trials 20 --cap 300 --no-progress --out <dir> --resume

after copying the main run's ``sweep.json`` and cascade-data task files into ``<dir>`` (only
the exact-data points were rerun).
"""

from __future__ import annotations

import sys

from heralder import cli
from heralder.control import estimator_setup

HELD_S_MAX = 128  # NODE_S_MAX before the scaled nodes

if __name__ == "__main__":
    estimator_setup.NODE_S_MAX = HELD_S_MAX
    sys.exit(cli.main(["study", "timing", *sys.argv[1:], "--workers", "0"]))
