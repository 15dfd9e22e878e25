"""train(config, progress, should_stop) -> TrainingResult: a plain job function, no threads.

The GUI runs it in a child process (the CLI) and the CLI in its main thread; both only pass
callbacks. ``progress`` receives plain dicts (see ``ProgressReporter``); ``should_stop`` is polled
before every batch (see ``StopGate``), so a stop takes effect within one batch and still returns a
usable, evaluated model.

Precision, XLA, batches per Keras call and threads are the ones measured fastest on this CPU
(training/learn/tuning.py: the first run of a model measures them, later runs read the cache);
without a measurement, estimates from the model's size (small models run many batches per call,
nets without convolutions are compiled by XLA).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from training.core.datasets import Dataset, DatasetError, load_dataset
from training.learn.tuning import estimated_step_seconds
from training.protocol.config import ConfigError, TrainingConfig, check_value

EVAL_BATCH = 1000
HELD_OUT_FALLBACK = 5000  # without a validation split: test pictures that fit the temperature
POLL_SECONDS = 0.002     # at most this much work between two polls of should_stop (a poll
                         # costs ~0.08 ms: ~4 % of that)

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]


@dataclass
class TrainingResult:
    model: object                      # keras.Model
    config: TrainingConfig
    class_names: tuple[str, ...]
    history: dict[str, list[float]]    # loss, accuracy (+ val_loss, val_accuracy) per whole epoch
    status: str                        # "finished" or "stopped"
    epochs_completed: int
    train_seconds: float
    test_loss: float
    test_accuracy: float
    confusion: np.ndarray              # (10, 10) int, rows = true class, columns = predicted
    test_predictions: np.ndarray       # predicted class of every test image
    misclassified: np.ndarray          # indices into the test set
    dataset_source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"

    def metadata(self) -> dict:
        """What store.save_model writes beside the model."""
        return {
            **run_metadata(self.config, self.history, self.status, self.train_seconds,
                           self.class_names),
            "epochs_completed": self.epochs_completed,   # a stop mid-epoch: counted as run
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "confusion": self.confusion.tolist(),
            **({"temperature": self.extra["calibration"]["temperature"],
                "calibration": self.extra["calibration"]} if "calibration" in self.extra else {}),
        }


def train(config: TrainingConfig, progress: ProgressFn | None = None,
          should_stop: StopFn | None = None, dataset: Dataset | None = None) -> TrainingResult:
    """Train ``config`` on its dataset and evaluate on the official test set: ``fit`` then
    ``evaluate`` (the CLI saves the model in between, so a stopped run is kept at once).

    ``dataset`` may be passed in (already loaded) to skip reading the files again.
    """
    progress = progress or (lambda event: None)
    return evaluate(fit(config, progress, should_stop, dataset), progress)


@dataclass
class Fitted:
    """A trained (or stopped) model before its evaluation on the test set."""
    model: object                      # keras.Model
    config: TrainingConfig
    data: Dataset
    x_val: np.ndarray
    y_val: np.ndarray
    history: dict[str, list[float]]
    status: str                        # "finished" or "stopped"
    train_seconds: float
    batches_trained: int = 0           # 0: stopped before the first batch (an untrained model)

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"

    @property
    def epochs_completed(self) -> int:
        return len(self.history["loss"])

    def metadata(self) -> dict:
        """What can be saved before the evaluation: everything but the test figures."""
        return run_metadata(self.config, self.history, self.status, self.train_seconds,
                            self.data.class_names)


def run_metadata(config: TrainingConfig, history: dict, status: str, train_seconds: float,
                 class_names) -> dict:
    """The sidecar fields of a run, measured or not (TrainingResult and Fitted)."""
    return {"dataset": config.dataset, "architecture": config.architecture,
            "config": config.to_dict(), "history": history, "status": status,
            "epochs_completed": len(history.get("loss", [])),
            "train_seconds": round(train_seconds, 2), "class_names": list(class_names)}


def fit(config: TrainingConfig, progress: ProgressFn | None = None,
        should_stop: StopFn | None = None, dataset: Dataset | None = None) -> Fitted:
    """Train ``config`` (until done or stopped); no evaluation on the test set."""
    config.validate()
    progress = progress or (lambda event: None)
    should_stop = should_stop or (lambda: False)

    from training.learn import strategy as distribute

    threads = _apply_threads(config, progress)  # before TensorFlow's first operation
    strategy, replicas = _strategy(config, progress)

    import keras  # slow import: only when training really starts

    from training.learn.augment import train_batches
    from training.learn.callbacks import ProgressReporter, StopGate

    data = _training_data(config, dataset)
    speed = _chosen_speed(config, strategy, threads, progress, should_stop)
    keras.utils.set_random_seed(config.seed)  # after the benchmark's own models
    x_train, y_train, x_val, y_val = _split(data, config)

    steps_per_epoch = train_batches(len(x_train), config.batch_size)
    model, trained = _compiled_model(config, speed, strategy, steps_per_epoch, x_train)
    train_ds, val_ds = _input_pipelines(config, x_train, y_train, x_val, y_val)
    gate = StopGate(should_stop, stop_poll_interval(model, config.batch_size, speed.precision))
    reporter = ProgressReporter(progress, gate, config.epochs, steps_per_epoch)
    callbacks = [reporter]
    if strategy is None:
        train_ds = gate.apply(train_ds)
    else:  # Keras runs one batch per call here, so polling after each batch is as prompt; and
        # an input of unknown length (the gate's) gets an extra, empty step at each epoch's end
        callbacks.insert(0, keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: gate.poll()))
    _warn_of_one_class(y_train, progress)
    progress({"event": "train_begin", "epochs": config.epochs, "steps": steps_per_epoch,
              "train_samples": len(x_train), "val_samples": len(x_val),
              "source": data.source, "steps_per_execution": speed.steps_per_execution,
              "strategy": config.strategy, "replicas": replicas,
              "devices": distribute.describe(strategy), "speed": speed.to_dict()})

    started = time.perf_counter()
    with warnings.catch_warnings():
        # The gate hides the number of batches from Keras, which then finds each epoch's end
        # (or a stop) by running out of data, and says so.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        if strategy is None or gate.poll():  # (the gate polls before the first batch)
            with _no_validation_after(gate, trained):
                trained.fit(train_ds, epochs=config.epochs, validation_data=val_ds, verbose=0,
                            shuffle=False, callbacks=callbacks)
    train_seconds = time.perf_counter() - started
    status = "stopped" if reporter.stopped else "finished"
    if status == "finished" and strategy is None:  # what a whole run trained at: the estimate
        _remember_speed(config, speed, len(x_train) * config.epochs, train_seconds)
    if strategy is not None:
        model = distribute.plain_copy(model)

    return Fitted(model=model, config=config, data=data, x_val=x_val, y_val=y_val,
                  history=reporter.history, status=status, train_seconds=train_seconds,
                  batches_trained=reporter.batches_trained)


def _apply_threads(config: TrainingConfig, progress: ProgressFn) -> tuple[int, int]:
    """Size TensorFlow's thread pools (given, or measured by ``tune``); (intra, inter)."""
    from training.learn import tuning

    threads = tuning.thread_choice(config)
    note = tuning.apply_threads(*threads)
    if note:
        progress({"event": "warning", "message": note})
    return threads


def _chosen_speed(config: TrainingConfig, strategy, threads: tuple[int, int],
                  progress: ProgressFn, should_stop: StopFn):
    """Precision, XLA and batches per call for this CPU (training/learn/tuning.py); not
    measured when a stop has come already (the run will train nothing: seconds saved)."""
    from training.learn import tuning

    def measure(wanted, progress):  # asked only when the speed test would run
        return [] if should_stop() else tuning.measure_trials(wanted, progress)

    return replace(tuning.choose(config, strategy is not None, progress, measure),
                   intra_threads=threads[0], inter_threads=threads[1],
                   onednn=tuning.onednn_in_use())


def _warn_of_one_class(labels: np.ndarray, progress: ProgressFn) -> None:
    classes = np.unique(labels)
    if len(classes) < 2:
        progress({"event": "warning",
                  "message": f"The training images hold only {len(classes)} class: the model "
                             "will answer that class whatever it sees."})


def _remember_speed(config: TrainingConfig, speed, pictures: int, seconds: float) -> None:
    """Keep what this whole run trained at: the panel's estimate of the next run's time (kept
    with DRAW_CLASSIFY_TUNE=0 too: a record, not a measurement; a cache that cannot be written
    costs only that estimate, not worth a warning)."""
    from training.core import speed_cache

    if seconds > 0:
        speed_cache.save_to_cache(speed_cache.machine_key(), speed_cache.record_fit(
            config.architecture, config.batch_size, speed.precision, config.augment, pictures,
            seconds))


def _strategy(config: TrainingConfig, progress: ProgressFn):
    """(the tf.distribute strategy or None, its replicas); made before other TensorFlow work."""
    from training.learn import strategy as distribute

    strategy = distribute.make_strategy(config.strategy)
    replicas = distribute.replicas(strategy)
    check_value(config.batch_size >= replicas, "batch_size",
           f"at least {replicas}: it is the global batch, split across the {replicas} replicas")
    note = distribute.warning(config.strategy, strategy)
    if note:
        progress({"event": "warning", "message": note})
    return strategy, replicas


def _training_data(config: TrainingConfig, dataset: Dataset | None) -> Dataset:
    data = dataset or load_dataset(config.dataset, config.data_dir)
    if len(data.x_test) == 0 or len(data.x_train) == 0:
        raise DatasetError(f"{data.info.title} from {data.source or 'memory'} has "
                           f"{len(data.x_train)} training and {len(data.x_test)} test images; "
                           "both are needed.")
    return data


def _compiled_model(config: TrainingConfig, speed, strategy, steps_per_epoch: int,
                    x_train: np.ndarray):
    """(the model, the one to ``fit``), both compiled with the settings chosen for this CPU
    (``tuning.Speed``). The second is ``models.training_twin``: the same function on the same
    variables, faster to train (a strided convolution and its pooling in one), so fitting it
    trains the first; without a twin (or under a distribution strategy) the model itself.
    An architecture of ``models.FROZEN_FIRST_CONV`` gets its first convolution from the
    training pictures ``x_train``, frozen (``models.whiten_first_conv``)."""
    import keras

    from training.learn import strategy as distribute
    from training.learn.models import (
        FROZEN_FIRST_CONV, build_model, training_twin, whiten_first_conv)

    with distribute.scope(strategy):  # the model's and the optimizer's variables: mirrored
        model = build_model(config.architecture, config.dropout, precision=speed.precision)
        if config.architecture in FROZEN_FIRST_CONV:
            whiten_first_conv(model, x_train)
        trained = model if strategy is not None else training_twin(model)
        smoothing = config.label_smoothing
        optimizer = _optimizer(config, steps_per_epoch * config.epochs)
        for each in {id(model): model, id(trained): trained}.values():
            each.compile(optimizer=optimizer,
                         loss=(keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
                               if smoothing else "sparse_categorical_crossentropy"),
                         metrics=["accuracy"], steps_per_execution=speed.steps_per_execution,
                         jit_compile=speed.jit_compile)
            _evaluate_without_xla(each)
    return model, trained


def _evaluate_without_xla(model) -> None:
    """XLA for the training steps only. Evaluating and predicting (the validation split each
    epoch, then the test set) are light, and XLA compiles them again for each batch shape: ~1 s
    a shape on a 2-core Zen 1, three of a dense run's five compilations. Keras keeps the
    functions made here; the model still says ``jit_compile``, as its training did."""
    if not model.jit_compile:
        return
    model.jit_compile = False
    model.make_test_function()
    model.make_predict_function()
    model.jit_compile = True


def _input_pipelines(config: TrainingConfig, x_train, y_train, x_val, y_val):
    """(the augmented training tf.data, the validation one or None)."""
    from training.learn.augment import make_eval_dataset, make_train_dataset

    train_ds = make_train_dataset(x_train, y_train, config.batch_size, config.seed,
                                  config.dataset if config.augment else None)
    val_ds = make_eval_dataset(x_val, y_val) if len(x_val) else None
    if config.label_smoothing:  # the smoothed loss takes one-hot labels
        train_ds, val_ds = (None if ds is None else ds.map(_one_hot) for ds in (train_ds, val_ds))
    return train_ds, val_ds


def evaluate(fitted: Fitted, progress: ProgressFn | None = None) -> TrainingResult:
    """The fitted model on the official test set, and its temperature on the validation split
    (when there is one): ``evaluate_begin`` ... ``train_end``."""
    progress = progress or (lambda event: None)
    model, data, config, status = fitted.model, fitted.data, fitted.config, fitted.status
    x_val, y_val = fitted.x_val, fitted.y_val
    progress({"event": "evaluate_begin", "samples": len(data.x_test)})
    probabilities = predict_probabilities(model, data.x_test)
    predictions = probabilities.argmax(axis=1)
    picked = probabilities[np.arange(len(predictions)), data.y_test]
    if not np.all(np.isfinite(probabilities)):
        raise ConfigError("the trained model's output is not a number (NaN): the training "
                          "diverged; try a smaller learning rate")
    # load_dataset refuses an empty test set, so these are real numbers
    test_loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    test_accuracy = float(np.mean(predictions == data.y_test))
    result = TrainingResult(
        model=model, config=config, class_names=data.class_names, history=fitted.history,
        status=status, epochs_completed=fitted.epochs_completed,
        train_seconds=fitted.train_seconds, test_loss=test_loss, test_accuracy=test_accuracy,
        confusion=confusion_matrix(data.y_test, predictions),
        test_predictions=predictions.astype(np.uint8),
        misclassified=np.flatnonzero(predictions != data.y_test),
        dataset_source=data.source,
        extra=_calibration(model, x_val, y_val, probabilities, data.y_test),
    )
    progress({"event": "train_end", "status": status, "test_accuracy": test_accuracy,
              "test_loss": test_loss, "epochs_completed": result.epochs_completed,
              "train_seconds": fitted.train_seconds})
    return result


def _calibration(model, x_val, y_val, test_probabilities, y_test) -> dict:
    """{"calibration": ...}: the temperature fitted on the validation split, with the ECE and
    reliability before / after on the test set (training.runtime.calibration). Without a split (or a
    diverged one), the first half of the official test set (at most ``HELD_OUT_FALLBACK``
    pictures, as ``confidence.held_out_split``) is the fitting set and the rest the measuring
    one: every trained model gets a temperature (issue #20). {} with fewer than 2 test pictures.
    """
    from training.runtime.calibration import calibrate

    if len(x_val):
        val_probabilities = predict_probabilities(model, x_val)
        if np.all(np.isfinite(val_probabilities)):
            return {"calibration": calibrate(val_probabilities, y_val, test_probabilities,
                                             y_test)}
    half = min(HELD_OUT_FALLBACK, len(y_test) // 2)
    if half < 1:
        return {}
    return {"calibration": calibrate(
        test_probabilities[:half], y_test[:half], test_probabilities[half:], y_test[half:],
        f"first {half:,} official test images", f"last {len(y_test) - half:,} official test images")}


def predict_probabilities(model, images: np.ndarray) -> np.ndarray:
    """Probabilities for uint8 (n, 28, 28) images, in large batches (evaluation, not the canvas)."""
    from training.learn.augment import to_float

    out = [np.asarray(model.predict_on_batch(to_float(images[i:i + EVAL_BATCH])))
           for i in range(0, len(images), EVAL_BATCH)]
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    pairs = true.astype(np.int64) * classes + predicted.astype(np.int64)
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def stop_poll_interval(model, batch_size: int, precision: str = "float32") -> int:
    """Poll should_stop before every n-th batch: every batch unless they take under 2 ms."""
    return int(max(1, POLL_SECONDS // estimated_step_seconds(model, batch_size, precision)))


@contextlib.contextmanager
def _no_validation_after(gate, model):
    """Keras still validates at the end of the epoch a stop cuts short; in the first epoch that
    builds the test step (1.5-2.6 s after the stop on this CPU, quick MNIST) for figures nobody
    keeps (a partial epoch is not recorded). Skipped through Keras's own per-epoch check
    (``Trainer._should_eval``, private: without it validation simply runs as before)."""
    should_eval = getattr(model, "_should_eval", None)
    if should_eval is not None:
        model._should_eval = lambda epoch, freq: not gate.stopped and should_eval(epoch, freq)
    try:
        yield
    finally:
        model.__dict__.pop("_should_eval", None)


def _one_hot(images, labels):
    import tensorflow as tf

    return images, tf.one_hot(tf.cast(labels, tf.int32), 10)


def _split(data: Dataset, config: TrainingConfig):
    """Shuffle once with the seed, then hold out the validation fraction."""
    order = np.random.default_rng(config.seed).permutation(len(data.x_train))
    n_val = int(round(len(order) * config.validation_split))
    if len(order) - n_val < 1:
        raise ConfigError(f"only {len(order)} training images: nothing left to train on after "
                          f"holding out {config.validation_split:.0%} for validation")
    val, train_idx = order[:n_val], order[n_val:]
    return data.x_train[train_idx], data.y_train[train_idx], data.x_train[val], data.y_train[val]


def _optimizer(config: TrainingConfig, total_steps: int):
    import keras

    lr = config.learning_rate
    if config.lr_schedule == "cosine":
        warmup = max(1, int(0.1 * total_steps))  # a short ramp keeps large rates stable
        lr = keras.optimizers.schedules.CosineDecay(
            lr / 10, max(1, total_steps - warmup), alpha=0.01,
            warmup_target=config.learning_rate, warmup_steps=warmup)
    elif config.lr_schedule == "onecycle":  # up for a quarter of the run, then down to zero
        warmup = max(1, int(0.25 * total_steps))
        lr = keras.optimizers.schedules.CosineDecay(
            lr / 25, max(1, total_steps - warmup), alpha=0.0,
            warmup_target=config.learning_rate, warmup_steps=warmup)
    options = dict(use_ema=True, ema_momentum=config.ema) if config.ema else {}
    if config.weight_decay:  # Keras decays decoupled from the gradient: Adam becomes AdamW
        options["weight_decay"] = config.weight_decay
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, **options)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, **options)
    return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, **options)
