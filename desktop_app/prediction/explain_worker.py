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

from desktop_app.prediction.requests import ExplainRequest, Saliency
from desktop_app.prediction.saliency_overlay import canvas_overlay, to_qimage
from training.runtime.explain import explain
from training.runtime.model_cache import ModelCache

log = logging.getLogger(__name__)


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
