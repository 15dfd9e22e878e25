"""Inference: loads LiteRT models and classifies pictures, in the "inference" LatestJob's thread.

No TensorFlow here, nor anywhere in the window's process: every model is run from the ``.tflite``
beside its ``.keras`` (LiteRT imports in ~0.1 s and runs a small CNN in a fraction of a
millisecond). A ``.keras`` without an up-to-date ``.tflite`` comes back as NeedsConversion; the
controller has it converted by a child process and asks again. The requests and results are
the dataclasses of prediction/requests.py.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from desktop_app.prediction.requests import (
    Classification,
    ClassifyRequest,
    LoadFailed,
    LoadRequest,
    ModelInfo,
    ModelLoaded,
    NeedsConversion,
    NumberReading,
    NumberRequest,
)
from training.core import ahead
from training.core.classifiers import find, model_name
from training.core.datasets import dataset_info, dataset_title, normalize_name
from training.modelfile.sidecar import SHIPPED_MODELS, ModelLoadError
from training.runtime.model_cache import ModelCache
from training.runtime.precheck import may_hold_several
from training.runtime.preprocess import BlankPictureError, place_model_input

if TYPE_CHECKING:
    from training.runtime import numbers

log = logging.getLogger(__name__)

NUMBER_SIDE = 280  # several digits are read on the picture reduced to about this many pixels
NOT_A_NUMBER = ("This model's output is not a number (NaN or infinity): it cannot classify. "
                "Load another model or go back to the shipped one.")


def model_info(path: Path, metadata: dict, dataset: str, shipped: bool) -> ModelInfo:
    """Plain description of a model for the UI (no runtime objects)."""
    names = metadata.get("class_names") or list(dataset_info(dataset).class_names)
    title = dataset_title(dataset)
    name = metadata.get("display_name") or (f"Shipped {title} model" if shipped else path.stem)
    classifier = find(dataset)
    lineage = metadata.get("lineage") if isinstance(metadata.get("lineage"), dict) else {}
    if (classifier is not None and lineage.get("samples")
            and Path(path).resolve() == classifier.model_path.resolve()):
        name = model_name(title, len(names), lineage["samples"])  # its title now (renamed?)
    return ModelInfo(dataset=dataset, path=str(path), name=name,
                     architecture=metadata.get("architecture", "unknown architecture"),
                     test_accuracy=metadata.get("test_accuracy"), class_names=list(names),
                     shipped=shipped, metadata=metadata)


def up_to_date_tflite(keras_path: Path, metadata: dict) -> Path | None:
    """The ``.tflite`` that holds the same weights as ``keras_path``, or None when it has to be
    made. Beside the model, it is trusted when the sidecar (itself checked against the model's
    hash) records its hash; a conversion made by the app is found by the model's own hash."""
    from desktop_app.prediction.conversion import conversion_cache_path
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


def load_model(request: LoadRequest, models) -> tuple[ModelInfo, object]:
    """(its ModelInfo with "warnings" and "runnable", the LiteModel) of the model ``request`` names:
    the canvas's and the compared columns' one loading rule. Raises ConversionNeeded when a
    ``.keras`` has no up-to-date ``.tflite`` yet, ModelLoadError with the user's message."""
    from training.modelfile.sidecar import (
        check_model_file,
        read_metadata_checked,
        default_model_path,
        shipped_model_path,
        tflite_path,
    )

    shipped = not request.path and request.dataset in SHIPPED_MODELS
    path = (shipped_model_path(request.dataset) if shipped
            else default_model_path(request.dataset) if not request.path  # a classifier's
            else Path(request.path).expanduser())
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file.")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder, not a model file.")
    suffix = path.suffix.lower()
    keras_twin = path if suffix == ".keras" else path.with_suffix(".keras")
    metadata, warnings = (read_metadata_checked(keras_twin) if keras_twin.exists()
                          else ({}, []))
    if suffix == ".keras":
        check_model_file(path)
        runnable = tflite_path(path) if shipped else up_to_date_tflite(path, metadata)
        if runnable is None:
            raise ConversionNeeded(path)
    elif suffix == ".tflite":
        runnable = path
    else:
        raise ModelLoadError(f"{path.name}: not a model file (.keras or .tflite expected).")
    model = models.get(runnable)
    requested = normalize_name(request.dataset)
    dataset = metadata.get("dataset") or requested
    if dataset != requested and not request.user_choice:
        raise ModelLoadError(f"{path.name} is a {dataset_title(dataset)} model, not a "
                             f"{dataset_title(requested)} one.")
    info = model_info(path, metadata, dataset, shipped)._replace(
        warnings=tuple(warnings), runnable=str(runnable))
    return info, model


def load_reply(request: LoadRequest, load):
    """``load()``'s result, or the LoadFailed / NeedsConversion it comes to."""
    try:
        return load()
    except ConversionNeeded as needed:
        return NeedsConversion(request, str(needed.keras))
    except ModelLoadError as exc:  # the user's message
        return LoadFailed(request, str(exc))
    except Exception as exc:  # a surprise: logged, and still a message
        log.exception("loading %s failed", request)
        return LoadFailed(request, str(exc) or type(exc).__name__)


class Inference:
    """The canvas's models and their answers, run in the "inference" LatestJob's thread:
    ``compute`` takes a LoadRequest or a ClassifyRequest."""

    def __init__(self):
        self._models = ModelCache()
        self._active: dict[str, tuple] = {}  # dataset -> (LiteModel, AnswerCheck)

    def compute(self, request):
        if isinstance(request, LoadRequest):
            try:
                return load_reply(request, lambda: self.load(request))
            finally:
                ahead.end()  # what load_ahead read was for the first load: no more
        return self.classify(request)

    def load(self, request: LoadRequest) -> ModelLoaded:
        info, model = load_model(request, self._models)
        check = _answer_check(info)
        self._active[info.dataset] = (model, check)
        return ModelLoaded(request, info._replace(calibrated=check.temperature is not None,
                                                  checks_ood=bool(check.checks_ood)))

    def classify(self, request: ClassifyRequest) -> Classification:
        reply = {"seq": request.seq, "dataset": request.dataset}
        try:
            picture, placement = place_model_input(request.grey, request.dataset)
        except BlankPictureError:
            return Classification(**reply, blank=True)
        except Exception as exc:  # noqa: BLE001 - a message, never a dead canvas
            log.exception("preprocessing failed")
            return Classification(**reply, error=f"The picture could not be prepared: {exc}")
        reply.update(input=picture, placement=placement)
        model, check = self._active.get(request.dataset, (None, None))
        if model is None:
            return Classification(**reply)
        try:
            probabilities = np.asarray(model.predict(picture), np.float32)
        except Exception as exc:  # noqa: BLE001
            log.exception("prediction failed")
            return Classification(**reply, error=f"The model could not classify the picture: "
                                                 f"{exc}")
        if not np.all(np.isfinite(probabilities)):
            return Classification(**reply, error=NOT_A_NUMBER)
        # Several digits? Only flagged here (< 1 ms); the reading itself (4-15 ms) is the
        # NumberReader's, so these probabilities are never late for it.
        return Classification(**reply, **_honest_answer(check, probabilities, picture),
                              number_candidate=_may_be_a_number(request, picture))


def _answer_check(info: ModelInfo):
    """The temperature and the out-of-distribution check of a loaded model."""
    from training.runtime.answer_check import AnswerCheck

    path = Path(info.path)
    try:
        return AnswerCheck.for_model(path.with_suffix(".keras"), info.metadata or {})
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


def _may_be_a_number(request: ClassifyRequest, model_input: np.ndarray) -> bool:
    """MNIST, and the cheap pre-check on the model input and the picture says it may hold
    several digits (< 1 ms): a single digit costs nearly nothing."""
    return normalize_name(request.dataset) == "mnist" and bool(
        may_hold_several(model_input, request.grey))


class NumberReader:
    """Reads several digits side by side as a number, in the "numbers" LatestJob's thread
    with its own LiteRT interpreters, after the drawing's probabilities are out."""

    def __init__(self):
        self._models = ModelCache()

    def compute(self, request: NumberRequest) -> NumberReading:
        number = None
        try:
            number = _read_number(request.grey, self._models.get(request.runnable),
                                  request.temperature)
        except Exception:  # noqa: BLE001 - the single-digit answer stands
            log.exception("reading a number failed")
        return NumberReading(request.seq, request.dataset, number)


def _read_number(grey: np.ndarray, model,
                 temperature: float | None = None) -> numbers.NumberReading | None:
    """Several digits side by side, as a number (its digits' boxes in the picture's pixels);
    None for one digit, or when a digit's probabilities are not finite.

    The reader weighs the model's calibrated probabilities (``temperature``): a model trained
    with label smoothing is under-confident, and its raw answers made "17" read as "7"."""
    grey = np.asarray(grey)
    factor = max(1, -(-max(grey.shape) // NUMBER_SIDE))
    if factor > 1:  # a reduced copy: 2.5x faster, about as accurate (bench_numbers' numbers
        #           read at 280 px: 99.3 / 96.7 / 94.0 % exact for 2 / 4 / 6 digits)
        grey = np.asarray(Image.fromarray(grey).reduce(factor))
    from training.runtime import numbers  # here: a single digit's answer never waits for it
    from training.runtime.calibration import calibrated_predictions

    reading = numbers.read_number(grey, calibrated_predictions(model.predict_batch, temperature))
    digits = reading.digits
    if len(digits) < 2 or not all(math.isfinite(p) for d in digits for p in d.probabilities):
        return None
    return numbers.NumberReading([
        replace(d, box=numbers.Box(*(v * factor for v in d.box)),
                model_input=np.asarray(d.model_input, np.float32)) for d in digits])


class ConversionNeeded(Exception):
    def __init__(self, keras: Path):
        super().__init__(str(keras))
        self.keras = keras
