"""Honest confidence: temperature scaling, expected calibration error, reliability diagrams.

A classifier is *calibrated* when, among the answers it gives with 80 % confidence, 80 % are
right. Networks trained to convergence usually are not (Guo et al. 2017, "On Calibration of
Modern Neural Networks"); augmentation and dropout can make them under-confident instead. The
standard fix is **temperature scaling**: divide the logits by one number T, fitted on held-out
data by minimising the negative log-likelihood. It never changes the answer (the order of the
classes is kept), only how sure the model says it is.

Our models end in a softmax, so their logits are known up to a constant per picture:
``log(p) = z - logsumexp(z)``, and ``softmax(log(p) / T) == softmax(z / T)``. The window
applies T to the probabilities LiteRT gives (:func:`apply_temperature`), with no new model file.

The **expected calibration error** (ECE, Naeini et al. 2015) sorts the answers into 15 equal
confidence bins and averages |accuracy - mean confidence| weighted by the bins' sizes; the
**reliability diagram** draws those bins. numpy only: the window reads this module too.
"""

from __future__ import annotations

import math

import numpy as np

BINS = 15
PROBABILITY_FLOOR = 1e-30   # log(0) is -inf: a class with probability 0 gets log(1e-30) = -69
T_RANGE = (0.05, 20.0)      # temperatures searched; a sidecar may hold any in [1e-3, 1e3]
# "Not sure" below this calibrated probability: the answer is then more likely wrong than
# right, which only means something once the probabilities are calibrated.
NOT_SURE_BELOW = 0.5


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probabilities, np.float64), PROBABILITY_FLOOR, None))


def apply_temperature(probabilities: np.ndarray, temperature: float | None) -> np.ndarray:
    """``softmax(log(p) / T)`` along the last axis, float32; T = 1 (or None) returns p as is."""
    probabilities = np.asarray(probabilities, np.float32)
    if temperature is None or temperature == 1.0:
        return probabilities
    return softmax(log_probabilities(probabilities) / float(temperature))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities from scores along the last axis, float32 (stable: the maximum first)."""
    z = np.asarray(scores, np.float64)
    out = np.exp(z - z.max(axis=-1, keepdims=True))
    out /= out.sum(axis=-1, keepdims=True)
    return out.astype(np.float32)


def ends_in_logits(probe: np.ndarray) -> bool:
    """Whether a model's output (for any picture) is scores rather than probabilities: the one
    rule by which the LiteRT and the Keras runners decide to apply a softmax."""
    probe = np.asarray(probe, np.float32)
    return not (np.all(probe >= 0) and abs(float(probe.sum()) - 1) < 1e-3)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray,
                            temperature: float = 1.0) -> float:
    """Mean -log p(true class) after temperature scaling."""
    z = log_probabilities(probabilities) / temperature
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    picked = z[np.arange(len(z)), np.asarray(labels, np.int64)]
    return float(np.mean(log_norm - picked))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in T_RANGE minimising the held-out NLL (golden-section search on log T; the NLL is
    convex in 1/T, so unimodal in log T). Raises ValueError without pictures."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if len(probabilities) == 0 or len(probabilities) != len(labels):
        raise ValueError("temperature scaling needs held-out pictures with their labels")
    low, high = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa = negative_log_likelihood(probabilities, labels, math.exp(a))
    fb = negative_log_likelihood(probabilities, labels, math.exp(b))
    for _ in range(60):  # the bracket shrinks to 1e-12 of its size
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = negative_log_likelihood(probabilities, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = negative_log_likelihood(probabilities, labels, math.exp(b))
    return float(math.exp((low + high) / 2))


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict:
    """Per confidence bin ([i/bins, (i+1)/bins), the last one closed): how many answers,
    their mean confidence and their accuracy (None for an empty bin)."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels, np.int64)
    confidence = probabilities.max(axis=1) if len(probabilities) else np.zeros(0)
    correct = (probabilities.argmax(axis=1) == labels) if len(probabilities) else np.zeros(0)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    counts, mean_conf, accuracy = [], [], []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        counts.append(n)
        mean_conf.append(float(confidence[inside].mean()) if n else None)
        accuracy.append(float(correct[inside].mean()) if n else None)
    return {"bins": bins, "count": counts, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = BINS) -> float:
    table = reliability(probabilities, labels, bins)
    return ece_of(table)


def ece_of(table: dict) -> float:
    """The ECE of a :func:`reliability` table."""
    total = sum(table["count"])
    if not total:
        return 0.0
    return float(sum(n / total * abs(acc - conf)
                     for n, conf, acc in zip(table["count"], table["confidence"],
                                             table["accuracy"]) if n))


def calibrate(fit_probabilities: np.ndarray, fit_labels: np.ndarray,
              eval_probabilities: np.ndarray, eval_labels: np.ndarray,
              fitted_on: str = "validation split", evaluated_on: str = "official test set"
              ) -> dict:
    """Fit T on one held-out set and measure the ECE before/after on another (or the same, if
    that is all there is). Returns the sidecar's ``calibration`` block (plain JSON values)."""
    temperature = fit_temperature(fit_probabilities, fit_labels)
    scaled = apply_temperature(eval_probabilities, temperature)
    before = reliability(eval_probabilities, eval_labels)
    after = reliability(scaled, eval_labels)
    return {
        "temperature": temperature,
        "fitted_on": fitted_on, "fit_images": len(fit_labels),
        "evaluated_on": evaluated_on, "eval_images": len(eval_labels),
        "bins": BINS,
        "ece_before": ece_of(before), "ece_after": ece_of(after),
        "nll_before": negative_log_likelihood(eval_probabilities, eval_labels),
        "nll_after": negative_log_likelihood(eval_probabilities, eval_labels, temperature),
        "reliability_before": before, "reliability_after": after,
    }


# ---------------------------------------------------------------------- sidecar validation


def calibrated_predictions(predict_batch, temperature: float | None):
    """``predict_batch`` with the model's temperature applied (unchanged without one)."""
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
            or not temperature > 0:
        return predict_batch
    return lambda pictures: apply_temperature(predict_batch(pictures), float(temperature))
