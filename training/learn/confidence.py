"""Calibrate a saved model: its temperature and its out-of-distribution check, in its sidecar.

``python -m training calibrate --model M`` runs :func:`calibrate_saved_model`; ``train`` runs it
after saving. Both need the model's held-out split: the validation split its sidecar's config
names (``validation_split`` and ``seed`` give back exactly the pictures ``train`` held out),
else, for a model trained on everything (or taught), the first half of the official test set,
the other half then being where the figures are measured.

What is written beside ``M.keras``: ``M.ood.tflite`` and ``M.ood.npz`` (see ``training.runtime.answer_check``)
and the sidecar ``M.json`` with ``temperature``, ``calibration`` (ECE and reliability before /
after) and ``ood`` (thresholds, files' hashes, measured rates). The model file and its
``.tflite`` are left untouched, so the hashes the sidecar already records stay true.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from training.core.atomic import write_text
from training.learn import ood_fit
from training.learn.saving import _plain
from training.learn.trainer import (
    HELD_OUT_FALLBACK,  # test pictures used for fitting without a validation split
)
from training.modelfile.sidecar import file_sha256, sidecar_path
from training.runtime import calibration

MIN_HELD_OUT = 200        # fewer held-out pictures cannot place the OOD thresholds


def held_out_split(metadata: dict, data):
    """(x_fit_train, y_fit_train, x_held, y_held, held_name, x_eval, y_eval, eval_name)."""
    from training.learn.trainer import _split
    from training.protocol.config import ConfigError, TrainingConfig

    config = metadata.get("config") or {}
    try:
        values = TrainingConfig.from_dict(config)
        usable = (config.get("validation_split", 0) > 0 and "seed" in config
                  and len(data.x_train) > 1)
    except (TypeError, ValueError):
        usable = False
    if usable:
        try:
            x_train, y_train, x_val, y_val = _split(data, values)
        except ConfigError:
            usable = False
    if usable and len(x_val):
        return (x_train, y_train, x_val, y_val,
                f"validation split ({len(x_val):,} training images held out)",
                data.x_test, data.y_test, "official test set")
    half = min(HELD_OUT_FALLBACK, len(data.x_test) // 2)
    return (data.x_train, data.y_train, data.x_test[:half], data.y_test[:half],
            f"first {half:,} official test images",
            data.x_test[half:], data.y_test[half:],
            f"last {len(data.x_test) - half:,} official test images")


def calibrate_saved_model(model_path: str | os.PathLike, data_dir=None, with_ood: bool = True,
                          progress=None, loaded=None, data=None,
                          max_ood_train: int | None = None, outputs=None,
                          centroids: int | np.ndarray = ood_fit.CENTROIDS) -> dict:
    """Fit, measure and store; returns {"temperature", "calibration", "ood"?, "path"}.
    ``max_ood_train``: fit the OOD check on at most that many training pictures (faster).
    ``outputs``: what the model gives for the pictures used, when the caller has it already
    (an object with ``probabilities(name, images)`` for "held" and "eval" and ``taps(name,
    images)``, see ood_fit.build); else it is computed here. ``centroids``: see
    ``ood_fit.fit_detector``."""
    from training.core.datasets import load_dataset
    from training.learn.saving import load_model
    from training.learn.trainer import predict_probabilities
    from training.modelfile.sidecar import ModelLoadError

    progress = progress or (lambda event: None)
    loaded = loaded or load_model(model_path)
    dataset = loaded.dataset
    if dataset is None:
        raise ModelLoadError(f"{loaded.path.name} has no metadata naming its dataset; "
                             "it cannot be calibrated")
    data = data or load_dataset(dataset, data_dir)
    (x_train, y_train, x_held, y_held, held_name,
     x_eval, y_eval, eval_name) = held_out_split(loaded.metadata, data)
    progress({"event": "calibrate_begin", "held_out": held_name, "images": len(y_held)})
    if outputs is not None:
        held_p, eval_p = outputs.probabilities("held", x_held), outputs.probabilities("eval", x_eval)
    else:
        held_p = predict_probabilities(loaded.model, x_held)
        eval_p = predict_probabilities(loaded.model, x_eval)
    block = calibration.calibrate(held_p, y_held, eval_p, y_eval, held_name, eval_name)
    changes = {"temperature": block["temperature"], "calibration": block}
    if with_ood:
        progress({"event": "ood_begin"})
        changes["ood"] = fit_ood(loaded.model, loaded.path, x_train, y_train, x_held, y_held,
                                 held_name, x_eval, y_eval, eval_name, eval_p,
                                 max_train=max_ood_train,
                                 label_smoothing=_label_smoothing(loaded.metadata),
                                 dataset=dataset, taps=outputs and outputs.taps,
                                 centroids=centroids)
    update_sidecar(loaded.path, changes)
    progress({"event": "calibrate_end", "temperature": block["temperature"],
              "ece_before": block["ece_before"], "ece_after": block["ece_after"]})
    return {**changes, "path": str(loaded.path)}


def fit_ood(model, model_path, x_train, y_train, x_held, y_held, held_name, x_eval, y_eval,
            eval_name, eval_probabilities=None, max_train: int | None = None,
            label_smoothing: float = 0.0, dataset: str | None = None, taps=None,
            centroids: int | np.ndarray = ood_fit.CENTROIDS) -> dict:
    """Fit the out-of-distribution check, write its two files beside ``model_path`` and return
    the sidecar's ``ood`` block (with what it measured on the evaluation pictures).

    ``dataset`` given: the check is fitted on drawings of its classes and on junk too
    (``training.learn.drawn_sets.fit_examples``, about a minute more): fitted on the photos alone, it
    refused 55-75 % of garment drawings (issue #20). ``taps``: see ood_fit.build ("eval"
    too); the training pictures it is given are then ``ood_train_pick``'s. ``centroids``: see
    ``ood_fit.fit_detector``."""
    from training.learn.drawn_sets import fit_examples
    from training.learn.trainer import predict_probabilities

    if max_train is not None and len(x_train) > max_train:
        pick = ood_train_pick(len(x_train), max_train)
        x_train, y_train = x_train[pick], y_train[pick]
    examples = fit_examples(dataset) if dataset is not None else None
    detector, features_model, held_scores, drawn_scores = ood_fit.build(
        model, x_train, y_train, x_held, label_smoothing=label_smoothing, examples=examples,
        taps=taps, centroids=centroids)
    limits = ood_fit.thresholds(held_scores, drawn_scores)
    if examples is not None:
        held_name += (f" + {len(examples.drawn_held):,} drawings; fitted with "
                      f"{len(examples.drawn):,} drawings and {len(examples.junk):,} junk pictures")
    eval_scores = detector.score(taps("eval", x_eval) if taps is not None
                                 else ood_fit.compute_features(features_model, x_eval))
    block = ood_fit.write_files(features_model, detector, model_path, limits, len(y_held),
                            held_name)
    if eval_probabilities is None:
        eval_probabilities = predict_probabilities(model, x_eval)
    predicted = np.asarray(eval_probabilities).argmax(axis=1)
    flagged = eval_scores > limits["unsure_above"]
    block["measured"] = {
        "on": eval_name, "images": len(y_eval),
        "rejected": float(np.mean(eval_scores > limits["reject_above"])),
        "unsure_or_rejected": float(np.mean(flagged)),
        "accuracy_flagged": (float(np.mean(predicted[flagged] == y_eval[flagged]))
                             if flagged.any() else None),
        "accuracy_others": (float(np.mean(predicted[~flagged] == y_eval[~flagged]))
                            if (~flagged).any() else None),
    }
    return block


def ood_train_pick(count: int, max_train: int) -> np.ndarray:
    """Which of ``count`` training pictures the check is fitted on, when at most ``max_train``."""
    return np.random.default_rng(0).choice(count, max_train, replace=False)


def add_ood_after_training(result, path: str | os.PathLike, data, progress=None,
                           max_train: int = 10_000) -> dict | None:
    """``train``'s last step: the OOD check of the model just saved, from its own validation
    split, else (trained on every training picture) from the first half of the official test
    set, as ``calibrate`` does and as the trainer's temperature was: every trained model is a
    checked one (issue #20). Uses at most ``max_train`` training pictures: for quick MNIST
    (compact_cnn) on a loaded 2-core EPYC the fit took 41 s with 20,000, 21 s with 10,000 and
    13 s with 5,000, rejecting 87 / 85 / 85 % of our scribbles and 89 / 88 / 88 % of the
    letters at the same 0.5 % false alarms (300 pictures a set: within the noise). Returns the
    ``ood`` block written, or None (too few held-out pictures)."""
    progress = progress or (lambda event: None)
    (x_train, y_train, x_held, y_held, held_name,
     x_eval, y_eval, eval_name) = held_out_split({"config": result.config.to_dict()}, data)
    if len(y_held) < MIN_HELD_OUT:
        return None  # too few to place a 99.5th percentile
    progress({"event": "ood_begin"})
    # Fitted on drawings too, as the shipped models' (a Fashion model fitted on photos alone
    # refused 55-75 % of garment drawings); their pictures come ready-made with the app.
    block = fit_ood(result.model, path, x_train, y_train, x_held, y_held, held_name, x_eval,
                    y_eval, eval_name, max_train=max_train,
                    label_smoothing=result.config.label_smoothing,
                    dataset=result.config.dataset)
    update_sidecar(path, {"ood": block})
    return block


def update_sidecar(model_path: str | os.PathLike, changes: dict) -> Path:
    """Merge ``changes`` into the model's sidecar, atomically. The sidecar must describe this
    model file (its recorded hash matches), else nothing is written: a stale sidecar is not
    brought back to life with new figures."""
    path = Path(model_path)
    side = sidecar_path(path)
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        info = {"model_file": path.name, "model_sha256": file_sha256(path)}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{side.name} cannot be read: {exc}") from None
    if not isinstance(info, dict):
        raise ValueError(f"{side.name} is not a JSON object")  # noqa: TRY004 - one error type
    if info.get("model_sha256") not in (None, file_sha256(path)):
        raise ValueError(f"{side.name} describes another version of {path.name}")
    info.setdefault("model_sha256", file_sha256(path))
    info.update(_plain(changes))
    write_text(side, json.dumps(info, indent=1, allow_nan=False))
    return side


def _label_smoothing(metadata: dict) -> float:
    """The smoothing the model was trained with (its own, or its base's for a taught model)."""
    for config in ((metadata or {}).get("config"),
                   ((metadata or {}).get("lineage") or {}).get("base_config")):
        value = config.get("label_smoothing") if isinstance(config, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.0
