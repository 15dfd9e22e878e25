"""PredictionController: live classification without freezing and without a backlog.

The canvas says "changed" on every stroke segment. We coalesce: one zero-delay timer gathers all
changes already queued in the event loop, at most one request is in flight to the worker, and if
the picture changed meanwhile exactly one more request follows with the newest picture. The
worker thread owns the models; this object only passes plain data back and forth.

Which model serves which dataset follows what the user asked for:
- only a model the user chose (a file, a trained model) may change the active dataset;
- a remembered model that fails is skipped for this launch (with a message) and the shipped
  model is used; the setting is kept, the file may come back (an unplugged drive);
- a user-chosen file that fails leaves the current model and the remembered one as they were.
"""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop_app.jobs.threads import start_worker, stop_thread
from desktop_app.jobs.throttle import Throttle
from desktop_app.prediction.inference_worker import ConversionWorker, InferenceWorker
from training.core.datasets import DATASETS

NUMBER_INTERVAL_S = 0.1    # number readings start at most 10 times a second: the reading is
#                            mostly Python, and its GIL share would slow the UI thread ...
NUMBER_REST_S = 0.12       # ... and only once the drawing has rested this long (a pen lifted
#                            or paused between digits): mid-stroke readings were never seen
#                            yet took the GIL from the live probabilities (p95 +10 ms)
EXPLAIN_INTERVAL_S = 0.05  # saliency maps start at most 20 times a second (a light CPU share)
EXPLAIN_SHARE = 0.4        # ... and take at most 40 % of a core: vgg_cnn's maps cost 26-35 ms
#                            (wide_cnn's 8-13); back to back they slowed the live answer


class PredictionController(QObject):
    modelReady = Signal(dict)        # info of the model now used for the active dataset
    modelFailed = Signal(str)        # a message for the user; the previous model stays
    modelWarning = Signal(str)       # the model is usable, but (part of) its sidecar is not
    datasetChanged = Signal(str)     # the active dataset changed
    resultReady = Signal(dict)       # worker reply + "latency_ms" since the first unsent change
    busy = Signal(str)               # a long step the user should know about ("" when done)
    numberRead = Signal(dict)        # {"seq", "dataset", "number": dict or None} (see below)
    _read_number = Signal(dict)
    explained = Signal(dict)         # saliency of the newest drawing, while set_explaining(True)
    conversionDone = Signal(dict)    # a convert() request: its .tflite is in the cache now
    conversionFailed = Signal(dict)  # a convert() request + "message"

    _load = Signal(dict)
    _convert = Signal(dict)
    _classify = Signal(dict)
    _explain = Signal(dict)

    def __init__(self, grab_picture, settings, parent=None, worker_factory=InferenceWorker,
                 converter_factory=ConversionWorker):
        """``grab_picture()`` returns the current uint8 grey picture, or None when empty. The
        factories make the workers (tests pass fakes with the same signals and slots)."""
        super().__init__(parent)
        self._grab = grab_picture
        self._settings = settings
        self._dataset = settings.dataset()
        self._models: dict[str, dict] = {}   # dataset -> info, as reported by the worker
        self._loading: set[str] = set()      # datasets whose automatic load is under way
        self._skip_remembered: set[str] = set()
        self._token = 0                      # the newest user choice; older replies are stale
        self._seq = 0
        self._in_flight = False
        self._dirty = False
        self._changed_at: float | None = None
        self._sent_at: dict[int, float] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._dispatch)

        self._make_converter = converter_factory
        self._worker = worker_factory()
        self._thread = start_worker(self._worker, "inference")
        self._load.connect(self._worker.load_model)
        self._classify.connect(self._worker.classify)
        self._worker.modelLoaded.connect(self._on_model_loaded)
        self._worker.modelFailed.connect(self._on_model_failed)
        self._worker.needsConversion.connect(self._on_needs_conversion)
        self._worker.classified.connect(self._on_classified)
        self._converter = None               # started on first use (most users never need it)
        self._converter_thread = None
        # Whole numbers: read in their own thread after the probabilities, newest drawing next.
        self._number_worker = self._number_thread = None  # started on the first candidate
        self._number_next: dict | None = None
        self._numbers = Throttle(self._send_number, NUMBER_INTERVAL_S, NUMBER_REST_S, self)
        # Saliency ("where it looks"): its own thread, after each classification, newest first.
        self._explaining = False
        self._explainer = self._explainer_thread = None  # started when first switched on
        self._sent_grey = None               # the picture of the classification in flight
        self._explainable: dict | None = None  # the newest classified drawing, as a request
        self._explain_next: dict | None = None
        self._explain_floor = 0              # maps of drawings up to this seq are stale
        self._explains = Throttle(self._send_explain, EXPLAIN_INTERVAL_S, parent=self,
                                  max_share=EXPLAIN_SHARE)

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
        if dataset == self._dataset or dataset not in DATASETS:
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
        """The user chose a model file (or "Use this model"): it becomes the active model, and
        its dataset the active dataset, once it has loaded."""
        self._token += 1
        self._load.emit({"path": str(path), "dataset": self._dataset, "user_choice": True,
                         "token": self._token})

    def use_shipped_model(self, dataset: str | None = None) -> None:
        """Back to the shipped model of ``dataset`` (default: the active one)."""
        dataset = dataset or self._dataset
        self._settings.set_model_path(dataset, "")
        self._token += 1
        self._load.emit({"path": "", "dataset": dataset, "user_choice": True,
                         "token": self._token})

    @Slot()
    def picture_changed(self) -> None:
        if self._changed_at is None:
            self._changed_at = time.perf_counter()
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def convert(self, request: dict) -> None:
        """Have another view's ``.keras`` converted in the background, by the same child
        process as the models of the canvas. request: {"keras": path, "layers": bool, "for": the
        asking view's name, ...}; conversionDone or conversionFailed follow with it."""
        self._start_conversion({**request, "for": request.get("for") or "view"})

    def set_explaining(self, on: bool) -> None:
        """While ``on``, the saliency of each classified drawing follows as ``explained``
        ({"seq", "dataset", "label", "saliency", "overlay": a QImage over the picture,
        "lag_ms"}; "overlay" None when there is nothing to explain)."""
        self._explaining = on
        self._explain_next = None
        self._explains.cancel()
        if on and self._explainable is not None:
            self._explain_next = self._explainable
            self._explains.request()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        self._timer.stop()
        self._explains.stop()
        self._numbers.stop()
        ok = stop_thread(self._converter_thread, timeout_ms)
        ok = stop_thread(self._explainer_thread, timeout_ms) and ok
        ok = stop_thread(self._number_thread, timeout_ms) and ok
        return stop_thread(self._thread, timeout_ms) and ok

    # -- internals
    def _ensure_model(self, dataset: str) -> None:
        if dataset in self._models or dataset in self._loading:
            return
        self._loading.add(dataset)
        remembered = "" if dataset in self._skip_remembered else self._settings.model_path(dataset)
        self._load.emit({"path": remembered, "dataset": dataset, "user_choice": False,
                         "token": None})

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
            self._nothing_to_explain(self._seq)
            return
        self._seq += 1
        self._in_flight = True
        self._sent_at[self._seq] = self._changed_at or time.perf_counter()
        self._changed_at = None
        self._sent_grey = picture
        self._classify.emit({"seq": self._seq, "dataset": self._dataset, "grey": picture})

    @Slot(dict)
    def _on_classified(self, reply: dict) -> None:
        self._in_flight = False
        started = self._sent_at.pop(reply["seq"], None)
        if reply["dataset"] == self._dataset:
            if started is not None:
                reply["latency_ms"] = (time.perf_counter() - started) * 1000
            self.resultReady.emit(reply)
            self._classified_for_explaining(reply, started)
            self._classified_for_numbers(reply)
        else:
            self._dirty = True  # the dataset changed while it was computed: redo
        if self._dirty:
            self._timer.start()

    def _classified_for_numbers(self, reply: dict) -> None:
        """A drawing flagged as maybe several digits is read next (only the newest waits)."""
        runnable = (self._models.get(reply["dataset"]) or {}).get("runnable")
        if not reply.get("number_candidate") or not runnable:
            self._number_next = None
            self._numbers.cancel()
            return
        self._number_next = {"seq": reply["seq"], "dataset": reply["dataset"],
                             "grey": self._sent_grey, "runnable": runnable,
                             "temperature": ((self._models.get(reply["dataset"]) or {})
                                             .get("metadata") or {}).get("temperature")}
        self._numbers.request()

    def _send_number(self) -> bool:
        if self._number_next is None:
            return False
        if self._number_thread is None:
            from desktop_app.prediction.inference_worker import NumberWorker

            self._number_worker = NumberWorker()
            self._read_number.connect(self._number_worker.read)
            self._number_worker.numberRead.connect(self._on_number_read)
            self._number_thread = start_worker(self._number_worker, "numbers")
        request, self._number_next = self._number_next, None
        self._read_number.emit(request)
        return True

    @Slot(dict)
    def _on_number_read(self, reply: dict) -> None:
        self._numbers.finished()
        if reply["dataset"] == self._dataset:
            self.numberRead.emit(reply)
        self._send_number()

    def _classified_for_explaining(self, reply: dict, started: float | None) -> None:
        """After the probabilities are out: the saliency of this drawing comes next."""
        runnable = (self._models.get(reply["dataset"]) or {}).get("runnable")
        if reply.get("probabilities") is None or "placement" not in reply or not runnable:
            self._nothing_to_explain(reply["seq"])  # blank, an error, or no model yet
            return
        self._explainable = {
            "seq": reply["seq"], "dataset": reply["dataset"], "runnable": runnable,
            "input": reply["input"], "placement": reply["placement"], "grey": self._sent_grey,
            "label": int(reply["probabilities"].argmax()),
            "changed_at": started or time.perf_counter()}
        if self._explaining:
            self._explain_next = self._explainable
            self._explains.request()

    def _nothing_to_explain(self, seq: int) -> None:
        self._explainable = self._explain_next = None
        self._explains.cancel()
        self._explain_floor = seq
        if self._explaining:
            self.explained.emit({"seq": seq, "dataset": self._dataset, "overlay": None})

    def _send_explain(self) -> bool:
        if self._explain_next is None:
            return False
        if self._explainer_thread is None:
            from desktop_app.prediction.explain_worker import ExplainWorker

            self._explainer = ExplainWorker()
            self._explain.connect(self._explainer.explain)
            self._explainer.explained.connect(self._on_explained)
            self._explainer_thread = start_worker(self._explainer, "explainer")
        request, self._explain_next = self._explain_next, None
        self._explain.emit(request)
        return True

    @Slot(dict)
    def _on_explained(self, reply: dict) -> None:
        fresh = reply["seq"] > self._explain_floor and reply["dataset"] == self._dataset
        if self._explaining and fresh and "error" not in reply:
            reply["lag_ms"] = (time.perf_counter() - reply.pop("changed_at", 0.0)) * 1000
            self.explained.emit(reply)
        self._explains.finished()

    @Slot(dict)
    def _on_model_loaded(self, info: dict) -> None:
        dataset = info["dataset"]
        user_choice = info.get("user_choice")
        if user_choice and info.get("token") != self._token:
            return  # the user has chosen another model since
        if not user_choice:
            self._loading.discard(dataset)
        self._models[dataset] = info
        self.busy.emit("")
        for warning in info.get("warnings") or []:
            self.modelWarning.emit(warning)
        if user_choice:
            self._settings.set_model_path(dataset, "" if info["shipped"] else info["path"])
            self._skip_remembered.discard(dataset)
            if dataset != self._dataset:
                self._dataset = dataset
                self._settings.set_dataset(dataset)
                self.datasetChanged.emit(dataset)
        if dataset == self._dataset:
            self.modelReady.emit(info)
            self.picture_changed()  # classify what is already drawn with the new model

    @Slot(dict)
    def _on_model_failed(self, failure: dict) -> None:
        dataset = failure.get("dataset") or self._dataset
        self.busy.emit("")
        if failure.get("user_choice"):
            if failure.get("token") == self._token:
                self.modelFailed.emit(f"{failure['message']} The model in use is unchanged.")
            return
        self._loading.discard(dataset)
        if failure.get("path"):
            # The remembered model is gone or broken: the shipped one instead, said in a notice
            # that passes. A deleted or broken file is forgotten, so the same message does not
            # greet every launch; one on a drive that is not there now (its folder missing) is
            # tried again next time.
            self._skip_remembered.add(dataset)
            if os.path.isdir(os.path.dirname(os.path.abspath(failure["path"]))):
                self._settings.set_model_path(dataset, "")
            self.modelWarning.emit(f"{failure['message']} Using the shipped model instead.")
            self._ensure_model(dataset)
        else:
            self.modelFailed.emit(failure["message"])

    @Slot(dict)
    def _on_needs_conversion(self, request: dict) -> None:
        name = os.path.basename(request["keras"])
        self.busy.emit(f"Preparing {name} for live use (converting it to LiteRT)…")
        self._start_conversion(request)

    def _start_conversion(self, request: dict) -> None:
        if self._converter is None:
            self._converter = self._make_converter()
            self._converter.converted.connect(self._on_converted)
            self._converter.failed.connect(self._on_conversion_failed)
            self._convert.connect(self._converter.convert)
            self._converter_thread = start_worker(self._converter, "converter")
        self._convert.emit(request)

    @Slot(dict)
    def _on_converted(self, request: dict) -> None:
        if request.get("for"):  # another view's conversion (convert())
            self.conversionDone.emit(request)
            return
        self._load.emit(request)  # the .tflite is there now: load it as first asked

    @Slot(dict)
    def _on_conversion_failed(self, failure: dict) -> None:
        if failure.get("for"):
            self.conversionFailed.emit(failure)
        else:
            self._on_model_failed(failure)
