"""TeachController: "Teach it my handwriting" as a job, without widgets.

A teaching run is ``python -m training teach ... --progress json`` in a child process (the same
``ChildProcessWorker`` as training): it fine-tunes the model in use on the personal samples with
a replay of the training set, measures before -> after (official test set; the samples held out
by cross-validation) and saves the taught model into the user's models folder. Until the user
keeps it, that model is a candidate: ``discard`` removes its files (``.keras``, ``.tflite``,
sidecar), and so does a run that is stopped, fails or is cut short by closing the window.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
from pathlib import Path

from PySide6.QtCore import QMetaObject, QObject, Qt, Signal, Slot

from desktop_app.jobs.child_process import ChildProcessWorker
from desktop_app.jobs.threads import start_worker, stop_thread
from training.core.paths import models_dir
from training.modelfile.sidecar import sidecar_path, tflite_path

log = logging.getLogger(__name__)


def taught_model_path(dataset: str) -> Path:
    """``<home>/models/<dataset>-taught-<time>.keras``, a name no other model has."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = models_dir() / f"{dataset}-taught-{stamp}.keras", 1
    while path.exists():
        n += 1
        path = models_dir() / f"{dataset}-taught-{stamp}-{n}.keras"
    return path


def remove_model_files(path: str | Path) -> None:
    """A model's ``.keras``, its ``.tflite`` twin, its sidecar and its out-of-distribution
    check's two files (whichever exist)."""
    from training.modelfile.sidecar import features_path, stats_path

    path = Path(path)
    for file in (path, tflite_path(path), sidecar_path(path), features_path(path),
                 stats_path(path)):
        with contextlib.suppress(OSError):
            file.unlink()


class TeachController(QObject):
    """One teaching child at a time; its result is a candidate until kept or discarded."""

    stateChanged = Signal(bool)   # True when a run starts, False when it has ended
    progress = Signal(dict)       # the child's events (teach_begin, batch, fold_end, ...)
    finished = Signal(object)     # the result: figures and "path" of the taught model
    failed = Signal(str)          # a message for the user (a stop is a message too)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._worker: ChildProcessWorker | None = None
        self._thread = None
        self._out: Path | None = None
        self._candidate: dict | None = None
        self.extra_args: list[str] = []   # more CLI options (e.g. --steps) for every run

    def is_running(self) -> bool:
        return self._thread is not None

    def candidate(self) -> dict | None:
        """The last run's result while the user has neither kept nor discarded it."""
        return self._candidate

    def start(self, base_model: str, dataset: str, data_dir: str = "",
              samples: str | None = None) -> None:
        if self.is_running():
            return
        self.discard()  # an earlier candidate nobody kept
        self._out = taught_model_path(dataset)
        args = ["teach", "--model", str(base_model), "--dataset", dataset,
                "--out", str(self._out), "--progress", "json"]
        if data_dir:
            args += ["--data-dir", data_dir]
        if samples:
            args += ["--samples", samples]
        args += self.extra_args
        self._worker = ChildProcessWorker(args, what="teaching")
        self._worker.progress.connect(self.progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._thread = start_worker(self._worker, "teaching")
        self._thread.finished.connect(self._on_thread_finished)
        QMetaObject.invokeMethod(self._worker, "run", Qt.ConnectionType.QueuedConnection)
        self.stateChanged.emit(True)

    def request_stop(self) -> None:
        if self._worker is not None:
            self._worker.request_stop()

    def keep(self) -> str | None:
        """The user keeps the candidate: its path (it is no longer removed)."""
        candidate, self._candidate = self._candidate, None
        return candidate.get("path") if candidate else None

    def discard(self) -> None:
        candidate, self._candidate = self._candidate, None
        if candidate and candidate.get("path"):
            remove_model_files(candidate["path"])

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """End the child (terminate, kill after 1 s) and the thread; an unkept model goes."""
        worker = self._worker
        if worker is not None:
            worker.abort()
        ok = stop_thread(self._thread, timeout_ms)
        self.discard()
        if worker is not None and self._out is not None:
            remove_model_files(self._out)  # cut short: whatever it saved is no one's model
        return ok

    # -- from the worker thread (queued)
    @Slot(object)
    def _on_finished(self, result: dict) -> None:
        if result.get("status") != "finished" or not result.get("path"):  # stopped: no model
            self._on_failed("stopped")
            return
        self._candidate = result
        self._out = None  # from now on the candidate owns the files
        self.finished.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._out is not None:
            remove_model_files(self._out)
        stopped = self._worker is not None and self._worker.stop_requested()
        self.failed.emit("Teaching stopped; the model in use is unchanged." if stopped
                         else message)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._worker = None
        self._thread = None
        self.stateChanged.emit(False)
