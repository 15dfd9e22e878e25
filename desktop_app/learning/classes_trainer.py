"""ClassesTrainer: My samples ▸ Train for a classifier of the user's own classes, as a job.

A run is ``python -m training train --dataset <its samples folder> --out <its model>
--progress json`` in a child process (a ``ChildJob``, as training and teaching): a new head on
the shipped digit model's features, cross-validated (training/learn/own_classes.py). The model
file is written atomically by the child, so the classifier's previous model stays whole until
the new one replaces it; a stop or a failure leaves it as it was.
"""

from __future__ import annotations

from desktop_app.jobs.child import OneChild
from training.core.classifiers import Classifier
from training.protocol.messages import ClassesResult

FINE_TUNE_STEPS = 200   # "Fine-tune the base too": train --fine-tune's steps


class ClassesTrainer(OneChild):
    """One training child at a time; ``finished`` carries its ClassesResult."""

    def start(self, classifier: Classifier, fine_tune: bool = False) -> None:
        """Train the classifier's model; ``fine_tune``: its base's last convolutions too."""
        if not self.is_running():
            tune = ["--fine-tune", str(FINE_TUNE_STEPS)] if fine_tune else []
            self._start_child("train", ["--dataset", classifier.samples, "--out",
                                        classifier.model_path, *tune, "--progress", "json"],
                              "training the classifier")

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        return self._stop_child(timeout_ms)

    def _on_finished(self, result) -> None:
        if not isinstance(result, ClassesResult):  # a stop ends with a TeachResult "stopped"
            self._on_failed("stopped")
            return
        self.finished.emit(result)

    def _on_failed(self, message: str) -> None:
        self.failed.emit("Training stopped; the classifier's model is unchanged."
                         if self._stopped_by_user() else message)
