"""Accuracy of the shipped MNIST model on photos of digits on paper (issue #9, item 4).

The set is made by scripts/make_paper_set.py (generated into /tmp/paper-set if missing, or
$PAPER_SET). Each picture goes through open_picture + to_model_input, the way a dropped photo
does in the app, and once more through BASELINE_* below: a frozen copy of the preprocessing as
it was before this work (fixed 0.5 polarity test on the border median, no background
estimation, crop box = every pixel above 10 % of the peak), so one run reports before and after.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from training import preprocess
from training.datasets import IMAGE_SIDE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_paper_set  # a script, not a package: imported from its folder

SET_FOLDER = Path(os.environ.get("PAPER_SET", make_paper_set.DEFAULT_FOLDER))


# --- Frozen baseline: the preprocessing before issue #9 item 4 (git 4cdc0b6). Do not edit. ---

def baseline_ink_map(picture) -> np.ndarray:
    grey = preprocess.to_grey(picture)
    if grey.size == 0:
        raise preprocess.BlankPictureError("the picture is empty")
    background = float(np.median(baseline_border(grey)))
    if background > 0.5:  # light paper, dark ink
        grey = 1.0 - grey
        background = 1.0 - background
    ink = np.clip((grey - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    if ink.max() < 0.1:
        raise preprocess.BlankPictureError("the picture is blank")
    return ink


def baseline_digit_layout(ink: np.ndarray) -> np.ndarray:
    top, bottom, left, right = baseline_ink_box(ink, 0.1 * ink.max())
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = 20 / max(h, w)
    patch = preprocess._resize(crop, max(1, round(w * scale)), max(1, round(h * scale)))
    peak = patch.max()
    if peak <= 0:
        raise preprocess.BlankPictureError("the ink is too faint to read")
    patch /= peak
    ph, pw = patch.shape
    cy, cx = preprocess._centre_of_mass(patch)
    top = int(np.clip(round(14.5 - cy), 0, IMAGE_SIDE - ph))
    left = int(np.clip(round(14.5 - cx), 0, IMAGE_SIDE - pw))
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32)
    out[top:top + ph, left:left + pw] = patch
    return out


def baseline_border(grey: np.ndarray) -> np.ndarray:
    if min(grey.shape) <= 2:
        return grey.ravel()
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def baseline_ink_box(ink: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        raise preprocess.BlankPictureError("the picture is blank")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def baseline_to_model_input(picture) -> np.ndarray:
    return baseline_digit_layout(baseline_ink_map(picture))

# --- End of the frozen baseline. ---


def classifier():
    """LiteRT when the app has it (what the window runs), else the Keras Predictor."""
    from training.store import shipped_model_path
    path = shipped_model_path("mnist")
    try:
        from training.lite_runtime import LiteModel
        if path.with_suffix(".tflite").is_file():
            return "LiteRT", LiteModel(path.with_suffix(".tflite")).predict_batch
    except ImportError:
        pass
    from training.predictor import Predictor
    from training.store import load_model
    predictor = Predictor(load_model("mnist").model)
    return "Keras Predictor", lambda batch: np.stack([predictor.predict(x) for x in batch])


def load_set(folder: Path) -> list[dict]:
    labels = folder / "labels.csv"
    if not labels.is_file():
        print(f"generating the paper set in {folder} ...", flush=True)
        make_paper_set.make_set(folder)
    with open(labels, newline="") as handle:
        return list(csv.DictReader(handle))


def run() -> dict:
    rows = load_set(SET_FOLDER)
    engine, predict_batch = classifier()
    pipelines = {"before": baseline_to_model_input,
                 "after": lambda picture: preprocess.to_model_input(picture, "mnist")}
    inputs = {name: [] for name in pipelines}
    seconds = dict.fromkeys(pipelines, 0.0)
    for row in rows:
        picture = preprocess.open_picture(SET_FOLDER / row["file"])
        for name, pipeline in pipelines.items():
            started = time.perf_counter()
            try:
                x = pipeline(picture)
            except preprocess.BlankPictureError:
                x = None  # "nothing to classify" counts as a miss
            seconds[name] += time.perf_counter() - started
            inputs[name].append(x)

    labels = np.array([int(row["digit"]) for row in rows])
    result = {"engine": engine, "pictures": len(rows), "folder": str(SET_FOLDER)}
    correct = {}
    for name, xs in inputs.items():
        answered = [i for i, x in enumerate(xs) if x is not None]
        predicted = np.full(len(xs), -1)
        if answered:
            predicted[answered] = predict_batch(np.stack([xs[i] for i in answered])).argmax(1)
        correct[name] = predicted == labels
        result[name] = {"accuracy": float(correct[name].mean()),
                        "blank": len(xs) - len(answered),
                        "preprocess_ms": 1000 * seconds[name] / len(xs)}
    by_kind = defaultdict(list)
    for i, row in enumerate(rows):
        by_kind[row["kind"]].append(i)
    result["by_kind"] = {kind: {name: float(correct[name][idx].mean()) for name in pipelines}
                         | {"pictures": len(idx)} for kind, idx in by_kind.items()}

    print(f"{len(rows)} pictures from {SET_FOLDER}, {engine}")
    for name in pipelines:
        r = result[name]
        print(f"{name:7s} accuracy {100 * r['accuracy']:5.1f} %   blank {r['blank']:3d}   "
              f"preprocess {r['preprocess_ms']:5.1f} ms/picture")
    print(f"{'kind':12s} {'n':>4s} {'before':>7s} {'after':>7s}")
    for kind, stats in result["by_kind"].items():
        print(f"{kind:12s} {stats['pictures']:4d} {100 * stats['before']:6.1f}% "
              f"{100 * stats['after']:6.1f}%")
    return result


if __name__ == "__main__":
    run()
