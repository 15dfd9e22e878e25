"""PredictionController with a fake inference: which model serves which dataset, case by case.

The fake stands in for ``Inference.compute`` in the job's real thread; the test plays its part,
answering each request in the order that matters (a slow automatic load finishing after the user switched
dataset, a stale user choice, a failing file). No model, no LiteRT: only the controller's rules.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal

from desktop_app.prediction.inference_worker import model_info
from desktop_app.prediction.prediction_controller import PredictionController
from desktop_app.prediction.requests import (
    Classification,
    ClassifyRequest,
    LoadFailed,
    LoadRequest,
    ModelLoaded,
    NeedsConversion,
)

TIMEOUT = 5_000


class FakeInference:
    """Plays ``Inference.compute`` in the job's thread: each load waits for the test's answer
    (``answer``); a classification answers at once, unless ``held`` (then it waits too)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.loads: list[LoadRequest] = []
        self.classifications: list[ClassifyRequest] = []
        self.answers: queue.Queue = queue.Queue()
        self.held = False

    def compute(self, request):
        with self.lock:
            asked = self.loads if isinstance(request, LoadRequest) else self.classifications
            asked.append(request)
        if isinstance(request, ClassifyRequest) and not self.held:
            return Classification(request.seq, request.dataset, probabilities=np.eye(10)[1])
        return self.answers.get(timeout=TIMEOUT / 1000)

    def answer(self, reply) -> None:
        self.answers.put(reply)


class FakeConversionWorker(QObject):
    converted = Signal(object)
    failed = Signal(object, str)

    def __init__(self, jobs=None):
        super().__init__()
        self.requests: list = []

    def convert(self, request) -> None:
        self.requests.append(request)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        return True


@pytest.fixture
def fakes(qtbot, app_settings):
    made = {}

    def converter(jobs=None):
        made["converter"] = FakeConversionWorker(jobs)
        return made["converter"]

    picture = {"grey": np.full((20, 20), 255, np.uint8)}
    made["worker"] = FakeInference()
    controller = PredictionController(lambda: picture["grey"], app_settings,
                                      inference=made["worker"], converter_factory=converter)
    made.update(controller=controller, settings=app_settings, picture=picture)
    yield made
    for _ in range(10):  # whatever still waits for an answer ends
        made["worker"].answer(None)
    assert controller.shutdown()
    assert controller.jobs.running() == []


def wait_for_load(qtbot, worker, count):
    qtbot.waitUntil(lambda: len(worker.loads) >= count, timeout=TIMEOUT)
    return worker.loads[count - 1]


def answer_and_wait(qtbot, worker, reply, signal):
    """The worker answers; the controller has handled it once ``signal`` fired."""
    with qtbot.waitSignal(signal, timeout=TIMEOUT):
        worker.answer(reply)


def loaded(request: LoadRequest, path: str = "", shipped: bool = True,
           dataset: str | None = None) -> ModelLoaded:
    """The reply of a worker that loaded ``request``'s model."""
    dataset = dataset or request.dataset
    info = model_info(Path(path or f"/shipped/{dataset}.keras"), {}, dataset, shipped)
    return ModelLoaded(request, info)


def failed(request: LoadRequest, message: str = "x.keras is not a model file.") -> LoadFailed:
    return LoadFailed(request, message)


def test_a_late_automatic_load_never_switches_the_dataset(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    changes, ready = [], []
    controller.datasetChanged.connect(changes.append)
    controller.modelReady.connect(ready.append)
    controller.start()
    mnist_request = wait_for_load(qtbot, worker, 1)
    assert mnist_request.dataset == "mnist" and not mnist_request.user_choice

    controller.set_dataset("fashion_mnist")           # the user switches while MNIST loads
    worker.answer(loaded(mnist_request))              # MNIST's model finishes late
    fashion_request = wait_for_load(qtbot, worker, 2)  # (asked once MNIST's reply was handled)

    assert controller.dataset == "fashion_mnist"
    assert changes == ["fashion_mnist"]
    assert ready == []                                # nothing shown for the other dataset
    answer_and_wait(qtbot, worker, loaded(fashion_request), controller.modelReady)
    assert controller.dataset == "fashion_mnist"
    assert [info.dataset for info in ready] == ["fashion_mnist"]
    assert controller.model("mnist").dataset == "mnist"   # kept for a switch back


def test_a_user_chosen_model_switches_the_dataset_and_is_remembered(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    changes = []
    controller.datasetChanged.connect(changes.append)
    controller.start()
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 1)), controller.modelReady)

    controller.load_model_file("/models/clothes.keras")
    request = wait_for_load(qtbot, worker, 2)
    assert request.user_choice
    reply = loaded(request, "/models/clothes.keras", False, dataset="fashion_mnist")
    answer_and_wait(qtbot, worker, reply, controller.modelReady)

    assert controller.dataset == "fashion_mnist" and changes == ["fashion_mnist"]
    assert settings.dataset() == "fashion_mnist"
    assert settings.model_path("fashion_mnist") == "/models/clothes.keras"
    assert controller.model().path == "/models/clothes.keras"


def test_a_failing_user_file_keeps_the_model_and_the_remembered_one(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    settings.set_model_path("mnist", "/models/mine.keras")
    messages = []
    controller.modelFailed.connect(messages.append)
    controller.start()
    first = wait_for_load(qtbot, worker, 1)
    assert first.path == "/models/mine.keras"         # the remembered model is asked for
    answer_and_wait(qtbot, worker, loaded(first, "/models/mine.keras", False),
                    controller.modelReady)

    controller.load_model_file("/downloads/broken.keras")
    answer_and_wait(qtbot, worker, failed(wait_for_load(qtbot, worker, 2)),
                    controller.modelFailed)

    assert messages == ["x.keras is not a model file. The model in use is unchanged."]
    assert controller.model().path == "/models/mine.keras"
    assert settings.model_path("mnist") == "/models/mine.keras"
    assert controller.dataset == "mnist"


def test_an_older_user_choice_arriving_late_is_ignored(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    ready, messages = [], []
    controller.modelReady.connect(ready.append)
    controller.modelFailed.connect(messages.append)
    controller.start()
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 1)), controller.modelReady)
    controller.load_model_file("/models/a.keras")
    first = wait_for_load(qtbot, worker, 2)           # a is loading ...
    controller.load_model_file("/models/b.keras")     # ... when the user picks b
    worker.answer(loaded(first, "/models/a.keras", False))    # stale: chosen earlier
    second = wait_for_load(qtbot, worker, 3)
    assert second.path == "/models/b.keras"
    answer_and_wait(qtbot, worker, loaded(second, "/models/b.keras", False),
                    controller.modelReady)
    controller.load_model_file("/models/c.keras")
    third = wait_for_load(qtbot, worker, 4)
    controller.load_model_file("/models/d.keras")
    worker.answer(failed(third))                              # stale failure: silent
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 5), "/models/d.keras",
                                          False), controller.modelReady)

    assert [info.path for info in ready[1:]] == ["/models/b.keras", "/models/d.keras"]
    assert messages == []
    assert controller.model().path == "/models/d.keras"
    assert settings.model_path("mnist") == "/models/d.keras"


def test_two_choices_in_a_row_load_only_the_second(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    controller.start()
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 1)), controller.modelReady)
    controller.load_model_file("/models/a.keras")
    controller.load_model_file("/models/b.keras")
    second = wait_for_load(qtbot, worker, 2)
    answer_and_wait(qtbot, worker, loaded(second, "/models/b.keras", False),
                    controller.modelReady)
    assert [request.path for request in worker.loads] == ["", "/models/b.keras"]


def test_a_remembered_model_on_a_missing_drive_is_skipped_for_this_launch_only(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    settings.set_model_path("mnist", "/unplugged/drive.keras")
    messages = []
    controller.modelWarning.connect(messages.append)   # a notice: put right already
    controller.start()
    worker.answer(failed(wait_for_load(qtbot, worker, 1), "drive.keras is missing."))

    fallback = wait_for_load(qtbot, worker, 2)
    assert fallback.path == "" and fallback.dataset == "mnist"    # the shipped model
    assert messages == ["drive.keras is missing. Using the shipped model instead."]
    assert settings.model_path("mnist") == "/unplugged/drive.keras"      # kept for next launch
    answer_and_wait(qtbot, worker, loaded(fallback), controller.modelReady)
    assert controller.model().shipped


def test_a_deleted_remembered_model_is_forgotten(qtbot, fakes, tmp_path):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    settings.set_model_path("mnist", str(tmp_path / "deleted.keras"))   # its folder is there
    messages = []
    controller.modelWarning.connect(messages.append)
    controller.start()
    worker.answer(failed(wait_for_load(qtbot, worker, 1), "deleted.keras is missing."))
    assert wait_for_load(qtbot, worker, 2).path == ""
    assert messages == ["deleted.keras is missing. Using the shipped model instead."]
    assert settings.model_path("mnist") == ""     # the next launch does not say it again


def test_a_model_without_its_lite_twin_is_converted_then_loaded(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    busy = []
    controller.busy.connect(busy.append)
    controller.start()
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 1)), controller.modelReady)
    controller.load_model_file("/models/old.keras")
    request = wait_for_load(qtbot, worker, 2)
    worker.answer(NeedsConversion(request, "/models/old.keras"))

    qtbot.waitUntil(lambda: "converter" in fakes and bool(fakes["converter"].requests),
                    timeout=TIMEOUT)
    assert busy[-1].startswith("Preparing old.keras for live use")
    fakes["converter"].converted.emit(fakes["converter"].requests[0])
    again = wait_for_load(qtbot, worker, 3)
    assert again.path == "/models/old.keras" and again.token == request.token
    answer_and_wait(qtbot, worker, loaded(again, "/models/old.keras", False),
                    controller.modelReady)
    assert busy[-1] == "" and controller.model().path == "/models/old.keras"


def test_a_failed_conversion_keeps_the_model_in_use(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    messages = []
    controller.modelFailed.connect(messages.append)
    controller.start()
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 1)), controller.modelReady)
    controller.load_model_file("/models/odd.keras")
    request = wait_for_load(qtbot, worker, 2)
    worker.answer(NeedsConversion(request, "/models/odd.keras"))
    qtbot.waitUntil(lambda: "converter" in fakes and bool(fakes["converter"].requests),
                    timeout=TIMEOUT)
    fakes["converter"].failed.emit(fakes["converter"].requests[0],
                                   "odd.keras could not be prepared.")

    assert messages == ["odd.keras could not be prepared. The model in use is unchanged."]
    assert controller.model().shipped


def test_an_answer_for_the_previous_dataset_is_not_shown_and_is_asked_again(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    results = []
    controller.resultReady.connect(results.append)
    worker.held = True
    controller.start()
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 1)), controller.modelReady)
    qtbot.waitUntil(lambda: len(worker.classifications) == 1, timeout=TIMEOUT)
    asked = worker.classifications[0]
    assert asked.dataset == "mnist"

    controller.set_dataset("fashion_mnist")
    worker.answer(Classification(asked.seq, "mnist", probabilities=np.eye(10)[3]))
    fashion = wait_for_load(qtbot, worker, 2)   # asked once the MNIST answer was handled
    assert results == []                        # an MNIST answer on Fashion: dropped
    answer_and_wait(qtbot, worker, loaded(fashion), controller.modelReady)
    qtbot.waitUntil(lambda: len(worker.classifications) == 2, timeout=TIMEOUT)
    again = worker.classifications[1]
    assert again.dataset == "fashion_mnist"
    answer_and_wait(qtbot, worker, Classification(again.seq, "fashion_mnist",
                                                  probabilities=np.eye(10)[8]),
                    controller.resultReady)
    assert [r.dataset for r in results] == ["fashion_mnist"]


def test_strokes_while_a_picture_is_classified_give_exactly_one_more_request(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    worker.held = True
    controller.start()
    answer_and_wait(qtbot, worker, loaded(wait_for_load(qtbot, worker, 1)), controller.modelReady)
    qtbot.waitUntil(lambda: len(worker.classifications) == 1, timeout=TIMEOUT)
    for _ in range(50):                                   # a whole stroke while one is in flight
        controller.picture_changed()
    # No backlog: one request in flight, the newest waiting (the job's pending slot), no other.
    assert controller._inference.is_busy() and len(worker.classifications) == 1
    first = worker.classifications[0]
    worker.answer(Classification(first.seq, "mnist", probabilities=np.eye(10)[1]))
    qtbot.waitUntil(lambda: len(worker.classifications) == 2, timeout=TIMEOUT)
    second = worker.classifications[1]
    answer_and_wait(qtbot, worker, Classification(second.seq, "mnist",
                                                  probabilities=np.eye(10)[1]),
                    controller.resultReady)
    # Nothing waits behind the second: the job is idle once it is answered (a third request
    # would already be waiting, since every change above came before the second started).
    qtbot.waitUntil(lambda: not controller._inference.is_busy(), timeout=TIMEOUT)
    assert len(worker.classifications) == 2
