"""Digits and garments drawn the way users make them, for fitting and measuring the "That doesn't
look like a …" check (``training.runtime.answer_check``) on what reaches the models from the canvas and from
photos, not only on the datasets' own pictures (issue #20).

* garment drawings (issue #12's templates): each of the 10 Fashion-MNIST classes drawn the way a
  person draws it on the canvas (a shirt has a collar and buttons, a sandal straps over a sole…),
  proportions, size, position and tilt varied, the line wobbling like a hand, outlines sometimes
  left open or overshot; white round-capped strokes on a black 560x560 picture. Each shape comes
  as an OUTLINE and FILLED (the silhouette filled, as with the canvas's fill, plus the strokes);
* garment photos: the same silhouettes, coloured, shaded and seamed, on a light backdrop with a
  soft shadow, like a product photo (RGB, any size);
* digit drawings: every digit in the shapes hands make (a 1 with and without a flag or a base,
  a crossed 7, an open 4, a looped 2…), and letters drawn the same way (``ood_sets``'s strokes).

A *style family* sets how pictures vary: ``canvas`` (the default pen, issue #12's set), ``fit``
(what ``training calibrate`` fits the check on: pens from thin to thick, small to large shapes,
shaky hands, tilt; drawn without anti-aliasing) and ``eval`` (what the bench and tests measure:
about the same ranges, other seeds, anti-aliased), so a figure is never measured on pictures the
check was fitted on. numpy + Pillow only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
SIDE = 560
PEN = 18 * 560 / 392      # the canvas's default brush in picture pixels (~26)
SUPER = 3                 # drawn 3x larger, then reduced: anti-aliased like Qt's strokes
VERSIONS = ("outline", "filled")


@dataclass(frozen=True)
class Style:
    """How the pictures of one family vary."""

    pen: tuple[float, float] = (0.9, 1.1)     # x PEN
    size: tuple[float, float] = (0.55, 0.85)  # long side of the drawing / SIDE
    wobble: float = 1.0                       # x the hand's wobble
    tilt: float = 4.0                         # degrees (standard deviation)
    supersample: int = SUPER
    seed_offset: int = 0                      # families never share a shape


# The canvas's brushes are 10-24 px at the 392-px reference size (0.55-1.35 x PEN).
FAMILIES = {
    "canvas": Style(),
    "fit": Style(pen=(0.3, 1.9), size=(0.3, 0.95), wobble=2.0, tilt=10.0, supersample=1,
                 seed_offset=10_000),
    "eval": Style(pen=(0.35, 1.8), size=(0.3, 0.95), wobble=2.0, tilt=10.0, supersample=2,
                  seed_offset=20_000),
}
KINDS = ("garments", "garment_photos", "digits", "letters")


def slug(label: int) -> str:
    return CLASS_NAMES[label].lower().replace("/", "-").replace(" ", "-")


# --- Garment templates: in a unit box (x right, y down). Each returns (silhouettes, lines):
# silhouettes are closed polygons (drawn as closed strokes; filled in the FILLED version), lines
# are open strokes (details, straps, handles). `p` holds random proportions in [0, 1].

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

def hand_path(points, rng, closed: bool, size: float, shake: float = 1.0
              ) -> np.ndarray:
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
            wobble[:, axis] += (rng.normal(0, shake * size * 0.006 / k)
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


def draw_shape(label: int, index: int, seed: int = 0, style: Style = FAMILIES["canvas"]
               ) -> dict[str, np.ndarray]:
    """One shape of class ``label``: {"outline": grey uint8 (560, 560), "filled": ...}."""
    rng = np.random.default_rng([seed + style.seed_offset, label, index])
    silhouettes, lines, place, size = _garment_shape(label, rng, style)
    strokes = [hand_path(place(s), rng, True, size, style.wobble) for s in silhouettes]
    strokes += [hand_path(place(line), rng, False, size, style.wobble) for line in lines]
    pen = PEN * rng.uniform(*style.pen)
    sup = style.supersample
    pictures = {}
    for version in VERSIONS:
        big = Image.new("L", (SIDE * sup, SIDE * sup), 0)
        draw = ImageDraw.Draw(big)
        if version == "filled":
            for s in silhouettes:
                draw.polygon([tuple(q) for q in place(s) * sup], fill=255)
        for stroke in strokes:
            _stroke(draw, stroke * sup, pen * sup)
        pictures[version] = (np.asarray(big.resize((SIDE, SIDE), Image.Resampling.BOX))
                             if sup > 1 else np.asarray(big))
    return pictures


def _garment_shape(label: int, rng, style: Style, side: float = SIDE, margin: float = PEN):
    """(silhouettes, lines, place, size): a template's polygons and where they land."""
    template, (low, high) = TEMPLATES[label]
    silhouettes, lines = template(rng.random(4))
    aspect = rng.uniform(low, high)
    size = rng.uniform(*style.size) * side                 # the long side of the drawing
    w, h = (size, size / aspect) if aspect > 1 else (size * aspect, size)
    cx = side / 2 + rng.uniform(-1, 1) * max(0.0, side - w - 2 * margin) / 2 * 0.8
    cy = side / 2 + rng.uniform(-1, 1) * max(0.0, side - h - 2 * margin) / 2 * 0.8
    angle = math.radians(rng.normal(0, style.tilt))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])

    def place(points):
        unit = np.asarray(points, np.float64) - 0.5
        return (unit * [w, h]) @ rot.T + [cx, cy]

    return silhouettes, lines, place, size


def _stroke(draw: ImageDraw.ImageDraw, pts: np.ndarray, width: float) -> None:
    """A round-capped, round-joined stroke (Pillow's lines have flat ends: add discs)."""
    r = width / 2
    flat = [tuple(q) for q in pts]
    if len(flat) > 1:
        draw.line(flat, fill=255, width=round(width), joint="curve")
    for x, y in (flat[0], flat[-1]):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)


# --- Digits as hands draw them: (width / height, strokes) in a unit box (x right, y down).

def _arc(cx, cy, rx, ry, start, stop, n=20):
    angles = np.radians(np.linspace(start, stop, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


DIGIT_SHAPES = {
    0: [[_arc(0.5, 0.5, 0.48, 0.5, -90, 270, 28)],
        [_arc(0.5, 0.5, 0.45, 0.5, -60, 330, 28)]],                         # overlapping ends
    1: [[[(0.5, 0.0), (0.5, 1.0)]],
        [[(0.15, 0.25), (0.55, 0.0), (0.55, 1.0)]],                          # with a flag
        [[(0.15, 0.25), (0.55, 0.0), (0.55, 1.0)], [(0.15, 1.0), (0.95, 1.0)]]],  # and a base
    2: [[_arc(0.5, 0.28, 0.45, 0.28, 190, 360, 12) + [(0.9, 0.45), (0.05, 1.0), (1.0, 1.0)]],
        [_arc(0.5, 0.28, 0.45, 0.28, 200, 380, 12) + [(0.1, 0.95)]
         + _arc(0.2, 0.9, 0.12, 0.1, 180, 450, 8) + [(1.0, 1.0)]]],            # a looped 2
    3: [[_arc(0.45, 0.25, 0.45, 0.25, 200, 450, 14) + _arc(0.45, 0.74, 0.5, 0.26, 270, 520, 14)],
        [[(0.05, 0.0), (0.95, 0.0), (0.4, 0.4)] + _arc(0.45, 0.7, 0.5, 0.3, 270, 500, 14)]],
    4: [[[(0.7, 0.0), (0.0, 0.68), (1.0, 0.68)], [(0.72, 0.3), (0.72, 1.0)]],
        [[(0.1, 0.0), (0.05, 0.6), (0.95, 0.6)], [(0.75, 0.05), (0.75, 1.0)]]],  # open top
    5: [[[(0.95, 0.0), (0.15, 0.0), (0.08, 0.45)] + _arc(0.45, 0.7, 0.5, 0.3, 230, 500, 14)],
        [[(0.15, 0.0), (0.08, 0.45)] + _arc(0.45, 0.7, 0.5, 0.3, 230, 500, 14),
         [(0.15, 0.0), (0.95, 0.0)]]],
    6: [[[(0.8, 0.0), (0.3, 0.35)] + _arc(0.5, 0.72, 0.45, 0.28, 180, 540, 20)],
        [_arc(0.9, 0.7, 0.85, 0.7, 250, 180, 8) + _arc(0.5, 0.73, 0.45, 0.27, 180, 520, 18)]],
    7: [[[(0.0, 0.0), (1.0, 0.0), (0.3, 1.0)]],
        [[(0.0, 0.1), (0.05, 0.0), (1.0, 0.0), (0.35, 1.0)],
         [(0.25, 0.5), (0.85, 0.5)]]],                                       # crossed
    8: [[_arc(0.5, 0.25, 0.38, 0.25, 90, 450, 20), _arc(0.5, 0.74, 0.48, 0.26, -90, 270, 20)],
        [_arc(0.5, 0.25, 0.38, 0.25, 0, -270, 16) + _arc(0.5, 0.74, 0.48, 0.26, -90, 270, 20)
         + _arc(0.5, 0.25, 0.38, 0.25, 90, 0, 6)]],                         # one stroke
    9: [[_arc(0.5, 0.3, 0.45, 0.3, 0, 360, 20), [(0.95, 0.3), (0.9, 1.0)]],
        [_arc(0.5, 0.3, 0.45, 0.3, 20, 380, 20) + [(0.95, 0.4), (0.75, 1.0)]]],
}
DIGIT_ASPECT = {0: (0.55, 0.8), 1: (0.2, 0.45), 4: (0.6, 0.85)}  # width / height; others below
OTHER_ASPECT = (0.5, 0.75)


def draw_strokes(strokes, aspect: float, rng: np.random.Generator, style: Style) -> np.ndarray:
    """Polylines in a unit box drawn as the canvas draws them: placed, slanted, wobbling, a
    round pen; grey uint8 (560, 560), white on black."""
    size = rng.uniform(*style.size) * SIDE
    w, h = (size, size / aspect) if aspect > 1 else (size * aspect, size)
    pen = PEN * rng.uniform(*style.pen)
    cx = SIDE / 2 + rng.uniform(-1, 1) * max(0.0, SIDE - w - 2 * pen) / 2 * 0.8
    cy = SIDE / 2 + rng.uniform(-1, 1) * max(0.0, SIDE - h - 2 * pen) / 2 * 0.8
    slant = rng.normal(0, 0.12)
    angle = math.radians(rng.normal(0, style.tilt))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    sup = style.supersample
    big = Image.new("L", (SIDE * sup, SIDE * sup), 0)
    draw = ImageDraw.Draw(big)
    for stroke in strokes:
        unit = np.asarray(stroke, np.float64)
        unit = unit + rng.normal(0, 0.012 * style.wobble, unit.shape)   # each corner off a bit
        unit[:, 0] += slant * (0.5 - unit[:, 1])
        points = ((unit - 0.5) * [w, h]) @ rot.T + [cx, cy]
        _stroke(draw, hand_path(points, rng, False, size, style.wobble) * sup, pen * sup)
    return (np.asarray(big.resize((SIDE, SIDE), Image.Resampling.BOX)) if sup > 1
            else np.asarray(big))


def digit_drawing(digit: int, rng: np.random.Generator, style: Style) -> np.ndarray:
    variants = DIGIT_SHAPES[digit]
    strokes = variants[int(rng.integers(len(variants)))]
    return draw_strokes(strokes, rng.uniform(*DIGIT_ASPECT.get(digit, OTHER_ASPECT)), rng, style)


def letter_drawing(letter: str, rng: np.random.Generator, style: Style) -> np.ndarray:
    from training.learn.ood_sets import STROKE_LETTERS

    return draw_strokes(STROKE_LETTERS[letter], rng.uniform(0.7, 1.1), rng, style)


# --- Garment photos: a product shot of the template's silhouette.

def garment_photo(label: int, rng: np.random.Generator) -> np.ndarray:
    """RGB uint8: a coloured, shaded garment with seams and a soft shadow on a light backdrop."""
    width, height = int(rng.integers(300, 700)), int(rng.integers(300, 700))
    side = min(width, height)
    style = Style(size=(0.55, 0.95), tilt=3.0)
    silhouettes, lines, place, size = _garment_shape(label, rng, style, side, side * 0.03)
    shift = np.array([(width - side) / 2, (height - side) / 2])
    backdrop = np.asarray(rng.uniform(205, 252, 3))
    yy = np.linspace(-1, 1, height)[:, None, None]
    picture = backdrop + rng.uniform(-12, 12) * yy + rng.normal(0, 2, (height, width, 3))
    shadow = Image.new("L", (width, height), 0)
    offset = rng.uniform(-0.03, 0.03, 2) * side
    for s in silhouettes:
        ImageDraw.Draw(shadow).polygon([tuple(q) for q in place(s) + shift + offset], fill=255)
    shadow = np.asarray(shadow.filter(ImageFilter.GaussianBlur(side * 0.02)), np.float64) / 255
    picture *= 1 - rng.uniform(0.1, 0.3) * shadow[..., None]
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for s in silhouettes:
        draw.polygon([tuple(q) for q in place(s) + shift], fill=255)
    strap = max(2, round(side * rng.uniform(0.025, 0.05)))
    if label in (5, 8):  # a sandal's straps and a bag's handle are the garment, not seams
        for line in lines:
            draw.line([tuple(q) for q in place(line) + shift], fill=255, width=strap,
                      joint="curve")
    inside = np.asarray(mask.filter(ImageFilter.GaussianBlur(0.8)), np.float64)[..., None] / 255
    colour = rng.uniform(0, 170, 3) if rng.random() < 0.85 else rng.uniform(0, 60, 1).repeat(3)
    light = 1 + rng.uniform(-0.25, 0.25) * np.linspace(-1, 1, width)[None, :, None]
    cloth = np.clip(colour * light + rng.normal(0, rng.uniform(2, 10), (height, width, 3)),
                    0, 255)
    picture = picture * (1 - inside) + cloth * inside
    if label not in (5, 8):
        seams = Image.new("L", (width, height), 0)
        for line in lines:
            ImageDraw.Draw(seams).line([tuple(q) for q in place(line) + shift], fill=255,
                                       width=max(1, strap // 3))
        seam = np.asarray(seams, np.float64)[..., None] / 255 * inside
        picture = picture * (1 - 0.35 * seam)
    out = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8), "RGB")
    return np.asarray(out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2))))


# --- Sets

@dataclass
class DrawnSet:
    kind: str
    inputs: np.ndarray      # (n, 28, 28) float32 model inputs (the non-blank pictures)
    labels: np.ndarray      # (n,) class of each (digits, garments); -1 for letters
    versions: list[str]     # "outline" / "filled" / "photo" / "digit:1" / "letter:A" ...
    blank: int              # pictures the preprocessing found blank


def pictures(kind: str, count: int, seed: int = 0, family: str = "eval"):
    """(label, version, picture) for ``count`` pictures of ``kind`` (one of KINDS), classes in
    turn."""
    style = FAMILIES[family]
    from training.learn.ood_sets import STROKE_LETTERS

    letters = sorted(STROKE_LETTERS)
    for index in range(count):
        label = index % 10
        rng = np.random.default_rng([seed + style.seed_offset, KINDS.index(kind), index])
        if kind == "garments":
            version = VERSIONS[(index // 10) % 2]
            yield label, version, draw_shape(label, index, seed, style)[version]
        elif kind == "garment_photos":
            yield label, "photo", garment_photo(label, rng)
        elif kind == "digits":
            yield label, f"digit:{label}", digit_drawing(label, rng, style)
        elif kind == "letters":
            letter = letters[int(rng.integers(len(letters)))]
            yield -1, f"letter:{letter}", letter_drawing(letter, rng, style)
        else:
            raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")


def build(kind: str, dataset: str, count: int, seed: int = 0, family: str = "eval") -> DrawnSet:
    """``count`` pictures of ``kind`` made into ``dataset``'s model inputs, as the window does."""
    from training.learn.ood_sets import model_inputs

    stacked, tags, blank = model_inputs(
        (((label, version), picture) for label, version, picture
         in pictures(kind, count, seed, family)), dataset)
    labels = [label for label, _ in tags]
    return DrawnSet(kind, stacked, np.asarray(labels, np.int64),
                    [version for _, version in tags], blank)


# --- What ``training calibrate`` fits the check on (the "fit" family, its own seeds)

FIT_DRAWINGS = 1000       # per dataset: its own drawings (and, for garments, 300 photos)
FIT_HELD = 400            # drawings that place the thresholds (not the ones fitted on)
FIT_JUNK = 300            # per junk set


@dataclass
class FitExamples:
    drawn: np.ndarray         # (n, 28, 28) drawings of the dataset's classes
    drawn_labels: np.ndarray  # (n,)
    drawn_held: np.ndarray    # (m, 28, 28) other drawings: where the thresholds are placed
    junk: np.ndarray          # (k, 28, 28) scribbles, letters, noise, the other dataset's


def shipped_examples_path(dataset: str):
    """``resources/ood_fit/<dataset>.npz``: the full fit family made once (``python -m
    training.learn.drawn_sets``), so that fitting a trained model's check does not spend 1-2 minutes
    drawing the same pictures again (48 s for MNIST, 128 s for Fashion-MNIST on a 2-core EPYC)."""
    from importlib import resources
    from pathlib import Path

    from training.core.datasets import normalize_name

    return Path(str(resources.files("resources"))) / "ood_fit" / f"{normalize_name(dataset)}.npz"


def fit_examples(dataset: str, scale: float = 1.0) -> FitExamples:
    """The fit family's pictures for ``dataset`` ("mnist" or "fashion_mnist"): the shipped copy
    when ``scale`` is 1 and it is readable, else drawn now; ``scale`` shrinks every count (a
    quicker, rougher fit)."""
    if scale == 1.0:
        try:
            with np.load(shipped_examples_path(dataset)) as stored:
                return FitExamples(*(stored[key].astype(np.float32) / 255
                                     if key != "drawn_labels" else stored[key]
                                     for key in ("drawn", "drawn_labels", "drawn_held", "junk")))
        except (OSError, KeyError, ValueError):
            pass  # not shipped, or damaged: drawn now, as the shipped copy was
    return draw_fit_examples(dataset, scale)


def write_fit_examples(dataset: str) -> None:
    """Draw the fit family of ``dataset`` and store it where ``fit_examples`` looks (pictures as
    uint8: the model's inputs are made from 8-bit pictures anyway)."""
    import io

    from training.core.atomic import write_bytes

    examples = draw_fit_examples(dataset)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, drawn_labels=examples.drawn_labels, **{
        key: np.round(getattr(examples, key) * 255).astype(np.uint8)
        for key in ("drawn", "drawn_held", "junk")})
    path = shipped_examples_path(dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buffer.getvalue())


def draw_fit_examples(dataset: str, scale: float = 1.0) -> FitExamples:
    """The fit family's pictures, drawn now."""
    from training.core.datasets import normalize_name
    from training.learn.ood_sets import SETS
    from training.learn.ood_sets import build as build_junk

    def n(count):
        return max(20, int(count * scale))

    fashion = normalize_name(dataset) == "fashion_mnist"
    own = ["garments", "garment_photos"] if fashion else ["digits"]
    sizes = {"garments": n(FIT_DRAWINGS), "garment_photos": n(FIT_DRAWINGS * 0.3),
             "digits": n(FIT_DRAWINGS)}
    fitted = [build(kind, dataset, sizes[kind], 0, "fit") for kind in own]
    held = [build(kind, dataset, n(FIT_HELD), 1, "fit") for kind in own]
    other = "digits" if fashion else "garments"  # a digit drawn in Fashion mode is junk
    junk = [build_junk(kind, dataset, n(FIT_JUNK), seed=100).inputs for kind in SETS]
    junk += [build(kind, dataset, n(FIT_JUNK), 2, "fit").inputs for kind in (other, "letters")]
    return FitExamples(np.concatenate([s.inputs for s in fitted]),
                       np.concatenate([s.labels for s in fitted]),
                       np.concatenate([s.inputs for s in held]), np.concatenate(junk))


if __name__ == "__main__":
    for name in ("mnist", "fashion_mnist"):
        write_fit_examples(name)
        print(shipped_examples_path(name))
