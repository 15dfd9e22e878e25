"""InferenceWorker: loads models and classifies pictures in its own thread.

TensorFlow is imported here, in the worker thread, the first time a model loads: the window is
already on screen by then. Every model this worker loads or adopts is used only in this thread.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from training.datasets import DATASETS
from training.preprocess import BlankPictureError, to_model_input

from .threads import import_tensorflow, tf_graph_lock

log = logging.getLogger(__name__)


def model_info(path, metadata: dict, dataset: str, shipped: bool) -> dict:
    """Plain description of a model for the UI (no Keras objects)."""
    names = metadata.get("class_names") or list(DATASETS[dataset].class_names)
    return {
        "dataset": dataset,
        "path": str(path) if path else "",
        "name": metadata.get("display_name") or (path.stem if path else "trained model"),
        "architecture": metadata.get("architecture", "unknown architecture"),
        "test_accuracy": metadata.get("test_accuracy"),
        "class_names": list(names),
        "shipped": shipped,
        "metadata": metadata,
    }


class InferenceWorker(QObject):
    modelLoaded = Signal(dict)     # model_info(...)
    modelFailed = Signal(dict)     # {"dataset", "path", "message"}
    classified = Signal(dict)      # {"seq", "dataset", "blank"?, "input"?, "probabilities"?}

    def __init__(self):
        super().__init__()
        self._predictors: dict[str, object] = {}  # dataset -> Predictor

    @Slot(dict)
    def load_model(self, request: dict) -> None:
        """request: {"path": str ("" = shipped model of "dataset"), "dataset": hint}."""
        try:
            import_tensorflow()
            from training.predictor import Predictor
            from training.store import load_model, shipped_model_path

            path = request.get("path") or shipped_model_path(request["dataset"])
            with tf_graph_lock:
                loaded = load_model(path)
                predictor = Predictor(loaded.model)
            dataset = loaded.dataset or request["dataset"]
        except Exception as exc:  # ModelLoadError has the user's message; others are surprises
            if not exc.__class__.__name__ == "ModelLoadError":
                log.exception("loading %s failed", request)
            self.modelFailed.emit({"dataset": request.get("dataset"), "path": request.get("path"),
                                   "message": str(exc) or exc.__class__.__name__})
            return
        self._predictors[dataset] = predictor
        shipped = not request.get("path")
        metadata = dict(loaded.metadata)
        if shipped:
            metadata["display_name"] = f"Shipped {DATASETS[dataset].title} model"
        info = model_info(loaded.path, metadata, dataset, shipped=shipped)
        self.modelLoaded.emit(info)

    @Slot(object, dict)
    def adopt_model(self, model, metadata: dict) -> None:
        """Use a model trained in this session (handed over after its training thread ended)."""
        try:
            import_tensorflow()
            from training.predictor import Predictor

            with tf_graph_lock:
                predictor = Predictor(model)
        except Exception as exc:
            log.exception("adopting a trained model failed")
            self.modelFailed.emit({"dataset": metadata.get("dataset"), "path": "",
                                   "message": f"The trained model cannot be used: {exc}"})
            return
        dataset = metadata.get("dataset", "mnist")
        self._predictors[dataset] = predictor
        self.modelLoaded.emit(model_info(None, {"display_name": "model trained in this session",
                                                **metadata}, dataset, shipped=False))

    @Slot(dict)
    def classify(self, request: dict) -> None:
        """request: {"seq", "dataset", "grey": uint8 (H, W) picture}."""
        reply = {"seq": request["seq"], "dataset": request["dataset"]}
        try:
            picture = to_model_input(request["grey"], request["dataset"])
        except BlankPictureError:
            self.classified.emit({**reply, "blank": True})
            return
        except Exception as exc:
            log.exception("preprocessing failed")
            self.classified.emit({**reply, "error": str(exc)})
            return
        reply["input"] = picture
        predictor = self._predictors.get(request["dataset"])
        if predictor is not None:
            try:
                reply["probabilities"] = np.asarray(predictor.predict(picture))
            except Exception as exc:
                log.exception("prediction failed")
                reply["error"] = f"prediction failed: {exc}"
        self.classified.emit(reply)
