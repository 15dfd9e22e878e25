"""The "That doesn't look like a digit" check: an out-of-distribution score measured in the model.

The top probability alone (what "Not sure" used to be) is a weak detector: a letter or a
scribble drawn with the canvas's pen gets 99 % "4" as easily as a real 4 does. What gives them
away is how the network's *features* compare with those of the pictures it was trained on. Four
scores are computed from three taps of the model (measured on our own scribble, letter and
noise sets, see ``training/learn/ood_sets.py``; each alone rejected 40-90 % of one set, their sum
93-100 % of each at the same 0.5 % false alarms):

* ``mahalanobis_early``: class-conditional Mahalanobis distance (Lee et al. 2018, shared
  covariance) of the first two pooling layers' per-channel means and maxima: stroke statistics;
* ``mahalanobis_penultimate``: the same on the input of the last Dense layer;
* ``energy``: ``-logsumexp(logits)`` (Liu et al. 2020), the logits being the last layer's
  pre-softmax values;
* ``nearest_centroid``: cosine distance of the flattened conv features to the nearest of
  1,000 k-means centroids of the training set's (deep k-NN, Sun et al. 2022, with centroids
  instead of all 57,000 pictures: 2.3 MB instead of 130 MB, nearly the same rejection).

Each score is normalised on the held-out (validation) split (``(s - median) / (q99 - median)``)
and the positive parts are summed. Two thresholds on that sum are chosen on the held-out split
too and stored in the sidecar: above ``reject_above`` (its 99.5th percentile) the window says
"That doesn't look like a digit"; above ``unsure_above`` (98th) the picture is unusual, and the
answer then needs a calibrated 90 % not to read "Not sure" (see :class:`AnswerCheck`).

Users draw, and a drawing is not a photo: fitted on the dataset's pictures alone, the check
refused 55-75 % of garment drawings whose class the model got right (issue #20). So
``training calibrate`` also fits it on drawings (``training.learn.drawn_sets``, its "fit" family):
they get class components and centroids of their own, the thresholds rise to the 98th
percentile of other held-out drawings where that is higher, and a fifth score,
``junk_direction`` (a linear discriminant towards scribbles, letters, noise and the other
dataset's drawings, weighted ``JUNK_WEIGHT``), keeps junk out. Measured on pictures the check
was not fitted on: bench/bench_ood_drawings.py.

Files beside ``M.keras``: ``M.ood.tflite`` (the three taps, run by LiteRT in the window) and
``M.ood.npz`` (class means, precision matrices, the last layer's weights, the centroids and the
normalisation). The sidecar's ``ood`` block records both files' SHA-256; a mismatch disables the
check rather than trusting a stale file. Building needs Keras (a child process); scoring is
numpy, reading the features LiteRT.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.modelfile.sidecar import ModelLoadError, features_path, file_sha256, stats_path

SCORES = ("mahalanobis_early", "mahalanobis_penultimate", "energy", "nearest_centroid",
          "junk_direction")  # the fifth only in a file fitted with junk examples
TAPS = ("early", "flat", "penult")
FORMAT = "draw-classify-ood/1"


# ------------------------------------------------------------------------------ scoring
@dataclass
class Detector:
    """The fitted statistics (numpy only). ``score(features)`` is the combined OOD score of
    each picture (higher = less like the training pictures)."""

    penult_means: np.ndarray        # (10, P), or (20, P) with drawings' own classes
    penult_precision: np.ndarray    # (P, P)
    kernel: np.ndarray              # (P, 10) the last layer's weights: logits = penult @ W + b
    bias: np.ndarray                # (10,)
    centroids: np.ndarray           # (K, F) unit vectors
    centre: np.ndarray              # (4,) or (5,) per-score held-out median
    scale: np.ndarray               # (4,) or (5,) per-score held-out (q99 - median)
    early_means: np.ndarray | None = None      # (10 or 20, E); None: no convolutions
    early_precision: np.ndarray | None = None  # (E, E)
    weights: np.ndarray | None = None          # (4,) or (5,) each score's share; None: all 1
    junk_direction: np.ndarray | None = None   # (E + P,) towards junk; None: 4 scores

    def raw_scores(self, features: dict) -> np.ndarray:
        """(n, 4 or 5) scores in SCORES order (a missing early tap scores 0)."""
        penult = np.asarray(features["penult"], np.float32)
        n = len(penult)
        out = np.zeros((n, len(self.centre)), np.float64)
        if self.early_means is not None and "early" in features:
            out[:, 0] = mahalanobis(np.asarray(features["early"], np.float32),
                                     self.early_means, self.early_precision)
        out[:, 1] = mahalanobis(penult, self.penult_means, self.penult_precision)
        logits = penult.astype(np.float64) @ self.kernel + self.bias
        top = logits.max(axis=1)
        out[:, 2] = -(top + np.log(np.exp(logits - top[:, None]).sum(axis=1)))
        out[:, 3] = centroid_distance(np.asarray(features["flat"], np.float32), self.centroids)
        if self.junk_direction is not None:
            out[:, 4] = junk_taps(features, self.early_means is not None) @ self.junk_direction
        return out

    def normalised(self, features: dict) -> np.ndarray:
        return self.normalise(self.raw_scores(features))

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores (n, 4 or 5) in their units, weighted: ``score`` is their sum."""
        parts = np.maximum((raw - self.centre) / self.scale, 0.0)
        if self.early_means is None:
            parts[:, 0] = 0.0
        if self.weights is not None:
            parts = parts * self.weights
        return parts

    def score(self, features: dict) -> np.ndarray:
        return self.normalised(features).sum(axis=1)

    # -- files
    def to_bytes(self) -> bytes:
        arrays = {k: v for k, v in self.__dict__.items() if v is not None}
        arrays["centroids"] = self.centroids.astype(np.float16)  # half the size, same answers
        arrays["format"] = np.array(FORMAT)
        buffer = io.BytesIO()
        # Stored, not deflated: the window reads this file on the way to its first answer,
        # and unzipping took 12 of the 22 ms (3.0 MB instead of 1.7 MB for the shipped MNIST's)
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Detector:
        """Raises ValueError (with the reason) for a file that is not a usable detector."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data.get("format", "")) != FORMAT:
                    raise ValueError(f"{Path(path).name} is not an OOD statistics file")
                arrays = {k: np.asarray(data[k]) for k in data.files if k != "format"}
        except (OSError, EOFError, KeyError) as exc:
            raise ValueError(f"{Path(path).name} cannot be read ({exc})") from None
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - a zip or pickle error from a damaged file
            raise ValueError(f"{Path(path).name} is damaged ({type(exc).__name__})") from None
        try:
            detector = cls(**{k: v.astype(np.float32, copy=False) for k, v in arrays.items()})
        except TypeError:
            raise ValueError(f"{Path(path).name} lacks some statistics") from None
        detector._check()
        return detector

    def _check(self) -> None:
        components, p = self.penult_means.shape
        classes = self.kernel.shape[1] if self.kernel.ndim == 2 else -1
        ok = (self.penult_precision.shape == (p, p) and self.kernel.shape == (p, classes)
              and classes > 0 and components % classes == 0
              and self.bias.shape == (classes,) and self.centroids.ndim == 2
              and self.centre.shape in ((4,), (5,)) and self.scale.shape == self.centre.shape
              and (self.junk_direction is not None) == (len(self.centre) == 5)
              and np.all(self.scale > 0))
        if self.weights is not None:
            ok = (ok and self.weights.shape == self.centre.shape
                  and bool(np.all(self.weights >= 0)) and bool(np.any(self.weights > 0)))
        if self.junk_direction is not None:
            width = p + (self.early_means.shape[1] if self.early_means is not None else 0)
            ok = ok and self.junk_direction.shape == (width,)
        if self.early_means is not None:
            e = self.early_means.shape[1]
            ok = ok and self.early_precision is not None and self.early_precision.shape == (e, e)
        arrays = [v for v in self.__dict__.values() if v is not None]
        if not ok or not all(np.all(np.isfinite(a)) for a in arrays):
            raise ValueError("the OOD statistics are inconsistent or not finite")


def mahalanobis(x: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Squared distance to the nearest class mean under the shared precision matrix."""
    x = x.astype(np.float64)
    projected = x @ precision                           # (n, d)
    own = np.einsum("nd,nd->n", projected, x)           # x P x
    cross = projected @ means.T.astype(np.float64)      # x P m_k
    # m_k P m_k, by BLAS: einsum's loop over three operands took ~1 ms of every answer (and
    # more at the first), and summed in float32 it was 10x less accurate
    mean_terms = ((means @ precision) * means).sum(axis=1)
    return (own[:, None] - 2 * cross + mean_terms[None, :]).min(axis=1)


def junk_taps(features: dict, early: bool) -> np.ndarray:
    taps = [features["early"]] if early else []
    return np.concatenate([np.asarray(t, np.float64) for t in taps + [features["penult"]]],
                          axis=1)


def centroid_distance(flat: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    unit = flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-8)
    out = np.empty(len(unit))
    for start in range(0, len(unit), 1024):
        out[start:start + 1024] = 1.0 - (unit[start:start + 1024] @ centroids.T).max(axis=1)
    return out


# ------------------------------------------------------------------------------ fitting


def verdict(score: float, block: dict | None) -> str:
    """"reject" ("That doesn't look like a …"), "unsure" or "ok" for one picture's score."""
    if block is None or not math.isfinite(score):
        return "ok"
    if score > block["reject_above"]:
        return "reject"
    if score > block["unsure_above"]:
        return "unsure"
    return "ok"


# ------------------------------------------------------------------------------ Keras side


# ------------------------------------------------------------------------------ window side
class FeatureRunner:
    """``M.ood.tflite`` run by LiteRT: pictures -> the taps (no TensorFlow)."""

    def __init__(self, path: str | os.PathLike, num_threads: int = 1):
        from training.runtime.lite import LiteRunner

        self._model = LiteRunner(path, num_threads, "features model", by_signature=True)
        self.path = self._model.path
        inputs = self._model.inputs
        if len(inputs) != 1:
            raise ModelLoadError(f"{self.path.name}: the model has {len(inputs)} inputs.")
        self._shape = inputs[0].shape[1:]
        self.outputs = tuple(output.name for output in self._model.outputs)
        if "flat" not in self.outputs or "penult" not in self.outputs:
            raise ModelLoadError(f"{self.path.name}: not a features model (outputs "
                                 f"{', '.join(self.outputs)}).")

    def run(self, pictures: np.ndarray) -> dict:
        """(n, 28, 28) float pictures in [0, 1] (or one (28, 28)) -> {tap: (n, d)}."""
        x = np.asarray(pictures, np.float32)
        if x.ndim == 2:
            x = x[None]
        out = self._model.run(x.reshape(len(x), *self._shape))
        return {key: np.asarray(value, np.float32) for key, value in zip(self.outputs, out)}


def load_checked(keras_path: str | os.PathLike, block: dict | None):
    """(FeatureRunner, Detector) for a model whose sidecar's ``ood`` block matches the files
    beside it; None when there is no block or a file is missing, damaged or stale."""

    if not block:
        return None
    keras_path = Path(keras_path)
    lite = keras_path.with_name(block["features_file"])
    stats = keras_path.with_name(block["stats_file"])
    try:
        if (file_sha256(lite) != block["features_sha256"]
                or file_sha256(stats) != block["stats_sha256"]):
            return None
        from training.core import ahead  # the window's first load may have read them already

        return (ahead.take("ood-features", lite, FeatureRunner),
                ahead.take("ood-stats", stats, Detector.from_file))
    except (OSError, ValueError, KeyError, ModelLoadError):
        return None


# ------------------------------------------------------------------------------ sidecar


# ------------------------------------------------------------------------------ the answer
class AnswerCheck:
    """What the window does with one answer (numpy + LiteRT): the calibrated probabilities and
    a verdict, "ok", "unsure" ("Not sure: A or B") or "reject" ("That doesn't look like …").

    "unsure": the calibrated top probability is under ``calibration.NOT_SURE_BELOW`` (the
    answer is then more likely wrong than right), or under ``UNUSUAL_NOT_SURE_BELOW`` for an
    unusual picture (OOD score above the sidecar's ``unsure_above``). Measured on the shipped
    MNIST model: 0.28 % of the official test pictures are "Not sure" and 64 % of those answers
    are right (99.63 % of the others); of the digits rendered from fonts, 0.28 %. Flagging every
    unusual picture instead would have said "Not sure" about 7.5 % of those font digits, all of
    them read right. A model without calibration keeps the old fixed cut,
    ``LEGACY_NOT_SURE_BELOW`` on its raw top probability; one without an ``ood`` block is never
    rejected.
    """

    LEGACY_NOT_SURE_BELOW = 0.6
    UNUSUAL_NOT_SURE_BELOW = 0.9

    def __init__(self, temperature: float | None = None, checker=None, block: dict | None = None):
        self.temperature = temperature
        self._checker = checker          # (FeatureRunner, Detector) or None
        self._block = block if checker is not None else None

    @classmethod
    def for_model(cls, keras_path: str | os.PathLike | None, metadata: dict) -> AnswerCheck:
        metadata = metadata or {}
        block = metadata.get("ood")
        checker = load_checked(keras_path, block) if keras_path and block else None
        return cls(metadata.get("temperature"), checker, block)

    @property
    def checks_ood(self) -> bool:
        return self._checker is not None

    def probabilities(self, probabilities: np.ndarray) -> np.ndarray:
        from training.runtime.calibration import apply_temperature

        return apply_temperature(probabilities, self.temperature)

    def score(self, picture: np.ndarray) -> float | None:
        if self._checker is None:
            return None
        runner, detector = self._checker
        return float(detector.score(runner.run(picture))[0])

    def verdict(self, calibrated: np.ndarray, score: float | None) -> str:
        from training.runtime.calibration import NOT_SURE_BELOW

        unusual = False
        if score is not None and self._block is not None:
            found = verdict(score, self._block)
            if found == "reject":
                return found
            unusual = found == "unsure"
        cut = NOT_SURE_BELOW if self.temperature is not None else self.LEGACY_NOT_SURE_BELOW
        if unusual:
            cut = max(cut, self.UNUSUAL_NOT_SURE_BELOW)
        return "unsure" if float(np.max(calibrated)) < cut else "ok"

    def answer(self, probabilities: np.ndarray, picture: np.ndarray) -> dict:
        """One picture's answer as the window gives it: {"probabilities": calibrated,
        "verdict": "ok" | "unsure" | "reject", "ood_score": float or None}."""
        calibrated = self.probabilities(probabilities)
        score = self.score(picture)
        return {"probabilities": calibrated, "verdict": self.verdict(calibrated, score),
                "ood_score": score}

    def verdicts(self, probabilities: np.ndarray, pictures: np.ndarray) -> list[str]:
        """:meth:`verdict` of many pictures at once (raw probabilities, (n, 28, 28) inputs)."""
        calibrated = self.probabilities(np.asarray(probabilities))
        if self._checker is None:
            scores = [None] * len(calibrated)
        else:
            runner, detector = self._checker
            scores = [float(x) for x in detector.score(runner.run(pictures))]
        return [self.verdict(p, x) for p, x in zip(calibrated, scores)]


# The words other programs read (``python -m training predict``'s "verdict" field).
VERDICT_NAMES = {"ok": "answer", "unsure": "not_sure", "reject": "not_in_domain"}


def verdict_name(verdict: str) -> str:
    """:meth:`AnswerCheck.verdict` -> "answer" (the window shows "7 — 98%"), "not_sure" ("Not
    sure: 7 or 1") or "not_in_domain" ("That doesn't look like a digit / garment")."""
    return VERDICT_NAMES[verdict]


def copy_files(source_keras: str | os.PathLike, target_keras: str | os.PathLike,
               block: dict) -> dict | None:
    """Copy a model's two OOD files beside ``target_keras`` (named after it, atomically) and
    return its sidecar block naming them; None when the source files are missing (the copy then
    has no check, which its loader notices anyway)."""
    from training.core.atomic import write_bytes

    source, target = Path(source_keras), Path(target_keras)
    try:
        contents = {key: source.with_name(block[key]).read_bytes()
                    for key in ("features_file", "stats_file")}
    except (OSError, KeyError, TypeError):
        return None
    names = {"features_file": features_path(target).name, "stats_file": stats_path(target).name}
    for key, content in contents.items():
        write_bytes(target.with_name(names[key]), content)
    return {**block, **names}
