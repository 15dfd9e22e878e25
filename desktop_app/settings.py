"""One typed wrapper around QSettings: every key, its type and its default in one place."""

from __future__ import annotations

import json

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "DrawClassify"
APPLICATION = "Draw & Classify"

PEN_STYLES = ("white_on_black", "black_on_white")


class AppSettings:
    GEOMETRY = "window/geometry"
    WINDOW_STATE = "window/state"
    BRUSH_SIZE = "canvas/brushSize"
    PEN_STYLE = "canvas/penStyle"
    DATASET = "model/dataset"
    MODEL_PATH = "model/path/{dataset}"      # last loaded model file per dataset
    DATA_DIR = "data/folder"
    TRAINING_CONFIG = "training/config"      # JSON of training.TrainingConfig fields

    DEFAULT_BRUSH = 18
    BRUSH_RANGE = (2, 60)

    def __init__(self, settings: QSettings | None = None):
        self._s = settings if settings is not None else QSettings(ORGANIZATION, APPLICATION)

    def sync(self) -> None:
        self._s.sync()

    # -- window
    def geometry(self) -> QByteArray | None:
        value = self._s.value(self.GEOMETRY, None, type=QByteArray)
        return value if value is not None and not value.isEmpty() else None

    def set_geometry(self, value: QByteArray) -> None:
        self._s.setValue(self.GEOMETRY, value)

    def window_state(self) -> QByteArray | None:
        value = self._s.value(self.WINDOW_STATE, None, type=QByteArray)
        return value if value is not None and not value.isEmpty() else None

    def set_window_state(self, value: QByteArray) -> None:
        self._s.setValue(self.WINDOW_STATE, value)

    # -- canvas
    def brush_size(self) -> int:
        low, high = self.BRUSH_RANGE
        return min(high, max(low, int(self._s.value(self.BRUSH_SIZE, self.DEFAULT_BRUSH, type=int))))

    def set_brush_size(self, value: int) -> None:
        self._s.setValue(self.BRUSH_SIZE, int(value))

    def pen_style(self) -> str:
        value = self._s.value(self.PEN_STYLE, PEN_STYLES[0], type=str)
        return value if value in PEN_STYLES else PEN_STYLES[0]

    def set_pen_style(self, value: str) -> None:
        self._s.setValue(self.PEN_STYLE, value if value in PEN_STYLES else PEN_STYLES[0])

    # -- models and data
    def dataset(self) -> str:
        value = self._s.value(self.DATASET, "mnist", type=str)
        return value if value in ("mnist", "fashion_mnist") else "mnist"

    def set_dataset(self, value: str) -> None:
        self._s.setValue(self.DATASET, value)

    def model_path(self, dataset: str) -> str:
        return self._s.value(self.MODEL_PATH.format(dataset=dataset), "", type=str)

    def set_model_path(self, dataset: str, path: str) -> None:
        self._s.setValue(self.MODEL_PATH.format(dataset=dataset), path)

    def data_dir(self) -> str:
        return self._s.value(self.DATA_DIR, "", type=str)

    def set_data_dir(self, path: str) -> None:
        self._s.setValue(self.DATA_DIR, path)

    def training_config(self) -> dict:
        text = self._s.value(self.TRAINING_CONFIG, "", type=str)
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def set_training_config(self, values: dict) -> None:
        self._s.setValue(self.TRAINING_CONFIG, json.dumps(values))
