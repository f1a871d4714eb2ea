"""Show the setup: its file (load/save), its devices (check them) and the editable settings."""

from __future__ import annotations

import json
import threading
import traceback

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from heralder.config import Config
from heralder.control.check import check_config
from heralder.errors import HeralderError
from heralder.gui.settings_form import SettingsForm

__all__ = ["DeviceChecker", "SetupPanel"]

_COLUMNS = ("role", "driver", "address", "state", "identity")


class DeviceChecker(QObject):
    """Open, identify and close the devices of a config in a helper thread.

    Signals
    -------
    finished(list)
        ``(role, ok, message)`` per device, as :func:`heralder.control.check.check_config`.
    failed(str)
        The check could not run at all (e.g. an unknown driver).
    """

    finished = pyqtSignal(list)
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """Return ``True`` while a check is running."""
        return self._thread is not None and self._thread.is_alive()

    def check(self, config: Config) -> None:
        """Start checking the devices of ``config`` unless a check is already running."""
        if self.busy:
            return
        self._thread = threading.Thread(
            target=self._work, args=(config,), name="heralder-gui-check", daemon=True
        )
        self._thread.start()

    def _work(self, config: Config) -> None:
        try:
            self.finished.emit(check_config(config))
        except HeralderError as exc:
            self.failed.emit(str(exc))
        except Exception:  # the window must survive a broken driver; the log shows the trace
            self.failed.emit("device check crashed:\n" + traceback.format_exc())


class SetupPanel(QWidget):
    """Hold the setup file buttons, the device table and the settings form.

    Signals
    -------
    load_clicked, save_clicked, check_clicked
        The user asked to load or save the setup file, or to check the devices.
    """

    load_clicked = pyqtSignal()
    save_clicked = pyqtSignal()
    check_clicked = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)

        setup_box = QGroupBox("Setup file")
        setup_layout = QVBoxLayout(setup_box)
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        buttons = QHBoxLayout()
        self.load_button = QPushButton("Load TOML…")
        self.save_button = QPushButton("Save TOML…")
        self.load_button.clicked.connect(self.load_clicked)
        self.save_button.clicked.connect(self.save_clicked)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.save_button)
        setup_layout.addWidget(self.source_label)
        setup_layout.addLayout(buttons)
        layout.addWidget(setup_box)

        devices_box = QGroupBox("Devices")
        devices_layout = QVBoxLayout(devices_box)
        self.devices = QTableWidget(0, len(_COLUMNS))
        self.devices.setHorizontalHeaderLabels(_COLUMNS)
        self.devices.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.devices.verticalHeader().setVisible(False)
        self.devices.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.check_button = QPushButton("Connect && check")
        self.check_button.clicked.connect(self.check_clicked)
        devices_layout.addWidget(self.devices)
        devices_layout.addWidget(self.check_button)
        layout.addWidget(devices_box)

        settings_box = QGroupBox("Estimator and policy (applied from the next shot)")
        settings_layout = QVBoxLayout(settings_box)
        self.form = SettingsForm()
        settings_layout.addWidget(self.form)
        layout.addWidget(settings_box)
        layout.addStretch(1)

    def set_config(self, config: Config) -> None:
        """Show the source, the devices (not yet checked) and the settings of ``config``."""
        self.source_label.setText(f"Setup: {config.source or 'simulated lab (built in)'}")
        items = config.devices.items()
        self.devices.setRowCount(len(items))
        for row, (role, device) in enumerate(items):
            for column, text in enumerate((role, device.driver, device.address, "not checked", "")):
                self.devices.setItem(row, column, QTableWidgetItem(text))
        self.form.set_config(config)

    def device_state(self, role: str) -> tuple[str, str]:
        """Return the ``(state, identity)`` shown for ``role``."""
        row = self._row(role)
        return self.devices.item(row, 3).text(), self.devices.item(row, 4).text()

    def _row(self, role: str) -> int:
        for row in range(self.devices.rowCount()):
            if self.devices.item(row, 0).text() == role:
                return row
        raise KeyError(role)

    def set_device_states(self, state: str) -> None:
        """Show the same connection ``state`` for every device (e.g. ``"in use by the run"``)."""
        for row in range(self.devices.rowCount()):
            self.devices.item(row, 3).setText(state)

    def show_check(self, results: list[tuple[str, bool, str]]) -> None:
        """Show the result of a device check: identity when it answered, the error otherwise."""
        for role, ok, message in results:
            try:
                row = self._row(role)
            except KeyError:
                continue
            identity = json.loads(message).get("identity", "") if ok else message
            self.devices.item(row, 3).setText("reachable" if ok else "FAILED")
            self.devices.item(row, 4).setText(str(identity))
            self.devices.item(row, 4).setToolTip(message)
