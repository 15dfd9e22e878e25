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
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.bench_own_classes import (  # noqa: E402
    REFERENCE_SIDE,
    Hand,
    template_strokes,
    digit_strokes,
    open_window,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_flagged_ones as flagged  # noqa: E402

COUNT = int(os.environ.get("BENCH_HANDS_COUNT", "60"))
PENS = (12, 18, 24, 30)     # brush sizes, px (18: the default)
# make_flagged_ones' styles (A-D: flags the shipped model learned; E: a flag as long as a 7's
# bar, which it did not), then the 4s: drawn_sets' closed and open-top shapes.
STYLES = {name: flagged.STYLES[name].digit for name in
          ("A", "B", "C", "D", "E", "one_hook", "one_plain", "seven", "seven_crossed")}
FOURS = {"four_closed": 0, "four_open": 1}
STYLES.update(dict.fromkeys(FOURS, 4))


def hand_drawn(style: str, rng: np.random.Generator) -> list[np.ndarray]:
    """One drawing of ``style`` as a hand moves the mouse, in canvas coordinates: the 1s and
    7s are scripts/make_flagged_ones.py's pen paths (its styles), the 4s drawn_sets' shapes;
    densified and wobbling (drawn_sets.hand_path)."""
    from training.learn.drawn_sets import DIGIT_ASPECT, DIGIT_SHAPES, hand_path

    if style in FOURS:
        shape = DIGIT_SHAPES[4][FOURS[style]]
        return template_strokes(shape, rng.uniform(*DIGIT_ASPECT[4]), rng, 1.0)
    scale = REFERENCE_SIDE / flagged.SIDE
    return [hand_path(np.asarray(path) * scale, rng, False, REFERENCE_SIDE * 0.6, 1.0)
            for path in flagged.strokes(style, rng)]


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
