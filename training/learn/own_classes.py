"""A classifier of the user's own classes (issue #23): a folder of drawings, one sub-folder per
class (training.runtime.picture_folders), becomes a model in seconds by transfer.

The shipped digit model's convolutional base already sees strokes, corners, loops and crossings;
only a new head is learned on top of it. Every drawing and its augmented copies (shifted,
rotated, sheared, thinner or thicker: training.learn.augment, ~80-128 copies each) go through
the base once (training.learn.teach_head.HeadModel, XLA-compiled), then a small head
(Dropout -> Dense 128 ReLU -> Dropout -> Dense <classes> softmax) is trained on those features:
a few milliseconds a step. k-fold cross-validation (the folds split the drawings, never one
drawing's copies) gives the held-out accuracy, the confusion matrix and the temperature of the
answers; the final head is trained on every drawing and saved on the frozen base as one Keras
model (.keras + .tflite + sidecar naming the classes), which every view of the window runs as
it runs the digit model.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from training.learn.teach import Stopped, folds_for
from training.learn.teach_head import HeadModel, augmented
from training.runtime.picture_folders import DRAWING_STYLE, PictureFolder, read

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]


@dataclass(frozen=True)
class ClassesSettings:
    """How the head is trained (Adam with cosine decay, batches drawn evenly from the classes)."""
    steps: int = 600              # the final head
    cv_steps: int = 300           # each cross-validation fold
    batch_size: int = 64
    learning_rate: float = 2e-3
    dense: int = 128
    dropout: float = 0.3
    label_smoothing: float = 0.1
    folds: int = 5                # at most; never more than the smallest class has drawings


def train_classes(folder: str | os.PathLike, out_path: str | os.PathLike,
                  base_model: str | os.PathLike = "mnist", progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None, seed: int = 0,
                  settings: ClassesSettings | None = None) -> dict:
    """Read ``folder``, cross-validate, train, save at ``out_path``; returns the figures.

    Raises FolderError, ModelLoadError or WriteError with a message for the user. When
    ``should_stop()`` turns true, stops within one step: ``{"status": "stopped"}``, nothing
    saved.
    """
    progress = progress or (lambda event: None)
    should_stop = should_stop or (lambda: False)
    settings = settings or ClassesSettings()
    started = time.perf_counter()
    try:
        return _train(folder, Path(out_path).expanduser(), base_model, progress, should_stop,
                      seed, settings, started)
    except Stopped:
        progress({"event": "teach_end", "status": "stopped"})
        return {"status": "stopped", "seconds": {"total": round(time.perf_counter() - started, 2)}}


def _train(folder, out_path: Path, base_model, progress, should_stop, seed, settings,
           started) -> dict:
    from training.learn.saving import load_model
    from training.modelfile.sidecar import check_model_file

    check_model_file(base_model)  # the file's problems are said before the pictures are read
    pictures = read(folder)
    classes = len(pictures.class_names)
    smallest = int(np.bincount(pictures.labels, minlength=classes).min())
    k = min(settings.folds, smallest) if smallest >= 2 else 0
    total_steps = k * settings.cv_steps + settings.steps
    progress({"event": "teach_begin", "samples": len(pictures.labels),
              "per_class": pictures.per_class(), "folds": k, "cv_steps": settings.cv_steps,
              "steps": total_steps, "final_steps": settings.steps, "skipped": 0,
              "source": str(pictures.folder), "base_model": str(base_model)})
    loaded = load_model(base_model)
    import keras

    keras.utils.set_random_seed(seed)
    clock = _Clock(progress, should_stop, total_steps)
    head_model = HeadModel(loaded.model)
    pool, source = augmented(pictures.images, digits=True, seed=seed)
    clock.phase("reading")
    features = head_model.taps(pool)["flat"]
    pool_labels = pictures.labels[source]
    originals = np.flatnonzero(np.r_[True, source[1:] != source[:-1]])  # each first copy
    read_seconds = time.perf_counter() - started

    cv = _cross_validate(features, source, pool_labels, originals, pictures, k, settings, seed,
                         clock, progress)
    train_started = time.perf_counter()
    head = _fit_head(features, pool_labels, classes, settings.steps, settings, seed,
                     clock.stepper("final", None))
    train_seconds = time.perf_counter() - train_started
    fit_accuracy = float(np.mean(_predict(head, features[originals]).argmax(1)
                                 == pictures.labels))
    clock.phase("saving")
    model = _whole_model(loaded.model, head, pictures.name)
    figures = {
        "status": "finished", "dataset": pictures.name, "class_names": list(pictures.class_names),
        "samples": len(pictures.labels), "per_class": pictures.per_class(),
        "cross_validation": cv, "fit_accuracy": fit_accuracy, "settings": asdict(settings),
        "seed": seed, "folder": str(pictures.folder),
        "seconds": {"read": round(read_seconds, 2),
                    "cross_validation": round(cv.pop("seconds", 0.0), 2),
                    "train": round(train_seconds, 2)},
    }
    figures["path"] = str(_save(model, out_path, loaded, pictures, figures))
    figures["seconds"]["total"] = round(time.perf_counter() - started, 2)
    progress({"event": "teach_end", "status": "finished", "path": figures["path"]})
    return figures


def _cross_validate(features, source, pool_labels, originals, pictures: PictureFolder, k: int,
                    settings, seed, clock, progress) -> dict:
    """k folds of drawings: a head trained on the others' copies, scored on the held-out
    drawings themselves. The out-of-fold answers give the accuracy, the confusion matrix and
    the temperature. The temperature only ever softens: label smoothing already keeps a clear
    answer near 90 %, and a few dozen drawings, often all right when held out, cannot show
    that a sharper answer would be honest (fitted alone, it went to its lower bound: 100 %)."""
    labels, classes = pictures.labels, len(pictures.class_names)
    cv = {"folds": k, "steps": settings.cv_steps}
    if k < 2:
        cv["reason"] = "cross-validation needs at least 2 drawings in every class"
        return cv
    started = time.perf_counter()
    fold_of = folds_for(labels, k, seed)
    out_of_fold = np.zeros((len(labels), classes), np.float32)
    for fold in range(k):
        held = fold_of == fold
        mine = ~held[source]  # the copies of the other folds' drawings
        head = _fit_head(features[mine], pool_labels[mine], classes, settings.cv_steps,
                         settings, seed + fold + 1, clock.stepper("cross_validation", fold + 1))
        out_of_fold[held] = _predict(head, features[originals][held])
        correct = int(np.sum(out_of_fold[held].argmax(1) == labels[held]))
        progress({"event": "fold_end", "fold": fold + 1, "folds": k,
                  "held_out": int(held.sum()), "correct": correct})
    from training.runtime.calibration import fit_temperature

    predicted = out_of_fold.argmax(1)
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    cv.update(held_out=len(labels), correct=int(np.sum(predicted == labels)),
              accuracy=float(np.mean(predicted == labels)), confusion=confusion.tolist(),
              temperature=max(1.0, fit_temperature(out_of_fold, labels)),
              seconds=time.perf_counter() - started)
    return cv


def _new_head(width: int, classes: int, settings):
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((width,)), layers.Dropout(settings.dropout),
        layers.Dense(settings.dense, activation="relu"), layers.Dropout(settings.dropout),
        layers.Dense(classes, activation="softmax", dtype="float32")], name="own_head")


def _fit_head(features: np.ndarray, labels: np.ndarray, classes: int, steps: int, settings,
              seed: int, on_step: Callable[[int, float], None]):
    """A fresh head trained ``steps`` batches on ``features``; each batch draws its classes
    evenly, so a class with fewer drawings is not drowned out."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    head = _new_head(features.shape[1], classes, settings)
    optimizer = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(settings.learning_rate, max(1, steps)))
    loss_of = keras.losses.CategoricalCrossentropy(label_smoothing=settings.label_smoothing)
    x = tf.constant(features, tf.float32)
    y = tf.constant(np.eye(classes, dtype=np.float32)[labels])
    weights = 1.0 / np.bincount(labels, minlength=classes)[labels]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(labels), (steps, settings.batch_size), p=weights / weights.sum())

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = loss_of(tf.gather(y, batch), head(tf.gather(x, batch), training=True))
        variables = head.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for i in range(steps):
        on_step(i + 1, float(step(tf.constant(picks[i], tf.int32))))
    return head


def _predict(head, features: np.ndarray) -> np.ndarray:
    return np.asarray(head(features, training=False), np.float32)


def _whole_model(base, head, name: str):
    """The base up to its Flatten (frozen) with the new head on top: one model, 28x28 in."""
    import keras

    layers = list(base.layers)
    flatten = next(i for i, layer in enumerate(layers) if type(layer).__name__ == "Flatten")
    for layer in layers[:flatten + 1]:
        layer.trainable = False
    return keras.Sequential([keras.Input((28, 28, 1)), *layers[:flatten + 1], *head.layers],
                            name=f"{name}_classifier")


def _save(model, out_path: Path, loaded, pictures: PictureFolder, figures: dict) -> Path:
    from training.learn.saving import save_model
    from training.modelfile.sidecar import file_sha256

    cv = figures["cross_validation"]
    classes = len(pictures.class_names)
    lineage = {"kind": "own_classes", "folder": str(pictures.folder),
               "base_model": str(loaded.path.resolve()), "base_sha256": file_sha256(loaded.path),
               "base_display_name": loaded.metadata.get("display_name"),
               "samples": figures["samples"], "per_class": figures["per_class"],
               "cross_validation": {k: v for k, v in cv.items() if k != "confusion"},
               "settings": figures["settings"],
               "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    metadata = {
        "dataset": pictures.name, "class_names": list(pictures.class_names),
        "architecture": f"{loaded.metadata.get('architecture') or loaded.model.name} base + "
                        "own head",
        "display_name": f"{pictures.folder.name} · {classes} classes, "
                        f"{figures['samples']} drawings",
        "status": "finished", "input_style": DRAWING_STYLE, "lineage": lineage,
    }
    if "confusion" in cv:
        metadata.update(confusion=cv["confusion"], temperature=cv["temperature"])
    return save_model(model, out_path, metadata)


class _Clock:
    """Progress of the whole run as teaching reports it (``batch`` events with a phase, the
    steps done of all, seconds left from the pace so far), and the stop request, read at every
    step."""

    def __init__(self, progress: ProgressFn, should_stop: StopFn, total_steps: int):
        self.progress, self.should_stop, self.total = progress, should_stop, total_steps
        self.done, self.started = 0, time.perf_counter()

    def phase(self, name: str) -> None:
        self._report(name, None, math.nan)

    def stepper(self, phase: str, fold: int | None) -> Callable[[int, float], None]:
        def on_step(i: int, loss: float) -> None:
            self.done += 1
            self._report(phase, fold, loss)
        return on_step

    def _report(self, phase, fold, loss) -> None:
        elapsed = time.perf_counter() - self.started
        left = (elapsed / self.done * (self.total - self.done)) if self.done else None
        self.progress({"event": "batch", "phase": phase, "fold": fold, "step": self.done,
                       "steps": self.total, "batch": self.done, "epoch": 1, "epochs": 1,
                       "loss": loss if math.isfinite(loss) else None, "accuracy": None,
                       "eta_seconds": left})
        if self.should_stop():
            raise Stopped
