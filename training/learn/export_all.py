"""Model ▸ Export…: one model as ``.keras``, ``.tflite`` and ONNX, with a JSON describing its input.

``python -m training export-all --model M --out DIR`` (the window runs it in a child process)
writes ``DIR/<name>.keras`` (the file itself, byte for byte), ``<name>.tflite`` (LiteRT, float32,
any batch size), ``<name>.onnx`` (Keras 3's own ``model.export(format="onnx")``, which converts
with tf2onnx) and ``<name>.json``: class names, the input's shape, scale and polarity, how a
picture is made into that input for this dataset (the facts of ``training/runtime/preprocess.py``), the
output, the calibration temperature, and each file's SHA-256, so that a phone app or a web page
can use the model without this project.

All four are written to temporary files in ``DIR`` first (``training.core.atomic``'s names, which its
stale-temporary sweep knows) and renamed into place only when every one of them is complete and
fsynced, all or nothing: a previous export's files are moved aside first and put back if a later
rename fails. A failure, a full disk or a SIGTERM therefore leaves no half-written file and no
mixture of two exports behind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

from training.core.atomic import (
    WriteError,
    _fsync_file,
    _fsync_folder,
    _reason,
    _temp_file,
    check_writable_target,
)
from training.core.datasets import DATASETS, dataset_title, is_classifier_name, normalize_name

FORMAT = "draw-classify-export/1"
SUFFIXES = (".keras", ".tflite", ".onnx", ".json")
ONNX_OPSET = 17


def export_all(model: str | os.PathLike, out_dir: str | os.PathLike, name: str | None = None,
               dataset: str | None = None) -> list[Path]:
    """Write the four files; returns their paths. Raises ModelLoadError / WriteError."""
    from training.learn.export import export_tflite, float32_version
    from training.learn.saving import load_model
    from training.modelfile.sidecar import ModelLoadError, file_sha256

    loaded = load_model(model)
    dataset = normalize_name(dataset or loaded.dataset or "")
    own_classes = is_classifier_name(dataset) and bool(loaded.metadata.get("class_names"))
    if dataset not in DATASETS and not own_classes:
        raise ModelLoadError(f"{loaded.path.name} has no metadata naming its dataset; "
                             "pass --dataset mnist or --dataset fashion_mnist")
    out_dir = Path(out_dir).expanduser()
    stem = _safe_stem(name or loaded.path.stem)
    targets = {suffix: out_dir / f"{stem}{suffix}" for suffix in SUFFIXES}
    for target in targets.values():  # a folder, a device, an unwritable place: before any work
        check_writable_target(target)
    runner = float32_version(loaded.model)  # ONNX needs float32 layers; same function

    temps = {suffix: _temp_file(targets[suffix], suffix) for suffix in SUFFIXES}
    try:
        shutil.copyfile(loaded.path, temps[".keras"])
        export_tflite(runner, temps[".tflite"])
        onnx_io = _export_onnx(runner, temps[".onnx"])
        hashes = {suffix: file_sha256(temps[suffix]) for suffix in (".keras", ".tflite", ".onnx")}
        description = describe(loaded, dataset, stem, onnx_io, hashes)
        temps[".json"].write_text(json.dumps(description, indent=1, allow_nan=False),
                                  encoding="utf-8")
        for temp in temps.values():
            if temp.stat().st_size == 0:
                raise WriteError(f"could not write {temp.name}: nothing was written "
                                 "(the disk may be full).")
            _fsync_file(temp)
        _commit(temps, targets)
    except OSError as exc:
        if isinstance(exc, WriteError):
            raise
        raise WriteError(f"could not export into {out_dir}: {_reason(exc)}.") from None
    finally:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                temp.unlink()
    return [targets[suffix] for suffix in SUFFIXES]


def _commit(temps: dict, targets: dict) -> None:
    """Rename every temporary over its target, all or nothing: an existing target is first
    moved aside, and put back if a later rename fails (the JSON goes last)."""
    backups: dict[str, Path] = {}
    done: list[str] = []
    try:
        for suffix in SUFFIXES:
            target = targets[suffix]
            if target.exists():
                backups[suffix] = _temp_file(target, suffix + ".old")
                os.replace(target, backups[suffix])
            os.replace(temps[suffix], target)
            done.append(suffix)
    except OSError:
        for suffix in reversed(done):
            with contextlib.suppress(OSError):
                targets[suffix].unlink()
        for suffix, backup in backups.items():
            with contextlib.suppress(OSError):
                os.replace(backup, targets[suffix])
        raise
    for backup in backups.values():
        with contextlib.suppress(OSError):
            backup.unlink()
    _fsync_folder(next(iter(targets.values())).parent)


def _export_onnx(model, path: Path) -> dict:
    """Write ``model`` as ONNX at ``path``; returns its input and output names and shapes."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, *tuple(model.inputs[0].shape)[1:]), tf.float32, name="picture")
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")  # tf2onnx's NumPy 2 deprecation notices
        try:
            model.export(str(path), format="onnx", verbose=False, input_signature=[spec],
                         opset_version=ONNX_OPSET)
        except ImportError as exc:
            raise WriteError(f"ONNX export needs tf2onnx and onnx ({exc}); install them with "
                             "pip install tf2onnx onnx") from None
    import onnx

    graph = onnx.load(str(path)).graph

    def describe_value(value) -> dict:
        dims = [d.dim_value or None for d in value.type.tensor_type.shape.dim]  # None: any
        return {"name": value.name, "shape": dims}

    return {"inputs": [describe_value(v) for v in graph.input],
            "outputs": [describe_value(v) for v in graph.output]}


def describe(loaded, dataset: str, stem: str, onnx_io: dict, hashes: dict) -> dict:
    """The JSON beside the exported files: everything needed to feed the model right."""
    meta = loaded.metadata
    names = list(meta.get("class_names") or DATASETS[dataset].class_names)
    steps = _preprocessing()
    preprocessing = steps.get(dataset) or {  # a classifier of drawings: the digits' layout
        **steps["mnist"], "summary": "drawings, made as MNIST's digits: " + steps["mnist"][
            "summary"].split(": ", 1)[1]}
    shape = [None, *[int(d) for d in tuple(loaded.model.inputs[0].shape)[1:]]]
    temperature = meta.get("temperature")
    return {
        "format": FORMAT,
        "name": stem,
        "display_name": meta.get("display_name") or f"{dataset_title(dataset)} classifier",
        "dataset": dataset,
        "class_names": names,
        "architecture": meta.get("architecture"),
        "test_accuracy": meta.get("test_accuracy"),
        "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {
            "keras": {"file": f"{stem}.keras", "sha256": hashes[".keras"],
                      "what": "Keras 3 model (keras.saving.load_model)"},
            "tflite": {"file": f"{stem}.tflite", "sha256": hashes[".tflite"],
                       "what": "LiteRT / TensorFlow Lite, float32, built-in ops only, any batch"},
            "onnx": {"file": f"{stem}.onnx", "sha256": hashes[".onnx"],
                     "what": f"ONNX opset {ONNX_OPSET} (onnxruntime, onnxruntime-web)",
                     **onnx_io},
        },
        "input": {
            "shape": shape,
            "layout": "NHWC: batch, row (top to bottom), column (left to right), one channel"
                      if len(shape) == 4 else "batch, row, column",
            "dtype": "float32",
            "range": [0.0, 1.0],
            "polarity": "ink bright (1.0) on a black background (0.0): invert a dark-on-light "
                        "picture",
            "preprocessing": preprocessing,
        },
        "output": {
            "shape": [None, len(names)],
            "meaning": "probabilities of the classes, in class_names order (softmax; sum 1)",
            "temperature": temperature,
            "calibrated_probabilities": ("softmax(log(p) / temperature): the model's own "
                                         "probabilities are calibrated this way; the answer "
                                         "(argmax) is the same" if temperature else None),
            "not_sure_below": 0.5 if temperature else None,
        },
        "source": {"file": loaded.path.name, "sha256": meta.get("model_sha256")},
    }


def _preprocessing() -> dict:
    """How a picture becomes the model's input, per dataset: the facts of preprocess.py (its
    constants, so that this description cannot drift from what the app does)."""
    from training.runtime import outline
    from training.runtime import preprocess as pre

    side, box, centre = pre.IMAGE_SIDE, pre.DIGIT_BOX, pre.DIGIT_CENTRE
    start = ("grey level in [0, 1] (alpha composited on white, EXIF orientation applied)",
             ("remove the paper's background (estimated at a large scale); decide the polarity "
              "by which way the ink departs from it, so that the ink is bright and the paper 0"))
    return {
        "mnist": {
            "summary": (f"MNIST (LeCun et al.): the digit fitted into a {box}x{box} box keeping "
                        f"its aspect ratio, anti-aliased, placed in the {side}x{side} field with "
                        "its centre of mass at the centre"),
            "steps": [
                *start,
                (f"crop to the ink: pixels above {pre.INK_THRESHOLD:.0%} of the brightest, "
                 "ignoring specks far from the mark"),
                (f"resize (Lanczos, anti-aliased) so that the longest side is {box} pixels, "
                 f"keeping the aspect ratio; a mark smaller than {pre.TINY_MARK:.0%} of the "
                 "picture keeps its relative size"),
                "divide by the brightest pixel (strokes peak at 1.0)",
                (f"place in a black {side}x{side} field so that the centre of mass is at "
                 f"({centre}, {centre}) in continuous coordinates (pixel i spans [i, i + 1)), "
                 f"i.e. the centre of pixel ({int(centre)}, {int(centre)}); keep the patch "
                 "inside the field"),
            ],
            "box": box, "centre_of_mass": [centre, centre],
        },
        "fashion_mnist": {
            "summary": (f"Fashion-MNIST (Xiao et al. 2017, section 2): background trimmed, the "
                        f"longest edge resized to {side}, the short edge padded centred, dark "
                        f"background; no {box}x{box} box, no centre-of-mass shift"),
            "steps": [
                *start,
                (f"fill closed outlines (drawings) at {outline.FILL_SHADE:g} of the strokes' "
                 "level: the training pictures are filled silhouettes"),
                (f"trim the edges within {pre.FASHION_TRIM_TOLERANCE:.0%} of the background"),
                (f"resize (Lanczos) so that the longest edge is {side} pixels, keeping the "
                 "aspect ratio; clip to [0, 1]"),
                "pad the short edge with black, centred",
            ],
            "box": side, "centre_of_mass": None,
        },
    }


def _safe_stem(name: str) -> str:
    stem = Path(str(name)).name
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    if not stem or stem in (".", "..") or any(c in stem for c in '/\\:*?"<>|\0'):
        raise WriteError(f"{name!r} cannot be a file name")
    return stem


class _quiet:
    """tf2onnx logs each conversion step through Python logging and absl: errors only."""

    def __enter__(self):
        self._levels = {}
        for name in ("tf2onnx", "absl", "tensorflow"):
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        return False
