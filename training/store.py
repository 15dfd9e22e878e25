"""Save and load models: a ``.keras`` file plus a JSON sidecar of metadata, both written atomically.

A save writes temporary files in the target folder and moves them into place (``training.atomic``),
so an interrupted or failed save leaves the previous model intact. The sidecar records the SHA-256 of the
model file it describes: a sidecar left over from another model is detected and ignored. A sidecar
is input like any other: each field is validated, and one of the wrong type is ignored with a
warning, never trusted.
Loading uses ``safe_mode=True`` (no arbitrary code from Lambda layers) and checks the model takes
28x28 pictures and gives 10 outputs; every failure becomes one clear :class:`ModelLoadError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .atomic import atomic_path, check_writable_target

SHIPPED_MODELS = ("mnist", "fashion_mnist")
NUM_CLASSES = 10
MAX_SIDECAR_BYTES = 16 << 20  # a real sidecar is a few kB (history, confusion matrix)


class ModelLoadError(Exception):
    """The file is not a usable model; the message says why in words a user understands."""


@dataclass
class LoadedModel:
    model: object   # keras.Model
    path: Path
    metadata: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # sidecar fields that were ignored

    @property
    def dataset(self) -> str | None:
        return self.metadata.get("dataset")

    @property
    def name(self) -> str:
        return self.path.stem


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """``mnist.keras`` -> ``mnist.json``."""
    return Path(model_path).with_suffix(".json")


def shipped_model_path(name: str) -> Path:
    """Path of a model shipped in ``resources/models`` (found through the installed package)."""
    if name not in SHIPPED_MODELS:
        raise ModelLoadError(f"no shipped model named {name!r}; shipped: {', '.join(SHIPPED_MODELS)}")
    return Path(str(resources.files("resources") / "models" / f"{name}.keras"))


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name ("mnist", "fashion_mnist") or a path."""
    text = str(name_or_path)
    if text.replace("-", "_") in SHIPPED_MODELS and not Path(text).exists():
        return shipped_model_path(text.replace("-", "_"))
    return Path(text).expanduser()


def save_model(model, path: str | os.PathLike, metadata: dict | None = None,
               with_tflite: bool = True) -> Path:
    """Write ``path`` (.keras), its ``.tflite`` twin for the window's LiteRT runtime and its JSON
    sidecar, each atomically; returns the model path.

    Raises :class:`~training.atomic.WriteError` (with a message for the user) when a file cannot
    be written; the previous model and sidecar are then left as they were.
    """
    import keras

    path = Path(path).expanduser()
    if path.suffix != ".keras":
        path = path.with_name(path.name + ".keras")
    check_writable_target(path)
    from .export import export_tflite, tflite_path

    # Nested so the renames happen model first, its .tflite next, sidecar last: a crash in
    # between leaves a sidecar whose hashes no longer match, which the readers detect.
    with atomic_path(sidecar_path(path), ".json") as meta_tmp:
        lite = (atomic_path(tflite_path(path), ".tflite") if with_tflite
                else contextlib.nullcontext())
        with lite as lite_tmp:
            with atomic_path(path, ".keras") as model_tmp:
                model.save(model_tmp)
                if with_tflite:
                    export_tflite(model, lite_tmp)
                info = dict(metadata or {})
                info.update({
                    "format": "draw-classify-model/1",
                    "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "keras_version": keras.__version__,
                    "tensorflow_version": _tensorflow_version(),
                    "model_file": path.name,
                    "model_sha256": file_sha256(model_tmp),
                    "parameters": int(model.count_params()),
                })
                if with_tflite:
                    info["tflite_sha256"] = file_sha256(lite_tmp)
                meta_tmp.write_text(json.dumps(_plain(info), indent=1, allow_nan=False),
                                    encoding="utf-8")
    return path


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Load a ``.keras`` model safely and check it fits 28x28 -> 10 classes."""
    path = check_model_file(path)

    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        text = str(exc)
        if "safe_mode" in text or "unsafe" in text.lower() or "lambda" in text.lower():
            raise ModelLoadError(
                f"{path.name}: refused to load: the model contains code (a Lambda layer), "
                "which could run anything. Only models made of standard layers are loaded."
            ) from None
        raise ModelLoadError(f"{path.name}: cannot load the model ({_first_line(text)}).") from None

    _check_shapes(model, path)
    metadata, warnings = read_metadata_checked(path)
    return LoadedModel(model=model, path=path, metadata=metadata, warnings=warnings)


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
    from .datasets import DATASETS, normalize_name

    if not isinstance(value, str) or normalize_name(value) not in DATASETS:
        raise ValueError
    return normalize_name(value)


def _class_names(value):
    if (not isinstance(value, list) or len(value) != NUM_CLASSES
            or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in value)):
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
    if (not isinstance(value, list) or len(value) != NUM_CLASSES
            or not all(isinstance(r, list) and len(r) == NUM_CLASSES for r in value)):
        raise TypeError
    return [[_count(c) for c in row] for row in value]


def _plain_dict(value):
    if not isinstance(value, dict):
        raise TypeError
    return value


def _calibration_block(value):
    from .calibration import validate_calibration  # numpy only

    return validate_calibration(value)


def _ood_block(value):
    from .ood import validate_ood  # numpy only at import

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


def _preview(value) -> str:
    text = json.dumps(value, allow_nan=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_shapes(model, path: Path) -> None:
    try:
        in_shape = tuple(model.inputs[0].shape)[1:]
        out_shape = tuple(model.outputs[0].shape)[1:]
    except (AttributeError, IndexError, TypeError):
        raise ModelLoadError(f"{path.name}: the model has no defined input/output shape.") from None
    if len(model.inputs) != 1 or in_shape not in ((28, 28), (28, 28, 1)):
        raise ModelLoadError(f"{path.name}: the model expects input {in_shape}, "
                             "but this app gives 28x28 grey pictures.")
    if len(model.outputs) != 1 or out_shape != (10,):
        raise ModelLoadError(f"{path.name}: the model gives {out_shape} outputs; "
                             "10 class scores are needed.")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value):
    """Make numpy scalars/arrays JSON-serialisable."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _tensorflow_version() -> str:
    try:
        import tensorflow as tf
    except ImportError:
        return ""
    return tf.__version__


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line[:300]
