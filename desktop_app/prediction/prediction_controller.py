"""PredictionController: live classification without freezing and without a backlog.

The canvas says "changed" on every stroke segment. Each change is a request to the "inference"
LatestJob (desktop_app/jobs/latest.py), made when its turn comes: all changes already queued in
the event loop gather into one request, at most one is in flight, and a change meanwhile makes
exactly one more follow with the newest picture. The same job loads the models (its thread owns
them); numbers and saliency maps have a job each. This object only passes plain data around.

Which model serves which dataset follows what the user asked for:
- only a model the user chose (a file, a trained model) may change the active dataset;
- a remembered model that fails is skipped for this launch (with a message) and the shipped
  model is used; the setting is kept, the file may come back (an unplugged drive);
- a user-chosen file that fails leaves the current model and the remembered one as they were.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.jobs.latest import LatestJob, Pace, made_in_thread
from desktop_app.jobs.registry import JobRegistry
from desktop_app.prediction.requests import (
    Classification,
    ClassifyRequest,
    Conversion,
    ExplainRequest,
    LoadFailed,
    LoadRequest,
    ModelInfo,
    ModelLoaded,
    NeedsConversion,
    NumberReading,
    NumberRequest,
    Saliency,
)
from training.core.datasets import known_dataset

if TYPE_CHECKING:
    import numpy as np
    from PySide6.QtGui import QImage

NUMBERS = Pace(interval_s=0.1,  # number readings start at most 10 times a second: the reading
               #                  is mostly Python, and its GIL share would slow the UI thread
               rest_s=0.12)     # ... and only once the drawing has rested this long (a pen
#                                 lifted or paused between digits): mid-stroke readings were
#                                 never seen yet took the GIL from the live probabilities
EXPLAINS = Pace(interval_s=0.05,  # saliency maps start at most 20 times a second ...
                max_share=0.4)    # ... and take at most 40 % of a core: vgg_cnn's maps cost
#                                   26-35 ms (wide_cnn's 8-13); back to back they slowed the
#                                   live answer
CLASSIFY = "classify"          # the inference job's key of the drawing's answer
CHOICE = "user choice"         # ... of the user's newest model choice (an older one is stale)


# Each job's worker is made in the job's thread, on its first request: numpy, Pillow, LiteRT and
# the preprocessing load there while the window paints its first frame.
def _inference():
    from desktop_app.prediction.inference_worker import Inference

    return Inference().compute


def _load_ahead(request) -> None:
    """The first model load's hashing and reading start in a thread of their own, to overlap
    _inference's imports (prediction/load_ahead.py)."""
    if isinstance(request, LoadRequest):
        from desktop_app.prediction import load_ahead

        load_ahead.start(request)


def _number_reader():
    from desktop_app.prediction.inference_worker import NumberReader

    return NumberReader().compute


def _explainer():
    from desktop_app.prediction.explain_worker import Explainer

    return Explainer().compute


def _conversion_worker(jobs: JobRegistry):
    from desktop_app.prediction.conversion import ConversionWorker

    return ConversionWorker(jobs=jobs)


class Explanation(NamedTuple):
    """The saliency of the newest drawing, as ``explained`` carries it; ``overlay`` None when
    there is nothing to explain (blank, an error, no model yet)."""

    seq: int
    dataset: str
    overlay: QImage | None = None           # the map, over the picture
    label: int | None = None                # the class it explains
    saliency: np.ndarray | None = None      # 28x28
    lag_ms: float | None = None             # since the drawing changed


class PredictionController(QObject):
    modelReady = Signal(object)      # the ModelInfo of the model now used for the active dataset
    modelFailed = Signal(str)        # a message for the user; the previous model stays
    modelWarning = Signal(str)       # the model is usable, but (part of) its sidecar is not
    datasetChanged = Signal(str)     # the active dataset changed
    resultReady = Signal(object)     # a Classification, its latency_ms set when it was sent
    busy = Signal(str)               # a long step the user should know about ("" when done)
    numberRead = Signal(object)      # a NumberReading of the active dataset (see NumberReader)
    explained = Signal(object)       # an Explanation of the newest drawing, while explaining
    conversionDone = Signal(object)       # a convert()'s Conversion: its .tflite is cached now
    conversionFailed = Signal(object, str)  # a convert()'s Conversion, a message for the user
    settled = Signal()               # a load or an answer ended, and no other waits

    def __init__(self, grab_picture, settings, parent=None, jobs: JobRegistry | None = None,
                 inference=None, converter_factory=_conversion_worker):
        """``grab_picture()`` returns the current uint8 grey picture, or None when empty.
        ``jobs``: the window's registry (a private one when built alone); ``inference``: what
        computes loads and answers (an ``Inference``; tests pass a fake with its ``compute``)."""
        super().__init__(parent)
        self._grab = grab_picture
        self._settings = settings
        self._dataset = settings.dataset()
        self._models: dict[str, ModelInfo] = {}  # dataset -> as reported by the inference
        self._loading: set[str] = set()      # datasets whose automatic load is under way
        self._skip_remembered: set[str] = set()
        self._token = 0                      # the newest user choice
        self._seq = 0
        self._changed_at: float | None = None
        self._sent: dict[int, tuple] = {}    # seq -> (first change, picture) in flight
        self._make_converter = converter_factory
        self._converter = None  # made on first use; its child job is the window's too
        self.jobs = jobs if jobs is not None else JobRegistry()
        compute = (made_in_thread(_inference, _load_ahead) if inference is None
                   else inference.compute)
        self._inference = LatestJob("inference", compute, self.jobs, parent=self)
        self._inference.done.connect(self._on_inference)
        self._inference.idle.connect(self.settled)
        # Whole numbers and saliency ("where it looks"): after each answer, newest first.
        self._numbers = LatestJob("numbers", made_in_thread(_number_reader),
                                  self.jobs, NUMBERS, parent=self)
        self._numbers.done.connect(self._on_number_read)
        self._explaining = False
        self._explainable: ExplainRequest | None = None  # the newest classified drawing
        self._explains = LatestJob("explainer", made_in_thread(_explainer),
                                   self.jobs, EXPLAINS, parent=self)
        self._explains.done.connect(self._on_explained)

    # -- state
    @property
    def dataset(self) -> str:
        return self._dataset

    def model(self, dataset: str | None = None) -> ModelInfo | None:
        return self._models.get(dataset or self._dataset)

    def drop_model_file(self, path: str) -> None:
        """A model the user discarded: no dataset keeps it; the active one goes back to its
        shipped model (another one will load its shipped model when chosen). The window may
        run its .keras or its LiteRT twin: both are that model."""
        model = os.path.splitext(os.path.abspath(path))[0]
        for dataset, info in list(self._models.items()):
            if info is None or os.path.splitext(os.path.abspath(info.path))[0] != model:
                continue
            del self._models[dataset]
            self._settings.set_model_path(dataset, "")
            if dataset == self._dataset:
                self._ensure_model(dataset)  # (not a user's choice: the dataset stays)

    def is_loading(self) -> bool:
        return self._dataset in self._loading

    # -- requests from the UI
    def start(self) -> None:
        """Load the active dataset's model (the last one used, else the shipped one)."""
        self._ensure_model(self._dataset)

    def set_dataset(self, dataset: str) -> None:
        if dataset == self._dataset or not known_dataset(dataset):
            return
        self._dataset = dataset
        self._settings.set_dataset(dataset)
        self.datasetChanged.emit(dataset)
        if dataset in self._models:
            self.modelReady.emit(self._models[dataset])
        else:
            self._ensure_model(dataset)
        self.picture_changed()  # an answer for the other dataset in flight is stale now

    def forget(self, dataset: str) -> None:
        """A deleted classifier: its model is neither kept nor remembered (one made again
        under the same name starts with none)."""
        self._models.pop(dataset, None)
        self._skip_remembered.discard(dataset)
        self._settings.set_model_path(dataset, "")

    def load_model_file(self, path: str) -> None:
        """The user chose a model file (or "Use this model"): it becomes the active model, and
        its dataset the active dataset, once it has loaded."""
        self._choose(LoadRequest(str(path), self._dataset))

    def use_shipped_model(self, dataset: str | None = None) -> None:
        """Back to the shipped model of ``dataset`` (default: the active one)."""
        dataset = dataset or self._dataset
        self._settings.set_model_path(dataset, "")
        self._choose(LoadRequest("", dataset))

    def _choose(self, request: LoadRequest) -> None:
        self._token += 1  # the newest choice: an older one still loading is stale
        self._inference.submit(LoadRequest(request.path, request.dataset, True, self._token),
                               CHOICE)

    @Slot()
    def picture_changed(self) -> None:
        if self._changed_at is None:
            self._changed_at = time.perf_counter()
        self._inference.submit(self._classify_request, CLASSIFY)

    def convert(self, keras: str, asked_by: str, layers: bool = False) -> None:
        """Have another view's ``.keras`` converted in the background, by the same child
        process as the models of the canvas; conversionDone or conversionFailed follow with its
        ``Conversion`` (``asked_by``: the view's name)."""
        self._start_conversion(Conversion(str(keras), layers, asked_by or "view"))

    def set_explaining(self, on: bool) -> None:
        """While ``on``, the saliency of each classified drawing follows as ``explained`` (an
        Explanation)."""
        self._explaining = on
        self._explains.cancel()
        if on and self._explainable is not None:
            self._explains.submit(self._explainable)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """End this controller's jobs and the converter's child (the window's close_all ends
        the jobs first; then this only has the converter left)."""
        jobs = (self._inference, self._numbers, self._explains)
        for job in jobs:
            job.stop()
        ok = self._converter is None or self._converter.shutdown(timeout_ms)
        return all([job.wait(timeout_ms / 1000) for job in jobs]) and ok

    # -- internals
    def _ensure_model(self, dataset: str) -> None:
        if dataset in self._models or dataset in self._loading:
            return
        self._loading.add(dataset)
        remembered = "" if dataset in self._skip_remembered else self._settings.model_path(dataset)
        self._inference.submit(LoadRequest(remembered, dataset), dataset)

    def _classify_request(self) -> ClassifyRequest | None:
        """The newest drawing, read when its turn comes (None: blank, answered here)."""
        picture = self._grab()
        if picture is None:
            self._changed_at = None
            self.resultReady.emit(Classification(self._seq, self._dataset, blank=True,
                                                 latency_ms=0.0))
            self._nothing_to_explain(self._seq)
            return None
        self._seq += 1
        self._sent = {self._seq: (self._changed_at or time.perf_counter(), picture)}
        self._changed_at = None
        return ClassifyRequest(self._seq, self._dataset, picture)

    @Slot(object)
    def _on_inference(self, result) -> None:
        if isinstance(result, Classification):
            self._on_classified(result)
        elif isinstance(result, ModelLoaded):
            self._on_model_loaded(result)
        elif isinstance(result, LoadFailed):
            self._on_model_failed(result.request, result.message)
        elif isinstance(result, NeedsConversion):
            self._on_needs_conversion(result)

    def _on_classified(self, answer: Classification) -> None:
        started, picture = self._sent.pop(answer.seq, (None, None))
        if answer.dataset != self._dataset:
            return  # only a stale answer could be: never delivered
        if started is not None:
            self.resultReady.emit(answer._replace(
                latency_ms=(time.perf_counter() - started) * 1000))
        else:
            self.resultReady.emit(answer)
        self._classified_for_explaining(answer, picture, started)
        self._classified_for_numbers(answer, picture)

    def _classified_for_numbers(self, answer: Classification, picture) -> None:
        """A drawing flagged as maybe several digits is read next (only the newest waits)."""
        info = self._models.get(answer.dataset)
        if not answer.number_candidate or info is None or not info.runnable:
            self._numbers.cancel()
            return
        self._numbers.submit(NumberRequest(answer.seq, answer.dataset, picture, info.runnable,
                                           (info.metadata or {}).get("temperature")))

    @Slot(object)
    def _on_number_read(self, reading: NumberReading) -> None:
        if reading.dataset == self._dataset:
            self.numberRead.emit(reading)

    def _classified_for_explaining(self, answer: Classification, picture, started) -> None:
        """After the probabilities are out: the saliency of this drawing comes next."""
        info = self._models.get(answer.dataset)
        runnable = info.runnable if info is not None else ""
        if answer.probabilities is None or answer.placement is None or not runnable:
            self._nothing_to_explain(answer.seq)  # blank, an error, or no model yet
            return
        self._explainable = ExplainRequest(
            answer.seq, answer.dataset, runnable, answer.input, answer.placement, picture,
            int(answer.probabilities.argmax()), started or time.perf_counter())
        if self._explaining:
            self._explains.submit(self._explainable)

    def _nothing_to_explain(self, seq: int) -> None:
        self._explainable = None
        self._explains.cancel()  # a map still in flight is of an older drawing
        if self._explaining:
            self.explained.emit(Explanation(seq, self._dataset))

    @Slot(object)
    def _on_explained(self, found: Saliency) -> None:
        if self._explaining and found.dataset == self._dataset and found.error is None:
            self.explained.emit(Explanation(
                found.seq, found.dataset, found.overlay, found.label, found.saliency,
                lag_ms=(time.perf_counter() - found.changed_at) * 1000))

    def _on_model_loaded(self, loaded: ModelLoaded) -> None:
        info, request = loaded.info, loaded.request
        if request.user_choice and request.token != self._token:
            return  # an older choice: the newest one is loading
        dataset = info.dataset
        if not request.user_choice:
            self._loading.discard(dataset)
        self._models[dataset] = info
        self.busy.emit("")
        for warning in info.warnings:
            self.modelWarning.emit(warning)
        if request.user_choice:
            self._settings.set_model_path(dataset, "" if info.shipped else info.path)
            self._skip_remembered.discard(dataset)
            if dataset != self._dataset:
                self._dataset = dataset
                self._settings.set_dataset(dataset)
                self.datasetChanged.emit(dataset)
        if dataset == self._dataset:
            self.modelReady.emit(info)
            self.picture_changed()  # classify what is already drawn with the new model

    def _on_model_failed(self, request: LoadRequest, message: str) -> None:
        self.busy.emit("")
        if request.user_choice:
            if request.token == self._token:
                self.modelFailed.emit(f"{message} The model in use is unchanged.")
            return
        self._loading.discard(request.dataset)
        if request.path:
            # The remembered model is gone or broken: the shipped one instead, said in a notice
            # that passes. A deleted or broken file is forgotten, so the same message does not
            # greet every launch; one on a drive that is not there now (its folder missing) is
            # tried again next time.
            self._skip_remembered.add(request.dataset)
            if os.path.isdir(os.path.dirname(os.path.abspath(request.path))):
                self._settings.set_model_path(request.dataset, "")
            self.modelWarning.emit(f"{message} Using the shipped model instead.")
            self._ensure_model(request.dataset)
        else:
            self.modelFailed.emit(message)

    def _on_needs_conversion(self, needed: NeedsConversion) -> None:
        name = os.path.basename(needed.keras)
        self.busy.emit(f"Preparing {name} for live use (converting it to LiteRT)…")
        self._start_conversion(Conversion(needed.keras, load=needed.request))

    def _start_conversion(self, request: Conversion) -> None:
        if self._converter is None:
            # On the GUI thread: a QProcess needs no thread of its own to be waited for.
            self._converter = self._make_converter(jobs=self.jobs)
            self._converter.converted.connect(self._on_converted)
            self._converter.failed.connect(self._on_conversion_failed)
        self._converter.convert(request)

    def _on_converted(self, conversion: Conversion) -> None:
        if conversion.asked_by:  # another view's conversion (convert())
            self.conversionDone.emit(conversion)
            return
        load = conversion.load
        if load.user_choice and load.token != self._token:
            return  # the user has chosen another model since
        # The .tflite is there now: load it as first asked.
        self._inference.submit(load, CHOICE if load.user_choice else load.dataset)

    def _on_conversion_failed(self, conversion: Conversion, message: str) -> None:
        if conversion.asked_by:
            self.conversionFailed.emit(conversion, message)
            return
        self._on_model_failed(conversion.load, message)
