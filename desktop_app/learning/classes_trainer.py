"""ClassesTrainer: My samples ▸ Train for a classifier of the user's own classes, as a job.

A run is ``python -m training train --dataset <its samples folder> --out <its model>
--progress json`` in a child process (a ``ChildJob``, as training and teaching): a new head on
the shipped digit model's features, cross-validated (training/learn/own_classes.py). The model
file is written atomically by the child, so the classifier's previous model stays whole until
the new one replaces it; a stop or a failure leaves it as it was.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop_app.jobs.child import ChildJob
from desktop_app.jobs.registry import JobRegistry
from training.core.classifiers import Classifier
from training.protocol.messages import ClassesResult


class ClassesTrainer(QObject):
    """One training child at a time."""

    stateChanged = Signal(bool)   # True when a run starts, False when it has ended
    progress = Signal(object)     # the child's messages (TeachBegin, TeachBatch, FoldEnd, ...)
    finished = Signal(object)     # the ClassesResult
    failed = Signal(str)          # a message for the user (a stop is one too)

    def __init__(self, jobs: JobRegistry, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self._job: ChildJob | None = None

    def is_running(self) -> bool:
        return self._job is not None

    def start(self, classifier: Classifier) -> None:
        if self.is_running():
            return
        args = ["--dataset", classifier.samples, "--out", classifier.model_path,
                "--progress", "json"]
        self._job = job = ChildJob("train", args, "training the classifier", self)
        job.message.connect(self.progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.ended.connect(self._on_ended)
        job.start(self.jobs)
        self.stateChanged.emit(True)

    def request_stop(self) -> None:
        if self._job is not None:
            self._job.request_stop()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        job = self._job
        if job is None:
            return True
        job.stop()
        return job.wait(timeout_ms / 1000)

    def _on_finished(self, result) -> None:
        if not isinstance(result, ClassesResult):  # a stop ends with a TeachResult "stopped"
            self._on_failed("stopped")
            return
        self.finished.emit(result)

    def _on_failed(self, message: str) -> None:
        stopped = self._job is not None and self._job.stop_requested()
        self.failed.emit("Training stopped; the classifier's model is unchanged." if stopped
                         else message)

    def _on_ended(self) -> None:
        if self._job is not None:
            self._job.deleteLater()
        self._job = None
        self.stateChanged.emit(False)
