"""Set up every test session: Qt offscreen before any QApplication, hardware options."""

import os

# Must happen before PyQt6 creates a QApplication, or a machine without a display aborts.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser):
    """Add the options that enable hardware tests."""
    parser.addoption(
        "--device-address",
        action="append",
        default=[],
        metavar="ROLE=ADDRESS",
        help="run hardware tests against a real device, e.g. counter=ASRL/dev/ttyUSB0::INSTR "
        "(also HERALDER_HW_<ROLE>=ADDRESS)",
    )
