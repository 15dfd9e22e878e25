"""Teach it my handwriting (issue #9, item 2): fine-tune the model in use on personal samples.

    python -m training.learn.teach --model BASE.keras --samples FOLDER --dataset mnist --out OUT.keras
                             [--data-dir DIR] [--progress json] [--seed N]

The user's samples are few (often 10), so they are oversampled and heavily augmented
(training.learn.augment: shifts, rotations, scale, shear, stroke width), and every batch also carries
a replay of the original training set, so what the model knew is not forgotten. A small learning
rate and a few hundred steps move the model just enough (measured in bench/bench_teach.py).

Before -> after figures are measured on data each model never saw:
  * the official test set (all of it) for the base and the taught model;
  * the personal samples by k-fold cross-validation, k = min(5, n): for each fold a copy of the
    base is taught on the other folds and scored on the held-out one (fewer steps than the final
    run, see CV_STEPS); the base model's score on all samples is the "before".
The final model is then taught on all samples and saved (store.save_model: .keras + .tflite +
sidecar, atomically) with its lineage: base model, samples, figures, time.

``--progress json`` speaks the protocol of ``python -m training``: one JSON object per line on
stdout, ending in ``{"event": "result", ...}`` or ``{"event": "error", "message": ...}`` (exit 2);
a line ``stop`` on stdin stops after the current step, saves nothing, and exits 130.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

# Before any TensorFlow import: no CUDA probing noise on a CPU-only machine.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from training.core.datasets import DATASETS, dataset_info, normalize_name
from training.runtime.preprocess import (
    BlankPictureError,
    PictureError,
    open_picture,
    to_model_input,
)
from training.runtime.samples import PICTURE_SUFFIXES, class_folder

MAX_FOLDS = 5
EVAL_BATCH = 1000
TEST_DROP_WARNING = 0.003  # official accuracy falling more than this is reported as a warning
OOD_TRAIN_PICTURES = 10_000  # the taught model's OOD check is fitted on this many training pictures

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]


class TeachError(Exception):
    """Teaching cannot start or finish; the message is meant for the user."""


class Stopped(Exception):
    """should_stop() said so; nothing is saved."""


@dataclass(frozen=True)
class TeachSettings:
    """How hard to teach. Chosen by measurement (10 flagged "1"s that the shipped model reads
    as "7", scored on 300 flagged 1s of three other styles and the official test set; see
    bench/bench_teach.py). The samples themselves are learnt within 50 steps at any of these
    settings; what the choices buy is official accuracy: the user's "1" looks like some MNIST
    "7"s, and every one of those the model now calls "1" costs 0.01 %.
      constant LR 3e-4, 16 of 64 personal, hard-label replay:   99.25 %, held-out 1s 100 %
      + cosine decay, replay targets from the base (distill):   99.25 %
      + 16 replay "7"s a batch (the classes the base confused): 99.34 %, 99.3 %
      batch 128 (16 personal, 32 confused-class, 80 replay):    99.38 %, 99.0 %  <- these
    (base: 99.53 %, held-out 1s 37 %). Pure replay at LR 3e-4 costs nothing (99.50 %)."""
    steps: int = 200               # final run: ~5 s here for wide_cnn
    cv_steps: int = 100            # each cross-validation fold (a cheaper estimate)
    batch_size: int = 128
    personal_per_batch: int = 16   # drawn with replacement: few samples are oversampled
    contrast_per_batch: int = 32   # replay of the classes the base mistook the samples for
    learning_rate: float = 3e-4    # Adam; 1e-3 started reading plain 7s as 1s
    schedule: str = "cosine"       # "constant" or cosine decay to 0 over the run
    distill: bool = True           # replay targets = the base model's own probabilities
    folds: int = MAX_FOLDS         # at most; k = min(folds, n); < 2 = no cross-validation


# ----------------------------------------------------------------------------- samples

def load_samples(folder: str | os.PathLike, dataset: str, skipped: list[str] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Every picture in ``folder/<class folder>/`` as the model's 28x28 input.

    Returns (images uint8 (n, 28, 28), labels int (n,), paths). Blank or unreadable files are
    left out, each with a message appended to ``skipped`` (when given). Sub-folders that are not
    a class of the dataset are reported there too; hidden files and folders (.trash) are ignored.
    """
    info = dataset_info(dataset)
    folder = Path(folder)
    skipped = skipped if skipped is not None else []
    by_folder = {class_folder(name).lower(): label for label, name in enumerate(info.class_names)}
    images, labels, paths = [], [], []
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    for sub in subfolders:
        if sub.name.startswith("."):
            continue
        label = by_folder.get(sub.name.lower())
        if label is None:
            skipped.append(f"{sub.name}/: not a class of {info.title}; ignored")
            continue
        for path in sorted(sub.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in PICTURE_SUFFIXES:
                continue
            try:
                pixels = to_model_input(open_picture(path), info.name)
            except BlankPictureError:
                skipped.append(f"{sub.name}/{path.name}: blank; skipped")
                continue
            except PictureError as exc:
                skipped.append(f"{sub.name}/{path.name}: {exc}; skipped")
                continue
            images.append(np.round(pixels * 255).astype(np.uint8))
            labels.append(label)
            paths.append(path)
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), []
    return np.stack(images), np.array(labels, np.int64), paths


def folds_for(labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold number of each sample, spread class by class so each fold holds a mix of classes."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), np.int64)
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold[members] = (np.arange(len(members)) + offset) % k
        offset += len(members)  # the next class starts where this one stopped: even folds
    return fold


# ----------------------------------------------------------------------------- teaching

class _Teacher:
    """One model, one optimizer and one compiled step, reused for every fold and the final run:
    a fold starts from the base weights and a fresh optimizer state, without retracing."""

    def __init__(self, model, replay_x, replay_y, digits: bool, settings: TeachSettings,
                 seed: int):
        import keras
        import tensorflow as tf

        from training.learn.augment import augment_batch

        # Batch norm keeps the statistics of the full training set: updated on batches of a
        # few dozen personal drawings they would drift, and every other picture would suffer.
        # (A frozen BatchNormalization layer runs in inference mode in Keras 3.)
        for layer in model.layers:
            if type(layer).__name__ == "BatchNormalization":
                layer.trainable = False
        self.model, self.settings = model, settings
        self.replay_x, self.replay_y = replay_x, replay_y
        self.base_weights = [w.copy() for w in model.get_weights()]
        self.optimizer = keras.optimizers.Adam(settings.learning_rate)
        self.optimizer.build(model.trainable_variables)
        # Its state as built (zero moments, zero iterations, the learning rate), for reset().
        self.optimizer_start = [v.numpy().copy() for v in self.optimizer.variables]
        self.seed = seed
        generator = tf.random.Generator.from_seed(seed)
        teacher = None
        if settings.distill:  # a frozen copy of the base gives the replay images' targets
            teacher = keras.models.clone_model(model)
            teacher.set_weights(self.base_weights)
        personal = min(settings.personal_per_batch, settings.batch_size - 1)

        @tf.function(reduce_retracing=True)
        def step(images, labels):
            batch = tf.cast(images, tf.float32)[..., None] / 255.0
            batch = augment_batch(batch, generator, digits)  # personal and replay alike
            targets = tf.one_hot(labels, 10)
            if teacher is not None:
                soft = tf.cast(teacher(batch[personal:], training=False), tf.float32)
                targets = tf.concat([targets[:personal], soft], axis=0)
            with tf.GradientTape() as tape:
                probabilities = model(batch, training=True)
                loss = tf.reduce_mean(keras.losses.categorical_crossentropy(
                    targets, probabilities))
            grads = tape.gradient(loss, model.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            hits = tf.cast(tf.equal(tf.argmax(probabilities, 1, output_type=tf.int32), labels),
                           tf.float32)
            return loss, tf.reduce_mean(hits)

        self._step = step

    def reset(self) -> None:
        self.model.set_weights(self.base_weights)
        for variable, value in zip(self.optimizer.variables, self.optimizer_start):
            variable.assign(value)

    def teach(self, x, y, steps: int, on_step: Callable[[int, float, float], None],
              seed: int, confused=()) -> None:
        """``steps`` batches of personal samples (oversampled) + replay; on_step after each."""
        s = self.settings
        rng = np.random.default_rng(seed)
        personal = min(s.personal_per_batch, s.batch_size - 1)
        pool = np.flatnonzero(np.isin(self.replay_y, list(confused)))
        contrast = min(s.contrast_per_batch, s.batch_size - personal) if len(pool) else 0
        for i in range(steps):
            mine = rng.integers(0, len(x), personal)  # with replacement: 10 samples fill 16
            replay = np.concatenate([
                pool[rng.integers(0, len(pool), contrast)] if contrast else np.zeros(0, int),
                rng.integers(0, len(self.replay_x), s.batch_size - personal - contrast)])
            images = np.concatenate([x[mine], self.replay_x[replay]])
            labels = np.concatenate([y[mine], self.replay_y[replay]]).astype(np.int32)
            if s.schedule == "cosine":
                self.optimizer.learning_rate.assign(
                    s.learning_rate * 0.5 * (1 + math.cos(math.pi * i / steps)))
            loss, accuracy = self._step(images, labels)
            on_step(i + 1, float(loss), float(accuracy))


def predict(model, images: np.ndarray, should_stop: StopFn | None = None) -> np.ndarray:
    """Predicted classes of uint8 (n, 28, 28) images, in large batches."""
    from training.learn.augment import to_float

    out = []
    for i in range(0, len(images), EVAL_BATCH):
        if should_stop is not None and should_stop():
            raise Stopped
        out.append(np.asarray(model.predict_on_batch(to_float(images[i:i + EVAL_BATCH]))))
    return np.concatenate(out).argmax(axis=1) if out else np.zeros(0, np.int64)


def teach(base_model_path: str | os.PathLike, samples_folder: str | os.PathLike, dataset: str,
          out_path: str | os.PathLike, data_dir: str | os.PathLike | None = None,
          progress: ProgressFn | None = None, should_stop: StopFn | None = None, seed: int = 0,
          settings: TeachSettings | None = None) -> dict:
    """Teach the base model the samples, measure before -> after, save; returns the figures.

    Raises TeachError, ModelLoadError, DatasetError or WriteError with a message for the user.
    When ``should_stop()`` turns true, stops within one step and returns
    ``{"status": "stopped"}`` with nothing saved.
    """
    progress = progress or (lambda event: None)
    should_stop = should_stop or (lambda: False)
    settings = settings or TeachSettings()
    started = time.perf_counter()
    try:
        return _teach(base_model_path, samples_folder, dataset, out_path, data_dir, progress,
                      should_stop, seed, settings, started)
    except Stopped:
        progress({"event": "teach_end", "status": "stopped"})
        return {"status": "stopped", "seconds": {"total": round(time.perf_counter() - started, 2)}}


def _teach(base_model_path, samples_folder, dataset, out_path, data_dir, progress, should_stop,
           seed, settings, started) -> dict:
    info, x, y, skipped = _read_samples(samples_folder, dataset, progress)
    loaded, data = _load_base(base_model_path, info, data_dir)

    import keras
    keras.utils.set_random_seed(seed)
    model = loaded.model
    n = len(x)
    per_class = {info.class_names[c]: int(k) for c, k in zip(*np.unique(y, return_counts=True))}
    k = _fold_count(settings, n)
    total_steps = k * settings.cv_steps + settings.steps
    progress({"event": "teach_begin", "samples": n, "per_class": per_class, "folds": k,
              "cv_steps": settings.cv_steps, "steps": total_steps, "final_steps": settings.steps,
              "skipped": len(skipped), "source": data.source, "base_model": str(loaded.path)})

    # Before: the base model has never seen the samples, so all of them are held out for it.
    base_test, base_predicted, eval_seconds = _measure(model, "base", data, x, should_stop,
                                                       progress)
    base_samples = base_predicted == y

    teacher = _Teacher(model, data.x_train, data.y_train, info.name == "mnist", settings, seed)
    reporter = _step_reporter(progress, should_stop, total_steps)
    cv_started = time.perf_counter()
    cv = _cross_validate(teacher, x, y, k, base_predicted, reporter, progress, settings, seed)
    cv_seconds = time.perf_counter() - cv_started

    final_started = time.perf_counter()
    teacher.reset()
    teacher.teach(x, y, settings.steps, reporter("final"), seed + 1000,
                  _confused(base_predicted, y))
    train_seconds = time.perf_counter() - final_started

    taught_test, taught_predicted, seconds = _measure(model, "taught", data, x, should_stop,
                                                      progress)
    fit_samples = float(np.mean(taught_predicted == y))
    eval_seconds += seconds
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        raise TeachError("teaching diverged (the model's output is not a number); nothing saved")

    before = {"test_accuracy": base_test, "samples_accuracy": float(base_samples.mean())}
    after = {"test_accuracy": taught_test,
             "samples_accuracy_cv": cv.get("accuracy"),  # held out: the honest figure
             "samples_accuracy_fit": fit_samples}        # taught on them: optimistic
    _warn_if_forgetting(base_test, taught_test, progress)
    figures = {
        "status": "finished", "dataset": info.name, "samples": n, "per_class": per_class,
        "skipped": skipped, "test_images": len(data.x_test), "before": before, "after": after,
        "cross_validation": cv,
        "confused_classes": [info.class_names[c] for c in _confused(base_predicted, y)],
        "settings": asdict(settings), "seed": seed,
    }
    figures["seconds"] = {"train": round(train_seconds, 2),
                          "cross_validation": round(cv_seconds, 2),
                          "evaluate": round(eval_seconds, 2),
                          "total": round(time.perf_counter() - started, 2)}
    if should_stop():
        raise Stopped
    return _save_taught(model, loaded, info, figures, Path(out_path).expanduser(), data,
                        progress, started)


def _fold_count(settings: TeachSettings, n: int) -> int:
    """k of the k-fold cross-validation of ``n`` samples; 0 for none."""
    k = min(settings.folds, n) if settings.folds >= 2 and settings.cv_steps >= 1 else 0
    return k if k >= 2 else 0  # one sample cannot be both taught and held out


def _warn_if_forgetting(base_test: float, taught_test: float, progress: ProgressFn) -> None:
    if base_test - taught_test > TEST_DROP_WARNING:
        progress({"event": "warning",
                  "message": f"official test accuracy fell from {base_test:.2%} to "
                             f"{taught_test:.2%}; some samples may be labelled wrongly"})


def _measure(model, which: str, data, x, should_stop: StopFn, progress: ProgressFn):
    """(accuracy on the official test set, predicted classes of the samples, seconds)."""
    progress({"event": "evaluate_begin", "model": which, "samples": len(data.x_test)})
    started = time.perf_counter()
    test_accuracy = float(np.mean(predict(model, data.x_test, should_stop) == data.y_test))
    predicted = predict(model, x)
    return test_accuracy, predicted, time.perf_counter() - started


def _read_samples(samples_folder, dataset: str, progress: ProgressFn):
    """(dataset info, x, y, skipped) of the personal samples; TeachError when there are none."""
    if normalize_name(dataset) not in DATASETS:
        raise TeachError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    info = dataset_info(dataset)
    folder = Path(samples_folder).expanduser()
    if not folder.is_dir():
        raise TeachError(f"no samples folder at {folder}: add a few drawings to your samples "
                         "first (draw one, then press its key or a \"This is…\" button).")
    skipped: list[str] = []
    x, y, _ = load_samples(folder, info.name, skipped)
    for message in skipped:
        progress({"event": "warning", "message": message})
    if len(x) == 0:
        raise TeachError(f"no usable samples in {folder}: there must be pictures in "
                         f"sub-folders named after the classes ({', '.join(_folders(info))}).")
    return info, x, y, skipped


def _load_base(base_model_path, info, data_dir):
    """The base model (of the samples' dataset) and the dataset's local copy."""
    from training.core.datasets import load_dataset
    from training.learn.saving import load_model
    from training.modelfile.sidecar import check_model_file

    # The file's and the dataset's problems are said at once, before TensorFlow loads.
    check_model_file(base_model_path)
    data = load_dataset(info.name, data_dir, allow_download=False)
    loaded = load_model(base_model_path)
    base_dataset = loaded.metadata.get("dataset")
    if base_dataset and base_dataset != info.name:
        raise TeachError(f"{loaded.path.name} is a {dataset_info(base_dataset).title} model; "
                         f"it cannot be taught {info.title} samples.")
    return loaded, data


def _step_reporter(progress: ProgressFn, should_stop: StopFn, total_steps: int):
    """``reporter(phase, fold)`` -> the on_step of one teaching run; the steps of every run
    count towards one bar (and one time left), and a stop request ends the step."""
    done = 0
    step_started = time.perf_counter()

    def reporter(phase, fold=None):
        def on_step(i, loss, accuracy):
            nonlocal done
            done += 1
            elapsed = time.perf_counter() - step_started
            progress({"event": "batch", "phase": phase, "fold": fold, "step": done,
                      "steps": total_steps, "batch": done, "epoch": 1, "epochs": 1,
                      "loss": loss if math.isfinite(loss) else None, "accuracy": accuracy,
                      "eta_seconds": elapsed / done * (total_steps - done)})
            if should_stop():
                raise Stopped
        return on_step

    return reporter


def _cross_validate(teacher, x, y, k, base_predicted, reporter, progress, settings,
                    seed) -> dict:
    """k-fold: a copy of the base taught on the other folds, scored on the held-out one."""
    n = len(x)
    cv = {"folds": k, "steps": settings.cv_steps}
    if not k:
        cv["reason"] = ("cross-validation needs at least 2 samples" if n < 2
                        else "cross-validation was turned off")
        return cv
    fold_of = folds_for(y, k, seed)
    held_hits = np.zeros(n, bool)
    for fold in range(k):
        train, held = fold_of != fold, fold_of == fold
        teacher.reset()
        teacher.teach(x[train], y[train], settings.cv_steps,
                      reporter("cross_validation", fold + 1), seed + fold,
                      _confused(base_predicted[train], y[train]))
        held_hits[held] = predict(teacher.model, x[held]) == y[held]
        progress({"event": "fold_end", "fold": fold + 1, "folds": k,
                  "held_out": int(held.sum()), "correct": int(held_hits[held].sum())})
    cv.update(held_out=n, correct=int(held_hits.sum()), accuracy=float(held_hits.mean()),
              base_correct=int((base_predicted == y).sum()))
    return cv


def _save_taught(model, loaded, info, figures: dict, out_path: Path, data, progress,
                 started: float) -> dict:
    """Save the taught model with its lineage (and its own calibration); the figures + path."""
    from training.learn.saving import save_model
    from training.modelfile.sidecar import file_sha256

    n = figures["samples"]
    lineage = {"base_model": str(loaded.path.resolve()), "base_sha256": file_sha256(loaded.path),
               "base_display_name": loaded.metadata.get("display_name"),
               "base_config": loaded.metadata.get("config"),  # how the base was trained
               "samples": n, "per_class": figures["per_class"], "before": figures["before"],
               "after": figures["after"], "cross_validation": figures["cross_validation"],
               "settings": figures["settings"], "seconds": figures["seconds"]["total"],
               "taught_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    taught_test = figures["after"]["test_accuracy"]
    metadata = {
        "dataset": info.name,
        "architecture": loaded.metadata.get("architecture") or model.name,
        "class_names": list(info.class_names),
        "test_accuracy": taught_test,
        "display_name": f"{info.title} · taught with {n} sample{'s' if n != 1 else ''}",
        "status": "finished",
        "lineage": lineage,
    }
    figures["path"] = str(save_model(model, out_path, metadata))
    figures["calibration"] = _calibrate(model, figures["path"], data, progress)
    figures["seconds"]["total"] = round(time.perf_counter() - started, 2)
    progress({"event": "teach_end", "status": "finished", "test_accuracy": taught_test,
              "path": figures["path"]})
    return figures


def _calibrate(model, path: str, data, progress) -> dict | None:
    """The taught model's own temperature and "doesn't look like a digit" check, as every
    model the app trains has (training.learn.confidence): fitted on the first half of the official
    test set (never taught), measured on the other half. A failure costs only the check."""
    from training.learn.confidence import MIN_HELD_OUT, calibrate_saved_model
    from training.learn.saving import LoadedModel
    from training.modelfile.sidecar import read_metadata_checked

    try:
        metadata, _ = read_metadata_checked(path)
        loaded = LoadedModel(model=model, path=Path(path), metadata=metadata)
        block = calibrate_saved_model(path, loaded=loaded, data=data, progress=progress,
                                      with_ood=len(data.x_test) // 2 >= MIN_HELD_OUT,
                                      max_ood_train=OOD_TRAIN_PICTURES)
    except Exception as exc:  # noqa: BLE001 - the taught model stands without it
        progress({"event": "warning", "message": f"the taught model could not be calibrated "
                                                 f"({exc}); its confidences are uncalibrated"})
        return None
    return {"temperature": block["temperature"],
            "ece_before": block["calibration"]["ece_before"],
            "ece_after": block["calibration"]["ece_after"]}


def _confused(predicted: np.ndarray, labels: np.ndarray) -> list[int]:
    """The classes the base model gave the samples it got wrong (a "1" read as "7": 7)."""
    return sorted(set(predicted[predicted != labels].tolist()))


def _folders(info) -> str:
    names = [class_folder(n) for n in info.class_names]
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
