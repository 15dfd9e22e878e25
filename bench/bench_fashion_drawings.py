"""Fashion-MNIST on drawings: outlines versus filled shapes, with and without fill_enclosed
(issue #12 item 1).

The drawings are made by scripts/make_fashion_drawings.py (generated into /tmp/fashion-drawings
if missing, or $FASHION_DRAWINGS). Each goes through the app's preprocessing twice: as it is
(ink_map + the Fashion layout, what to_model_input did before this work) and with
training.runtime.outline.fill_enclosed applied to the ink map in between. The official test images
(the first TEST_COUNT) are run both ways too: filling must not hurt real Fashion-MNIST pictures.
The model is the shipped one, run by LiteRT as the app runs it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from training.core.datasets import load_dataset
from training.runtime import preprocess
from training.runtime.lite import LiteModel
from training.runtime.outline import fill_enclosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_fashion_drawings  # a script, not a package: imported after the path is set  # noqa: E402

SET_FOLDER = Path(os.environ.get("FASHION_DRAWINGS", make_fashion_drawings.DEFAULT_FOLDER))
MODEL = ROOT / "resources" / "models" / "fashion_mnist.tflite"
TEST_COUNT = 2000


def layouts(picture) -> tuple[np.ndarray, np.ndarray]:
    """(without filling, as the app reads it: with filling) 28x28 model inputs of one picture."""
    unfilled = preprocess._fashion_layout(preprocess.ink_map(picture, strokes=False))
    return unfilled, preprocess.to_model_input(picture, "fashion_mnist")


def accuracy(model: LiteModel, inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-picture correctness (bool array)."""
    return model.predict_batch(inputs).argmax(axis=1) == labels


def run() -> dict:
    if not any(SET_FOLDER.glob("*.png")):
        print(f"generating the drawings in {SET_FOLDER} ...", flush=True)
        make_fashion_drawings.generate(SET_FOLDER)
    items = make_fashion_drawings.read_folder(SET_FOLDER)
    model = LiteModel(MODEL)
    names = make_fashion_drawings.CLASS_NAMES

    pictures = [np.asarray(Image.open(path).convert("L")) for path, _, _ in items]
    labels = np.array([label for _, label, _ in items])
    versions = np.array([version for _, _, version in items])
    pairs = [layouts(picture) for picture in pictures]
    before = accuracy(model, np.stack([p[0] for p in pairs]), labels)
    after = accuracy(model, np.stack([p[1] for p in pairs]), labels)

    result: dict = {"pictures": len(items), "folder": str(SET_FOLDER), "drawings": {}}
    print(f"{len(items)} drawings from {SET_FOLDER}, model {MODEL.name} (LiteRT)")
    print(f"{'':12s} {'n':>4s} {'before':>7s} {'after':>7s}")
    for version in make_fashion_drawings.VERSIONS:
        chosen = versions == version
        stats = {"pictures": int(chosen.sum()), "before": float(before[chosen].mean()),
                 "after": float(after[chosen].mean()), "per_class": {}}
        print(f"{version:12s} {stats['pictures']:4d} {100 * stats['before']:6.1f}% "
              f"{100 * stats['after']:6.1f}%")
        for label, name in enumerate(names):
            mask = chosen & (labels == label)
            if mask.any():
                stats["per_class"][name] = {"before": float(before[mask].mean()),
                                            "after": float(after[mask].mean())}
                print(f"  {name:10s} {int(mask.sum()):4d} {100 * before[mask].mean():6.1f}% "
                      f"{100 * after[mask].mean():6.1f}%")
        result["drawings"][version] = stats

    # Official test pictures, drawn into the app as uint8 arrays.
    data = load_dataset("fashion_mnist", allow_download=False)
    images, test_labels = data.x_test[:TEST_COUNT], data.y_test[:TEST_COUNT].astype(int)
    plain, filled, changed = [], [], 0
    for image in images:
        a, b = layouts(image)
        plain.append(a)
        filled.append(b)
        changed += not np.array_equal(a, b)
    test_before = accuracy(model, np.stack(plain), test_labels)
    test_after = accuracy(model, np.stack(filled), test_labels)
    result["official_test"] = {"pictures": len(images), "before": float(test_before.mean()),
                               "after": float(test_after.mean()), "changed_by_fill": changed}
    print(f"official test ({len(images)}): {100 * test_before.mean():.2f}% without filling, "
          f"{100 * test_after.mean():.2f}% with ({changed} pictures changed by filling)")

    # Cost of fill_enclosed on canvas-sized ink maps: every outline drawing (the slow case,
    # the labelling takes more passes), the best of 5 runs each.
    times = []
    for index in np.flatnonzero(versions == "outline"):
        ink = preprocess.ink_map(pictures[index])
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            fill_enclosed(ink)
            runs.append((time.perf_counter() - started) * 1000)
        times.append(min(runs))
    result["fill_enclosed_560_ms"] = {"p50": float(np.median(times)), "max": float(max(times))}
    print(f"fill_enclosed on 560x560 outlines: p50 {np.median(times):.2f} ms, "
          f"max {max(times):.2f} ms")
    return result


if __name__ == "__main__":
    run()
