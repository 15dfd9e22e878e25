"""PredictionController: live classification without freezing and without a backlog.

The canvas says "changed" on every stroke segment. We coalesce: one zero-delay timer gathers all
changes already queued in the event loop, at most one request is in flight to the worker, and if
the picture changed meanwhile exactly one more request follows with the newest picture. The
worker thread owns the models; this object only passes plain data back and forth.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from .inference_worker import InferenceWorker
from .threads import start_worker, stop_thread


class PredictionController(QObject):
    modelReady = Signal(dict)        # info of the model now used for the active dataset
    modelFailed = Signal(str)        # a message for the user; the previous model stays
    datasetChanged = Signal(str)     # the active dataset changed (e.g. a model of another loaded)
    resultReady = Signal(dict)       # worker reply + "latency_ms" since the first unsent change

    _load = Signal(dict)
    _adopt = Signal(object, dict)
    _classify = Signal(dict)

    def __init__(self, grab_picture, settings, parent=None):
        """``grab_picture()`` returns the current uint8 grey picture, or None when empty."""
        super().__init__(parent)
        self._grab = grab_picture
        self._settings = settings
        self._dataset = settings.dataset()
        self._models: dict[str, dict] = {}   # dataset -> info, as reported by the worker
        self._loading: set[str] = set()
        self._seq = 0
        self._in_flight = False
        self._dirty = False
        self._changed_at: float | None = None
        self._sent_at: dict[int, float] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._dispatch)

        self._worker = InferenceWorker()
        self._thread = start_worker(self._worker, "inference")
        self._load.connect(self._worker.load_model)
        self._adopt.connect(self._worker.adopt_model)
        self._classify.connect(self._worker.classify)
        self._worker.modelLoaded.connect(self._on_model_loaded)
        self._worker.modelFailed.connect(self._on_model_failed)
        self._worker.classified.connect(self._on_classified)

    # -- state
    @property
    def dataset(self) -> str:
        return self._dataset

    def model(self, dataset: str | None = None) -> dict | None:
        return self._models.get(dataset or self._dataset)

    def is_loading(self) -> bool:
        return self._dataset in self._loading

    # -- requests from the UI
    def start(self) -> None:
        """Load the active dataset's model (the last one used, else the shipped one)."""
        self._ensure_model(self._dataset)

    def set_dataset(self, dataset: str) -> None:
        if dataset == self._dataset:
            return
        self._dataset = dataset
        self._settings.set_dataset(dataset)
        self.datasetChanged.emit(dataset)
        if dataset in self._models:
            self.modelReady.emit(self._models[dataset])
        else:
            self._ensure_model(dataset)
        self.picture_changed()

    def load_model_file(self, path: str) -> None:
        self._loading.add(self._dataset)
        self._load.emit({"path": path, "dataset": self._dataset, "user_choice": True})

    def adopt_model(self, model, metadata: dict) -> None:
        self._adopt.emit(model, metadata)

    @Slot()
    def picture_changed(self) -> None:
        if self._changed_at is None:
            self._changed_at = time.perf_counter()
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        self._timer.stop()
        return stop_thread(self._thread, timeout_ms)

    # -- internals
    def _ensure_model(self, dataset: str) -> None:
        if dataset in self._models or dataset in self._loading:
            return
        self._loading.add(dataset)
        path = self._settings.model_path(dataset)
        self._load.emit({"path": path, "dataset": dataset, "user_choice": False})

    @Slot()
    def _dispatch(self) -> None:
        if self._in_flight or not self._dirty:
            return
        self._dirty = False
        picture = self._grab()
        if picture is None:
            self._changed_at = None
            self.resultReady.emit({"seq": self._seq, "dataset": self._dataset, "blank": True,
                                   "latency_ms": 0.0})
            return
        self._seq += 1
        self._in_flight = True
        self._sent_at[self._seq] = self._changed_at or time.perf_counter()
        self._changed_at = None
        self._classify.emit({"seq": self._seq, "dataset": self._dataset, "grey": picture})

    @Slot(dict)
    def _on_classified(self, reply: dict) -> None:
        self._in_flight = False
        started = self._sent_at.pop(reply["seq"], None)
        if reply["dataset"] == self._dataset:
            if started is not None:
                reply["latency_ms"] = (time.perf_counter() - started) * 1000
            self.resultReady.emit(reply)
        else:
            self._dirty = True  # the dataset changed while it was computed: redo
        if self._dirty:
            self._timer.start()

    @Slot(dict)
    def _on_model_loaded(self, info: dict) -> None:
        dataset = info["dataset"]
        self._loading.discard(dataset)
        self._loading.discard(self._dataset)
        self._models[dataset] = info
        if info["path"] and not info["shipped"]:
            self._settings.set_model_path(dataset, info["path"])
        if dataset != self._dataset:
            self._dataset = dataset
            self._settings.set_dataset(dataset)
            self.datasetChanged.emit(dataset)
        self.modelReady.emit(info)
        self.picture_changed()  # classify what is already drawn with the new model

    @Slot(dict)
    def _on_model_failed(self, failure: dict) -> None:
        dataset = failure.get("dataset") or self._dataset
        self._loading.discard(dataset)
        path = failure.get("path")
        if path and dataset not in self._models:
            # The remembered model is gone or broken: fall back to the shipped one.
            self._settings.set_model_path(dataset, "")
            self.modelFailed.emit(f"{failure['message']} Using the shipped model instead.")
            self._ensure_model(dataset)
            return
        self.modelFailed.emit(failure["message"])
