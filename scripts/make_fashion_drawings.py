"""Generate hand-drawing-like Fashion-MNIST drawings, as OUTLINES and FILLED (issue #12).

    python scripts/make_fashion_drawings.py [FOLDER] [--per-class N] [--seed S]

Each of the 10 classes has a template drawn the way a person draws it on the canvas (a shirt has
a collar and buttons, a coat a zip and long sleeves, a sandal straps over a sole, a bag a box and
a handle...). Every picture varies its proportions, size, position and tilt, makes the lines
wobble like a hand, rounds the corners and leaves some outlines a little open or overshot; it is
drawn like the canvas does: white round-capped anti-aliased strokes, 26 px wide (the canvas's
18-px brush), on a black 560x560 picture. Each shape is saved twice: the outline only, and filled
(the silhouette filled, as the canvas's fill tool would, plus the same strokes).

Files: ``<label>_<class>_<outline|filled>_<nn>.png``; deterministic (one seeded generator per
shape). Test data: written to /tmp by default, never committed.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

DEFAULT_FOLDER = Path("/tmp/fashion-drawings")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
SIDE = 560
PEN = 18 * 560 / 392      # the canvas's default brush in picture pixels (~26)
SUPER = 3                 # drawn 3x larger, then reduced: anti-aliased like Qt's strokes
VERSIONS = ("outline", "filled")


def slug(label: int) -> str:
    return CLASS_NAMES[label].lower().replace("/", "-").replace(" ", "-")


# --- Templates: in a unit box (x right, y down). Each returns (silhouettes, lines): silhouettes
# are closed polygons (drawn as closed strokes; filled in the FILLED version), lines are open
# strokes (details, straps, handles). `p` holds random proportions in [0, 1].

def tshirt(p):
    s = 0.25 + 0.1 * p[0]           # sleeve length
    arm = 0.3 + 0.06 * p[1]
    body = [(0.42, 0.02), (0.22, 0.08), (0.22 - s, 0.3), (0.22 - s + 0.1, 0.42), (0.24, arm),
            (0.25, 0.98), (0.75, 0.98), (0.76, arm), (0.78 + s - 0.1, 0.42), (0.78 + s, 0.3),
            (0.78, 0.08), (0.58, 0.02), (0.5, 0.1 + 0.05 * p[2])]
    return [body], []


def trouser(p):
    gap = 0.05 + 0.05 * p[0]        # half the space between the legs at the hem
    crotch = 0.22 + 0.1 * p[1]
    flare = 0.04 * p[2]
    body = [(0.2, 0.0), (0.8, 0.0), (0.84 + flare, 1.0), (0.5 + gap, 1.0), (0.5, crotch),
            (0.5 - gap, 1.0), (0.16 - flare, 1.0)]
    return [body], [[(0.2, 0.07), (0.8, 0.07)]] if p[3] > 0.5 else []


def pullover(p):
    cuff = 0.85 + 0.1 * p[0]
    wide = 0.08 * p[1]
    body = [(0.4, 0.03), (0.2, 0.08), (0.02 - wide, cuff), (0.14 - wide, cuff + 0.02),
            (0.22, 0.35), (0.22, 0.97), (0.78, 0.97), (0.78, 0.35), (0.86 + wide, cuff + 0.02),
            (0.98 + wide, cuff), (0.8, 0.08), (0.6, 0.03), (0.5, 0.09)]
    lines = [[(0.22, 0.9), (0.78, 0.9)]] if p[2] > 0.5 else []  # a ribbed hem
    return [body], lines


def dress(p):
    waist = 0.3 + 0.1 * p[0]
    hem = 0.38 + 0.1 * p[1]         # half width at the hem
    body = [(0.36, 0.0), (0.42, 0.0), (0.5, 0.08), (0.58, 0.0), (0.64, 0.0), (0.68, 0.2),
            (0.62, waist), (0.5 + hem, 1.0), (0.5 - hem, 1.0), (0.38, waist), (0.32, 0.2)]
    lines = [[(0.38, waist), (0.62, waist)]] if p[2] > 0.5 else []  # a belt
    return [body], lines


def coat(p):
    cuff = 0.88 + 0.08 * p[0]
    body = [(0.4, 0.02), (0.2, 0.07), (0.03, cuff), (0.14, cuff + 0.02), (0.23, 0.35),
            (0.23, 0.99), (0.77, 0.99), (0.77, 0.35), (0.86, cuff + 0.02), (0.97, cuff),
            (0.8, 0.07), (0.6, 0.02)]
    lines = [[(0.5, 0.12), (0.5, 0.99)],                      # the zip
             [(0.4, 0.02), (0.5, 0.12), (0.6, 0.02)]]          # the collar
    if p[1] > 0.5:                                             # pockets
        lines += [[(0.28, 0.7), (0.42, 0.7)], [(0.58, 0.7), (0.72, 0.7)]]
    return [body], lines


def sandal(p):
    heel = 0.2 + 0.3 * p[0]         # heel height
    sole = [(0.0, 0.86), (0.02, 1.0), (0.6, 1.0), (0.8, 1.0 - heel), (1.0, 1.0 - heel),
            (1.0, 0.86 - heel), (0.8, 0.86 - heel), (0.6, 0.86)]
    top = 0.05 + 0.15 * p[1]
    lines = [[(0.06, 0.86), (0.18, top + 0.3), (0.32, 0.86)],   # toe strap
             [(0.38, 0.86), (0.55, top + 0.1), (0.72, 0.84 - heel)],  # instep strap
             [(0.8, 0.86 - heel), (0.86, top), (0.96, 0.86 - heel)]]  # ankle strap
    return [sole], lines


def shirt(p):
    cuff = 0.86 + 0.1 * p[0]
    body = [(0.38, 0.03), (0.2, 0.08), (0.03, cuff), (0.14, cuff + 0.02), (0.23, 0.35),
            (0.23, 0.98), (0.77, 0.98), (0.77, 0.35), (0.86, cuff + 0.02), (0.97, cuff),
            (0.8, 0.08), (0.62, 0.03)]
    lines = [[(0.38, 0.03), (0.44, 0.15), (0.5, 0.1), (0.56, 0.15), (0.62, 0.03)],  # collar
             [(0.5, 0.1), (0.5, 0.98)]]                                            # placket
    buttons = [[(0.56, y), (0.56, y)] for y in np.linspace(0.3, 0.85, 4)]           # dots
    return [body], lines + buttons


def sneaker(p):
    high = 0.85 + 0.15 * p[0]       # collar height (from the sole's bottom)
    body = [(0.0, 0.55), (0.02, 1.0), (1.0, 1.0), (1.0, 1 - high), (0.85, 1 - high + 0.05),
            (0.68, 1 - high + 0.25), (0.45, 1 - high + 0.15), (0.18, 0.35)]
    lines = [[(0.01, 0.78), (1.0, 0.78)]]                                 # the sole
    if p[1] > 0.4:                                                        # laces
        lines += [[(0.25 + 0.07 * k, 0.45 - 0.05 * k), (0.32 + 0.07 * k, 0.55 - 0.05 * k)]
                  for k in range(3)]
    return [body], lines


def bag(p):
    top = 0.35 + 0.1 * p[0]
    slant = 0.06 * p[1]
    box = [(0.05 + slant, top), (0.95 - slant, top), (1.0, 1.0), (0.0, 1.0)]
    hw = 0.18 + 0.1 * p[2]          # half width of the handle
    peak = 0.02 + 0.1 * p[3]        # top of the handle
    handle = [(0.5 - hw, top), (0.5 - hw + 0.02, peak), (0.5 + hw - 0.02, peak), (0.5 + hw, top)]
    return [box], [handle]


def boot(p):
    shaft = 0.45 + 0.1 * p[0]       # width of the shaft
    heel = 0.08 * p[1]
    body = [(1.0 - shaft, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.8),
            (0.1, 0.68), (1.0 - shaft - 0.05, 0.55)]
    lines = [[(0.0, 0.9 - heel), (1.0, 0.9 - heel)]]                        # the sole
    if p[2] > 0.5:
        lines += [[(1.0 - shaft + 0.05, 0.1), (1.0 - shaft + 0.05, 0.5)]]   # a side zip
    return [body], lines


# label -> (template, width / height range)
TEMPLATES = {0: (tshirt, (0.95, 1.2)), 1: (trouser, (0.45, 0.65)), 2: (pullover, (0.9, 1.1)),
             3: (dress, (0.55, 0.8)), 4: (coat, (0.8, 0.95)), 5: (sandal, (1.4, 2.0)),
             6: (shirt, (0.85, 1.05)), 7: (sneaker, (2.2, 2.8)), 8: (bag, (1.0, 1.4)),
             9: (boot, (0.9, 1.15))}


# --- Hand drawing

def hand_path(points, rng, closed: bool, size: float) -> np.ndarray:
    """A polygon or polyline as a hand draws it: corners a little rounded, the line wobbling
    slowly (amplitude ~1 % of the shape), a closed outline sometimes left open or overshot."""
    pts = np.asarray(points, np.float64)
    if closed:
        pts = np.vstack([pts, pts[:1]])
    if len(pts) == 2 and np.allclose(pts[0], pts[1]):  # a dot (a button)
        return pts
    dense = _densify(pts, step=3.0)
    if len(pts) > 2:
        dense = _smooth(dense, closed, round(size * 0.02 / 3) + 1)
    t = np.linspace(0, 1, len(dense))
    wobble = np.zeros_like(dense)
    for axis in range(2):
        for k in (1, 2, 3, 5):
            wobble[:, axis] += (rng.normal(0, size * 0.006 / k)
                                * np.sin(2 * math.pi * (k * t + rng.random())))
    if closed:  # the hand comes back to where it started: end where it began, give or take
        wobble -= np.outer(t, wobble[-1] - wobble[0])
    dense = dense + wobble
    if closed:
        n = len(dense)
        miss = rng.choice(["closed", "gap", "overshoot"], p=[0.4, 0.4, 0.2])
        amount = int(n * rng.uniform(0.004, 0.02))
        if miss == "gap" and amount:
            dense = dense[:n - amount]
        elif miss == "overshoot" and amount:
            dense = np.vstack([dense, dense[1:amount + 1] + rng.normal(0, size * 0.01, 2)])
    return dense


def _densify(pts: np.ndarray, step: float) -> np.ndarray:
    out = [pts[0]]
    for a, b in itertools.pairwise(pts):
        n = max(1, int(np.hypot(*(b - a)) / step))
        out.extend(a + (b - a) * (i / n) for i in range(1, n + 1))
    return np.asarray(out)


def _smooth(pts: np.ndarray, closed: bool, k: int) -> np.ndarray:
    """Moving average over 2k+1 points: rounds the corners the way a hand does."""
    if k < 1 or len(pts) < 2 * k + 1:
        return pts
    body = pts[:-1] if closed else pts
    pad = (np.vstack([body[-k:], body, body[:k]]) if closed
           else np.vstack([np.repeat(body[:1], k, 0), body, np.repeat(body[-1:], k, 0)]))
    kernel = np.ones(2 * k + 1) / (2 * k + 1)
    out = np.stack([np.convolve(pad[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    return np.vstack([out, out[:1]]) if closed else out


def draw_shape(label: int, index: int, seed: int = 0) -> dict[str, np.ndarray]:
    """One shape of class ``label``: {"outline": grey uint8 (560, 560), "filled": ...}."""
    rng = np.random.default_rng([seed, label, index])
    template, (low, high) = TEMPLATES[label]
    silhouettes, lines = template(rng.random(4))
    aspect = rng.uniform(low, high)
    size = rng.uniform(0.55, 0.85) * SIDE                 # the long side of the drawing
    w, h = (size, size / aspect) if aspect > 1 else (size * aspect, size)
    cx = SIDE / 2 + rng.uniform(-1, 1) * (SIDE - w - 2 * PEN) / 2 * 0.8
    cy = SIDE / 2 + rng.uniform(-1, 1) * (SIDE - h - 2 * PEN) / 2 * 0.8
    angle = math.radians(rng.normal(0, 4))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])

    def place(points):
        unit = np.asarray(points, np.float64) - 0.5
        return (unit * [w, h]) @ rot.T + [cx, cy]

    strokes = [hand_path(place(s), rng, True, size) for s in silhouettes]
    strokes += [hand_path(place(line), rng, False, size) for line in lines]
    pen = PEN * rng.uniform(0.9, 1.1)
    pictures = {}
    for version in VERSIONS:
        big = Image.new("L", (SIDE * SUPER, SIDE * SUPER), 0)
        draw = ImageDraw.Draw(big)
        if version == "filled":
            for s in silhouettes:
                draw.polygon([tuple(q) for q in place(s) * SUPER], fill=255)
        for stroke in strokes:
            _stroke(draw, stroke * SUPER, pen * SUPER)
        pictures[version] = np.asarray(big.resize((SIDE, SIDE), Image.Resampling.BOX))
    return pictures


def _stroke(draw: ImageDraw.ImageDraw, pts: np.ndarray, width: float) -> None:
    """A round-capped, round-joined stroke (Pillow's lines have flat ends: add discs)."""
    r = width / 2
    flat = [tuple(q) for q in pts]
    if len(flat) > 1:
        draw.line(flat, fill=255, width=round(width), joint="curve")
    for x, y in (flat[0], flat[-1]):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)


def generate(folder: Path = DEFAULT_FOLDER, per_class: int = 10, seed: int = 0) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for label in range(len(CLASS_NAMES)):
        for index in range(per_class):
            for version, grey in draw_shape(label, index, seed).items():
                path = folder / f"{label}_{slug(label)}_{version}_{index:02d}.png"
                Image.fromarray(grey).save(path)
                written.append(path)
    return written


def read_folder(folder: Path = DEFAULT_FOLDER) -> list[tuple[Path, int, str]]:
    """(path, label, version) of every picture in ``folder``, sorted."""
    out = []
    for path in sorted(Path(folder).glob("*.png")):
        label, _, version, _ = path.stem.split("_")
        out.append((path, int(label), version))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    written = generate(args.folder, args.per_class, args.seed)
    print(f"{len(written)} pictures in {args.folder}")


if __name__ == "__main__":
    main()
