"""Save and load models: a ``.keras`` file plus a JSON sidecar of metadata, both written atomically.

A save writes temporary files in the target folder and moves them into place (``training.core.atomic``),
so an interrupted or failed save leaves the previous model intact. The sidecar records the SHA-256 of the
model file it describes: a sidecar left over from another model is detected and ignored. A sidecar
is input like any other: each field is validated, and one of the wrong type is ignored with a
warning, never trusted.
Loading uses ``safe_mode=True`` (no arbitrary code from Lambda layers) and checks the model takes
28x28 pictures and gives 10 outputs; every failure becomes one clear :class:`ModelLoadError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

SHIPPED_MODELS = ("mnist", "fashion_mnist")
MAX_SIDECAR_BYTES = 16 << 20  # a real sidecar is a few kB (history, confusion matrix)


class ModelLoadError(Exception):
    """The file is not a usable model; the message says why in words a user understands."""


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """``mnist.keras`` -> ``mnist.json``."""
    return Path(model_path).with_suffix(".json")


def shipped_model_path(name: str) -> Path:
    """Path of a model shipped in ``resources/models`` (found through the installed package)."""
    if name not in SHIPPED_MODELS:
        raise ModelLoadError(f"no shipped model named {name!r}; shipped: {', '.join(SHIPPED_MODELS)}")
    from training.core.paths import shipped_resources

    return shipped_resources() / "models" / f"{name}.keras"


def default_model_path(dataset: str) -> Path:
    """The model a dataset starts with: the shipped one of MNIST / Fashion-MNIST, the newest
    trained model of a classifier of the user's own classes."""
    from training.core.classifiers import find

    if dataset in SHIPPED_MODELS:
        return shipped_model_path(dataset)
    classifier = find(dataset)
    if classifier is None:
        raise ModelLoadError(f"there is no dataset or classifier named '{dataset}'.")
    if not classifier.model_path.is_file():
        raise ModelLoadError(f"{classifier.title} has no model yet: draw a few examples of each "
                             "class, keep them in My samples, then press Train there.")
    return classifier.model_path


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name ("mnist", "fashion_mnist") or a path."""
    text = str(name_or_path)
    if text.replace("-", "_") in SHIPPED_MODELS and not Path(text).exists():
        return shipped_model_path(text.replace("-", "_"))
    return Path(text).expanduser()


def check_model_file(path: str | os.PathLike) -> Path:
    """The cheap checks (no Keras): exists, a file, a .keras archive. Returns the resolved path."""
    path = resolve_model_path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file.")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder, not a model file.")
    if path.suffix.lower() != ".keras":
        raise ModelLoadError(f"{path.name}: not a .keras model file (Keras 3 format expected).")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path.name}: the file is empty.")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path.name}: not a Keras model (the file is not a .keras archive); "
                             "it may be damaged or incompletely downloaded.")
    return path


def read_metadata(model_path: str | os.PathLike) -> dict:
    """The sidecar's validated metadata, or {} when missing, unreadable, or describing another
    file. Fields of the wrong type are left out (see :func:`read_metadata_checked`)."""
    return read_metadata_checked(model_path)[0]


def read_metadata_checked(model_path: str | os.PathLike) -> tuple[dict, list[str]]:
    """(metadata, warnings): every known field validated; a field of the wrong type is dropped
    with a warning naming it, never trusted."""
    side = sidecar_path(model_path)
    try:
        if side.stat().st_size > MAX_SIDECAR_BYTES:
            return {}, [f"{side.name} is too large to be a model's metadata; ignored."]
        info = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError, RecursionError):
        return {}, [f"{side.name} is not readable JSON; the model's metadata is ignored."]
    if not isinstance(info, dict):
        return {}, [f"{side.name} is not a JSON object; the model's metadata is ignored."]
    expected = info.get("model_sha256")
    try:
        if isinstance(expected, str) and expected != file_sha256(Path(model_path)):
            return {}, []  # the sidecar belongs to an earlier version of the model file
    except OSError:
        return {}, []
    return validate_metadata(info, source=side.name)


def _finite(low=-math.inf, high=math.inf):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError
        return float(value)
    return check


def _count(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError
    return value


def _short_text(value):
    if not isinstance(value, str) or len(value) > 500:
        raise TypeError
    return value


def _dataset_name(value):
    """A built-in dataset, or a classifier of the user's own classes (issue #23)."""
    from training.core.datasets import DATASETS, is_classifier_name, normalize_name

    if not isinstance(value, str):
        raise TypeError
    if normalize_name(value) in DATASETS:
        return normalize_name(value)
    if not is_classifier_name(value):
        raise ValueError
    return value


def _class_names(value):
    from training.core.classifiers import MAX_CLASSES, MIN_CLASSES

    if (not isinstance(value, list) or not MIN_CLASSES <= len(value) <= MAX_CLASSES
            or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in value)
            or len(set(value)) != len(value)):  # two classes of one name cannot be told apart
        raise TypeError
    return list(value)


def _history(value):
    if not isinstance(value, dict):
        raise TypeError
    number = _finite()
    if not all(isinstance(v, list) and len(v) <= 100_000 for v in value.values()):
        raise TypeError
    return {str(k): [number(x) for x in v] for k, v in value.items()}


def _confusion(value):
    from training.core.classifiers import MAX_CLASSES, MIN_CLASSES

    if (not isinstance(value, list) or not MIN_CLASSES <= len(value) <= MAX_CLASSES
            or not all(isinstance(r, list) and len(r) == len(value) for r in value)):
        raise TypeError
    return [[_count(c) for c in row] for row in value]


def _plain_dict(value):
    if not isinstance(value, dict):
        raise TypeError
    return value


def _calibration_block(value):
    from training.modelfile.blocks import validate_calibration

    return validate_calibration(value)


def _ood_block(value):
    from training.modelfile.blocks import validate_ood

    return validate_ood(value)


# Every field the app or the CLI reads from a sidecar, with its validator.
METADATA_SCHEMA = {
    "dataset": _dataset_name,
    "architecture": _short_text,
    "display_name": _short_text,
    "status": _short_text,
    "class_names": _class_names,
    "test_accuracy": _finite(0.0, 1.0),
    "test_loss": _finite(0.0),
    "train_seconds": _finite(0.0),
    "temperature": _finite(1e-3, 1e3),
    "calibration": _calibration_block,   # temperature scaling: ECE and reliability before/after
    "ood": _ood_block,                   # "doesn't look like a ...": thresholds, files' hashes
    "epochs_completed": _count,
    "parameters": _count,
    "history": _history,
    "confusion": _confusion,
    "config": _plain_dict,
    "lineage": _plain_dict,
    "model_sha256": _short_text,
    "tflite_sha256": _short_text,
    "model_file": _short_text,
}


def validate_metadata(info: dict, source: str = "the sidecar") -> tuple[dict, list[str]]:
    clean, warnings = {}, []
    for key, value in info.items():
        check = METADATA_SCHEMA.get(key)
        if check is None:
            clean[key] = value  # informative only (versions, dates): never read as a number
            continue
        try:
            clean[key] = check(value)
        except (TypeError, ValueError, OverflowError):
            warnings.append(f"{source}: field '{key}' has an unusable value "
                            f"({_preview(value)}); ignored.")
    return clean, warnings


def check_class_count(classes: int, metadata: dict, warnings: list[str], name: str) -> None:
    """A model's output count against its sidecar: class names (or a confusion matrix) of
    another count are dropped with a warning; a model of other than 10 classes must name them
    (only MNIST and Fashion-MNIST have names the app knows)."""
    for key in ("class_names", "confusion"):
        if key in metadata and len(metadata[key]) != classes:
            found = len(metadata.pop(key))
            warnings.append(f"{name}: the metadata's {key.replace('_', ' ')} are for {found} "
                            f"classes but the model gives {classes}; ignored.")
    if classes != 10 and "class_names" not in metadata:
        raise ModelLoadError(f"{name}: the model gives {classes} class scores but its metadata "
                             f"(the .json beside it) names no classes.")


def _preview(value) -> str:
    text = json.dumps(value, allow_nan=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def file_sha256(path: Path) -> str:
    from training.core import ahead  # the window's first load may have hashed it already

    return ahead.take("sha256", path, sha256_now)


def sha256_now(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line[:300]


def tflite_path(keras_path: str | os.PathLike) -> Path:
    """``models/mnist.keras`` -> ``models/mnist.tflite``."""
    return Path(keras_path).expanduser().with_suffix(".tflite")


def layers_tflite_path(keras_path: str | os.PathLike) -> Path:
    """``models/mnist.keras`` -> ``models/mnist.layers.tflite`` (every layer's output)."""
    return Path(keras_path).expanduser().with_suffix(".layers.tflite")


def features_path(keras_path: str | os.PathLike) -> Path:
    """``mnist.keras`` -> ``mnist.ood.tflite``."""
    return Path(keras_path).expanduser().with_suffix(".ood.tflite")


def stats_path(keras_path: str | os.PathLike) -> Path:
    """``mnist.keras`` -> ``mnist.ood.npz``."""
    return Path(keras_path).expanduser().with_suffix(".ood.npz")
