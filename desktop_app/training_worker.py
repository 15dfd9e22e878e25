"""Qt adapters for the training job: they live in a worker QThread and turn callbacks into signals.

``training.train`` knows nothing of Qt. ``TrainingWorker.run()`` calls it with a progress callback
that emits plain dicts and a stop flag (a ``threading.Event``) the UI thread sets directly, so a
stop works while ``run()`` is busy in the worker thread. TensorFlow is imported only inside
``run()``: constructing a worker, like starting the app, stays free of TF.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from .threads import import_tensorflow, tf_graph_lock

log = logging.getLogger(__name__)

BATCH_INTERVAL = 0.1        # seconds between two batch signals: at most 10 UI updates a second
GALLERY_LIMIT = 60          # misclassified test images handed to the results view

MEMORY_MESSAGE = ("Training ran out of memory. Try a smaller batch size or a smaller model; "
                  "the previous model is still in use.")


class _Aborted(Exception):
    """Raised inside the job when the app is closing: skip the final evaluation."""


class TrainingWorker(QObject):
    """Runs ``training.train(config)`` once; emits ``finished(TrainingResult)`` or ``failed(str)``.

    After ``finished``/``failed`` the worker quits its own thread, so the thread ends even when
    the UI thread is blocked in ``QThread.wait()`` (closing the app).
    """

    progress = Signal(dict)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, config, dataset=None):
        super().__init__()
        self._config = config
        self._dataset = dataset
        self._stop = threading.Event()
        self._holding = False  # whether this worker holds tf_graph_lock
        self._abort = threading.Event()
        self._last_batch = 0.0

    # -- called from the UI thread (plain methods, not slots: run() blocks this object's thread)
    def request_stop(self) -> None:
        """Stop after the current batch; the run still evaluates and reports a usable model."""
        self._stop.set()

    def abort(self) -> None:
        """Stop as fast as possible and skip the final evaluation (the app is closing)."""
        self._abort.set()
        self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # -- worker thread
    @Slot()
    def run(self) -> None:
        try:
            result = self._train()
        except _Aborted:
            self.failed.emit("Training was cancelled.")
        except MemoryError:
            log.exception("training ran out of memory")
            self.failed.emit(MEMORY_MESSAGE)
        except Exception as exc:  # noqa: BLE001 - every failure must reach the user as a message
            self.failed.emit(self._message(exc))
        else:
            self.finished.emit(result)
        finally:
            self._dataset = None
            _quit_worker_thread()

    def _train(self):
        from training.datasets import load_dataset
        from training.trainer import train

        import_tensorflow()  # first, and serialised: TF's import deadlocks in two threads at once
        if self._abort.is_set():
            raise _Aborted
        data = self._dataset or load_dataset(self._config.dataset, self._config.data_dir,
                                             progress=self._on_progress)
        if self._abort.is_set():
            raise _Aborted
        self._hold_graph_lock(True)  # building the model and tracing its first step
        try:
            result = train(self._config, self._on_progress, self._stop.is_set, dataset=data)
        finally:
            self._hold_graph_lock(False)
        # The test images themselves are not in the result: attach the first mistakes for the
        # gallery (copies, so the whole test set is not kept alive by the UI).
        picked = result.misclassified[:GALLERY_LIMIT]
        result.extra["misclassified_images"] = np.array(data.x_test[picked])
        result.extra["misclassified_true"] = np.array(data.y_test[picked])
        result.extra["misclassified_predicted"] = np.array(result.test_predictions[picked])
        return result

    def _hold_graph_lock(self, hold: bool) -> None:
        """Hold tf_graph_lock only while TensorFlow builds or traces (see threads.py): from the
        start to the first batch, over the first validation, and for the final evaluation;
        not during the steady training steps, so other models can load meanwhile."""
        if hold and not self._holding:
            tf_graph_lock.acquire()
            self._holding = True
        elif not hold and self._holding:
            tf_graph_lock.release()
            self._holding = False

    def _on_progress(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "batch":
            first_epoch_end = event["epoch"] == 1 and event["batch"] == event["steps"]
            self._hold_graph_lock(first_epoch_end)  # validation is traced after epoch 1
        elif kind in ("epoch", "train_end"):
            self._hold_graph_lock(False)
        elif kind == "evaluate_begin":
            self._hold_graph_lock(True)
        if self._abort.is_set() and kind in ("train_begin", "evaluate_begin"):
            raise _Aborted
        if kind in ("batch", "download"):
            now = time.monotonic()
            finished_file = kind == "download" and event["done"] == event["total"]
            if now - self._last_batch < BATCH_INTERVAL and not finished_file:
                return
            self._last_batch = now
        self.progress.emit(dict(event))

    @staticmethod
    def _message(exc: Exception) -> str:
        from training.datasets import DatasetError
        from training.trainer import ConfigError

        if isinstance(exc, (DatasetError, ConfigError)):
            return str(exc)  # already written for users: where it looked, what to change
        log.error("training failed", exc_info=exc)
        if type(exc).__name__ == "ResourceExhaustedError":  # TensorFlow's out-of-memory error
            return MEMORY_MESSAGE
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return (f"Training failed: {type(exc).__name__}"
                + (f": {detail}" if detail else "")
                + ". The previous model is still in use; see the log for details.")


class SummaryWorker(QObject):
    """Builds a model in the background to describe it: ``done(key, text)``.

    Building a Keras model imports TensorFlow (seconds), which must never block the UI thread.
    """

    done = Signal(object, str)

    def __init__(self, key, architecture: str, dropout: float):
        super().__init__()
        self._key = key
        self._architecture = architecture
        self._dropout = dropout

    @Slot()
    def run(self) -> None:
        try:
            import_tensorflow()
            with tf_graph_lock:
                text = model_summary(self._architecture, self._dropout)
        except Exception as exc:  # noqa: BLE001 - a summary is informative only
            log.error("model summary failed", exc_info=exc)
            text = f"(no summary: {type(exc).__name__}: {exc})"
        self.done.emit(self._key, text)
        _quit_worker_thread()


def _quit_worker_thread() -> None:
    """End the event loop of the worker thread we run in (never the app's main thread, where
    run() is called directly by benchmarks or scripts)."""
    app = QCoreApplication.instance()
    thread = QThread.currentThread()
    if app is None or thread is not app.thread():
        thread.quit()


def model_summary(architecture: str, dropout: float) -> str:
    """Layers, output shapes and parameter counts as a narrow plain-text table (Keras's own
    summary draws box characters too wide for a side panel)."""
    from training.models import build_model

    model = build_model(architecture, dropout)
    rows = [("Layer", "Output shape", "Parameters")]
    for layer in model.layers:
        shape = tuple(layer.output.shape)[1:]
        rows.append((type(layer).__name__, str(shape).replace(",)", ")"),
                     f"{layer.count_params():,}"))
    lines = [f"{model.name}"] + [f"{a:<14} {b:<14} {c:>10}" for a, b, c in rows]
    lines.insert(2, "-" * 40)
    lines.append("-" * 40)
    lines.append(f"Total parameters: {model.count_params():,}")
    return "\n".join(lines)
