"""Pictures that are neither digits nor garments, for measuring "That doesn't look like a …".

Three families, each drawn the way a user's picture reaches a model (a 560x560 canvas-sized grey
picture through ``preprocess.to_model_input``), so a score is measured on what the window really
gives the model:

* ``scribbles``: tangles of random strokes (6-14 corners, 1-3 strokes, canvas pen widths);
* ``letters``: Latin letters rendered with the fonts on this machine (dark on light paper, like
  the font digits of ``tests/test_shipped_models.py``) and letters drawn as jittered pen strokes;
* ``noise``: blank-ish pictures: faint grain, sparse specks, smudges, a gradient with dust.

Letters whose shapes are digits, drawn by anyone (O, o, D, Q, and C, c, an open 0, for 0; I, l,
i, j, J, T for 1 or 7; Z, z for 2; S, s for 5; B for 8; b, G for 6; g, q, a, e for 9), are left
out: no model can tell them from the digit, nor should it. Every set is made from a seed (numpy + Pillow; no Keras, no Qt).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from training.runtime.preprocess import BlankPictureError, to_model_input

SIDE = 560                      # the canvas's picture (desktop_app/canvas_widget.IMAGE_SIDE)
PEN_WIDTHS = (14, 23, 34)       # the canvas brush 10 / 16 / 24 px at the 392-px reference size
SETS = ("scribbles", "letters", "noise")
# Look-alikes of a digit (see the module docstring): not used as "not a digit" examples.
DIGIT_LOOKALIKES = set("OoDQCcIlijJTZzSsBbGgqae")
FONT_LETTERS = "".join(c for c in "ACEFHKLMNPRUVWXYcfhkmnprtuvwxy" if c not in DIGIT_LOOKALIKES)
FONT_FAMILIES = ("DejaVu Sans", "DejaVu Serif", "Liberation Sans", "Liberation Serif",
                 "FreeSans", "FreeSerif", "Nimbus Sans", "Nimbus Roman", "URW Bookman",
                 "C059", "TeX Gyre Adventor", "TeX Gyre Schola", "Comic Neue",
                 "DejaVu Sans Mono", "Liberation Mono", "URW Gothic")
# Single-stroke letters in a unit box (x right, y down): each a list of polylines.
STROKE_LETTERS = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.6), (0.78, 0.6)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.75, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.75, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55)], [(0.3, 0.35), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "R": [[(0, 1), (0, 0), (0.8, 0), (1, 0.2), (0.8, 0.45), (0, 0.45)], [(0.4, 0.45), (1, 1)]],
    "U": [[(0, 0), (0, 0.8), (0.2, 1), (0.8, 1), (1, 0.8), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "k": [[(0, 0), (0, 1)], [(0.8, 0.4), (0, 0.75)], [(0.25, 0.65), (0.85, 1)]],
    "w": [[(0, 0.35), (0.25, 1), (0.5, 0.5), (0.75, 1), (1, 0.35)]],
    "x": [[(0, 0.35), (1, 1)], [(1, 0.35), (0, 1)]],
    "#": [[(0.3, 0), (0.2, 1)], [(0.8, 0), (0.7, 1)], [(0, 0.33), (1, 0.33)],
          [(0, 0.67), (1, 0.67)]],
    "*": [[(0.5, 0), (0.5, 1)], [(0.07, 0.25), (0.93, 0.75)], [(0.93, 0.25), (0.07, 0.75)]],
}


@dataclass
class OODSet:
    name: str
    inputs: np.ndarray           # (n, 28, 28) float32 model inputs of the pictures that were
    #                               not blank
    blank: int                   # pictures the preprocessing itself found blank ("Draw something")
    kinds: list[str]             # what each input is (e.g. "font:A", "stroke:W", "specks")

    @property
    def total(self) -> int:
        return len(self.inputs) + self.blank


def build(name: str, dataset: str, count: int = 300, seed: int = 0) -> OODSet:
    """``count`` pictures of set ``name`` ("scribbles", "letters", "noise") made into inputs for
    ``dataset``'s models."""
    makers = {"scribbles": scribbles, "letters": letters, "noise": noise}
    if name not in makers:
        raise ValueError(f"unknown set {name!r}; one of {', '.join(SETS)}")
    stacked, kinds, blank = model_inputs(makers[name](count, np.random.default_rng(seed)),
                                         dataset)
    return OODSet(name, stacked, blank, kinds)


def model_inputs(items, dataset: str):
    """``(tag, picture)`` pairs made into ``dataset``'s model inputs as the window makes them:
    (inputs (n, 28, 28) float32, the tags of those kept, how many were blank)."""
    inputs, tags, blank = [], [], 0
    for tag, picture in items:
        try:
            inputs.append(to_model_input(picture, dataset))
        except BlankPictureError:
            blank += 1
            continue
        tags.append(tag)
    stacked = np.stack(inputs).astype(np.float32) if inputs else np.zeros((0, 28, 28), np.float32)
    return stacked, tags, blank


# ------------------------------------------------------------------------------- scribbles
def scribbles(count: int, rng: np.random.Generator):
    for _ in range(count):
        image = Image.new("L", (SIDE, SIDE), 0)
        draw = ImageDraw.Draw(image)
        width = int(rng.choice(PEN_WIDTHS))
        for _stroke in range(int(rng.integers(1, 4))):
            corners = int(rng.integers(6, 15))
            points = rng.uniform(0.15, 0.85, (corners, 2)) * SIDE
            _polyline(draw, _smooth(points, rng), width)
        yield "scribble", np.asarray(image)


def _smooth(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hand's path through the corners: Chaikin corner cutting, sometimes none (zig-zags)."""
    rounds = int(rng.integers(0, 4))
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        cut = np.empty((2 * len(a), 2))
        cut[0::2], cut[1::2] = 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b
        points = np.concatenate([points[:1], cut, points[-1:]])
    return points


def _polyline(draw: ImageDraw.ImageDraw, points, width: int, fill: int = 255) -> None:
    points = [tuple(map(float, p)) for p in points]
    draw.line(points, fill=fill, width=width, joint="curve")
    radius = width / 2
    for x, y in (points[0], points[-1]):  # round pen ends, as the canvas draws them
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


# ------------------------------------------------------------------------------- letters
@functools.lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """The fonts of FONT_FAMILIES found on this machine (regular and bold), de-duplicated."""
    from matplotlib import font_manager

    found = []
    for family in FONT_FAMILIES:
        for weight in ("normal", "bold"):
            try:
                path = font_manager.findfont(font_manager.FontProperties(family=family,
                                                                         weight=weight),
                                             fallback_to_default=False)
            except ValueError:
                continue
            if path not in found:
                found.append(path)
    return tuple(found)


def letters(count: int, rng: np.random.Generator):
    """Half rendered from fonts (dark on light paper), half drawn as pen strokes (white on black,
    like the canvas)."""
    fonts = font_files()
    for index in range(count):
        if fonts and index % 2 == 0:
            letter = FONT_LETTERS[int(rng.integers(len(FONT_LETTERS)))]
            yield f"font:{letter}", _font_letter(letter, fonts[int(rng.integers(len(fonts)))],
                                                 rng)
        else:
            letter = list(STROKE_LETTERS)[int(rng.integers(len(STROKE_LETTERS)))]
            yield f"stroke:{letter}", _stroke_letter(STROKE_LETTERS[letter], rng)


def _font_letter(letter: str, font_path: str, rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(120, 320))
    font = ImageFont.truetype(font_path, size)
    image = Image.new("L", (SIDE, SIDE), 255)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), letter, font=font)
    x = rng.uniform(0.05, 0.95) * max(1, SIDE - (right - left)) - left
    y = rng.uniform(0.05, 0.95) * max(1, SIDE - (bottom - top)) - top
    stroke = int(rng.integers(0, 3)) * size // 60
    draw.text((x, y), letter, font=font, fill=0, stroke_width=stroke, stroke_fill=0)
    return np.asarray(image)


def _stroke_letter(strokes, rng: np.random.Generator) -> np.ndarray:
    image = Image.new("L", (SIDE, SIDE), 0)
    draw = ImageDraw.Draw(image)
    size = rng.uniform(0.35, 0.75) * SIDE
    aspect = rng.uniform(0.7, 1.1)
    origin = rng.uniform(0.08 * SIDE, SIDE - 0.08 * SIDE - size, 2)
    slant = rng.uniform(-0.25, 0.25)
    width = int(rng.choice(PEN_WIDTHS))
    for stroke in strokes:
        unit = np.asarray(stroke, float) + rng.normal(0, 0.04, (len(stroke), 2))  # a hand wobbles
        x = origin[0] + (unit[:, 0] * aspect + slant * (1 - unit[:, 1])) * size
        y = origin[1] + unit[:, 1] * size
        _polyline(draw, np.stack([x, y], axis=1), width)
    return np.asarray(image)


# ------------------------------------------------------------------------------- noise
NOISE_KINDS = ("grain", "specks", "smudges", "dusty_gradient")


def noise(count: int, rng: np.random.Generator):
    for index in range(count):
        kind = NOISE_KINDS[index % len(NOISE_KINDS)]
        yield kind, getattr(_Noise, kind)(rng)


class _Noise:
    @staticmethod
    def grain(rng):
        """Paper grain: light grey with faint random texture (and a few darker pores)."""
        base = rng.uniform(150, 240)
        field = base + rng.normal(0, rng.uniform(4, 25), (SIDE, SIDE))
        image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
        return np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 2))))

    @staticmethod
    def specks(rng):
        """A clean canvas with sparse dots of ink scattered all over."""
        image = Image.new("L", (SIDE, SIDE), 0)
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(15, 120))):
            x, y = rng.uniform(0, SIDE, 2)
            r = rng.uniform(1, 6)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(120, 256)))
        return np.asarray(image)

    @staticmethod
    def smudges(rng):
        """Soft blobs of faint ink, like a wiped board."""
        image = Image.new("L", (SIDE, SIDE), 0)
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 12))):
            x, y = rng.uniform(0, SIDE, 2)
            r = rng.uniform(20, 90)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(60, 200)))
        return np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(12, 30))))

    @staticmethod
    def dusty_gradient(rng):
        """Unevenly lit paper with dust: a gradient plus noise plus a few small dark marks."""
        yy, xx = np.mgrid[0:SIDE, 0:SIDE] / SIDE
        angle = rng.uniform(0, 2 * math.pi)
        ramp = math.cos(angle) * xx + math.sin(angle) * yy
        field = rng.uniform(170, 230) + rng.uniform(15, 60) * ramp
        field += rng.normal(0, rng.uniform(3, 12), field.shape)
        for _ in range(int(rng.integers(5, 40))):
            x, y = rng.integers(0, SIDE, 2)
            r = int(rng.integers(1, 5))
            field[max(0, y - r):y + r, max(0, x - r):x + r] -= rng.uniform(40, 140)
        return np.clip(field, 0, 255).astype(np.uint8)
