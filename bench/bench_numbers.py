"""Whole-number reading (issue #9 item 3): generated 2-, 4- and 6-digit numbers, read by
training.runtime.numbers.read_number with the shipped MNIST model (LiteRT, as in the window).

The numbers are drawn the two ways users make them: canvas-like pen strokes (round-jointed
polylines, the canvas's ~26 px pen on 560 px) and font glyphs (DejaVu Sans / Bold / Serif / Mono,
with a thick outline), in several sizes and spacings from touching (negative: glyphs overlap) to
wide, white on black, on the 560x560 canvas and on wider pictures, a stray dot in some.
Reported: exact-number accuracy, per-digit accuracy (the true digits found, in order, in the
reading: the longest common subsequence, so a digit missed or split costs only itself) and the
time per reading (with LiteModel.predict_batch, which pads every call to 256 pictures, and with
one LiteModel.predict per digit candidate, what the live canvas should pass).

Single digits must stay single digits: every official MNIST test digit (10,000, when the data is
found; DRAW_CLASSIFY_DATA) drawn as a picture (dark ink on white, 280x280) must be read as exactly
one digit with the label of the single-digit path (``to_model_input`` + the model). Reported: that
agreement for ``read_number`` on every picture (what ``python -m training predict`` does), and
for the window, which reads a number only when ``may_hold_several`` says the picture may hold
several digits and shows it only when two or more are found. Each figure is printed beside the
one of the previous run (bench/results/numbers.json).
"""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path

import numpy as np
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

NUMBERS_PER_LENGTH = 150
LENGTHS = (2, 4, 6)
SEED = 2026
CANVAS_PEN = 26           # the canvas's pen width on its 560-pixel picture
DIGIT_PICTURE_SIDE = 280  # an official 28x28 digit drawn as a picture of this side
PREVIOUS = Path(__file__).resolve().parent / "results" / "numbers.json"

FONT_STYLES = (("DejaVu Sans", "normal"), ("DejaVu Sans", "bold"), ("DejaVu Serif", "normal"),
               ("DejaVu Sans Mono", "normal"))

# Digits as a hand draws them with a mouse: polylines (one list per stroke) in a box 0.6 wide
# and 1 high (y down). Ellipses are sampled below.


def _ellipse(cx, cy, rx, ry, start=0.0, stop=360.0, n=24):
    angles = np.radians(np.linspace(start, stop, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]


STROKES = {
    0: [_ellipse(0.3, 0.5, 0.28, 0.5)],
    1: [[(0.2, 0.12), (0.32, 0.0), (0.32, 1.0)]],
    2: [[(0.04, 0.22), (0.15, 0.05), (0.33, 0.0), (0.52, 0.1), (0.54, 0.3), (0.4, 0.52),
         (0.04, 1.0), (0.6, 1.0)]],
    3: [[(0.05, 0.1), (0.28, 0.0), (0.52, 0.1), (0.52, 0.3), (0.25, 0.47), (0.55, 0.62),
         (0.56, 0.85), (0.3, 1.0), (0.02, 0.9)]],
    4: [[(0.42, 0.0), (0.02, 0.66), (0.6, 0.66)], [(0.45, 0.3), (0.45, 1.0)]],
    5: [[(0.55, 0.0), (0.1, 0.0)], [(0.1, 0.0), (0.06, 0.45), (0.3, 0.38), (0.53, 0.5),
                                    (0.57, 0.75), (0.4, 0.97), (0.15, 0.98), (0.02, 0.88)]],
    6: [[(0.5, 0.02), (0.2, 0.3), (0.05, 0.65)] + _ellipse(0.3, 0.72, 0.26, 0.27, 180, 540)],
    7: [[(0.0, 0.02), (0.6, 0.0), (0.2, 1.0)]],
    8: [_ellipse(0.3, 0.24, 0.22, 0.24, 90, 450), _ellipse(0.3, 0.73, 0.28, 0.27, -90, 270)],
    9: [_ellipse(0.3, 0.28, 0.26, 0.28, 0, 360), [(0.56, 0.28), (0.52, 1.0)]],
}


def hand_glyph(digit: int, height: int, pen: int, rng: np.random.Generator) -> np.ndarray:
    """A canvas-like drawing of ``digit`` (bright on 0, float in [0, 1]), tightly cropped;
    points jittered by a few % of the height, as a hand would."""
    pad = pen
    image = Image.new("L", (int(0.6 * height) + 2 * pad, height + 2 * pad), 0)
    draw = ImageDraw.Draw(image)
    slant = rng.uniform(-0.12, 0.12)
    for polyline in STROKES[digit]:
        points = [(pad + (x + slant * (1 - y)) * height + rng.normal(0, 0.015 * height),
                   pad + y * height + rng.normal(0, 0.015 * height)) for x, y in polyline]
        draw.line(points, fill=255, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):   # round caps, like a round pen
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return _tight(np.asarray(image, np.float32) / 255)


_FONT_CACHE: dict = {}


def font_glyph(digit: int, height: int, style: int) -> np.ndarray:
    """``digit`` from one of FONT_STYLES with a thick outline (a pen, not a typeface's hairline),
    about ``height`` pixels high, bright on 0, tightly cropped."""
    family, weight = FONT_STYLES[style]
    size = int(height * 1.4)          # DejaVu digits are ~0.73 em high
    key = (family, weight, size)
    if key not in _FONT_CACHE:
        path = font_manager.findfont(font_manager.FontProperties(family=family, weight=weight))
        _FONT_CACHE[key] = ImageFont.truetype(path, size)
    image = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(image).text((size // 2, size // 4), str(digit), font=_FONT_CACHE[key],
                               fill=255, stroke_width=max(1, size // 25), stroke_fill=255)
    return _tight(np.asarray(image, np.float32) / 255)


def _tight(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def render_number(glyphs: list[np.ndarray], spacing: float, size=(560, 560),
                  rng: np.random.Generator | None = None, dot: bool = False) -> np.ndarray:
    """Glyphs side by side, ``spacing`` times the tallest glyph's height apart (negative:
    they overlap), bottoms roughly aligned, drawn max-wise (strokes over strokes), scaled down
    if needed to fit ``size`` = (width, height) with a margin; uint8 white on black. ``dot``
    adds a pen-sized dot above the number, like a stray click."""
    rng = rng or np.random.default_rng(0)
    tallest = max(g.shape[0] for g in glyphs)
    gap = round(spacing * tallest)
    width = sum(g.shape[1] for g in glyphs) + gap * (len(glyphs) - 1)
    strip = np.zeros((tallest + tallest // 5, max(width, 1) + 2), np.float32)
    x = 0
    for g in glyphs:
        y = tallest - g.shape[0] + int(rng.integers(0, tallest // 10 + 1))
        region = strip[y:y + g.shape[0], x:x + g.shape[1]]
        np.maximum(region, g[:region.shape[0], :region.shape[1]], out=region)
        x += g.shape[1] + gap
    strip = _tight(strip)
    w, h = size
    scale = min(1.0, 0.9 * w / strip.shape[1], 0.75 * h / strip.shape[0])
    if scale < 1.0:
        shrunk = Image.fromarray(strip).resize((max(1, round(strip.shape[1] * scale)),
                                                max(1, round(strip.shape[0] * scale))),
                                               Image.Resampling.BILINEAR)
        strip = np.asarray(shrunk, np.float32)
    picture = np.zeros((h, w), np.float32)
    top = int(rng.integers(h // 8, h - strip.shape[0] - h // 10 + 1)) if dot else \
        int(rng.integers(0, h - strip.shape[0] + 1))
    left = int(rng.integers(0, w - strip.shape[1] + 1))
    picture[top:top + strip.shape[0], left:left + strip.shape[1]] = strip
    if dot:   # a click of the pen, well above or below the digits
        r = CANVAS_PEN / 2
        dx = left + rng.uniform(0, strip.shape[1])
        dy = top - 3 * r if top > 4 * r else min(h - r - 1, top + strip.shape[0] + 3 * r)
        image = Image.fromarray((picture * 255).astype(np.uint8))
        ImageDraw.Draw(image).ellipse((dx - r, dy - r, dx + r, dy + r), fill=255)
        return np.asarray(image)
    return (np.clip(picture, 0, 1) * 255).astype(np.uint8)


def random_number(length: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A random ``length``-digit string and its picture, in a random style, size and spacing."""
    digits = "".join(str(d) for d in rng.integers(0, 10, length))
    wide = bool(rng.random() < 0.4)
    size = (int(rng.choice([840, 1120])), 560) if wide else (560, 560)
    # Height such that the number roughly fills the picture's width, as a person would draw.
    height = int(min(0.6 * size[1], size[0] / (length * rng.uniform(0.75, 1.1))))
    spacing = float(rng.choice([-0.03, 0.0, 0.05, 0.12, 0.25]))   # < 0: glyphs overlap
    if rng.random() < 0.5:
        pen = int(np.clip(CANVAS_PEN * rng.uniform(0.7, 1.2), 0.08 * height, 0.2 * height))
        glyphs = [hand_glyph(int(d), int(height * rng.uniform(0.8, 1.0)), pen, rng)
                  for d in digits]
    else:
        style = int(rng.integers(0, len(FONT_STYLES)))
        glyphs = [font_glyph(int(d), int(height * rng.uniform(0.85, 1.0)), style) for d in digits]
    return digits, render_number(glyphs, spacing, size, rng, dot=bool(rng.random() < 0.15))


def digit_picture(image: np.ndarray) -> np.ndarray:
    """An official 28x28 MNIST digit (bright on black) as a user's picture: dark ink on white
    paper, DIGIT_PICTURE_SIDE pixels a side (bilinear, so strokes are as soft as a scan's)."""
    return np.asarray(Image.fromarray(255 - np.asarray(image, np.uint8)).resize(
        (DIGIT_PICTURE_SIDE, DIGIT_PICTURE_SIDE), Image.Resampling.BILINEAR))


def single_digit_agreement(images: np.ndarray, model) -> dict:
    """How many of ``images`` (official 28x28 digits), drawn as pictures, ``read_number`` reads
    as exactly one digit with the single-digit path's label; and how many the window would show
    as a number (``may_hold_several`` and two or more digits found). ``model``: a LiteModel."""
    from training.runtime.numbers import read_number
    from training.runtime.precheck import may_hold_several
    from training.runtime.preprocess import to_model_input

    differ, shown_as_number, checked, examples = 0, 0, 0, []
    for index, image in enumerate(images):
        picture = digit_picture(image)
        model_input = to_model_input(picture, "mnist")
        label = str(int(model.predict(model_input).argmax()))
        flagged = may_hold_several(model_input, picture)
        checked += flagged
        reading = read_number(picture, model.predict_batch)
        if reading.number != label:
            differ += 1
            shown_as_number += flagged and len(reading.digits) >= 2
            if len(examples) < 20:
                examples.append({"index": index, "single": label, "read": reading.number})
    n = len(images)
    return {"digits": n, "read_number_agreement": 1 - differ / n,
            "window_agreement": 1 - shown_as_number / n, "flagged_by_precheck": checked / n,
            "examples": examples}


def _previous() -> dict:
    try:
        return json.loads(PREVIOUS.read_text())
    except (OSError, ValueError):
        return {}


def _was(previous: dict, *keys) -> str:
    value = previous
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return f" (previous run {value:.2%})" if isinstance(value, float) else ""


def run() -> dict:
    from types import SimpleNamespace

    from training.core.datasets import DatasetError, load_dataset
    from training.modelfile.sidecar import read_metadata, shipped_model_path, tflite_path
    from training.runtime.calibration import calibrated_predictions
    from training.runtime.lite import LiteModel
    from training.runtime.numbers import read_number

    # As the window reads numbers: the model's probabilities with its temperature.
    lite = LiteModel(tflite_path(shipped_model_path("mnist")))
    temperature = read_metadata(shipped_model_path("mnist")).get("temperature")
    one = calibrated_predictions(lite.predict, temperature)  # one picture, no padding
    model = SimpleNamespace(predict_batch=calibrated_predictions(lite.predict_batch, temperature),
                            predict=one)
    previous = _previous()

    rng = np.random.default_rng(SEED)
    result = {}
    for length in LENGTHS:
        exact = digits_right = 0
        times = []
        for _ in range(NUMBERS_PER_LENGTH):
            truth, picture = random_number(length, rng)
            started = time.perf_counter()
            reading = read_number(picture, model.predict_batch)
            times.append(time.perf_counter() - started)
            exact += reading.number == truth
            matcher = difflib.SequenceMatcher(None, truth, reading.number, autojunk=False)
            digits_right += sum(block.size for block in matcher.get_matching_blocks())
        t = np.array(times) * 1000
        key = f"{length}_digits"
        result[key] = {
            "numbers": NUMBERS_PER_LENGTH,
            "exact_accuracy": exact / NUMBERS_PER_LENGTH,
            "digit_accuracy": digits_right / (NUMBERS_PER_LENGTH * length),
            "ms_per_reading_p50": float(np.median(t)), "ms_per_reading_p95": float(np.percentile(t, 95))}
        print(f"{length} digits: exact {exact / NUMBERS_PER_LENGTH:.1%}"
              f"{_was(previous, key, 'exact_accuracy')}, per digit "
              f"{digits_right / (NUMBERS_PER_LENGTH * length):.1%}, "
              f"{np.median(t):.1f} ms per reading (p95 {np.percentile(t, 95):.1f})", flush=True)

    try:
        test = load_dataset("mnist", allow_download=False)
    except DatasetError as exc:
        print(f"single digits: skipped ({exc})", flush=True)
        return result
    single = result["single_digits"] = single_digit_agreement(test.x_test, model)
    print(f"single digits ({single['digits']} official test digits as pictures): read as the "
          f"same one digit {single['read_number_agreement']:.2%}"
          f"{_was(previous, 'single_digits', 'read_number_agreement')}; in the window "
          f"{single['window_agreement']:.2%}{_was(previous, 'single_digits', 'window_agreement')}"
          f" ({single['flagged_by_precheck']:.1%} pass the pre-check)", flush=True)
    return result


if __name__ == "__main__":
    run()
