"""Your own classes with and without the optional fine-tune (issue #23, item 1): does training
the digit model's last convolutions too read new drawings better, and at what price?

Classes that look little like digits are where it could help: drawn clothes, the ten
Fashion-MNIST kinds as hands draw them (training.learn.drawn_sets, the "canvas" family: the
canvas's default pens), ten of each, kept as a folder. Each way trains a classifier from it
(training.learn.own_classes.train_classes, five folds, as ``train --dataset FOLDER``), then
reads 300 new drawings of the "eval" family (other pens, sizes and hands) as the window reads
them: LiteRT, the "none of my classes" check.

Reported for each: the cross-validated figure, new drawings right, refused and "not sure", the
junk the check refused, and the seconds as a ratio to the head alone in the same run.
Environment: BENCH_FINE_TUNE_STEPS (default 200), BENCH_FINE_TUNE_EACH (drawings a class, 10).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STEPS = int(os.environ.get("BENCH_FINE_TUNE_STEPS", "200"))
EACH = int(os.environ.get("BENCH_FINE_TUNE_EACH", "10"))
NEW_DRAWINGS = 300


def clothes_folder(root: Path) -> Path:
    from PIL import Image

    from training.learn.drawn_sets import pictures, slug

    for i, (label, _, picture) in enumerate(pictures("garments", EACH * 10, 0, "canvas")):
        folder = root / "drawn_clothes" / slug(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(folder / f"{i}.png")
    return root / "drawn_clothes"


def new_drawings() -> tuple[np.ndarray, np.ndarray]:
    """(model inputs, classes in the folder's order: its sub-folders' names sorted)."""
    from training.learn.drawn_sets import pictures, slug
    from training.learn.ood_sets import model_inputs
    from training.runtime.picture_folders import DRAWING_STYLE

    order = sorted(slug(label) for label in range(10))
    drawn = list(pictures("garments", NEW_DRAWINGS, 1, "eval"))
    x, _, _ = model_inputs([(version, picture) for _, version, picture in drawn], DRAWING_STYLE)
    y = np.array([order.index(slug(label)) for label, _, _ in drawn])
    return x.reshape(-1, 28, 28, 1).astype(np.float32), y


def read_as_the_window(model_path: Path, x: np.ndarray, y: np.ndarray) -> dict:
    from bench.bench_own_classes import answers_of_inputs

    predicted, verdicts = answers_of_inputs(model_path, x)
    verdicts = verdicts.astype(str)
    return {"right": float(np.mean(predicted == y)),
            "refused": float(np.mean(verdicts == "reject")),
            "not_sure": float(np.mean(verdicts == "unsure"))}


def run() -> dict:
    from training.learn.own_classes import ClassesSettings, train_classes

    out: dict = {"classes": 10, "drawings_each": EACH, "new_drawings": NEW_DRAWINGS,
                 "fine_tune_steps": STEPS}
    with tempfile.TemporaryDirectory() as tmp:
        folder = clothes_folder(Path(tmp))
        x, y = new_drawings()
        for name, steps in (("head", 0), ("fine_tuned", STEPS)):
            started = time.perf_counter()
            figures = train_classes(folder, Path(tmp) / f"{name}.keras",
                                    settings=ClassesSettings(fine_tune_steps=steps))
            seconds = time.perf_counter() - started
            out[name] = {"cross_validation": figures["cross_validation"]["accuracy"],
                         "junk_refused": (figures.get("check") or {}).get("junk_rejected"),
                         "seconds": round(seconds, 1),
                         **read_as_the_window(Path(figures["path"]), x, y)}
            print(name, out[name], flush=True)
    out["time_ratio"] = round(out["fine_tuned"]["seconds"] / out["head"]["seconds"], 2)
    print(f"fine-tuned / head alone, seconds: {out['time_ratio']}x", flush=True)
    return out


if __name__ == "__main__":
    run()
