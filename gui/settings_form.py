"""Edit the estimator and policy settings, one config key per field, errors shown beside it.

The form validates nothing itself: it turns what was typed into a TOML value and asks for the
dotted key to be changed (:attr:`SettingsForm.change_requested`). Whoever applies the change
(heralder.config's ``updated_config``, then the engine) answers with :meth:`show_error` or
:meth:`show_accepted`, so the rules live in one place.
"""

from __future__ import annotations

import tomllib
import typing
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QWidget

from heralder.config import Config, PolicyConfig

__all__ = ["FIELDS", "THRESHOLD_KEYS", "SettingsForm", "config_value", "parse_text"]

#: Dotted key and label of each free-text field.
FIELDS: tuple[tuple[str, str], ...] = (
    ("atoms.n_atoms", "N, atoms"),
    ("detector.eta", "η, detection efficiency"),
    ("detector.dark_counts_per_gate", "dark counts per gate"),
    ("detector.dead_time_s", "dead time (s)"),
    ("policy.max_pulses", "max pulses per shot"),
)

#: The key that holds each policy's threshold, and its label.
THRESHOLD_KEYS: dict[str, tuple[str, str]] = {
    "fixed": ("policy.n_pulses", "pulses per shot"),
    "pmax": ("policy.pmax_threshold", "stop at pmax ≥"),
    "qfi_fraction": ("policy.qfi_fraction", "stop at F(ρ)/F_ideal ≥"),
    "voi": ("policy.voi_cost", "cost of one pulse (× F_ideal)"),
}

_ERROR_STYLE = "color: #c0392b;"
_OK_STYLE = "color: #2e7d32;"


def parse_text(text: str) -> Any:
    """Return ``text`` read as a TOML value (``0.5``, ``1e-9``, ``true``), else the text itself.

    Types are checked afterwards by the config, which then names what was wrong.
    """
    try:
        return tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def config_value(config: Config, key: str) -> Any:
    """Return the value of dotted ``key`` in ``config``."""
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


class SettingsForm(QWidget):
    """Show the editable settings of a config and request validated changes.

    Signals
    -------
    change_requested(str, object)
        The dotted key and the value the user entered.
    """

    change_requested = pyqtSignal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._edits: dict[str, QLineEdit] = {}
        self._errors: dict[str, QLabel] = {}
        layout = QFormLayout(self)
        for key, label in FIELDS:
            layout.addRow(label, self._field(key))
        self.policy_kind = QComboBox()
        self.policy_kind.setObjectName("policy.kind")
        self.policy_kind.addItems(typing.get_args(typing.get_type_hints(PolicyConfig)["kind"]))
        self.policy_kind.activated.connect(
            lambda _index: self.change_requested.emit("policy.kind", self.policy_kind.currentText())
        )
        self._errors["policy.kind"] = self._error_label()
        kind_row = QWidget()
        kind_layout = QHBoxLayout(kind_row)
        kind_layout.setContentsMargins(0, 0, 0, 0)
        kind_layout.addWidget(self.policy_kind)
        kind_layout.addWidget(self._errors["policy.kind"], 1)
        layout.addRow("policy", kind_row)
        self._threshold_label = QLabel("threshold")
        self._threshold_edit = QLineEdit()
        self._threshold_error = self._error_label()
        self._threshold_key = ""
        self._threshold_edit.editingFinished.connect(
            lambda: self._request(self._threshold_key, self._threshold_edit)
        )
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(self._threshold_edit, 1)
        row_layout.addWidget(self._threshold_error, 1)
        layout.addRow(self._threshold_label, row)

    def _error_label(self) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setStyleSheet(_ERROR_STYLE)
        return label

    def _field(self, key: str) -> QWidget:
        edit = QLineEdit()
        edit.setObjectName(key)
        edit.editingFinished.connect(lambda: self._request(key, edit))
        self._edits[key] = edit
        self._errors[key] = self._error_label()
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(edit, 1)
        row_layout.addWidget(self._errors[key], 1)
        return row

    def _request(self, key: str, edit: QLineEdit) -> None:
        if key and edit.isModified():
            edit.setModified(False)
            self.change_requested.emit(key, parse_text(edit.text()))

    def edit(self, key: str) -> QLineEdit:
        """Return the line edit of dotted ``key`` (the threshold's key included)."""
        return self._threshold_edit if key == self._threshold_key else self._edits[key]

    def error_text(self, key: str) -> str:
        """Return the message shown beside ``key`` (empty when its last value was accepted)."""
        return self._error_widget(key).text()

    def _error_widget(self, key: str) -> QLabel:
        return self._threshold_error if key == self._threshold_key else self._errors[key]

    def set_config(self, config: Config) -> None:
        """Show the values of ``config`` and clear every message."""
        for key, edit in self._edits.items():
            edit.setText(repr(config_value(config, key)))
            edit.setModified(False)
            self._errors[key].clear()
        kind = config.policy.kind
        self.policy_kind.setCurrentText(kind)
        self._errors["policy.kind"].clear()
        self._threshold_key, label = THRESHOLD_KEYS.get(kind, ("", "threshold"))
        self._threshold_label.setText(label)
        self._threshold_edit.setEnabled(bool(self._threshold_key))
        self._threshold_edit.setText(
            repr(config_value(config, self._threshold_key)) if self._threshold_key else ""
        )
        self._threshold_edit.setModified(False)
        self._threshold_error.clear()

    def show_error(self, key: str, message: str) -> None:
        """Show why the value of ``key`` was refused, beside its field."""
        label = self._error_widget(key)
        label.setStyleSheet(_ERROR_STYLE)
        label.setText(message)
        label.setToolTip(message)

    def show_accepted(self, key: str, note: str = "") -> None:
        """Clear the message of ``key``, optionally with a short confirmation."""
        label = self._error_widget(key)
        label.setStyleSheet(_OK_STYLE)
        label.setText(note)
        label.setToolTip(note)
