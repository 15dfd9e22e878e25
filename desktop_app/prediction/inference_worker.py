"""InferenceWorker: loads LiteRT models and classifies pictures in its own thread.

No TensorFlow here, nor anywhere in the window's process: every model is run from the ``.tflite``
beside its ``.keras`` (LiteRT imports in ~0.1 s and runs a small CNN in a fraction of a
millisecond). A ``.keras`` without an up-to-date ``.tflite`` is reported as ``needsConversion``;
the controller has it converted by a child process and asks again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.prediction.conversion import (  # noqa: F401 - moved; imported from here too
    ConversionWorker,
    conversion_cache_path,
)
from training.core.datasets import DATASETS, normalize_name
from training.modelfile.sidecar import ModelLoadError
from training.runtime.numbers import may_hold_several, read_number
from training.runtime.preprocess import BlankPictureError, place_model_input

log = logging.getLogger(__name__)

NUMBER_SIDE = 280  # several digits are read on the picture reduced to about this many pixels
NOT_A_NUMBER = ("This model's output is not a number (NaN or infinity): it cannot classify. "
                "Load another model or go back to the shipped one.")


def model_info(path: Path, metadata: dict, dataset: str, shipped: bool) -> dict:
    """Plain description of a model for the UI (no runtime objects)."""
    names = metadata.get("class_names") or list(DATASETS[dataset].class_names)
    title = DATASETS[dataset].title
    name = metadata.get("display_name") or (f"Shipped {title} model" if shipped else path.stem)
    return {
        "dataset": dataset,
        "path": str(path),
        "name": name,
        "architecture": metadata.get("architecture", "unknown architecture"),
        "test_accuracy": metadata.get("test_accuracy"),
        "class_names": list(names),
        "shipped": shipped,
        "metadata": metadata,
    }


def up_to_date_tflite(keras_path: Path, metadata: dict) -> Path | None:
    """The ``.tflite`` that holds the same weights as ``keras_path``, or None when it has to be
    made. Beside the model, it is trusted when the sidecar (itself checked against the model's
    hash) records its hash; a conversion made by the app is found by the model's own hash."""
    from training.modelfile.sidecar import file_sha256, tflite_path

    beside = tflite_path(keras_path)
    expected = metadata.get("tflite_sha256")
    try:
        if expected and beside.is_file() and file_sha256(beside) == expected:
            return beside
        cached = conversion_cache_path(file_sha256(keras_path))
    except OSError:
        return None
    return cached if cached.is_file() and cached.stat().st_size > 0 else None


class InferenceWorker(QObject):
    modelLoaded = Signal(dict)       # model_info(...) + the request's "token"/"user_choice"
    modelFailed = Signal(dict)       # the request + "message"
    needsConversion = Signal(dict)   # the request + "keras": a .keras whose .tflite is missing
    classified = Signal(dict)        # {"seq", "dataset", "blank"?, "input"?, "placement"?,
    #                                   "probabilities"?, "number"? (see _read_number)}

    def __init__(self):
        super().__init__()
        self._models: dict[str, object] = {}  # dataset -> LiteModel
        self._checks: dict[str, object] = {}  # dataset -> training.runtime.answer_check.AnswerCheck

    @Slot(dict)
    def load_model(self, request: dict) -> None:
        """request: {"path": .keras/.tflite ("" = shipped model of "dataset"), "dataset": the
        active dataset (used when the model does not say), "token", "user_choice"}."""
        try:
            info, model = self._load(request)
        except ConversionNeeded as needed:
            self.needsConversion.emit({**request, "keras": str(needed.keras)})
            return
        except ModelLoadError as exc:  # the user's message
            self.modelFailed.emit({**request, "message": str(exc)})
            return
        except Exception as exc:  # a surprise: logged, and still a message
            log.exception("loading %s failed", request)
            self.modelFailed.emit({**request, "message": str(exc) or type(exc).__name__})
            return
        self._models[info["dataset"]] = model
        check = self._checks[info["dataset"]] = _answer_check(info)
        info.update(calibrated=check.temperature is not None, checks_ood=check.checks_ood)
        self.modelLoaded.emit({**info, "token": request.get("token"),
                               "user_choice": bool(request.get("user_choice"))})

    def _load(self, request: dict):
        from training.modelfile.sidecar import (
            ModelLoadError,
            check_model_file,
            read_metadata_checked,
            shipped_model_path,
        )
        from training.runtime.lite import LiteModel

        shipped = not request.get("path")
        path = (shipped_model_path(request["dataset"]) if shipped
                else Path(request["path"]).expanduser())
        if not path.exists():
            raise ModelLoadError(f"{path}: no such file.")
        if path.is_dir():
            raise ModelLoadError(f"{path}: is a folder, not a model file.")
        suffix = path.suffix.lower()
        keras_twin = path if suffix == ".keras" else path.with_suffix(".keras")
        metadata, warnings = (read_metadata_checked(keras_twin) if keras_twin.exists()
                              else ({}, []))
        if suffix == ".keras":
            from training.modelfile.sidecar import tflite_path

            check_model_file(path)
            runnable = tflite_path(path) if shipped else up_to_date_tflite(path, metadata)
            if runnable is None:
                raise ConversionNeeded(path)
        elif suffix == ".tflite":
            runnable = path
        else:
            raise ModelLoadError(f"{path.name}: not a model file (.keras or .tflite expected).")
        model = LiteModel(runnable)
        requested = normalize_name(request["dataset"])
        dataset = metadata.get("dataset") or requested
        if dataset != requested and not request.get("user_choice"):
            raise ModelLoadError(f"{path.name} is a {DATASETS[dataset].title} model, not a "
                                 f"{DATASETS[requested].title} one.")
        info = model_info(path, metadata, dataset, shipped)
        info["warnings"] = warnings
        info["runnable"] = str(runnable)  # the .tflite actually run (the explain thread's too)
        return info, model

    @Slot(dict)
    def classify(self, request: dict) -> None:
        """request: {"seq", "dataset", "grey": uint8 (H, W) picture}."""
        reply = {"seq": request["seq"], "dataset": request["dataset"]}
        try:
            picture, placement = place_model_input(request["grey"], request["dataset"])
        except BlankPictureError:
            self.classified.emit({**reply, "blank": True})
            return
        except Exception as exc:  # noqa: BLE001 - a message, never a dead canvas
            log.exception("preprocessing failed")
            self.classified.emit({**reply, "error": f"The picture could not be prepared: {exc}"})
            return
        reply.update(input=picture, placement=placement)
        model = self._models.get(request["dataset"])
        if model is not None:
            try:
                probabilities = np.asarray(model.predict(picture), np.float32)
            except Exception as exc:  # noqa: BLE001
                log.exception("prediction failed")
                reply["error"] = f"The model could not classify the picture: {exc}"
            else:
                if np.all(np.isfinite(probabilities)):
                    reply.update(_honest_answer(self._checks.get(request["dataset"]),
                                                probabilities, picture))
                    # Several digits? Only flagged here (< 1 ms); the reading itself (4-15 ms)
                    # is the NumberWorker's, so these probabilities are never late for it.
                    reply["number_candidate"] = _may_be_a_number(request, picture)
                else:
                    reply["error"] = NOT_A_NUMBER
        self.classified.emit(reply)


def _answer_check(info: dict):
    """The temperature and the out-of-distribution check of a loaded model (training.runtime.answer_check)."""
    from training.runtime.answer_check import AnswerCheck

    path = Path(info["path"])
    try:
        return AnswerCheck.for_model(path.with_suffix(".keras"), info.get("metadata") or {})
    except Exception:  # noqa: BLE001 - a broken check file: the answers, without the check
        log.exception("the confidence check of %s could not be loaded", path)
        return AnswerCheck()


def _honest_answer(check, probabilities: np.ndarray, picture: np.ndarray) -> dict:
    """{"probabilities": calibrated, "verdict": "ok" | "unsure" | "reject", "ood_score"}."""
    if check is None:
        return {"probabilities": probabilities}
    calibrated = check.probabilities(probabilities)
    try:
        score = check.score(picture)
    except Exception:  # noqa: BLE001 - the answer stands without the check
        log.exception("the out-of-distribution check failed")
        score = None
    return {"probabilities": calibrated, "verdict": check.verdict(calibrated, score),
            "ood_score": score}


def _may_be_a_number(request: dict, model_input: np.ndarray) -> bool:
    """MNIST, and the cheap pre-check on the model input and the picture says it may hold
    several digits (< 1 ms): a single digit costs nearly nothing."""
    return normalize_name(request["dataset"]) == "mnist" and bool(
        may_hold_several(model_input, request["grey"]))


class NumberWorker(QObject):
    """Reads several digits side by side as a number, in its own thread with its own LiteRT
    interpreter (as the ExplainWorker does), after the drawing's probabilities are out."""

    numberRead = Signal(dict)  # the request's "seq", "dataset" + "number" (dict or None)

    def __init__(self):
        super().__init__()
        self._models: dict[str, object] = {}  # .tflite path -> LiteModel

    @Slot(dict)
    def read(self, request: dict) -> None:
        """request: {"seq", "dataset", "grey": the picture, "runnable": .tflite path}."""
        from training.runtime.lite import LiteModel

        number = None
        try:
            path = request["runnable"]
            if path not in self._models:
                if len(self._models) >= 4:
                    self._models.clear()
                self._models[path] = LiteModel(path)
            number = _read_number(request["grey"], self._models[path],
                                  request.get("temperature"))
        except Exception:  # noqa: BLE001 - the single-digit answer stands
            log.exception("reading a number failed")
        self.numberRead.emit({"seq": request["seq"], "dataset": request["dataset"],
                              "number": number})


def _read_number(grey: np.ndarray, model, temperature: float | None = None) -> dict | None:
    """Several digits side by side, as a number: {"text", "confidence" (the product of the
    digits' confidences), "digits": one probabilities array per digit, "boxes": their boxes in
    the picture's pixels, "inputs": the 28x28 each digit was read from}; None for one digit.

    The reader weighs the model's calibrated probabilities (``temperature``): a model trained
    with label smoothing is under-confident, and its raw answers made "17" read as "7"."""
    grey = np.asarray(grey)
    factor = max(1, -(-max(grey.shape) // NUMBER_SIDE))
    if factor > 1:  # a reduced copy: 2.5x faster, about as accurate (bench_numbers' numbers
        #           read at 280 px: 99.3 / 96.7 / 94.0 % exact for 2 / 4 / 6 digits)
        grey = np.asarray(Image.fromarray(grey).reduce(factor))
    from training.runtime.calibration import calibrated_predictions

    reading = read_number(grey, calibrated_predictions(model.predict_batch, temperature))
    digits = [np.asarray(d.probabilities, np.float32) for d in reading.digits]
    if len(digits) < 2 or not all(np.all(np.isfinite(d)) for d in digits):
        return None
    return {"text": reading.number, "confidence": float(reading.confidence), "digits": digits,
            "boxes": [tuple(v * factor for v in d.box) for d in reading.digits],
            "inputs": [np.asarray(d.model_input, np.float32) for d in reading.digits]}


class ConversionNeeded(Exception):
    def __init__(self, keras: Path):
        super().__init__(str(keras))
        self.keras = keras
