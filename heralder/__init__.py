"""Herald many-body entangled states of spin-1 atoms by counting cavity photons.

The core package holds the physics, the estimator, the run engine, storage, configuration and the
command line; :mod:`heralder.drivers`, :mod:`heralder.simulators` and :mod:`heralder.gui` are
installed beside it from the repository's ``drivers/``, ``simulators/`` and ``gui/``.
"""

from importlib import metadata

try:
    __version__ = metadata.version("heralder")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
