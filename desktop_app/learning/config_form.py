"""The training form's widgets, built from TrainingConfig's field declarations.

One widget per field the declarations place in the form (``Setting.row``): a combo box for a
choice, a spin box for a number (the form's range, decimals and step), a check box for a flag, a
line edit for a path, each with the declared objectName and tooltip. ``values()`` reads them back
as config fields, ``set_values()`` fills them; a field the form does not show keeps its default.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from training.protocol.config import Setting, TrainingConfig, form_settings


class ConfigForm:
    """The widgets of ``config_class``'s form fields, by field name, in the form's order."""

    def __init__(self, config_class=TrainingConfig):
        self.config_class = config_class
        self.settings: dict[str, Setting] = dict(form_settings(config_class))
        self.widgets: dict[str, QWidget] = {name: _widget(s) for name, s in self.settings.items()}

    def rows(self) -> list[tuple[str, str, QWidget]]:
        """(field name, label, widget) for each row of the form."""
        return [(name, self.settings[name].label, widget) for name, widget in self.widgets.items()]

    def connect(self, slot) -> None:
        """Call ``slot`` whenever the user changes a value."""
        for widget in self.widgets.values():
            if isinstance(widget, QComboBox):
                widget.currentIndexChanged.connect(slot)
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                widget.valueChanged.connect(slot)
            elif isinstance(widget, QCheckBox):
                widget.toggled.connect(slot)
            else:
                widget.editingFinished.connect(slot)

    def values(self) -> dict:
        """The shown fields' values (the widgets keep each in its allowed range)."""
        return {name: _read(widget) for name, widget in self.widgets.items()}

    def set_values(self, values: dict) -> None:
        """Fill the widgets from (part of) a config dict; a value a widget cannot hold (unknown
        name, wrong type, None for a path) leaves it as it is; numbers out of range are
        clamped by the widget."""
        for name, widget in self.widgets.items():
            if name in values:
                _write(widget, values[name])


def _widget(declared: Setting) -> QWidget:
    if declared.kind == "choice":
        widget = QComboBox()
        tips = declared.choice_tips or {}
        for name, title in declared.choices.items():
            widget.addItem(title, name)
            if name in tips:
                widget.setItemData(widget.count() - 1, tips[name], Qt.ItemDataRole.ToolTipRole)
    elif declared.kind in ("int", "float"):
        widget = QSpinBox() if declared.kind == "int" else QDoubleSpinBox()
        if declared.decimals is not None:  # before the range: the range is rounded to them
            widget.setDecimals(declared.decimals)
        widget.setRange(*declared.form_range())
        if declared.step is not None:
            widget.setSingleStep(declared.step)
        if declared.adaptive:
            widget.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
    elif declared.kind == "bool":
        widget = QCheckBox(declared.text)
    else:
        widget = QLineEdit()
        widget.setPlaceholderText(declared.placeholder)
    widget.setObjectName(declared.widget)
    tip = declared.help if declared.tip is None else declared.tip
    if tip:
        widget.setToolTip(tip)
    return widget


def _read(widget: QWidget):
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return widget.value()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    return widget.text().strip() or None


def _write(widget: QWidget, value) -> None:
    if isinstance(widget, QComboBox):
        # A saved or typed name may be spelled with "-" (fashion-mnist): try it both ways.
        index = widget.findData(str(value))
        if index < 0:
            index = widget.findData(str(value).replace("-", "_"))
        if index >= 0:
            widget.setCurrentIndex(index)
    elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not math.isfinite(value):
            return
        if isinstance(widget, QSpinBox):
            if value != int(value):
                return  # 2.5 epochs: not a value this field can hold
            value = int(value)
        # Clamped here: Qt's int spin boxes overflow on values past 32 bits.
        widget.setValue(min(max(value, widget.minimum()), widget.maximum()))
    elif isinstance(widget, QCheckBox):
        if isinstance(value, bool):
            widget.setChecked(value)
    elif isinstance(value, str):
        widget.setText(value)
