"""The answer of the model just trained to one of its misclassified test pictures, computed by
a LatestJob (building a LiteRT interpreter takes tens of milliseconds, more for a big model: too
long for the GUI thread, which only asks and shows the reply)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from training.runtime.answer_check import AnswerCheck
from training.runtime.model_cache import ModelCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedAnswerRequest:
    id: int              # the pinned answer it is for
    tflite: str          # the model just trained, as LiteRT runs it
    image: np.ndarray    # uint8 28x28 dataset picture


@dataclass(frozen=True)
class TrainedAnswer:
    id: int
    probabilities: np.ndarray | None   # None: the model could not answer
    verdict: str | None = None


class TrainedAnswerer:
    """``compute`` runs in the job's thread: the model is built once per file."""

    def __init__(self):
        self._models = ModelCache(size=1)

    def compute(self, request: TrainedAnswerRequest) -> TrainedAnswer:
        try:
            model = self._models.get(request.tflite)
            probabilities = np.asarray(
                model.predict(np.asarray(request.image, np.float32) / 255), np.float32)
        except Exception:  # noqa: BLE001 - then the canvas's own model answers, as usual
            log.exception("the trained model could not classify the picture")
            return TrainedAnswer(request.id, None)
        # Another model's raw answer for one picture: the plain "Not sure" cut of a model
        # without calibration (AnswerCheck's), no out-of-distribution check.
        return TrainedAnswer(request.id, probabilities,
                             AnswerCheck().verdict(probabilities, None))
