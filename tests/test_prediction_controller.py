"""PredictionController with fake workers: which model serves which dataset, case by case.

The fakes have the real workers' signals and slots; the test plays the worker's part, answering
each request in the order that matters (a slow automatic load finishing after the user switched
dataset, a stale user choice, a failing file). No model, no LiteRT: only the controller's rules.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.prediction.inference_worker import model_info
from desktop_app.prediction.prediction_controller import PredictionController

TIMEOUT = 5_000


class FakeInferenceWorker(QObject):
    modelLoaded = Signal(dict)
    modelFailed = Signal(dict)
    needsConversion = Signal(dict)
    classified = Signal(dict)

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.loads: list[dict] = []
        self.classifications: list[dict] = []

    @Slot(dict)
    def load_model(self, request: dict) -> None:
        with self.lock:
            self.loads.append(request)

    @Slot(dict)
    def classify(self, request: dict) -> None:
        with self.lock:
            self.classifications.append(request)


class FakeConversionWorker(QObject):
    converted = Signal(dict)
    failed = Signal(dict)

    def __init__(self):
        super().__init__()
        self.requests: list[dict] = []

    @Slot(dict)
    def convert(self, request: dict) -> None:
        self.requests.append(request)


@pytest.fixture
def fakes(qtbot, app_settings):
    made = {}

    def worker():
        made["worker"] = FakeInferenceWorker()
        return made["worker"]

    def converter():
        made["converter"] = FakeConversionWorker()
        return made["converter"]

    picture = {"grey": np.full((20, 20), 255, np.uint8)}
    controller = PredictionController(lambda: picture["grey"], app_settings,
                                      worker_factory=worker, converter_factory=converter)
    made.update(controller=controller, settings=app_settings, picture=picture)
    yield made
    assert controller.shutdown()


def wait_for_load(qtbot, worker, count):
    qtbot.waitUntil(lambda: len(worker.loads) >= count, timeout=TIMEOUT)
    return worker.loads[count - 1]


def loaded(request: dict, path: str = "", shipped: bool = True) -> dict:
    """The reply of a worker that loaded ``request``'s model."""
    dataset = request["dataset"]
    info = model_info(__import__("pathlib").Path(path or f"/shipped/{dataset}.keras"), {},
                      dataset, shipped)
    return {**info, "token": request["token"], "user_choice": request["user_choice"]}


def failed(request: dict, message: str = "x.keras is not a model file.") -> dict:
    return {**request, "message": message}


def test_a_late_automatic_load_never_switches_the_dataset(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    changes, ready = [], []
    controller.datasetChanged.connect(changes.append)
    controller.modelReady.connect(ready.append)
    controller.start()
    mnist_request = wait_for_load(qtbot, worker, 1)
    assert mnist_request["dataset"] == "mnist" and not mnist_request["user_choice"]

    controller.set_dataset("fashion_mnist")           # the user switches while MNIST loads
    fashion_request = wait_for_load(qtbot, worker, 2)
    worker.modelLoaded.emit(loaded(mnist_request))    # MNIST's model finishes late

    assert controller.dataset == "fashion_mnist"
    assert changes == ["fashion_mnist"]
    assert ready == []                                # nothing shown for the other dataset
    worker.modelLoaded.emit(loaded(fashion_request))
    assert controller.dataset == "fashion_mnist"
    assert [info["dataset"] for info in ready] == ["fashion_mnist"]
    assert controller.model("mnist")["dataset"] == "mnist"   # kept for a switch back


def test_a_user_chosen_model_switches_the_dataset_and_is_remembered(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    changes = []
    controller.datasetChanged.connect(changes.append)
    controller.start()
    worker.modelLoaded.emit(loaded(wait_for_load(qtbot, worker, 1)))

    controller.load_model_file("/models/clothes.keras")
    request = wait_for_load(qtbot, worker, 2)
    assert request["user_choice"]
    reply = loaded({**request, "dataset": "fashion_mnist"}, "/models/clothes.keras", False)
    worker.modelLoaded.emit(reply)

    assert controller.dataset == "fashion_mnist" and changes == ["fashion_mnist"]
    assert settings.dataset() == "fashion_mnist"
    assert settings.model_path("fashion_mnist") == "/models/clothes.keras"
    assert controller.model()["path"] == "/models/clothes.keras"


def test_a_failing_user_file_keeps_the_model_and_the_remembered_one(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    settings.set_model_path("mnist", "/models/mine.keras")
    messages = []
    controller.modelFailed.connect(messages.append)
    controller.start()
    first = wait_for_load(qtbot, worker, 1)
    assert first["path"] == "/models/mine.keras"      # the remembered model is asked for
    worker.modelLoaded.emit(loaded(first, "/models/mine.keras", False))

    controller.load_model_file("/downloads/broken.keras")
    worker.modelFailed.emit(failed(wait_for_load(qtbot, worker, 2)))

    assert messages == ["x.keras is not a model file. The model in use is unchanged."]
    assert controller.model()["path"] == "/models/mine.keras"
    assert settings.model_path("mnist") == "/models/mine.keras"
    assert controller.dataset == "mnist"


def test_an_older_user_choice_arriving_late_is_ignored(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    controller.start()
    worker.modelLoaded.emit(loaded(wait_for_load(qtbot, worker, 1)))
    controller.load_model_file("/models/a.keras")
    controller.load_model_file("/models/b.keras")
    first, second = wait_for_load(qtbot, worker, 2), wait_for_load(qtbot, worker, 3)

    worker.modelLoaded.emit(loaded(second, "/models/b.keras", False))
    worker.modelLoaded.emit(loaded(first, "/models/a.keras", False))    # stale: chosen earlier
    worker.modelFailed.emit(failed(first))                              # stale failure: silent

    assert controller.model()["path"] == "/models/b.keras"
    assert settings.model_path("mnist") == "/models/b.keras"


def test_a_remembered_model_on_a_missing_drive_is_skipped_for_this_launch_only(qtbot, fakes):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    settings.set_model_path("mnist", "/unplugged/drive.keras")
    messages = []
    controller.modelWarning.connect(messages.append)   # a notice: put right already
    controller.start()
    worker.modelFailed.emit(failed(wait_for_load(qtbot, worker, 1), "drive.keras is missing."))

    fallback = wait_for_load(qtbot, worker, 2)
    assert fallback["path"] == "" and fallback["dataset"] == "mnist"    # the shipped model
    assert messages == ["drive.keras is missing. Using the shipped model instead."]
    assert settings.model_path("mnist") == "/unplugged/drive.keras"      # kept for next launch
    worker.modelLoaded.emit(loaded(fallback))
    assert controller.model()["shipped"]


def test_a_deleted_remembered_model_is_forgotten(qtbot, fakes, tmp_path):
    controller, worker, settings = fakes["controller"], fakes["worker"], fakes["settings"]
    settings.set_model_path("mnist", str(tmp_path / "deleted.keras"))   # its folder is there
    messages = []
    controller.modelWarning.connect(messages.append)
    controller.start()
    worker.modelFailed.emit(failed(wait_for_load(qtbot, worker, 1), "deleted.keras is missing."))
    assert wait_for_load(qtbot, worker, 2)["path"] == ""
    assert messages == ["deleted.keras is missing. Using the shipped model instead."]
    assert settings.model_path("mnist") == ""     # the next launch does not say it again


def test_a_model_without_its_lite_twin_is_converted_then_loaded(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    busy = []
    controller.busy.connect(busy.append)
    controller.start()
    worker.modelLoaded.emit(loaded(wait_for_load(qtbot, worker, 1)))
    controller.load_model_file("/models/old.keras")
    request = wait_for_load(qtbot, worker, 2)
    worker.needsConversion.emit({**request, "keras": "/models/old.keras"})

    qtbot.waitUntil(lambda: "converter" in fakes and bool(fakes["converter"].requests),
                    timeout=TIMEOUT)
    assert busy[-1].startswith("Preparing old.keras for live use")
    fakes["converter"].converted.emit(fakes["converter"].requests[0])
    again = wait_for_load(qtbot, worker, 3)
    assert again["path"] == "/models/old.keras" and again["token"] == request["token"]
    worker.modelLoaded.emit(loaded(again, "/models/old.keras", False))
    assert busy[-1] == "" and controller.model()["path"] == "/models/old.keras"


def test_a_failed_conversion_keeps_the_model_in_use(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    messages = []
    controller.modelFailed.connect(messages.append)
    controller.start()
    worker.modelLoaded.emit(loaded(wait_for_load(qtbot, worker, 1)))
    controller.load_model_file("/models/odd.keras")
    request = wait_for_load(qtbot, worker, 2)
    worker.needsConversion.emit({**request, "keras": "/models/odd.keras"})
    qtbot.waitUntil(lambda: "converter" in fakes and bool(fakes["converter"].requests),
                    timeout=TIMEOUT)
    fakes["converter"].failed.emit(failed(request, "odd.keras could not be prepared."))

    assert messages == ["odd.keras could not be prepared. The model in use is unchanged."]
    assert controller.model()["shipped"]


def test_an_answer_for_the_previous_dataset_is_not_shown_and_is_asked_again(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    results = []
    controller.resultReady.connect(results.append)
    controller.start()
    worker.modelLoaded.emit(loaded(wait_for_load(qtbot, worker, 1)))
    qtbot.waitUntil(lambda: len(worker.classifications) == 1, timeout=TIMEOUT)
    asked = worker.classifications[0]
    assert asked["dataset"] == "mnist"

    controller.set_dataset("fashion_mnist")
    worker.classified.emit({"seq": asked["seq"], "dataset": "mnist",
                            "probabilities": np.eye(10)[3]})
    assert results == []                                  # an MNIST answer on Fashion: dropped
    qtbot.waitUntil(lambda: len(worker.classifications) == 2, timeout=TIMEOUT)
    again = worker.classifications[1]
    assert again["dataset"] == "fashion_mnist"
    worker.classified.emit({"seq": again["seq"], "dataset": "fashion_mnist",
                            "probabilities": np.eye(10)[8]})
    assert [r["dataset"] for r in results] == ["fashion_mnist"]


def test_strokes_while_a_picture_is_classified_give_exactly_one_more_request(qtbot, fakes):
    controller, worker = fakes["controller"], fakes["worker"]
    controller.start()
    worker.modelLoaded.emit(loaded(wait_for_load(qtbot, worker, 1)))
    qtbot.waitUntil(lambda: len(worker.classifications) == 1, timeout=TIMEOUT)
    for _ in range(50):                                   # a whole stroke while one is in flight
        controller.picture_changed()
    assert len(sent_so_far(qtbot, controller, worker)) == 1  # no backlog
    first = worker.classifications[0]
    worker.classified.emit({"seq": first["seq"], "dataset": "mnist",
                            "probabilities": np.eye(10)[1]})
    qtbot.waitUntil(lambda: len(worker.classifications) == 2, timeout=TIMEOUT)
    assert len(sent_so_far(qtbot, controller, worker)) == 2


class _Probe(QObject):
    sent = Signal(dict)


def sent_so_far(qtbot, controller, worker) -> list[dict]:
    """What the controller has sent the worker until now, however slow the machine: its
    dispatch timer has had its turn, then a probe queued after that has reached the worker."""
    qtbot.waitUntil(lambda: not controller._timer.isActive(), timeout=TIMEOUT)
    probe, marker = _Probe(), {"probe": True}
    probe.sent.connect(worker.classify)
    probe.sent.emit(marker)
    qtbot.waitUntil(lambda: marker in worker.classifications, timeout=TIMEOUT)
    with worker.lock:
        worker.classifications.remove(marker)
        return list(worker.classifications)
