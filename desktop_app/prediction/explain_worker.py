"""ExplainWorker: the saliency heat map of the live drawing, in its own thread.

It has its own thread and its own LiteRT interpreter, apart from the InferenceWorker: a map
costs ~60-150 forward passes (5-10 ms here, plus ~4 ms to carry it onto the canvas), and were
it computed in the inference thread, the next stroke's probabilities would wait for it. The
PredictionController keeps at most one request in flight, starts one at most every 50 ms and
sends only the newest drawing: the map trails the stroke by some 50-100 ms and takes a small
share of the CPU. (Not a lower thread priority: a thread that holds the GIL must not wait for
the CPU while the GUI thread waits for the GIL.)
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.prediction.saliency_overlay import canvas_overlay, to_qimage
from training.runtime.explain import explain

log = logging.getLogger(__name__)


class ExplainWorker(QObject):
    explained = Signal(dict)  # the request's "seq", "dataset", "changed_at" + "label",
    #                           "saliency" (28x28), "overlay" (QImage over "grey"), or "error"

    def __init__(self):
        super().__init__()
        self._models: dict[str, object] = {}  # .tflite path -> LiteModel

    @Slot(dict)
    def explain(self, request: dict) -> None:
        """request: {"seq", "dataset", "runnable": .tflite path, "input": 28x28 model input,
        "placement": where the picture lies in it, "grey": the picture, "label",
        "changed_at"}."""
        reply = {key: request.get(key) for key in ("seq", "dataset", "changed_at")}
        try:
            model = self._model(request["runnable"])
            found = explain(request["input"], model.predict_batch, request.get("label"))
            overlay = to_qimage(canvas_overlay(found.saliency, request["placement"],
                                               request["grey"]))
        except Exception as exc:  # noqa: BLE001 - no map this time; the drawing goes on
            log.exception("the saliency could not be computed")
            reply["error"] = str(exc) or type(exc).__name__
        else:
            reply.update(label=found.label, saliency=found.saliency, overlay=overlay)
        self.explained.emit(reply)

    def _model(self, path: str):
        from training.runtime.lite import LiteModel

        if path not in self._models:
            if len(self._models) >= 4:  # models the user has since left
                self._models.clear()
            self._models[path] = LiteModel(path)
        return self._models[path]
