"""Accuracy of the shipped MNIST model on photos of digits on paper (issue #9, item 4; #20, item 3).

    python -m bench.bench_paper [all | photos | shading | speed]

The set is made by scripts/make_paper_set.py (generated into /tmp/paper-set if missing, or
$PAPER_SET). Each picture goes through open_picture + to_model_input, the way a dropped photo
does in the app, and once more through BASELINE_* below: a frozen copy of the preprocessing as
it was before this work (fixed 0.5 polarity test on the border median, no background
estimation, crop box = every pixel above 10 % of the peak), so one run reports before and after.

The uneven-paper part (:func:`run_shading`) uses make_paper_set's shading set (gradient,
vignette, blotches at 5-35 % darkening, dark ink and chalk; /tmp/paper-shading-set or
$PAPER_SHADING_SET): each photo is read as a dropped file and as the window shows it (fitted
into the 560x560 canvas between margins of its border colour, DrawingCanvas.set_picture), by the
preprocessing before issue #20 (git BEFORE_SHADING, loaded from the history) and now, through
LiteRT and the sidecar's answer check (training.runtime.answer_check.AnswerCheck): the share read right (the
right digit, not "That doesn't look like a digit", not blank) and the share rejected (blank or
"doesn't look like a digit"). Writes bench/results/paper_shading.json.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from training.core.datasets import IMAGE_SIDE
from training.runtime import preprocess

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_paper_set  # a script, not a package: imported from its folder  # noqa: E402

SET_FOLDER = Path(os.environ.get("PAPER_SET", make_paper_set.DEFAULT_FOLDER))
SHADING_FOLDER = Path(os.environ.get("PAPER_SHADING_SET", make_paper_set.SHADING_FOLDER))
BEFORE_SHADING = "9fadd30"  # the preprocessing before issue #20 item 3 (stains, canvas margins)
RESULTS = ROOT / "bench" / "results" / "paper_shading.json"


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
    from training.modelfile.sidecar import shipped_model_path
    path = shipped_model_path("mnist")
    try:
        from training.runtime.lite import LiteModel
        if path.with_suffix(".tflite").is_file():
            return "LiteRT", LiteModel(path.with_suffix(".tflite")).predict_batch
    except ImportError:
        pass
    from training.learn.predictor import Predictor
    from training.learn.saving import load_model
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
    old = preprocess_at(BEFORE_SHADING)  # issue #20's starting point: its changes alone
    if old is not None:
        pipelines = {"before": baseline_to_model_input,
                     BEFORE_SHADING: lambda picture: old.to_model_input(picture, "mnist"),
                     "after": pipelines["after"]}
    blank = (preprocess.BlankPictureError,) + ((old.BlankPictureError,) if old else ())
    inputs = {name: [] for name in pipelines}
    seconds = dict.fromkeys(pipelines, 0.0)
    for row in rows:
        picture = preprocess.open_picture(SET_FOLDER / row["file"])
        for name, pipeline in pipelines.items():
            started = time.perf_counter()
            try:
                x = pipeline(picture)
            except blank:
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
    print(f"{'kind':12s} {'n':>4s}" + "".join(f"{name:>8s}" for name in pipelines))
    for kind, stats in result["by_kind"].items():
        print(f"{kind:12s} {stats['pictures']:4d}"
              + "".join(f"{100 * stats[name]:7.1f}%" for name in pipelines))
    return result


def preprocess_at(commit: str):
    """training/preprocess.py as it was at ``commit`` (from git), imported as a module of the
    training package beside today's; None when the history is not available."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show",
                                 f"{commit}:training/preprocess.py"],
                                capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / f"preprocess_{commit}.py"
    path.write_bytes(source)
    name = f"training._preprocess_{commit}"  # a dotted name: its relative imports resolve
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    except ImportError:  # its imports moved since (the packages of issue #21): no comparison
        del sys.modules[name]
        return None
    return module


def answer_check():
    """(predict, check) for the shipped MNIST model as the window runs it."""
    from training.modelfile.sidecar import read_metadata, shipped_model_path
    from training.runtime.answer_check import AnswerCheck
    from training.runtime.lite import LiteModel

    path = shipped_model_path("mnist")
    return (LiteModel(path.with_suffix(".tflite")).predict,
            AnswerCheck.for_model(path, read_metadata(path)))


def load_shading_set(folder: Path) -> list[dict]:
    labels = folder / "labels.csv"
    if not labels.is_file():
        print(f"generating the shading set in {folder} ...", flush=True)
        make_paper_set.make_shading_set(folder)
    with open(labels, newline="") as handle:
        return list(csv.DictReader(handle))


def run_shading() -> dict:
    rows = load_shading_set(SHADING_FOLDER)
    predict, check = answer_check()
    pipelines = {"after": preprocess}
    old = preprocess_at(BEFORE_SHADING)
    if old is not None:
        pipelines = {"before": old, **pipelines}
    tally = defaultdict(lambda: [0, 0, 0])  # (pipeline, path, cell) -> right, rejected, count
    for row in rows:
        picture = preprocess.open_picture(SHADING_FOLDER / row["file"])
        grey = (preprocess.to_grey(picture) * 255 + 0.5).astype(np.uint8)
        cell = (row["condition"], float(row["strength"]), row["polarity"])
        for path, shown in (("photo", picture), ("window", preprocess.on_canvas(grey))):
            for name, module in pipelines.items():
                try:
                    x = module.to_model_input(shown, "mnist")
                except module.BlankPictureError:
                    verdict, answer = "reject", -1
                else:
                    calibrated = check.probabilities(predict(x))
                    verdict = check.verdict(calibrated, check.score(x))
                    answer = int(np.argmax(calibrated))
                counts = tally[name, path, cell]
                counts[0] += verdict != "reject" and answer == int(row["digit"])
                counts[1] += verdict == "reject"
                counts[2] += 1
    cells = list(make_paper_set.shading_cells())
    result = {"folder": str(SHADING_FOLDER), "pictures": len(rows), "before": BEFORE_SHADING,
              "cells": []}
    print(f"{len(rows)} pictures from {SHADING_FOLDER}; read right / rejected, %; "
          f"before = git {BEFORE_SHADING}")
    header = "".join(f"{name + ' ' + path:>16s}" for path in ("photo", "window")
                     for name in pipelines)
    print(f"{'condition':9s} {'dark':>5s} {'polarity':9s}{header}")
    for cell in cells:
        entry = {"condition": cell[0], "strength": cell[1], "polarity": cell[2]}
        line = f"{cell[0]:9s} {100 * cell[1]:4.0f}% {cell[2]:9s}"
        for path in ("photo", "window"):
            for name in pipelines:
                right, rejected, count = tally[name, path, cell]
                if count == 0:
                    continue
                entry[f"{name}_{path}"] = {"right": right / count, "rejected": rejected / count,
                                           "pictures": count}
                line += f"{100 * right / count:9.0f} /{100 * rejected / count:4.0f}"
        result["cells"].append(entry)
        print(line)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    return result


def run_speed(repeats: int = 10) -> dict:
    """to_model_input's time before (git BEFORE_SHADING) and now, interleaved in this process
    (which goes first alternates: on a busy machine the order alone moved a ratio by 0.4):
    a 280x280 canvas drawing (the live canvas's every update), a 2000x1500 photo of a digit on
    shaded paper, and that photo letterboxed on the 560x560 canvas. Medians of medians, ms."""
    old = preprocess_at(BEFORE_SHADING)
    if old is None:
        return {}
    drawing = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(drawing).line([(60, 50), (200, 50), (110, 230)], fill=255, width=18,
                                 joint="curve")
    rng = np.random.default_rng([20, 0])
    photo = make_paper_set.make_shaded_picture(rng, "gradient", 0.15, "dark_ink", 4,
                                               make_paper_set.available_fonts()[0], "font")
    photo = np.asarray(photo.resize((2000, 1500)))
    grey = (preprocess.to_grey(photo) * 255 + 0.5).astype(np.uint8)
    cases = {"canvas drawing 280x280": (np.asarray(drawing), 300),
             "photo 2000x1500": (photo, 15), "photo on the canvas 560x560": (preprocess.on_canvas(grey), 40)}
    result = {}
    for name, (picture, count) in cases.items():
        times = {"before": [], "after": []}
        for repeat in range(repeats):
            order = (("before", old), ("after", preprocess))
            for label, module in order[::-1] if repeat % 2 else order:
                module.to_model_input(picture, "mnist")  # warm
                runs = []
                for _ in range(count):
                    started = time.perf_counter()
                    module.to_model_input(picture, "mnist")
                    runs.append(time.perf_counter() - started)
                times[label].append(float(np.median(runs)) * 1000)
        before, after = float(np.median(times["before"])), float(np.median(times["after"]))
        result[name] = {"before_ms": before, "after_ms": after, "ratio": after / before}
        print(f"{name:28s} before {before:7.2f} ms   after {after:7.2f} ms   "
              f"ratio {after / before:4.2f}", flush=True)
    return result


if __name__ == "__main__":
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    if part in ("all", "photos"):
        run()
    if part in ("all", "shading"):
        run_shading()
    if part in ("all", "speed"):
        run_speed()
