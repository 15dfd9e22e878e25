"""The answer of the model just trained to one of its misclassified test pictures, from a thread
of its own: building a LiteRT interpreter takes tens of milliseconds (more for a big model), too
long for the GUI thread, which only sends the request and shows the reply."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, Signal

from desktop_app.jobs.threads import start_worker, stop_thread

log = logging.getLogger(__name__)


class _Answerer(QObject):
    answered = Signal(dict)   # the request's "id" + "probabilities", "verdict"
    failed = Signal(dict)     # the request's "id"

    def __init__(self):
        super().__init__()
        self._model = None    # (tflite path, LiteModel): the last one asked, built once

    def answer(self, request: dict) -> None:
        """request: {"id", "tflite": path, "image": uint8 28x28 dataset picture}."""
        from training.runtime.answer_check import AnswerCheck
        from training.runtime.lite import LiteModel

        try:
            if self._model is None or self._model[0] != request["tflite"]:
                self._model = (request["tflite"], LiteModel(request["tflite"]))
            probabilities = np.asarray(
                self._model[1].predict(np.asarray(request["image"], np.float32) / 255),
                np.float32)
        except Exception:  # noqa: BLE001 - then the canvas's own model answers, as usual
            log.exception("the trained model could not classify the picture")
            self.failed.emit({"id": request["id"]})
            return
        # Another model's raw answer for one picture: the plain "Not sure" cut of a model
        # without calibration (AnswerCheck's), no out-of-distribution check.
        self.answered.emit({"id": request["id"], "probabilities": probabilities,
                            "verdict": AnswerCheck().verdict(probabilities, None)})


class TrainedModelAnswers(QObject):
    """GUI side: ``ask(request)``, then ``answered`` or ``failed`` with the request's id. The
    thread starts on the first request (most sessions never make one)."""

    answered = Signal(dict)
    failed = Signal(dict)
    _ask = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thread = None
        self._worker = None   # kept here: a parentless QObject lives as long as its wrapper

    def ask(self, request: dict) -> None:
        if self._thread is None:
            self._worker = _Answerer()
            self._worker.answered.connect(self.answered)
            self._worker.failed.connect(self.failed)
            self._ask.connect(self._worker.answer)
            self._thread = start_worker(self._worker, "trained-model-answer")
        self._ask.emit(request)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        return stop_thread(self._thread, timeout_ms)
