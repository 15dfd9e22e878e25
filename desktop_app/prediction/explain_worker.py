"""Explainer: the saliency heat map of the live drawing, in the "explainer" LatestJob's thread.

It has its own thread and its own LiteRT interpreter, apart from the canvas's inference: a map
costs ~60-150 forward passes (5-10 ms here, plus ~4 ms to carry it onto the canvas), and were
it computed in the inference thread, the next stroke's probabilities would wait for it. The
PredictionController's job keeps at most one map in flight, starts one at most every 50 ms and
computes only the newest drawing: the map trails the stroke by some 50-100 ms and takes a small
share of the CPU. (Not a lower thread priority: a thread that holds the GIL must not wait for
the CPU while the GUI thread waits for the GIL.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage

from desktop_app.prediction.saliency_overlay import canvas_overlay, to_qimage
from training.runtime.explain import explain
from training.runtime.model_cache import ModelCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainRequest:
    seq: int
    dataset: str
    runnable: str            # the .tflite of the canvas's model
    input: np.ndarray        # the 28x28 model input
    placement: object        # where the picture lies in it
    grey: np.ndarray         # the picture
    label: int
    changed_at: float        # when the drawing changed (perf_counter): the map's lag


@dataclass(frozen=True)
class Saliency:
    seq: int
    dataset: str
    changed_at: float
    label: int | None = None
    saliency: np.ndarray | None = None   # 28x28
    overlay: QImage | None = None        # over the picture
    error: str | None = None


class Explainer:
    def __init__(self):
        self._models = ModelCache()

    def compute(self, request: ExplainRequest) -> Saliency:
        done = {"seq": request.seq, "dataset": request.dataset, "changed_at": request.changed_at}
        try:
            model = self._models.get(request.runnable)
            found = explain(request.input, model.predict_batch, request.label)
            overlay = to_qimage(canvas_overlay(found.saliency, request.placement, request.grey))
        except Exception as exc:  # noqa: BLE001 - no map this time; the drawing goes on
            log.exception("the saliency could not be computed")
            return Saliency(**done, error=str(exc) or type(exc).__name__)
        return Saliency(**done, label=found.label, saliency=found.saliency, overlay=overlay)
