"""One typed wrapper around QSettings: every key, its type and its default in one place.

Stored values are input like any other: a settings file may hold text where a number belongs,
bytes that are not text, 1e999, or be random garbage. Every accessor reads the raw value and
validates it itself (QSettings' own ``type=`` conversion raises on such values); anything unusable
falls back to the default and is recorded in :meth:`AppSettings.problems`, which the window shows
in one status-bar line. Nothing stored can stop the app from starting.
"""

from __future__ import annotations

import json
import logging
import math
import os

from PySide6.QtCore import QByteArray, QSettings

from training.core.datasets import known_dataset
from training.core.paths import HOME_ENV_VAR, models_dir, user_home

ORGANIZATION = "DrawClassify"
APPLICATION = "Draw & Classify"

PEN_STYLES = ("white_on_black", "black_on_white")

log = logging.getLogger(__name__)


class AppSettings:
    GEOMETRY = "window/geometry"
    WINDOW_STATE = "window/state"
    BRUSH_SIZE = "canvas/brushSize"
    PEN_STYLE = "canvas/penStyle"
    SHOW_SALIENCY = "canvas/showSaliency"    # "on" | "off": the "where it looks" overlay
    FINE_TUNE_CLASSES = "classes/fineTune"   # "on" | "off": My samples' Train fine-tunes
    DATASET = "model/dataset"
    MODEL_PATH = "model/path/{dataset}"      # last loaded model file per dataset
    DATA_DIR = "data/folder"
    MODEL_FOLDER = "model/lastFolder"        # where Load model… opens
    EXPORT_FOLDER = "model/exportFolder"     # where Model ▸ Export… opens
    TRAINING_CONFIG = "training/config"      # JSON of training.TrainingConfig fields
    COMPARE_COLUMNS = "compare/{dataset}"    # JSON: the compare view's models, per column
    MAX_COMPARE_COLUMNS = 8

    DEFAULT_BRUSH = 18
    BRUSH_RANGE = (2, 60)
    MAX_TEXT = 4096                          # longer "paths" are garbage, not paths

    def __init__(self, settings: QSettings | None = None):
        self._s = settings if settings is not None else default_store()
        self._problems: dict[str, str] = {}

    def sync(self) -> None:
        try:
            self._s.sync()
        except Exception:  # noqa: BLE001 - a settings file we cannot write must not crash a close
            log.warning("could not write the settings", exc_info=True)

    def problems(self) -> list[str]:
        """Keys whose stored value was unusable and was replaced by its default."""
        return list(self._problems)

    # -- raw access and validation
    def _raw(self, key: str):
        try:
            return self._s.value(key)
        except Exception:  # noqa: BLE001 - bytes that are not text, an unknown @Variant type...
            self._reset(key, "unreadable")
            return None

    def _reset(self, key: str, why: str) -> None:
        if key not in self._problems:
            log.warning("setting %s was %s; using its default", key, why)
        self._problems[key] = why
        try:
            self._s.remove(key)  # so the same garbage does not come back at the next launch
        except Exception:  # noqa: BLE001
            pass

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._raw(key)
        if value is None:
            return None
        if isinstance(value, QByteArray) and not value.isEmpty():
            return value
        if isinstance(value, (bytes, bytearray)) and value:
            return QByteArray(bytes(value))
        if value not in ("", b""):
            self._reset(key, f"not binary data ({type(value).__name__})")
        return None

    def _int(self, key: str, default: int, low: int, high: int) -> int:
        value = self._raw(key)
        if value is None:
            return default
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            self._reset(key, f"not a number ({_preview(value)})")
            return default
        if not math.isfinite(number) or number != int(number) or not low <= number <= high:
            self._reset(key, f"out of range ({_preview(value)})")
            return default
        return int(number)

    def _text(self, key: str, default: str = "") -> str:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, QByteArray):
            value = bytes(value)
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                self._reset(key, "not text")
                return default
        if not isinstance(value, str) or len(value) > self.MAX_TEXT or "\x00" in value:
            self._reset(key, f"not text ({type(value).__name__})")
            return default
        return value

    def _choice(self, key: str, choices, default: str) -> str:
        value = self._text(key, default)
        if value not in choices:
            if key not in self._problems:
                self._reset(key, f"unknown value {_preview(value)}")
            return default
        return value

    def _set(self, key: str, value) -> None:
        self._s.setValue(key, value)

    # -- window
    def geometry(self) -> QByteArray | None:
        return self._bytes(self.GEOMETRY)

    def set_geometry(self, value: QByteArray) -> None:
        self._set(self.GEOMETRY, value)

    def window_state(self) -> QByteArray | None:
        return self._bytes(self.WINDOW_STATE)

    def set_window_state(self, value: QByteArray) -> None:
        self._set(self.WINDOW_STATE, value)

    def report_unusable(self, key: str, why: str) -> None:
        """For values only the caller can judge (e.g. a geometry Qt refuses to restore)."""
        self._reset(key, why)

    # -- canvas
    def brush_size(self) -> int:
        return self._int(self.BRUSH_SIZE, self.DEFAULT_BRUSH, *self.BRUSH_RANGE)

    def set_brush_size(self, value: int) -> None:
        self._set(self.BRUSH_SIZE, int(value))

    def pen_style(self) -> str:
        return self._choice(self.PEN_STYLE, PEN_STYLES, PEN_STYLES[0])

    def set_pen_style(self, value: str) -> None:
        self._set(self.PEN_STYLE, value if value in PEN_STYLES else PEN_STYLES[0])

    def show_saliency(self) -> bool:
        return self._choice(self.SHOW_SALIENCY, ("on", "off"), "off") == "on"

    def set_show_saliency(self, on: bool) -> None:
        self._set(self.SHOW_SALIENCY, "on" if on else "off")

    def fine_tune_classes(self) -> bool:
        return self._choice(self.FINE_TUNE_CLASSES, ("on", "off"), "off") == "on"

    def set_fine_tune_classes(self, on: bool) -> None:
        self._set(self.FINE_TUNE_CLASSES, "on" if on else "off")

    # -- models and data
    def dataset(self) -> str:
        """MNIST, Fashion-MNIST or a classifier of the user's own classes that still exists."""
        value = self._text(self.DATASET, "mnist")
        if known_dataset(value):
            return value
        if self.DATASET not in self._problems:
            self._reset(self.DATASET, f"unknown dataset or classifier {_preview(value)}")
        return "mnist"

    def set_dataset(self, value: str) -> None:
        if known_dataset(value):
            self._set(self.DATASET, value)

    def model_path(self, dataset: str) -> str:
        return self._text(self.MODEL_PATH.format(dataset=dataset))

    def set_model_path(self, dataset: str, path: str) -> None:
        self._set(self.MODEL_PATH.format(dataset=dataset), str(path))

    def model_folder(self) -> str:
        return self._text(self.MODEL_FOLDER)

    def set_model_folder(self, path: str) -> None:
        self._set(self.MODEL_FOLDER, str(path))

    def models_folder(self) -> str:
        """Where Save model… and Load model… open: the folder last used for a model, else
        the user's own models folder (``<home>/models``, made if missing), else home."""
        folder = self.model_folder()
        if folder and os.path.isdir(folder):
            return folder
        try:
            models_dir().mkdir(parents=True, exist_ok=True)
        except OSError:
            return os.path.expanduser("~")
        return str(models_dir())

    def export_folder(self) -> str:
        return self._text(self.EXPORT_FOLDER)

    def set_export_folder(self, path: str) -> None:
        self._set(self.EXPORT_FOLDER, str(path))

    def data_dir(self) -> str:
        return self._text(self.DATA_DIR)

    def set_data_dir(self, path: str) -> None:
        self._set(self.DATA_DIR, str(path))

    def training_config(self) -> dict:
        """The saved training form as a dict of plain JSON values (each field is validated
        again by the form, which ignores what it cannot use)."""
        text = self._text(self.TRAINING_CONFIG)
        if not text:
            return {}
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            self._reset(self.TRAINING_CONFIG, "not valid JSON")
            return {}
        if not isinstance(value, dict):
            self._reset(self.TRAINING_CONFIG, "not a JSON object")
            return {}
        clean = {}
        for key, item in value.items():
            if isinstance(item, (int, float)) and not isinstance(item, bool) and not (
                    math.isfinite(item) and abs(item) < 2**31):
                continue  # Qt's spin boxes take 32-bit ints: 1e999 or 10**30 would raise
            if isinstance(item, (str, bool, int, float)) or item is None:
                clean[str(key)] = item
        if len(clean) != len(value):
            self._problems[self.TRAINING_CONFIG] = "some fields unusable"
            self.set_training_config(clean)   # stored clean: not reported again next launch
        return clean

    def set_training_config(self, values: dict) -> None:
        self._set(self.TRAINING_CONFIG, json.dumps(values, allow_nan=False))

    def compare_columns(self, dataset: str) -> list[dict]:
        """The compare view's models for ``dataset``, one ``{"key", "path"}`` per column, as
        last chosen ([] when never chosen or unusable)."""
        key = self.COMPARE_COLUMNS.format(dataset=dataset)
        text = self._text(key)
        if not text:
            return []
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            self._reset(key, "not valid JSON")
            return []
        if not (isinstance(value, list) and len(value) <= self.MAX_COMPARE_COLUMNS and all(
                isinstance(item, dict) and isinstance(item.get("key"), str)
                and isinstance(item.get("path"), str) for item in value)):
            self._reset(key, "not a list of columns")
            return []
        return [{"key": item["key"], "path": item["path"]} for item in value]

    def set_compare_columns(self, dataset: str, columns: list[dict]) -> None:
        self._set(self.COMPARE_COLUMNS.format(dataset=dataset),
                  json.dumps([{"key": c["key"], "path": c["path"]} for c in columns]))


def default_store() -> QSettings:
    """With ``$DRAW_CLASSIFY_HOME`` set, everything of the user's lives there, settings too
    (``<home>/settings.ini``: a portable install or a test leaves nothing in ~/.config);
    otherwise the platform's own place (the registry, a plist, ~/.config)."""
    if os.environ.get(HOME_ENV_VAR):
        return QSettings(str(user_home() / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _preview(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
