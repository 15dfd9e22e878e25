"""Keras callback that turns training into progress dicts and honours a stop request per batch."""

from __future__ import annotations

import time

import keras

PROGRESS_INTERVAL = 0.05  # seconds between two batch events: enough for a 10-20 fps progress bar


class ProgressReporter(keras.callbacks.Callback):
    """Turns Keras callbacks into progress dicts and polls should_stop after every batch."""

    def __init__(self, progress, should_stop, epochs, steps):
        super().__init__()
        self.progress, self.should_stop = progress, should_stop
        self.epochs, self.steps = epochs, steps
        self.history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        self.stopped = False
        self._epoch = 0
        self._last_report = 0.0
        self._started = self._epoch_started = time.perf_counter()

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.should_stop():
            self.stopped = True
            self.model.stop_training = True
        now = time.perf_counter()
        done = batch + 1
        if now - self._last_report < PROGRESS_INTERVAL and done < self.steps:
            return  # keep per-batch work tiny: no tensor reads between reports
        self._last_report = now
        batches_done = self._epoch * self.steps + done
        remaining = self.epochs * self.steps - batches_done
        self.progress({
            "event": "batch", "epoch": self._epoch + 1, "epochs": self.epochs,
            "batch": done, "steps": self.steps,
            "loss": float(logs["loss"]), "accuracy": float(logs["accuracy"]),
            "eta_seconds": (now - self._started) / batches_done * remaining,
        })

    def on_test_batch_end(self, batch, logs=None):
        if self.stopped:
            self.model.stop_evaluating = True  # skip the rest of validation after a stop

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            return  # a partial epoch is not an epoch: keep the history honest
        logs = logs or {}
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        values = {key: float(logs[key]) for key in keys if key in logs}
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        self.progress({"event": "epoch", "epoch": epoch + 1, "epochs": self.epochs,
                       "seconds": time.perf_counter() - self._epoch_started, **values})
