"""Validators of the sidecar's two nested blocks: ``calibration`` (temperature scaling, read by
training/runtime/calibration.py) and ``ood`` (the answer check's thresholds and files, read by
training/runtime/answer_check.py). Each raises TypeError/ValueError when a block is unusable;
training/modelfile/sidecar.py then drops it with a warning."""

from __future__ import annotations

import math


def _number(value, low=-math.inf, high=math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError
    return float(value)


def _table(value) -> dict:
    if not isinstance(value, dict):
        raise TypeError
    bins = value.get("bins")
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 100:
        raise ValueError
    out = {"bins": bins}
    for key in ("count", "confidence", "accuracy"):
        column = value.get(key)
        if not isinstance(column, list) or len(column) != bins:
            raise TypeError
        if key == "count":
            if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                       for n in column):
                raise TypeError
            out[key] = list(column)
        else:
            out[key] = [None if v is None else _number(v, 0.0, 1.0) for v in column]
    return out


def validate_calibration(value) -> dict:
    """The sidecar's ``calibration`` block, checked field by field (TypeError/ValueError when
    unusable: store.validate_metadata then drops it with a warning)."""
    if not isinstance(value, dict):
        raise TypeError
    out = {"temperature": _number(value.get("temperature"), 1e-3, 1e3),
           "ece_before": _number(value.get("ece_before"), 0.0, 1.0),
           "ece_after": _number(value.get("ece_after"), 0.0, 1.0),
           "reliability_before": _table(value.get("reliability_before")),
           "reliability_after": _table(value.get("reliability_after"))}
    for key in ("fitted_on", "evaluated_on"):
        if isinstance(value.get(key), str):
            out[key] = value[key][:200]
    for key in ("fit_images", "eval_images", "bins"):
        if isinstance(value.get(key), int) and not isinstance(value.get(key), bool):
            out[key] = value[key]
    for key in ("nll_before", "nll_after"):
        if key in value:
            out[key] = _number(value[key], 0.0)
    return out


def validate_ood(value) -> dict:
    """The sidecar's ``ood`` block, checked (TypeError/ValueError when unusable)."""
    if not isinstance(value, dict):
        raise TypeError
    out = {}
    for key in ("reject_above", "unsure_above"):
        number = value.get(key)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise TypeError
        if not math.isfinite(number) or number < 0:
            raise ValueError
        out[key] = float(number)
    if out["unsure_above"] > out["reject_above"]:
        raise ValueError
    for key in ("features_file", "stats_file"):
        name = value.get(key)
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (
                ".", ".."):
            raise ValueError  # a file beside the model, never a path elsewhere
        out[key] = name
    for key in ("features_sha256", "stats_sha256"):
        digest = value.get(key)
        if not isinstance(digest, str) or len(digest) != 64:
            raise ValueError
        out[key] = digest
    for key in ("method", "held_out"):
        if isinstance(value.get(key), str):
            out[key] = value[key][:300]
    if isinstance(value.get("held_out_images"), int):
        out["held_out_images"] = value["held_out_images"]
    if isinstance(value.get("measured"), dict):
        out["measured"] = value["measured"]  # a report for people; never read as numbers
    return out
