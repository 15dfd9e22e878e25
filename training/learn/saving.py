"""Save and load Keras models: a ``.keras`` file, its ``.tflite`` twin and the JSON sidecar
(training/modelfile/sidecar.py), each written atomically (training/core/atomic.py), so an
interrupted or failed save leaves the previous model intact.

Loading uses ``safe_mode=True`` (no arbitrary code from Lambda layers) and checks the model takes
28x28 pictures and gives 10 outputs; every failure becomes one clear :class:`ModelLoadError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from training.core.atomic import atomic_path, check_writable_target
from training.core.classifiers import MAX_CLASSES, MIN_CLASSES
from training.modelfile.sidecar import (
    check_class_count,
    ModelLoadError,
    check_model_file,
    file_sha256,
    first_line,
    read_metadata_checked,
    sidecar_path,
    tflite_path,
)


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


def save_model(model, path: str | os.PathLike, metadata: dict | None = None,
               with_tflite: bool = True) -> Path:
    """Write ``path`` (.keras), its ``.tflite`` twin for the window's LiteRT runtime and its JSON
    sidecar, each atomically; returns the model path.

    Raises :class:`~training.core.atomic.WriteError` (with a message for the user) when a file cannot
    be written; the previous model and sidecar are then left as they were.
    """
    import keras

    path = Path(path).expanduser()
    if path.suffix != ".keras":
        path = path.with_name(path.name + ".keras")
    check_writable_target(path)
    from training.learn.export import export_tflite

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
        raise ModelLoadError(f"{path.name}: cannot load the model ({first_line(text)}).") from None

    classes = _check_shapes(model, path)
    metadata, warnings = read_metadata_checked(path)
    check_class_count(classes, metadata, warnings, path.name)
    return LoadedModel(model=model, path=path, metadata=metadata, warnings=warnings)


def _check_shapes(model, path: Path) -> int:
    """The number of classes, after checking the model maps one 28x28 picture to 2-36 scores."""
    try:
        in_shape = tuple(model.inputs[0].shape)[1:]
        out_shape = tuple(model.outputs[0].shape)[1:]
    except (AttributeError, IndexError, TypeError):
        raise ModelLoadError(f"{path.name}: the model has no defined input/output shape.") from None
    if len(model.inputs) != 1 or in_shape not in ((28, 28), (28, 28, 1)):
        raise ModelLoadError(f"{path.name}: the model expects input {in_shape}, "
                             "but this app gives 28x28 grey pictures.")
    if (len(model.outputs) != 1 or len(out_shape) != 1
            or not MIN_CLASSES <= (out_shape[0] or 0) <= MAX_CLASSES):
        raise ModelLoadError(f"{path.name}: the model gives {out_shape} outputs; "
                             f"{MIN_CLASSES} to {MAX_CLASSES} class scores are needed.")
    return int(out_shape[0])


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
