"""Your own classes (issue #23), as a user makes them: five letters drawn through the real
canvas, ten of each, kept with the "This is…" buttons; My samples ▸ Train; then letters drawn
with other strokes (other pens, sizes, hands), scribbles and digits, all through the canvas.

Reported:
- the classifier's held-out figure (cross-validation, what My samples shows) and its accuracy
  on the letters drawn with other strokes (goal >= 95 %), with how many of them the "none of my
  classes" check refused (goal <= 1 %);
- scribbles and digits drawn through the canvas: how many it refused;
- seconds from Train to the model in use, as a ratio to the quick preset's MNIST training
  (``train_seconds`` of ``python -m training train --preset quick``, run in the same bench:
  goal <= 1.0);
- the same folder through ``python -m training train --dataset FOLDER`` and ``predict``.

Environment: BENCH_OWN_TRAIN (drawings of each letter, default 10), BENCH_OWN_HELD (default 20),
BENCH_OWN_JUNK (scribbles and digits, default 30 each), BENCH_OWN_QUICK=0 skips the reference.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
LETTERS = "AEHKM"
TRAIN = int(os.environ.get("BENCH_OWN_TRAIN", "10"))
HELD = int(os.environ.get("BENCH_OWN_HELD", "20"))
JUNK = int(os.environ.get("BENCH_OWN_JUNK", "30"))
REFERENCE_SIDE = 392          # the canvas coordinates the drawings are made in
PENS = {"train": (18,), "held": (10, 14, 24, 30)}   # brush sizes, px (18: the default)


def letter_strokes(letter: str, rng: np.random.Generator, hand: float) -> list[np.ndarray]:
    """One drawing of ``letter`` (training.learn.ood_sets' stroke templates) as the canvas's
    pen would move: placed, sized, slanted, tilted, wobbling (``hand``: how shaky)."""
    from training.learn.ood_sets import STROKE_LETTERS

    return template_strokes(STROKE_LETTERS[letter], rng.uniform(0.7, 1.1), rng, hand)


def digit_strokes(digit: int, rng: np.random.Generator) -> list[np.ndarray]:
    from training.learn.drawn_sets import DIGIT_ASPECT, DIGIT_SHAPES, OTHER_ASPECT

    variants = DIGIT_SHAPES[digit]
    strokes = variants[int(rng.integers(len(variants)))]
    aspect = rng.uniform(*DIGIT_ASPECT.get(digit, OTHER_ASPECT))
    return template_strokes(strokes, aspect, rng, 1.0)


def scribble_strokes(rng: np.random.Generator) -> list[np.ndarray]:
    from training.learn.drawn_sets import hand_path

    out = []
    for _ in range(int(rng.integers(1, 4))):
        points = rng.uniform(0.15, 0.85, (int(rng.integers(6, 15)), 2)) * REFERENCE_SIDE
        out.append(hand_path(points, rng, False, REFERENCE_SIDE * 0.6, 1.5))
    return out


def template_strokes(template, aspect: float, rng, hand: float) -> list[np.ndarray]:
    from training.learn.drawn_sets import hand_path

    side = REFERENCE_SIDE
    size = rng.uniform(0.5, 0.85) * side
    w, h = (size, size / aspect) if aspect > 1 else (size * aspect, size)
    cx = side / 2 + rng.uniform(-1, 1) * max(0.0, side - w - 40) / 2 * 0.7
    cy = side / 2 + rng.uniform(-1, 1) * max(0.0, side - h - 40) / 2 * 0.7
    slant, angle = rng.normal(0, 0.12), math.radians(rng.normal(0, 5))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    out = []
    for stroke in template:
        unit = np.asarray(stroke, np.float64) + rng.normal(0, 0.015 * hand, (len(stroke), 2))
        unit[:, 0] += slant * (0.5 - unit[:, 1])
        points = ((unit - 0.5) * [w, h]) @ rot.T + [cx, cy]
        out.append(hand_path(points, rng, False, size, hand))
    return out


class Hand:
    """Draws on the real canvas with the mouse, as tests/conftest.py's stroke() does."""

    def __init__(self, win):
        self.win = win

    def draw(self, strokes: list[np.ndarray]) -> None:
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest

        canvas = self.win.canvas
        shown = canvas.picture_rect()
        scale = shown.width() / REFERENCE_SIDE

        def at(x, y):
            return QPoint(round(shown.x() + x * scale), round(shown.y() + y * scale))

        button, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        for points in strokes:
            points = np.clip(points, 2, REFERENCE_SIDE - 2)[::2]
            QTest.mousePress(canvas, button, none, at(*points[0]))
            for x, y in points[1:]:
                QTest.mouseMove(canvas, at(x, y))
            QTest.mouseRelease(canvas, button, none, at(*points[-1]))

    def picture(self, strokes) -> np.ndarray:
        """The canvas's picture of a drawing (then cleared): what the window classifies."""
        self.win.canvas.clear()
        self.draw(strokes)
        grey = self.win.canvas.grey_array()
        self.win.canvas.clear()
        return grey


def open_window(home: str, dataset: str):
    """(app, the real main window) on the private ``home``, showing ``dataset``, model loaded."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop_app.main_window import MainWindow
    from desktop_app.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    settings = AppSettings(QSettings(os.path.join(home, "settings.ini"),
                                     QSettings.Format.IniFormat))
    settings.set_dataset(dataset)
    win = MainWindow(settings=settings)
    win.resize(1280, 800)
    win.show()
    win.ensure_ready()
    return app, win


def wait(app, predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.02)
    return False


def quick_mnist_seconds(folder: str) -> float:
    from training.protocol.messages import TrainResult, decode

    done = subprocess.run([sys.executable, "-m", "training", "train", "--preset", "quick",
                           "--dataset", "mnist", "--no-ood", "--progress", "json",
                           "--out", os.path.join(folder, "quick.keras")],
                          capture_output=True, text=True, cwd=REPO, check=True)
    result = next(m for m in map(decode, done.stdout.splitlines()) if isinstance(m, TrainResult))
    return result.train_seconds


def answers(model_path: Path, dataset: str, pictures: list[np.ndarray]):
    """(predicted classes, verdicts) as the window gives them (training.runtime)."""
    from training.runtime.preprocess import to_model_input

    x = np.stack([to_model_input(p, dataset) for p in pictures]).astype(np.float32)
    return answers_of_inputs(model_path, x)


def answers_of_inputs(model_path: Path, x: np.ndarray):
    """(predicted classes, verdicts) of model inputs ``x``, as the window gives them."""
    from training.modelfile.sidecar import read_metadata
    from training.runtime.answer_check import AnswerCheck
    from training.runtime.lite import LiteModel

    probabilities = LiteModel(model_path.with_suffix(".tflite")).predict_batch(x)
    check = AnswerCheck.for_model(model_path, read_metadata(model_path))
    return probabilities.argmax(1), np.array(check.verdicts(probabilities, x))


def run() -> dict:
    from PySide6.QtWidgets import QPushButton

    home = tempfile.mkdtemp(prefix="bench-own-")
    os.environ["DRAW_CLASSIFY_HOME"] = home
    from training.core.classifiers import create

    classifier = create("Letters", ", ".join(LETTERS))
    app, win = open_window(home, classifier.name)
    hand = Hand(win)
    rng = np.random.default_rng(2026)

    # Ten of each letter, kept with "This is…"
    win.brush.setValue(PENS["train"][0])
    for i in range(TRAIN):
        for label, letter in enumerate(LETTERS):
            win.canvas.clear()
            hand.draw(letter_strokes(letter, rng, 1.0))
            win.findChild(QPushButton, f"thisIs{label}").click()
    app.processEvents()
    kept = win.personal.store.counts()

    started = time.perf_counter()
    win.findChild(QPushButton, "trainClasses").click()
    result_line = win.personal.classes_result
    wait(app, lambda: "held out" in result_line.text() or (
        not win._classes_training() and result_line.text() != ""), 600)
    wait(app, lambda: win.controller.model() is not None
         and win.controller.model().path == str(classifier.model_path), 60)
    window_seconds = time.perf_counter() - started
    cv = json.loads(classifier.model_path.with_suffix(".json").read_text())["lineage"][
        "cross_validation"]

    # Other strokes: other pens, sizes and hands; then junk. All through the canvas.
    held, held_labels = [], []
    for i in range(HELD):
        win.brush.setValue(PENS["held"][i % len(PENS["held"])])
        for label, letter in enumerate(LETTERS):
            held.append(hand.picture(letter_strokes(letter, rng, 1.6)))
            held_labels.append(label)
    win.brush.setValue(18)
    scribbles = [hand.picture(scribble_strokes(rng)) for _ in range(JUNK)]
    digits = [hand.picture(digit_strokes(i % 10, rng)) for i in range(JUNK)]
    win.close()

    predicted, verdicts = answers(classifier.model_path, classifier.name, held)
    held_labels = np.array(held_labels)
    _, scribble_verdicts = answers(classifier.model_path, classifier.name, scribbles)
    _, digit_verdicts = answers(classifier.model_path, classifier.name, digits)
    out = {
        "drawings_kept": dict(zip(LETTERS, kept)),
        "cross_validation": {k: cv.get(k) for k in ("folds", "accuracy", "held_out")},
        "other_strokes": {"drawings": len(held), "accuracy": float(np.mean(
            predicted == held_labels)), "refused": float(np.mean(verdicts == "reject")),
            "not_sure": float(np.mean(verdicts == "unsure"))},
        "scribbles_refused": float(np.mean(scribble_verdicts == "reject")),
        "digits_refused": float(np.mean(digit_verdicts == "reject")),
        "window_seconds": round(window_seconds, 1),
    }
    print(f"kept {out['drawings_kept']}; cross-validation {cv.get('accuracy'):.1%} of "
          f"{cv.get('held_out')}")
    print(f"other strokes: {out['other_strokes']['accuracy']:.1%} right of {len(held)}, "
          f"{out['other_strokes']['refused']:.1%} refused, "
          f"{out['other_strokes']['not_sure']:.1%} not sure")
    print(f"refused: scribbles {out['scribbles_refused']:.0%}, digits {out['digits_refused']:.0%}")

    # The same folder through the command line.
    folder = Path(home) / "samples" / classifier.name
    with tempfile.TemporaryDirectory() as scratch:
        cli_started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "training", "train", "--dataset",
                               str(folder), "--out", os.path.join(scratch, "cli.keras"),
                               "--progress", "json"], capture_output=True, text=True, cwd=REPO)
        cli_process_seconds = time.perf_counter() - cli_started
        result = json.loads(done.stdout.strip().splitlines()[-1])
        files = []
        for i, picture in enumerate(held):
            from PIL import Image

            path = os.path.join(scratch, f"{LETTERS[held_labels[i]]}-{i}.png")
            Image.fromarray(picture).save(path)
            files.append(path)
        said = subprocess.run([sys.executable, "-m", "training", "predict", "--model",
                               os.path.join(scratch, "cli.keras"), *files],
                              capture_output=True, text=True, cwd=REPO)
        lines = [json.loads(line) for line in said.stdout.splitlines() if line.strip()]
        right = [line["class_name"] == Path(line["file"]).name[0] for line in lines]
        out["cli"] = {"train_seconds_total": result.get("seconds", {}).get("total"),
                      "process_seconds": round(cli_process_seconds, 1),
                      "cross_validation": result.get("cross_validation", {}).get("accuracy"),
                      "predict_accuracy": float(np.mean(right)) if right else None,
                      "predict_refused": float(np.mean([line["verdict"] == "not_in_domain"
                                                        for line in lines])) if lines else None}
        print(f"CLI: {out['cli']}")
        if os.environ.get("BENCH_OWN_QUICK", "1") != "0":
            quick = quick_mnist_seconds(scratch)
            out["quick_mnist_train_seconds"] = quick
            out["ratio_window_to_quick"] = round(window_seconds / quick, 2)
            out["ratio_cli_total_to_quick"] = round(
                (result.get("seconds", {}).get("total") or math.nan) / quick, 2)
            print(f"Train → model in use {window_seconds:.1f} s = "
                  f"{out['ratio_window_to_quick']}x the quick preset's MNIST training "
                  f"({quick:.1f} s); the CLI's own seconds {out['ratio_cli_total_to_quick']}x")
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
