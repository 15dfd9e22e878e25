"""A classifier of the user's own classes (issue #23): a folder of drawings, one sub-folder per
class (training.runtime.picture_folders), becomes a model in seconds by transfer.

The shipped digit model's convolutional base already sees strokes, corners, loops and crossings;
only a new head is learned on top of it. Every drawing and its augmented copies (shifted,
rotated, sheared, thinner or thicker: training.learn.augment, ~80-128 copies each) go through
the base once (training.learn.ood_fit.FeatureRunner, XLA-compiled), then a small head
(Dropout -> Dense 128 ReLU -> Dropout -> Dense <classes> softmax) is trained on those features:
a few milliseconds a step. k-fold cross-validation (the folds split the drawings, never one
drawing's copies) gives the held-out accuracy, the confusion matrix and the temperature of the
answers; the final head is trained on every drawing and saved on the frozen base as one Keras
model (.keras + .tflite + sidecar naming the classes), which every view of the window runs as
it runs the digit model.

Optionally (``fine_tune_steps``; ``train --fine-tune``, My samples' "Fine-tune the base too")
the base's last stage of convolutions is then trained a few hundred steps on the copies, in
every fold as in the final model, and the check is fitted on what the tuned base sees. On ten
drawn clothes of each kind (bench/bench_fine_tune.py, docs/benchmarks.md) new drawings read
93.7 -> 94.7 % right in one run, 94.3 -> 94.0 % in another, in 4.2-4.6x the time, and the check
refused a few more of them (3.7 -> 4.7 %, 4 -> 8 %): an option, not the way.
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
from training.learn.teach_head import HeadSteps, augmented, cosine_rates
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
    fine_tune_steps: int = 0      # then the base's last stage too (0: the head alone)
    fine_tune_rate: float = 1e-3  # of 3e-4 and 1e-3 for 100-200 steps, the best on new drawings


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
    tune = settings.fine_tune_steps
    total_steps = k * (settings.cv_steps + tune) + settings.steps + tune
    progress({"event": "teach_begin", "samples": len(pictures.labels),
              "per_class": pictures.per_class(), "folds": k, "cv_steps": settings.cv_steps,
              "steps": total_steps, "final_steps": settings.steps + tune, "skipped": 0,
              "source": str(pictures.folder), "base_model": str(base_model)})
    clock = _Clock(progress, should_stop, total_steps)
    loaded = load_model(base_model)
    import keras

    keras.utils.set_random_seed(seed)
    clock.phase("reading")  # (a stop is read here, and after each batch of the base's pass)
    pool, source = augmented(pictures.images, digits=True, seed=seed, pool=POOL)
    held_out = len(pictures.labels) if k >= 2 else 0   # each drawing held out once
    checked, junk = _check_pictures(pictures, seed, copies=held_out < HELD_FOR_UNITS)
    clock.phase("reading")
    pool_labels = pictures.labels[source]
    originals = np.flatnonzero(np.r_[True, source[1:] != source[:-1]])  # each first copy
    fitter = _Fitter(loaded.model, pictures.name, {"pool": pool, "checked": checked,
                                                   "junk": junk}, pool_labels, classes,
                     settings, clock)
    read_seconds = time.perf_counter() - started

    check = _Check(fitter, originals, seed)
    cv = _cross_validate(fitter, source, originals, pictures, k, seed, progress, check)
    train_started = time.perf_counter()
    head, tuned = fitter.fit(np.ones(len(pool), bool), settings.steps, seed, None)
    train_seconds = time.perf_counter() - train_started
    fit_accuracy = float(np.mean(fitter.answers(head, tuned, originals).argmax(1)
                                 == pictures.labels))
    clock.phase("saving")
    model = tuned or _whole_model(loaded.model, head, pictures.name)
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
    figures["check"] = check.write(model, head, tuned, Path(figures["path"]), progress)
    figures["seconds"]["total"] = round(time.perf_counter() - started, 2)
    progress({"event": "teach_end", "status": "finished", "path": figures["path"]})
    return figures


def _cross_validate(fitter, source, originals, pictures: PictureFolder, k: int, seed,
                    progress, check) -> dict:
    """k folds of drawings: a classifier trained on the others' copies, scored on the held-out
    drawings themselves. The out-of-fold answers give the accuracy, the confusion matrix and
    the temperature. The temperature only ever softens: label smoothing already keeps a clear
    answer near 90 %, and a few dozen drawings, often all right when held out, cannot show
    that a sharper answer would be honest (fitted alone, it went to its lower bound: 100 %)."""
    labels, classes, settings = pictures.labels, len(pictures.class_names), fitter.settings
    cv = {"folds": k, "steps": settings.cv_steps,
          "fine_tune_steps": settings.fine_tune_steps}
    if k < 2:
        cv["reason"] = "cross-validation needs at least 2 drawings in every class"
        return cv
    started = time.perf_counter()
    fold_of = folds_for(labels, k, seed)
    out_of_fold = np.zeros((len(labels), classes), np.float32)
    for fold in range(k):
        held = fold_of == fold
        mine = ~held[source]  # the copies of the other folds' drawings
        head, tuned = fitter.fit(mine, settings.cv_steps, seed + fold + 1, fold + 1)
        out_of_fold[held] = fitter.answers(head, tuned, originals[held])
        check.held_out(head, tuned, mine, held)
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


# The augmented copies every step draws from, at most: 40 letters drawn in one style, scored on
# 150 drawn in others (4 seeds, 2-core Zen 1): 4,096 copies (teaching's pool) and 2,048 both
# read 99.3-100 % of them, refused 0-0.7 % of them and 96-97.5 % of 80 scribbles and digits;
# 2,048 took 31-36 CPU-s a run against 41-50 (the base's pass over the copies is the most).
POOL = 2048
CHECK_COPIES = 1000        # other augmented copies of the drawings: where the check's limits sit
HELD_FOR_UNITS = 10        # ... unless this many drawings are held out by cross-validation
JUNK_EACH = 300            # scribbles, digits and letters not among the classes, 100 noise


def _check_pictures(pictures: PictureFolder, seed: int,
                    copies: bool) -> tuple[np.ndarray, np.ndarray]:
    """(other augmented copies of the drawings, junk): the "none of my classes" check is
    fitted to accept the first and refuse the second. Junk is what a user may draw that is not
    a class: scribbles, noise, and the digits and letters that are not among the classes.
    Without ``copies`` (enough drawings held out set the check's units) the first is empty:
    the base's pass over 1,000 copies was a quarter of a run's reading."""
    if copies:
        checked, _ = augmented(pictures.images, digits=True, seed=seed + 7919)
        rng = np.random.default_rng(seed)
        checked = checked[rng.permutation(len(checked))[:CHECK_COPIES]]
    else:
        checked = np.zeros((0, 28, 28, 1), np.float32)
    junk, tags = _junk_pool()
    own = {name.lower() for name in pictures.class_names}
    keep = np.array([tag.split(":")[-1].lower() not in own for tag in tags], bool)
    return checked, junk[keep][..., None].astype(np.float32) / 255.0


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
    (the base is shared); only the penultimate one comes from the new head. A fine-tuned base
    sees the pictures anew: their taps are taken again through it.

    Its units and limits come from drawings the check has not seen: in each cross-validation
    fold a check is fitted without the held-out drawings and scores them. Augmented copies of
    the same drawings are too alike to stand for a new drawing: set on them, the limit refused
    a quarter of the letters drawn with other pens (while refusing every scribble and digit)."""

    def __init__(self, fitter: "_Fitter", originals, seed: int):
        self.fitter, self.labels = fitter, fitter.labels
        self.originals, self.seed = originals, seed
        self.held_raw = np.full((len(originals), 5), np.nan)

    def held_out(self, head, tuned, mine: np.ndarray, held: np.ndarray) -> None:
        """A fold: the check fitted on the copies of the other drawings (``mine``) scores the
        held-out drawings (``held``, over the drawings); ``tuned`` is the fold's fine-tuned
        model, or None when its base is the shared one."""
        taps = self.fitter.taps
        detector = self._fit(head, taps(tuned, "pool", mine), self.labels[mine],
                             taps(tuned, "junk"))
        held_taps = taps(tuned, "pool", self.originals[held])
        self.held_raw[held] = detector.raw_scores(_with_head(head, held_taps))

    def _fit(self, head, taps: dict, labels, junk: dict):
        from training.learn import ood_fit

        kernel, bias = (np.asarray(w, np.float32) for w in head.layers[-1].get_weights())
        mine = _with_head(head, taps)
        return ood_fit.fit_detector(mine, labels, mine, kernel, bias, self.seed,
                                    WEIGHTS, junk=_with_head(head, junk),
                                    centroids=OWN_CENTROIDS)

    def write(self, model, head, tuned, path: Path, progress) -> dict | None:
        """Fit the final check, write its files beside the model and its block in the sidecar;
        a failure costs only the check (a warning)."""
        from training.learn import ood_fit
        from training.learn.confidence import update_sidecar

        try:
            taps = self.fitter.taps
            detector = self._fit(head, taps(tuned, "pool"), self.labels, taps(tuned, "junk"))
            held = self.held_raw[~np.isnan(self.held_raw).any(axis=1)]
            if len(held) >= HELD_FOR_UNITS:
                ood_fit.normalise_on(detector, held)
            else:  # too few drawings held out to set the units: other copies of them do
                checked = detector.raw_scores(_with_head(head, taps(tuned, "checked")))
                ood_fit.normalise_on(detector, checked)
                held = held if len(held) else checked
            scores = detector.normalise(held).sum(axis=1)
            limits = _limits(scores)
            features_model, _ = ood_fit.feature_model(model)
            block = ood_fit.write_files(features_model, detector, path, limits, len(scores),
                                        "your drawings, each held out by cross-validation")
            junk = detector.score(_with_head(head, taps(tuned, "junk")))
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


class _Fitter:
    """Trains the classifier on some of the pool's copies, and gives the check's taps of every
    picture the run uses ("pool": the augmented copies, "checked": other copies, "junk") as
    the classifier sees them.

    A new head is trained on the base's features, computed once for all. With
    ``fine_tune_steps`` the base's last stage of convolutions is then trained too, a few
    steps at a small rate on the copies themselves, so that it learns the classes' own shapes;
    below it the base stays as it is (its activations there are computed once, and the check's
    early tap, the first two poolings, does not change), and batch norm keeps the statistics
    it learned on MNIST."""

    def __init__(self, base, name: str, pictures: dict, labels, classes: int, settings, clock):
        self.labels, self.classes = labels, classes
        self.settings, self.clock = settings, clock
        from training.learn.ood_fit import FeatureRunner, feature_model

        names = list(pictures)
        parts = [pictures[n] for n in names]
        images = np.concatenate(parts)
        # Fine-tuning starts from the activations below the base's last stage: they come out
        # of the same pass as the check's taps (a pass of their own cost ~5 s on 6,000 copies).
        self.split = _last_stage(base.layers) if settings.fine_tune_steps else 0
        features_model, _ = feature_model(base, lower_at=self.split)
        # ~1 s a batch here: a stop is read after each, not only after the whole pass
        taps = FeatureRunner(features_model)(images, lambda count: clock.phase("reading"))
        if settings.fine_tune_steps and not self.split:
            taps["lower"] = images.astype(np.float32)
        self.base_taps = dict(zip(names, _split(taps, tuple(map(len, parts)))))
        # activations where the fine-tuned layers begin
        self.lower = {name: self.base_taps[name].pop("lower") for name in names
                      if "lower" in self.base_taps[name]}
        self.features = self.base_taps["pool"]["flat"]
        self.head = _new_head(self.features.shape[1], classes, settings)
        self.head_steps = HeadSteps(self.head.layers, settings.learning_rate)
        if settings.fine_tune_steps:
            # One whole model, with its loop of fine-tuning steps and its features function,
            # serves every fit (each starts again from the base's weights and the fit's head):
            # a model, a loop and their traces made anew for each fold cost more than its steps.
            self.tuned = _whole_model(base, self.head, name)
            self._sources = [*base.layers[:_flatten_index(base.layers) + 1], *self.head.layers]
            self._tuning(True)
            self.tune_steps = HeadSteps(_stack(self.tuned, self.split).layers,
                                        settings.fine_tune_rate)
            self._tuning(False)
            self.tuned_head = _head_of(self.tuned)
            upto = self.split + _flatten_index(self.tuned.layers[self.split:]) + 1
            self._tuned_flat = _layers_function(self.tuned.layers[self.split:upto])

    def fit(self, mine: np.ndarray, steps: int, seed: int, fold: int | None):
        """(head, the whole fine-tuned model or None) trained on the copies ``mine``. The head
        is this fitter's one head, trained from fresh weights each time (one compiled loop of
        steps serves every fold): what a fit returns holds until the next fit."""
        on_step = self.clock.stepper("cross_validation" if fold else "final", fold)
        s = self.settings
        _fresh_weights(self.head, seed)
        _train_steps(self.head_steps, self.labels[mine], self.classes, steps, s.learning_rate,
                     s, seed, on_step, self.features[mine])
        if not s.fine_tune_steps:
            return self.head, None
        for layer, source in zip(self.tuned.layers, self._sources):
            layer.set_weights(source.get_weights())
        self._tuning(True)
        _train_steps(self.tune_steps, self.labels[mine], self.classes, s.fine_tune_steps,
                     s.fine_tune_rate, s, seed, on_step, self.lower["pool"][mine])
        self._tuning(False)
        return self.tuned_head, self.tuned

    def _tuning(self, on: bool) -> None:
        """The base's last stage trainable (batch norm never: it keeps MNIST's statistics), or
        frozen again as _whole_model leaves a base (teaching trains the head)."""
        tuned_layers = self.tuned.layers[self.split:]
        if on:
            for layer in tuned_layers:
                layer.trainable = type(layer).__name__ != "BatchNormalization"
        else:
            for layer in tuned_layers[:_flatten_index(tuned_layers) + 1]:
                layer.trainable = False

    def taps(self, tuned, name: str, rows: np.ndarray | None = None) -> dict:
        """The check's base taps (``early``, ``flat``) of the pictures ``name`` (those at
        ``rows``), through the fine-tuned model ``tuned`` when there is one."""
        taps = self.base_taps[name]
        taps = {k: v if rows is None else v[rows] for k, v in taps.items()}
        if tuned is not None:  # (a fit's model: self.tuned, whose features function is kept)
            lower = self.lower[name] if rows is None else self.lower[name][rows]
            taps["flat"] = self._tuned_flat(lower)
        return taps

    def answers(self, head, tuned, rows: np.ndarray) -> np.ndarray:
        """Probabilities of the pool's pictures ``rows``."""
        return _predict(head, self.taps(tuned, "pool", rows)["flat"])


def _last_stage(layers) -> int:
    """Where the base's last stage of convolutions begins: after its last pooling but one
    (vgg_cnn: the two 128-channel convolutions at 7x7), else at the input."""
    pools = [i for i, layer in enumerate(layers[:_flatten_index(layers)])
             if type(layer).__name__ in ("MaxPooling2D", "AveragePooling2D")]
    return pools[-2] + 1 if len(pools) >= 2 else 0


def _flatten_index(layers) -> int:
    return next(i for i, layer in enumerate(layers) if type(layer).__name__ == "Flatten")


def _layers_function(layers, batch: int = 1000):
    """``x -> x`` through ``layers`` in inference mode, float32, in batches: one traced
    function for every call (with the layers' weights as they are at the call)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def run(part):
        for layer in layers:
            part = layer(part, training=False)
        return tf.cast(part, tf.float32)

    def apply(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if not layers:
            return x
        return np.concatenate([run(tf.constant(x[i:i + batch])).numpy()
                               for i in range(0, len(x), batch)])

    return apply


def _stack(model, start: int):
    """The whole model's layers from ``start`` on, as a model of their own (the same
    weights): what fine-tuning trains, on the activations below them."""
    import keras

    return keras.Sequential([keras.Input(model.layers[start].input.shape[1:]),
                             *model.layers[start:]])


def _fresh_weights(model, seed: int) -> None:
    """Glorot-uniform kernels and zero biases (Keras's Dense defaults), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "Dense":
            fan_in, fan_out = layer.kernel.shape
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            layer.kernel.assign(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
            layer.bias.assign(np.zeros(fan_out, np.float32))


def _train_steps(loop, labels: np.ndarray, classes: int, steps: int, rate: float,
                 settings, seed: int, on_step: Callable[[int, float], None], features) -> None:
    """``steps`` batches of ``loop`` (teach_head.HeadSteps) on ``features``, Adam with cosine
    decay and label smoothing; each batch draws its classes evenly, so a class with fewer
    drawings is not drowned out."""
    smoothing = settings.label_smoothing
    targets = np.eye(classes, dtype=np.float32)[labels] * (1 - smoothing) + smoothing / classes
    weights = 1.0 / np.bincount(labels)[labels]
    picks = np.random.default_rng(seed).choice(len(labels), (steps, settings.batch_size),
                                               p=weights / weights.sum())
    loop.run(features, targets, labels, picks, cosine_rates(rate, steps),
             lambda i, loss, accuracy: on_step(i, loss))


def _predict(head, features: np.ndarray) -> np.ndarray:
    return np.asarray(head(features, training=False), np.float32)


def _whole_model(base, head, name: str):
    """The base up to its Flatten (frozen) with the new head on top: one model, 28x28 in."""
    import keras

    layers = list(base.layers)
    flatten = _flatten_index(layers)
    joined = keras.Sequential([keras.Input((28, 28, 1)), *layers[:flatten + 1], *head.layers],
                              name=f"{name}_classifier")
    # Layers of their own (the base's are also the base model's): one graph each, so that
    # the answer check can tap them (training.learn.ood_fit.feature_model).
    model = keras.models.clone_model(joined)
    model.set_weights(joined.get_weights())
    for layer in model.layers[:flatten + 1]:
        layer.trainable = False
    return model


def _head_of(model):
    """The layers after the whole model's Flatten, as a model of their own (the same weights)."""
    return _stack(model, _flatten_index(model.layers) + 1)


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
        "architecture": f"{loaded.metadata.get('architecture') or loaded.model.name} base"
                        f"{' (fine-tuned)' if figures['settings']['fine_tune_steps'] else ''}"
                        " + own head",
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
