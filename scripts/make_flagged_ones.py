"""Canvas-like drawings of the digits a European hand writes differently (issue #9, item 2).

    python scripts/make_flagged_ones.py FOLDER [--style A] [--count 10] [--seed 0]

Writes ``FOLDER/<digit>/<style>-<i>.png`` (the personal-samples layout) of 560x560 grey pictures
drawn the way the app's canvas draws: round-capped, anti-aliased strokes ~26 px wide, white on
black (a few black on white). Each style is a distinct way of writing the digit, so a model
taught on one style can be measured on the others, which it never saw:

  A  "1", long flat-ish flag, no base, nearly upright
  B  "1", long flat flag and a base bar
  C  "1", strongly slanted, long flag, no base
  D  "1", short, nearly horizontal flag, no base
  E  "1", very long, nearly level flag, no base, upright   (the teaching set)
  F  "1", very long flat flag, slanted
  G  "1", very long flag, a little steeper
  seven, seven_crossed, one_plain, one_hook (a short steep flag): controls that the shipped
  model reads right and that must keep their reading after teaching

The shipped digit model learned flags up to about a third of the 1's height while it trained
(training/learn/augment.py), so it reads A-D untaught; E-G, a flag half as long as the stem or
more over no base, is how a 7 without its bar looks, and stays a hand to teach.

Each picture comes from its own seeded generator: the same seed gives the same set everywhere.
These pictures are test data: never commit them.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIDE = 560        # the canvas picture
SUPERSAMPLE = 3   # drawn 3x larger, then reduced: anti-aliased edges like Qt's painter
PEN = (22, 30)    # stroke width range, canvas pixels


@dataclass(frozen=True)
class Style:
    digit: int
    flag: tuple[float, float] = (0.0, 0.0)        # flag length, fraction of the height
    flag_angle: tuple[float, float] = (0, 0)      # degrees below horizontal, pointing left
    slant: tuple[float, float] = (-4, 8)          # degrees the stem leans right at the top
    base: bool = False                            # a foot bar under the stem
    cross: bool = False                           # a bar across a 7's stem


STYLES = {
    "A": Style(1, flag=(0.28, 0.42), flag_angle=(15, 35), slant=(-3, 6)),
    "B": Style(1, flag=(0.32, 0.48), flag_angle=(8, 30), base=True),
    "C": Style(1, flag=(0.28, 0.42), flag_angle=(12, 32), slant=(12, 22)),
    "D": Style(1, flag=(0.18, 0.28), flag_angle=(3, 20), slant=(-6, 4)),
    "E": Style(1, flag=(0.45, 0.6), flag_angle=(3, 15), slant=(-3, 4)),
    "F": Style(1, flag=(0.4, 0.55), flag_angle=(5, 20), slant=(8, 18)),
    "G": Style(1, flag=(0.5, 0.65), flag_angle=(10, 25), slant=(-3, 6)),
    "seven": Style(7),
    "seven_crossed": Style(7, cross=True),
    "one_plain": Style(1),
    "one_hook": Style(1, flag=(0.12, 0.2), flag_angle=(40, 65)),  # read right before teaching
}
TEACH_STYLE = "E"
HELD_OUT_STYLES = ("E", "F", "G")   # E: new drawings of the taught hand (other seeds)
UNTAUGHT_STYLES = ("A", "B", "C", "D")   # read right by the shipped model without teaching
CONTROL_STYLES = ("seven", "seven_crossed", "one_plain", "one_hook")


def draw(style: str | Style, rng: np.random.Generator) -> np.ndarray:
    """One 560x560 uint8 drawing, white ink on black."""
    drawn = strokes(style, rng)
    width = rng.uniform(*PEN)
    return _render(drawn, width)


def strokes(style: str | Style, rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """One drawing's pen paths, in pixels of the 560x560 picture (bench/bench_hands.py draws
    them with the mouse on the canvas)."""
    spec = STYLES[style] if isinstance(style, str) else style
    height = rng.uniform(0.45, 0.8) * SIDE
    cx = SIDE / 2 + rng.uniform(-0.12, 0.12) * SIDE
    top = SIDE / 2 - height / 2 + rng.uniform(-0.1, 0.1) * SIDE
    lean = math.tan(math.radians(rng.uniform(*spec.slant)))
    if spec.digit == 7:
        return _seven(spec, rng, cx, top, height, lean)
    return _one(spec, rng, cx, top, height, lean)


def _one(spec: Style, rng, cx, top, height, lean) -> list[list[tuple[float, float]]]:
    tip = (cx + lean * height / 2, top)
    foot = (cx - lean * height / 2, top + height)
    stem = _curve(tip, foot, rng.uniform(-0.04, 0.04) * height)
    strokes = []
    if spec.flag[1] > 0:
        length = rng.uniform(*spec.flag) * height
        angle = math.radians(rng.uniform(*spec.flag_angle))
        start = (tip[0] - length * math.cos(angle), tip[1] + length * math.sin(angle))
        flag = _curve(start, tip, rng.uniform(-0.03, 0.06) * height)
        strokes.append(flag[:-1] + stem)  # one stroke: up the flag, down the stem
    else:
        strokes.append(stem)
    if spec.base:
        half = rng.uniform(0.15, 0.25) * height
        y = foot[1] + rng.uniform(-0.02, 0.02) * height
        strokes.append(_curve((foot[0] - half, y), (foot[0] + half * rng.uniform(0.9, 1.2), y),
                              rng.uniform(-0.02, 0.02) * height))
    return strokes


def _seven(spec: Style, rng, cx, top, height, lean) -> list[list[tuple[float, float]]]:
    bar = rng.uniform(0.45, 0.7) * height
    left = (cx - bar / 2 + lean * height / 2, top + rng.uniform(-0.03, 0.03) * height)
    right = (cx + bar / 2 + lean * height / 2, top)
    foot = (cx - rng.uniform(0.0, 0.15) * height - lean * height / 2, top + height)
    strokes = [_curve(left, right, rng.uniform(-0.02, 0.02) * height)[:-1]
               + _curve(right, foot, rng.uniform(-0.05, 0.05) * height)]
    if spec.cross:
        t = rng.uniform(0.45, 0.6)
        mid = (right[0] + t * (foot[0] - right[0]), right[1] + t * (foot[1] - right[1]))
        half = rng.uniform(0.15, 0.24) * height
        strokes.append(_curve((mid[0] - half, mid[1]), (mid[0] + half, mid[1]),
                              rng.uniform(-0.02, 0.02) * height))
    return strokes


def _curve(start, end, bow: float, points: int = 16) -> list[tuple[float, float]]:
    """A gently bowed line (quadratic Bezier, control point ``bow`` px off the middle)."""
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    mx, my = (x0 + x1) / 2 + nx * bow, (y0 + y1) / 2 + ny * bow
    t = np.linspace(0, 1, points)
    xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * mx + t ** 2 * x1
    ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * my + t ** 2 * y1
    return list(zip(xs.tolist(), ys.tolist()))


def _render(strokes, width: float) -> np.ndarray:
    scale = SUPERSAMPLE
    image = Image.new("L", (SIDE * scale, SIDE * scale), 0)
    pen = ImageDraw.Draw(image)
    w = width * scale
    for stroke in strokes:
        points = [(x * scale, y * scale) for x, y in stroke]
        pen.line(points, fill=255, width=round(w), joint="curve")
        for x, y in (points[0], points[-1]):  # round caps, as the canvas pen has
            pen.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    return np.asarray(image.resize((SIDE, SIDE), Image.Resampling.BOX), np.uint8)


def make_set(style: str, count: int, seed: int = 0, invert_every: int = 0) -> np.ndarray:
    """``count`` drawings of ``style``; every ``invert_every``-th one black on white (0: none).
    Picture i comes from generator (seed, style, i), so sets of different sizes share a prefix."""
    key = sum(map(ord, style))
    pictures = []
    for i in range(count):
        picture = draw(style, np.random.default_rng([seed, key, i]))
        if invert_every and i % invert_every == invert_every - 1:
            picture = 255 - picture
        pictures.append(picture)
    return np.stack(pictures) if pictures else np.zeros((0, SIDE, SIDE), np.uint8)


def write_set(folder: str | Path, style: str, count: int, seed: int = 0,
              invert_every: int = 3) -> list[Path]:
    """Write ``folder/<digit>/<style>-<i>.png``; returns the paths."""
    target = Path(folder) / str(STYLES[style].digit)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, picture in enumerate(make_set(style, count, seed, invert_every)):
        path = target / f"{style}-{seed}-{i:04d}.png"
        Image.fromarray(picture).save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--style", choices=sorted(STYLES), default=TEACH_STYLE)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = write_set(args.folder, args.style, args.count, args.seed)
    print(f"wrote {len(paths)} pictures of style {args.style} to {paths[0].parent if paths else args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
