"""Save and load models: a ``.keras`` file plus a JSON sidecar of metadata, both written atomically.

A save writes temporary files in the target folder and moves them into place with ``os.replace``,
so an interrupted save leaves the previous model intact. The sidecar records the SHA-256 of the
model file it describes: a sidecar left over from another model is detected and ignored.
Loading uses ``safe_mode=True`` (no arbitrary code from Lambda layers) and checks the model takes
28x28 pictures and gives 10 outputs; every failure becomes one clear :class:`ModelLoadError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

SHIPPED_MODELS = ("mnist", "fashion_mnist")


class ModelLoadError(Exception):
    """The file is not a usable model; the message says why in words a user understands."""


@dataclass
class LoadedModel:
    model: object   # keras.Model
    path: Path
    metadata: dict = field(default_factory=dict)

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


def save_model(model, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``path`` (.keras) and its JSON sidecar atomically; returns the model path."""
    import keras

    path = Path(path).expanduser()
    if path.suffix != ".keras":
        path = path.with_name(path.name + ".keras")
    path.parent.mkdir(parents=True, exist_ok=True)

    model_tmp = _temp_path(path, ".keras")
    meta_tmp = _temp_path(path, ".json")
    try:
        model.save(model_tmp)
        info = dict(metadata or {})
        info.update({
            "format": "draw-classify-model/1",
            "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "keras_version": keras.__version__,
            "tensorflow_version": _tensorflow_version(),
            "model_file": path.name,
            "model_sha256": _sha256(model_tmp),
            "parameters": int(model.count_params()),
        })
        meta_tmp.write_text(json.dumps(_plain(info), indent=1), encoding="utf-8")
        _fsync(model_tmp)
        _fsync(meta_tmp)
        os.replace(model_tmp, path)            # the model first: a stale sidecar is detected by
        os.replace(meta_tmp, sidecar_path(path))  # its hash, a stale model would not be
    finally:
        for tmp in (model_tmp, meta_tmp):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return path


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Load a ``.keras`` model safely and check it fits 28x28 -> 10 classes."""
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
    return LoadedModel(model=model, path=path, metadata=read_metadata(path))


def read_metadata(model_path: str | os.PathLike) -> dict:
    """The sidecar's metadata, or {} when missing, unreadable, or describing another file."""
    side = sidecar_path(model_path)
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict):
        return {}
    expected = info.get("model_sha256")
    if expected and expected != _sha256(Path(model_path)):
        return {}  # the sidecar belongs to an earlier version of the model file
    return info


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


def _temp_path(target: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=f".partial{suffix}",
                                dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp makes 0600; a saved model is an ordinary shareable file
    return Path(name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


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
