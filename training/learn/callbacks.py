"""Stop requests and progress for ``model.fit``, per batch even when one call runs many batches.

Small models run several batches per call (``steps_per_execution``) to shed Keras's per-step
overhead. A callback only runs between calls, so the stop request is polled inside the input
pipeline instead: ``StopGate`` ends the batch stream as soon as ``should_stop()`` says so, which
ends the running call after the batch in progress. Progress is reported between calls, throttled
to ``PROGRESS_INTERVAL``; calls are sized to last about that long.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

PROGRESS_INTERVAL = 0.05  # seconds between two batch events: enough for a 10-20 fps progress bar


class StopGate:
    """Polls ``should_stop()`` before every ``every``-th training batch, from inside tf.data.

    ``apply(ds)`` returns ``ds`` ending at the first stop request. The predicate runs when the
    training loop takes the next batch (the last stage of the pipeline, after the prefetch), i.e.
    after the previous batch's step has finished, so no batch starts after a stop is seen.
    Polling costs a call into Python (~0.08 ms): tiny steps (the dense net's take ~0.3 ms) poll
    every few batches, about 2 ms apart, bigger ones before every batch.
    The poll runs on a TensorFlow thread while the Python caller waits inside the call:
    ``should_stop`` must be thread-safe (a flag read is).
    """

    def __init__(self, should_stop, every: int = 1):
        self.should_stop = should_stop
        self.every = max(1, int(every))
        self.stopped = False

    def poll(self) -> np.bool_:
        """True: go on."""
        if not self.stopped and self.should_stop():
            self.stopped = True
        return np.bool_(not self.stopped)

    def apply(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        def ask():
            return tf.ensure_shape(tf.numpy_function(self.poll, [], tf.bool, stateful=True), [])

        if self.every == 1:
            return dataset.take_while(lambda *_batch: ask())
        every = tf.constant(self.every, tf.int64)
        return (dataset.enumerate()
                .take_while(lambda i, _batch: tf.cond(i % every == 0, ask,
                                                      lambda: tf.constant(True)))
                .map(lambda i, batch: batch))


class ProgressReporter(keras.callbacks.Callback):
    """Turns Keras callbacks into progress dicts; ends training once ``gate`` has stopped."""

    def __init__(self, progress, gate: StopGate, epochs, steps):
        super().__init__()
        self.progress, self.gate = progress, gate
        self.epochs, self.steps = epochs, steps
        self.history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        self._epoch = 0
        self.batches_trained = 0
        self._last_report = 0.0
        self._started = self._epoch_started = time.perf_counter()

    @property
    def stopped(self) -> bool:
        return self.gate.stopped

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # Keras numbers a call by its last step; the last call of an epoch may run fewer.
        done = min(self.steps, batch + 1)
        self.batches_trained = self._epoch * self.steps + done  # a call ends trained, stop or not
        if self.stopped:
            self.model.stop_training = True
            return
        now = time.perf_counter()
        if now - self._last_report < PROGRESS_INTERVAL and done < self.steps:
            return  # keep per-call work tiny: no tensor reads between reports
        self._last_report = now
        remaining = self.epochs * self.steps - self.batches_trained
        self.progress({
            "event": "batch", "epoch": self._epoch + 1, "epochs": self.epochs,
            "batch": done, "steps": self.steps,
            "loss": float(logs["loss"]), "accuracy": float(logs["accuracy"]),
            "eta_seconds": (now - self._started) / self.batches_trained * remaining,
        })

    def on_test_batch_end(self, batch, logs=None):
        if self.stopped:
            self.model.stop_evaluating = True  # skip the rest of validation after a stop

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            self.model.stop_training = True  # the stop may have come between two calls
            return  # a partial epoch is not an epoch: keep the history honest
        logs = logs or {}
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        values = {key: float(logs[key]) for key in keys if key in logs}
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        self.progress({"event": "epoch", "epoch": epoch + 1, "epochs": self.epochs,
                       "seconds": time.perf_counter() - self._epoch_started, **values})
