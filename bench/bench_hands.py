"""Every hand read untaught (issue #23, item 3): digits the way hands MNIST rarely shows write
them — the European "1" with a flag (with or without a base, upright or slanted, long or short
flag), the crossed "7", the open-top "4" — and their plain forms, drawn through the real canvas
with the mouse (several pens, shaky hands), read by the model as the window reads them (LiteRT,
calibrated, with the "doesn't look like a digit" check).

Reported per style and model: share read right, share refused ("doesn't look like a digit"),
and over all ten digits in the shapes of training.learn.drawn_sets. Nobody trained on any of it:
the strokes are made here, from the styles of scripts/make_flagged_ones.py (which teaching's
bench uses as pictures), drawn through the canvas instead.

Environment: BENCH_HANDS_COUNT (drawings per style, default 60), BENCH_HANDS_MODELS (comma-
separated .keras paths with a .tflite beside them; default the shipped MNIST model).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.bench_own_classes import (  # noqa: E402
    REFERENCE_SIDE,
    Hand,
    digit_strokes,
    open_window,
)

COUNT = int(os.environ.get("BENCH_HANDS_COUNT", "60"))
PENS = (12, 18, 24, 30)     # brush sizes, px (18: the default)


def _stroke(points) -> np.ndarray:
    return np.asarray(points, np.float64)


def style_strokes(style: str, rng: np.random.Generator) -> list[np.ndarray]:
    """One drawing of ``style`` in canvas coordinates (REFERENCE_SIDE square), before the hand's
    wobble. The 1s' flag lengths and angles are make_flagged_ones.py's styles A-D."""
    height = rng.uniform(0.5, 0.8) * REFERENCE_SIDE
    cx = REFERENCE_SIDE / 2 + rng.uniform(-0.12, 0.12) * REFERENCE_SIDE
    cy = REFERENCE_SIDE / 2 + rng.uniform(-0.08, 0.08) * REFERENCE_SIDE
    top, bottom = cy - height / 2, cy + height / 2
    if style.startswith("one"):
        flag, angle, slant, base = {
            "one_plain": ((0, 0), (0, 0), (-4, 8), False),
            "one_flag": ((0.28, 0.42), (15, 35), (-3, 6), False),          # A
            "one_flag_base": ((0.32, 0.48), (8, 30), (-4, 8), True),       # B
            "one_slanted": ((0.28, 0.42), (12, 32), (12, 22), False),      # C
            "one_short_flat": ((0.18, 0.28), (3, 20), (-6, 4), False),     # D
            "one_hook": ((0.12, 0.2), (40, 65), (-4, 8), False),
        }[style]
        lean = math.tan(math.radians(rng.uniform(*slant))) * height / 2
        head, foot = (cx + lean, top), (cx - lean, bottom)
        strokes = []
        if flag[1]:
            length, a = rng.uniform(*flag) * height, math.radians(rng.uniform(*angle))
            start = (head[0] - length * math.cos(a), head[1] + length * math.sin(a))
            strokes.append(_stroke([start, head, foot]))
        else:
            strokes.append(_stroke([head, foot]))
        if base:
            half = rng.uniform(0.2, 0.32) * height
            strokes.append(_stroke([(foot[0] - half, bottom), (foot[0] + half, bottom)]))
        return strokes
    if style.startswith("seven"):
        width = rng.uniform(0.5, 0.7) * height
        left, right = cx - width / 2, cx + width / 2
        end = left + rng.uniform(0.15, 0.45) * width
        strokes = [_stroke([(left, top), (right, top), (end, bottom)])]
        if style == "seven_crossed":
            t = rng.uniform(0.45, 0.6)
            x = right + t * (end - right)
            half = rng.uniform(0.18, 0.3) * height
            strokes.append(_stroke([(x - half, top + t * height), (x + half, top + t * height)]))
        return strokes
    if style.startswith("four"):
        width = rng.uniform(0.6, 0.8) * height
        x = lambda u: cx + (u - 0.5) * width  # noqa: E731
        y = lambda v: top + v * height  # noqa: E731
        if style == "four_open":
            return [_stroke([(x(0.1), y(0)), (x(0.05), y(0.6)), (x(0.95), y(0.6))]),
                    _stroke([(x(0.75), y(0.05)), (x(0.75), y(1))])]
        return [_stroke([(x(0.7), y(0)), (x(0), y(0.68)), (x(1), y(0.68))]),
                _stroke([(x(0.72), y(0.3)), (x(0.72), y(1))])]
    raise ValueError(style)


STYLES = {"one_flag": 1, "one_flag_base": 1, "one_slanted": 1, "one_short_flat": 1,
          "one_hook": 1, "one_plain": 1, "seven_crossed": 7, "seven": 7, "four_open": 4,
          "four_closed": 4}


def hand_drawn(style: str, rng: np.random.Generator) -> list[np.ndarray]:
    """The style's strokes as a hand moves the mouse: densified, wobbling (drawn_sets)."""
    from training.learn.drawn_sets import hand_path

    return [hand_path(points, rng, False, REFERENCE_SIDE * 0.6, 1.0)
            for points in style_strokes(style, rng)]


def readings(model: Path, pictures: list[np.ndarray]):
    """(classes, verdicts) as the window gives them: LiteRT, calibrated, checked."""
    from bench.bench_own_classes import answers

    return answers(model, "mnist", pictures)


def run() -> dict:
    from training.modelfile.sidecar import shipped_model_path

    home = tempfile.mkdtemp(prefix="bench-hands-")
    os.environ["DRAW_CLASSIFY_HOME"] = home
    app, win = open_window(home, "mnist")
    hand = Hand(win)
    rng = np.random.default_rng(2312)

    sets: dict[str, tuple[list[np.ndarray], list[int]]] = {}
    for style, digit in STYLES.items():
        pictures = []
        for i in range(COUNT):
            win.brush.setValue(PENS[i % len(PENS)])
            pictures.append(hand.picture(hand_drawn(style, rng)))
        sets[style] = (pictures, [digit] * COUNT)
    every = [(hand.picture(digit_strokes(i % 10, rng)), i % 10) for i in range(20 * 10)]
    sets["all_digits"] = ([p for p, _ in every], [d for _, d in every])
    win.close()
    app.processEvents()

    models = [Path(p) for p in os.environ.get("BENCH_HANDS_MODELS", "").split(",") if p]
    models = models or [shipped_model_path("mnist")]
    out = {"drawings_per_style": COUNT, "pens": PENS, "models": {}}
    for model in models:
        rows = {}
        for style, (pictures, digits) in sets.items():
            classes, verdicts = readings(model, pictures)
            rows[style] = {"right": round(float(np.mean(classes == np.array(digits))), 3),
                           "refused": round(float(np.mean(verdicts == "reject")), 3)}
        out["models"][str(model)] = rows
        print(f"{model}:")
        for style, row in rows.items():
            print(f"  {style:15s} {row['right']:6.1%} right, {row['refused']:5.1%} refused")
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
