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

from training.core.classifiers import model_name
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
    checked, junk = _check_pictures(pictures, seed)
    clock.phase("reading")
    taps = _split(head_model.taps(np.concatenate([pool, checked, junk])),
                  (len(pool), len(checked), len(junk)))
    pool_taps, checked_taps, junk_taps = taps
    features = pool_taps["flat"]
    pool_labels = pictures.labels[source]
    originals = np.flatnonzero(np.r_[True, source[1:] != source[:-1]])  # each first copy
    read_seconds = time.perf_counter() - started

    check = _Check(pool_taps, pool_labels, junk_taps, originals, seed)
    cv = _cross_validate(features, source, pool_labels, originals, pictures, k, settings, seed,
                         clock, progress, check)
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
    figures["check"] = check.write(model, head, Path(figures["path"]), checked_taps, progress)
    figures["seconds"]["total"] = round(time.perf_counter() - started, 2)
    progress({"event": "teach_end", "status": "finished", "path": figures["path"]})
    return figures


def _cross_validate(features, source, pool_labels, originals, pictures: PictureFolder, k: int,
                    settings, seed, clock, progress, check) -> dict:
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
        check.held_out(head, ~held[source], held)
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


CHECK_COPIES = 1000        # other augmented copies of the drawings: where the check's limits sit
JUNK_EACH = 300            # scribbles, digits and letters not among the classes, 100 noise


def _check_pictures(pictures: PictureFolder, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(other augmented copies of the drawings, junk): the "none of my classes" check is
    fitted to accept the first and refuse the second. Junk is what a user may draw that is not
    a class: scribbles, noise, and the digits and letters that are not among the classes."""
    copies, _ = augmented(pictures.images, digits=True, seed=seed + 7919)
    rng = np.random.default_rng(seed)
    copies = copies[rng.permutation(len(copies))[:CHECK_COPIES]]
    junk, tags = _junk_pool()
    own = {name.lower() for name in pictures.class_names}
    keep = np.array([tag.split(":")[-1].lower() not in own for tag in tags], bool)
    return copies, junk[keep][..., None].astype(np.float32) / 255.0


JUNK_FILE = "own_classes_junk-1.npz"   # a new version of the junk: a new name


def _junk_pool() -> tuple[np.ndarray, list[str]]:
    """The junk pictures as model inputs (uint8) with their tags ("scribble", "digit:7",
    "letter:A" ...). Drawing them costs ~10 s here (560-pixel pictures, anti-aliased), so a
    copy made by ``python -m training.learn.own_classes`` is shipped (resources/ood_fit/), and
    without it they are drawn once and kept in the app's cache folder."""
    from training.core.paths import user_home

    for path in (_shipped_junk_path(), user_home() / "cache" / JUNK_FILE):
        try:
            with np.load(path, allow_pickle=False) as stored:
                return stored["inputs"], [str(t) for t in stored["tags"]]
        except (OSError, ValueError, KeyError):
            continue
    return _write_junk(user_home() / "cache" / JUNK_FILE)


def _shipped_junk_path() -> Path:
    import resources

    return Path(resources.__file__).parent / "ood_fit" / JUNK_FILE


def _write_junk(path: Path) -> tuple[np.ndarray, list[str]]:
    from training.core.atomic import WriteError, write_with
    from training.learn.drawn_sets import pictures as drawn_pictures
    from training.learn.ood_sets import model_inputs, noise, scribbles

    rng = np.random.default_rng(0)
    items = list(scribbles(JUNK_EACH, rng)) + list(noise(JUNK_EACH // 3, rng))
    for kind in ("digits", "letters"):
        items += [(version, picture) for _, version, picture
                  in drawn_pictures(kind, JUNK_EACH, 0, "fit")]
    inputs, tags, _ = model_inputs(items, DRAWING_STYLE)
    inputs = np.round(inputs * 255).astype(np.uint8)
    try:
        write_with(path, lambda tmp: np.savez_compressed(tmp, inputs=inputs,
                                                         tags=np.array(tags)), ".npz")
    except WriteError:
        pass  # made again next time
    return inputs, tags


def _split(taps: dict, sizes: tuple[int, ...]) -> list[dict]:
    bounds = np.cumsum((0, *sizes))
    return [{k: v[a:b] for k, v in taps.items()} for a, b in zip(bounds, bounds[1:])]


OWN_CENTROIDS = 200        # k-means centroids of a classifier's drawings' features
WEIGHTS = np.array([1.0, 1.0, 0.0, 1.0], np.float32)  # early, penult, energy, centroid


class _Check:
    """The classifier's "That doesn't look like any of my classes" check, as every model of
    the app has one (fitted by training.learn.ood_fit, scored in the window by
    training.runtime.answer_check). The base's taps of every picture are the whole model's
    (the base is shared); only the penultimate one comes from the new head.

    Its units and limits come from drawings the check has not seen: in each cross-validation
    fold a check is fitted without the held-out drawings and scores them. Augmented copies of
    the same drawings are too alike to stand for a new drawing: set on them, the limit refused
    a quarter of the letters drawn with other pens (while refusing every scribble and digit)."""

    def __init__(self, pool_taps: dict, pool_labels, junk_taps: dict, originals, seed: int):
        self.pool, self.labels, self.junk = pool_taps, pool_labels, junk_taps
        self.originals, self.seed = originals, seed
        self.held_raw = np.full((len(originals), 5), np.nan)

    def held_out(self, head, mine: np.ndarray, held: np.ndarray) -> None:
        """A fold: the check fitted on the copies of the other drawings (``mine``) scores the
        held-out drawings (``held``, over the drawings)."""
        detector = self._fit(head, {k: v[mine] for k, v in self.pool.items()}, self.labels[mine])
        taps = {k: v[self.originals][held] for k, v in self.pool.items()}
        self.held_raw[held] = detector.raw_scores(_with_head(head, taps))

    def _fit(self, head, taps: dict, labels):
        from training.learn import ood_fit

        kernel, bias = (np.asarray(w, np.float32) for w in head.layers[-1].get_weights())
        mine = _with_head(head, taps)
        return ood_fit.fit_detector(mine, labels, mine, kernel, bias, self.seed,
                                    WEIGHTS, junk=_with_head(head, self.junk),
                                    centroids=OWN_CENTROIDS)

    def write(self, model, head, path: Path, checked_taps: dict, progress) -> dict | None:
        """Fit the final check, write its files beside the model and its block in the sidecar;
        a failure costs only the check (a warning)."""
        from training.learn import ood_fit
        from training.learn.confidence import update_sidecar

        try:
            detector = self._fit(head, self.pool, self.labels)
            checked = detector.raw_scores(_with_head(head, checked_taps))
            held = self.held_raw[~np.isnan(self.held_raw).any(axis=1)]
            ood_fit.normalise_on(detector, held if len(held) >= 10 else checked)
            scores = detector.normalise(held if len(held) else checked).sum(axis=1)
            limits = _limits(scores)
            features_model, _ = ood_fit.feature_model(model)
            block = ood_fit.write_files(features_model, detector, path, limits, len(scores),
                                        "your drawings, each held out by cross-validation")
            junk = detector.score(_with_head(head, self.junk))
            block["measured"] = {"on": "the junk it was fitted on", "images": len(junk),
                                 "rejected": float(np.mean(junk > limits["reject_above"]))}
            update_sidecar(path, {"ood": block})
        except Exception as exc:  # noqa: BLE001 - the classifier stands without it
            progress({"event": "warning", "message": "the check for drawings of none of the "
                      f"classes could not be made ({type(exc).__name__}: {exc}); the "
                      "classifier answers without it"})
            return None
        return {"reject_above": limits["reject_above"], "junk_rejected": float(
            block["measured"]["rejected"])}


REJECT_Z, UNSURE_Z = 2.576, 2.054   # the normal's 99.5th and 98th percentiles


def _limits(scores: np.ndarray) -> dict:
    """Limits that refuse about 0.5 % of new drawings ("unsure" 2 %), from a few dozen held-out
    scores: the upper end of a prediction interval of log(1 + score), taken as normal. With
    twelve drawings the 99.5th percentile of the scores is their largest, and a new drawing
    often lies beyond it (a new cross was refused in the window, seen drawn through it)."""
    logs = np.log1p(np.maximum(np.asarray(scores, np.float64), 0.0))
    n = len(logs)
    spread = logs.std(ddof=1) * np.sqrt(1 + 1 / n) if n > 1 else 1.0
    reject = float(np.expm1(logs.mean() + REJECT_Z * spread))
    unsure = float(np.expm1(logs.mean() + UNSURE_Z * spread))
    reject = max(reject, float(scores.max()))  # never below a drawing of the user's own
    return {"reject_above": reject, "unsure_above": min(unsure, reject)}


def _with_head(head, taps: dict) -> dict:
    """The whole model's taps from the base's: the penultimate one through the new head."""
    penult = np.asarray(keras_upto_last(head, taps["flat"]), np.float32)
    return {"early": taps["early"], "flat": taps["flat"], "penult": penult}


def keras_upto_last(head, features: np.ndarray):
    """The input of the head's last layer (its Dense 128 output) for ``features``."""
    out = features
    for layer in head.layers[:-1]:
        out = layer(out, training=False)
    return out


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
    joined = keras.Sequential([keras.Input((28, 28, 1)), *layers[:flatten + 1], *head.layers],
                              name=f"{name}_classifier")
    # Layers of their own (the base's are also the base model's): one graph each, so that
    # the answer check can tap them (training.learn.ood_fit.feature_model).
    model = keras.models.clone_model(joined)
    model.set_weights(joined.get_weights())
    for layer in model.layers[:flatten + 1]:
        layer.trainable = False
    return model


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
        "display_name": model_name(_title(pictures), classes, figures["samples"]),
        "status": "finished", "input_style": DRAWING_STYLE, "lineage": lineage,
    }
    if "confusion" in cv:
        metadata.update(confusion=cv["confusion"], temperature=cv["temperature"])
    return save_model(model, out_path, metadata)


def _title(pictures: PictureFolder) -> str:
    """The classifier's own title when the folder is its drawings' (the window's), else the
    folder's name."""
    from training.core.classifiers import find

    classifier = find(pictures.name)
    if classifier is not None and classifier.samples.resolve() == pictures.folder.resolve():
        return classifier.title
    return pictures.folder.name


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


if __name__ == "__main__":  # the shipped junk (see _junk_pool)
    _write_junk(_shipped_junk_path())
    print(f"wrote {_shipped_junk_path()}")
