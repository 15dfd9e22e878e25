"""What the prediction jobs are asked and what they answer: plain immutable records.

The inference, numbers, explainer and picture-loader jobs compute them in their threads
(prediction/inference_worker.py, explain_worker.py, picture_loader.py), the conversion child
job makes ``Conversion``s loadable (prediction/conversion.py), and the controller and the
window pass them around. They live apart from the code that computes them so that the
controller and the window import them without numpy, Pillow or LiteRT: the window's first
frame needs none of those, and each job's thread imports them on its first request
(``jobs.latest.made_in_thread``). Arrays and QImages travel in them; their types are only
named here. NamedTuples (changed with ``_replace``): Python 3.11 defines these 16 in 2 ms,
as frozen dataclasses in 11 ms of the window's first frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    from PySide6.QtGui import QImage

    from training.runtime import numbers


class ModelInfo(NamedTuple):
    """A model as the UI describes it (no runtime objects): what ``modelReady`` carries and
    ``PredictionController.model()`` returns."""

    dataset: str
    path: str
    name: str
    architecture: str
    test_accuracy: float | None
    class_names: list[str]
    shipped: bool
    metadata: dict                      # its sidecar
    warnings: tuple[str, ...] = ()      # what is wrong with (part of) the sidecar
    runnable: str = ""                  # the .tflite actually run (the other threads' too)
    calibrated: bool = False            # a temperature was read for its answers
    checks_ood: bool = False            # it has a "doesn't look like" check


class LoadRequest(NamedTuple):
    """Load a model: ``path`` a .keras/.tflite ("" = the shipped model of ``dataset``);
    ``dataset`` the active one (used when the model does not say); ``token`` the user's choice
    it answers (None for an automatic load)."""

    path: str
    dataset: str
    user_choice: bool = False
    token: int | None = None


class ModelLoaded(NamedTuple):
    request: LoadRequest
    info: ModelInfo


class LoadFailed(NamedTuple):
    request: LoadRequest
    message: str        # for the user


class NeedsConversion(NamedTuple):
    request: LoadRequest
    keras: str          # a .keras whose .tflite is still to be made


class ClassifyRequest(NamedTuple):
    seq: int
    dataset: str
    grey: np.ndarray    # uint8 (H, W) picture


class Classification(NamedTuple):
    """The answer for one drawing, as the window's resultReady carries it: a field the answer
    has not come to is None (blank: nothing drawn; no ``probabilities``: no model yet, or an
    ``error``)."""

    seq: int
    dataset: str
    blank: bool = False
    input: np.ndarray | None = None         # the 28x28 model input
    placement: object = None                # where the picture lies in it
    probabilities: np.ndarray | None = None
    verdict: str | None = None              # "ok" | "unsure" | "reject" (with a check)
    ood_score: float | None = None
    number_candidate: bool = False          # may hold several digits: the NumberReader's
    error: str | None = None
    latency_ms: float | None = None         # set by the controller: since the first change
    #                                         not yet sent


class NumberRequest(NamedTuple):
    seq: int
    dataset: str
    grey: np.ndarray                 # the picture
    runnable: str                    # the .tflite of the canvas's model
    temperature: float | None = None


class NumberReading(NamedTuple):
    seq: int
    dataset: str
    number: numbers.NumberReading | None  # see inference_worker._read_number; None: one digit


class ExplainRequest(NamedTuple):
    seq: int
    dataset: str
    runnable: str            # the .tflite of the canvas's model
    input: np.ndarray        # the 28x28 model input
    placement: object        # where the picture lies in it
    grey: np.ndarray         # the picture
    label: int
    changed_at: float        # when the drawing changed (perf_counter): the map's lag


class Saliency(NamedTuple):
    seq: int
    dataset: str
    changed_at: float
    label: int | None = None
    saliency: np.ndarray | None = None   # 28x28
    overlay: QImage | None = None        # over the picture
    error: str | None = None


class Conversion(NamedTuple):
    """One ``.keras`` to convert, and who asked: a view by name ("layers", "compare"), or the
    canvas's own model load (``asked_by`` "", ``load`` the LoadRequest to retry after it)."""

    keras: str
    layers: bool = False
    asked_by: str = ""
    load: object = None


class PictureFile(NamedTuple):
    path: str


class PicturePixels(NamedTuple):
    rgba: np.ndarray     # (H, W, 4) uint8: pixels pasted or dropped as image data


class PictureLoaded(NamedTuple):
    grey: np.ndarray     # uint8 (H, W)
    name: str            # the file's name ("" for pixels)


class PictureFailed(NamedTuple):
    message: str         # for the user
