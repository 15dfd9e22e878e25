"""Generate a realistic test set of digits "photographed on paper" (issue #9, item 4).

    python scripts/make_paper_set.py [FOLDER] [--count N] [--seed S]
    python scripts/make_paper_set.py --shading [FOLDER] [--count N]   (issue #20, item 3)

Digits are rendered from the fonts found on this machine (script and handwriting-like ones when
installed: URW Chancery, TeX Gyre Chorus, Comic Neue; DejaVu always, via matplotlib), with a pen
of random width, rotated +-10 degrees, scaled and placed at random, on paper with a lighting
gradient, vignette and cast shadow, paper texture and fibres, dust specks; black, blue or pencil
ink, mostly dark on light but also grey paper and chalkboards. Saved as JPEG (quality 60-90,
400-1200 px) with ``labels.csv`` (file, digit, kind, font). Every picture is drawn from its own
seeded generator, so the set is the same on every machine that has the same fonts. The pictures
are test data: never commit them.

``--shading`` makes the uneven-paper set instead: one shading condition at a time (a linear
gradient in any direction, a vignette, large soft blotches) at 5-35 % darkening, dark ink on
paper and its mirror image, chalk on a board whose glare lightens it; font digits and digits
drawn as pen strokes; blur, sensor noise, JPEG (see make_shading_set).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DEFAULT_FOLDER = Path("/tmp/paper-set")
DEFAULT_COUNT = 630

# Each kind stresses one thing a photo of paper does to the picture; "clean" is the control.
KINDS = ("clean", "gradient", "shadow", "texture", "specks", "grey_paper", "chalkboard",
         "small", "pencil")

# Handwriting-like and plain fonts; missing ones are skipped (the set then differs, see above).
FONT_FILES = (
    "/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",          # Chancery script
    "/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyrechorus-mediumitalic.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSerifItalic.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Italic.ttf",
    "/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyreheros-italic.otf",
    "/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyreadventor-regular.otf",
    "/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyreschola-italic.otf",
)


def available_fonts() -> list[str]:
    fonts = [path for path in FONT_FILES if Path(path).is_file()]
    try:  # matplotlib ships DejaVu: the set can be made anywhere the app's venv exists
        from matplotlib import font_manager
        for style in ("normal", "oblique"):
            fonts.append(font_manager.findfont(font_manager.FontProperties(
                family="DejaVu Sans", style=style)))
    except ImportError:
        pass
    fonts = list(dict.fromkeys(fonts))
    if not fonts:
        raise SystemExit("no usable font found")
    return fonts


def glyph_mask(rng, font_path: str, digit: int, height: int) -> np.ndarray:
    """The digit as ink coverage in [0, 1]: pen width, blurred pen edge, rotation +-10 deg."""
    size = max(8, int(height * 1.35))  # digits are ~0.72 of the font size in most fonts
    font = ImageFont.truetype(font_path, size)
    stroke = round(size * rng.uniform(0.0, 0.045))
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), str(digit), font=font, fill=255,
                                stroke_width=stroke, stroke_fill=255)
    canvas = canvas.crop(canvas.getbbox())
    scale = height / canvas.height  # fonts differ in digit height: make it exactly ``height``
    canvas = canvas.resize((max(1, round(canvas.width * scale)), height), Image.Resampling.LANCZOS)
    canvas = canvas.rotate(rng.uniform(-10, 10), Image.Resampling.BICUBIC, expand=True)
    canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return np.asarray(canvas, np.float32) / 255.0


def smooth_noise(rng, shape, cells: float) -> np.ndarray:
    """Zero-mean noise with features about ``cells`` pixels wide, std ~1."""
    h, w = shape
    small = rng.normal(0, 1, (max(2, int(h / cells)), max(2, int(w / cells)))).astype(np.float32)
    big = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    values = np.asarray(big, np.float32)
    return values / max(float(values.std()), 1e-6)


def lighting(rng, shape, gradient: float, vignette: float, shadow: float) -> np.ndarray:
    """Multiplicative illumination: linear gradient, radial fall-off, a soft cast shadow."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = (x - w / 2) / max(h, w), (y - h / 2) / max(h, w)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = x * math.cos(angle) + y * math.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = 1.0 - gradient * ramp
    cx, cy = rng.uniform(-0.15, 0.15, 2)
    light *= 1.0 - vignette * ((x - cx) ** 2 + (y - cy) ** 2) / 0.5
    if shadow > 0:  # the edge of a shadow (phone, hand) crossing the sheet, soft
        angle = rng.uniform(0, 2 * math.pi)
        offset = rng.uniform(-0.35, 0.35)
        distance = x * math.cos(angle) + y * math.sin(angle) - offset
        softness = rng.uniform(0.02, 0.08)
        light *= 1.0 - shadow / (1.0 + np.exp(-distance / softness))
    return light


def draw_specks(rng, layer: ImageDraw.ImageDraw, shape, count: int, big: bool) -> None:
    h, w = shape
    for _ in range(count):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(1.5, 5.0) * max(h, w) / 800 if big else rng.uniform(1.0, 2.0)
        layer.ellipse([x - r, y - r, x + r, y + r], fill=int(rng.uniform(120, 255)))


def draw_fibres(rng, layer: ImageDraw.ImageDraw, shape, count: int) -> None:
    h, w = shape
    for _ in range(count):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        points = [(x, y)]
        angle = rng.uniform(0, 2 * math.pi)
        for _ in range(4):
            angle += rng.normal(0, 0.5)
            step = rng.uniform(5, 20) * max(h, w) / 800
            x, y = x + step * math.cos(angle), y + step * math.sin(angle)
            points.append((x, y))
        layer.line(points, fill=int(rng.uniform(60, 200)), width=1)


def make_picture(rng, kind: str, digit: int, font_path: str) -> Image.Image:
    w, h = (int(v) for v in rng.integers(400, 1201, 2))
    shape = (h, w)
    # Paper and ink colours (RGB in [0, 1]); "ink_alpha" is how fully the pen covers the paper.
    paper = np.array(rng.choice([(0.96, 0.96, 0.94), (0.95, 0.93, 0.85), (0.9, 0.9, 0.9),
                                 (0.97, 0.97, 0.99)]), np.float32) * rng.uniform(0.88, 1.0)
    ink_name = rng.choice(["black", "blue", "pencil"], p=[0.5, 0.35, 0.15])
    if kind == "pencil":
        ink_name = "pencil"
    inks = {"black": (0.08, 0.08, 0.1), "blue": (0.1, 0.15, 0.5),
            "pencil": (0.35, 0.35, 0.38)}
    ink = np.array(inks[ink_name], np.float32) * rng.uniform(0.8, 1.2)
    gradient, vignette, shadow = rng.uniform(0, 0.15), rng.uniform(0, 0.15), 0.0
    texture, fibres, specks = rng.uniform(0.005, 0.02), int(rng.integers(0, 15)), int(
        rng.integers(0, 3))
    size_range = (0.2, 0.7)
    if kind == "clean":
        gradient, vignette, texture, fibres, specks = 0.0, 0.0, 0.004, 0, 0
    elif kind == "gradient":
        gradient = rng.uniform(0.35, 0.65)
    elif kind == "shadow":
        vignette, shadow = rng.uniform(0.2, 0.45), rng.uniform(0.25, 0.5)
    elif kind == "texture":
        texture, fibres = rng.uniform(0.03, 0.06), int(rng.integers(40, 120))
    elif kind == "specks":
        specks = int(rng.integers(4, 14))
    elif kind == "grey_paper":
        paper = np.full(3, rng.uniform(0.45, 0.55), np.float32) * rng.uniform(0.95, 1.05, 3)
        ink = np.array(inks["black" if ink_name == "pencil" else ink_name], np.float32)
    elif kind == "chalkboard":  # light ink on dark: chalk on a board, gel pen on black card
        paper = np.array(rng.choice([(0.12, 0.2, 0.15), (0.1, 0.1, 0.11), (0.2, 0.22, 0.25)]),
                         np.float32)
        ink = np.array((0.92, 0.92, 0.88), np.float32) * rng.uniform(0.85, 1.0)
        ink_name = "chalk"
    elif kind == "small":
        size_range = (0.07, 0.16)
    elif kind == "pencil":
        gradient = rng.uniform(0.1, 0.35)

    height = int(min(h, w) * rng.uniform(*size_range))
    mask = glyph_mask(rng, font_path, digit, max(10, height))
    if ink_name in ("pencil", "chalk"):  # graphite and chalk leave patchy, grainy strokes
        grain = np.clip(0.7 + 0.3 * rng.normal(0, 1, mask.shape), 0, 1).astype(np.float32)
        mask = mask * grain * (rng.uniform(0.55, 0.85) if ink_name == "pencil" else 1.0)
    coverage = np.zeros(shape, np.float32)
    mh, mw = mask.shape
    mh, mw = min(mh, h), min(mw, w)
    top, left = int(rng.integers(0, h - mh + 1)), int(rng.integers(0, w - mw + 1))
    coverage[top:top + mh, left:left + mw] = mask[:mh, :mw]

    # Paper texture: cloudy fibre density at two scales, then fibres and dust.
    tex = texture * (smooth_noise(rng, shape, max(h, w) / 25) + 0.6 * smooth_noise(rng, shape, 3))
    marks = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(marks)
    draw_fibres(rng, draw, shape, fibres)
    fibre = np.asarray(marks, np.float32) / 255.0 * (0.08 if kind != "texture" else 0.15)
    specks_layer = Image.new("L", (w, h), 0)
    draw_specks(rng, ImageDraw.Draw(specks_layer), shape, specks, big=kind == "specks")
    dust = np.asarray(specks_layer.filter(ImageFilter.GaussianBlur(0.7)), np.float32) / 255.0

    surface = paper[None, None, :] * (1.0 + tex - fibre)[..., None]
    if kind == "chalkboard":  # chalk dust smeared over the board
        surface += 0.06 * np.clip(smooth_noise(rng, shape, max(h, w) / 8), 0, None)[..., None]
    surface = surface * (1 - coverage[..., None]) + ink[None, None, :] * coverage[..., None]
    surface = surface * (1 - dust[..., None]) + 0.1 * dust[..., None]  # dust is dark
    picture = surface * lighting(rng, shape, gradient, vignette, shadow)[..., None]
    picture += rng.normal(0, 0.01, picture.shape).astype(np.float32)  # sensor noise
    rgb = (np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


# --- Uneven paper (issue #20, item 3): one condition at one strength at a time. ------------------
# Shading conditions and how much darker (at most) the paper gets; "plain" is the control. Each
# picture is one digit, from a font or drawn as pen strokes, dark ink on light paper or light chalk
# on a dark board, with sensor noise, a slight blur and JPEG, like a phone photo.
CONDITIONS = ("plain", "gradient", "vignette", "blotch")
STRENGTHS = (0.05, 0.10, 0.15, 0.25, 0.35)
POLARITIES = ("dark_ink", "light_ink")
SOURCES = ("font", "drawn")
SHADING_FOLDER = Path("/tmp/paper-shading-set")
SHADING_PER_CELL = 20     # pictures per (condition, strength, polarity)

# Pen strokes of each digit in a unit box (x right, y down): polylines; "arc" entries are
# (centre x, centre y, radius x, radius y, start degrees, end degrees), clockwise on screen.
DRAWN_DIGITS = {
    0: [("arc", 0.5, 0.5, 0.36, 0.5, 0, 360)],
    1: [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    2: [("arc", 0.5, 0.3, 0.38, 0.3, 200, 400), [(0.82, 0.42), (0.1, 1.0), (0.92, 1.0)]],
    3: [("arc", 0.48, 0.26, 0.34, 0.26, 200, 450), ("arc", 0.48, 0.74, 0.4, 0.26, 270, 520)],
    4: [[(0.62, 1.0), (0.62, 0.0), (0.05, 0.7), (0.95, 0.7)]],
    5: [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45)], ("arc", 0.48, 0.68, 0.38, 0.32, 225, 500)],
    6: [[(0.75, 0.0), (0.3, 0.35), (0.14, 0.68)], ("arc", 0.5, 0.7, 0.36, 0.3, 0, 360)],
    7: [[(0.08, 0.0), (0.92, 0.0), (0.38, 1.0)]],
    8: [("arc", 0.5, 0.25, 0.3, 0.25, 0, 360), ("arc", 0.5, 0.73, 0.38, 0.27, 0, 360)],
    9: [("arc", 0.5, 0.3, 0.36, 0.3, 0, 360), [(0.86, 0.32), (0.75, 0.7), (0.55, 1.0)]],
}


def drawn_mask(rng, digit: int, height: int) -> np.ndarray:
    """The digit drawn with a round pen (a hand's wobble, slant and stroke width), in [0, 1]."""
    width = int(height * rng.uniform(0.55, 0.75))
    pen = max(2, round(height * rng.uniform(0.06, 0.12)))
    pad = pen * 2
    canvas = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
    draw = ImageDraw.Draw(canvas)
    slant = rng.uniform(-0.15, 0.25)
    wobble = rng.normal(0, 0.025, 4)

    def place(x, y):
        x = x + wobble[0] * math.sin(6 * y + wobble[1] * 40) + slant * (1 - y)
        y = y + wobble[2] * math.sin(5 * x + wobble[3] * 40)
        return (pad + x * width, pad + y * height)

    for stroke in DRAWN_DIGITS[digit]:
        if stroke[0] == "arc":
            _, cx, cy, rx, ry, start, end = stroke
            angles = np.radians(np.linspace(start, end, 48))
            points = [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]
        else:
            points = stroke
        draw.line([place(x, y) for x, y in points], fill=255, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends
            px, py = place(x, y)
            draw.ellipse([px - pen / 2, py - pen / 2, px + pen / 2, py + pen / 2], fill=255)
    canvas = canvas.rotate(rng.uniform(-8, 8), Image.Resampling.BICUBIC, expand=True)
    return np.asarray(canvas.crop(canvas.getbbox()), np.float32) / 255.0


def shading(rng, shape, condition: str, strength: float) -> np.ndarray:
    """Multiplicative light in [1 - strength, 1]: its darkest point is ``strength`` darker."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = (x - w / 2) / max(h, w), (y - h / 2) / max(h, w)
    if condition == "gradient":  # linear, any direction (often top to bottom: a phone's shadow)
        angle = rng.choice([math.pi / 2, rng.uniform(0, 2 * math.pi)])
        darkness = x * math.cos(angle) + y * math.sin(angle)
    elif condition == "vignette":  # darker corners, centre slightly off
        cx, cy = rng.uniform(-0.1, 0.1, 2)
        darkness = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) ** rng.uniform(1.5, 2.5)
    elif condition == "blotch":  # large soft stains (damp, tea, a crumpled sheet's shade)
        darkness = np.zeros(shape, np.float32)
        for _ in range(int(rng.integers(2, 6))):
            bx, by = rng.uniform(-0.5, 0.5, 2)
            radius = rng.uniform(0.06, 0.2)
            darkness += rng.uniform(0.5, 1.0) * np.exp(
                -((x - bx) ** 2 + (y - by) ** 2) / (2 * radius ** 2))
    else:
        return np.ones(shape, np.float32)
    darkness = darkness - darkness.min()
    return (1.0 - strength * darkness / max(float(darkness.max()), 1e-6)).astype(np.float32)


def make_shaded_picture(rng, condition: str, strength: float, polarity: str, digit: int,
                        font_path: str, source: str) -> Image.Image:
    """A phone photo of one digit on unevenly lit paper (RGB, 800-1600 px wide)."""
    w = int(rng.integers(800, 1601))
    h = int(w * rng.choice([0.75, 1.0, 1.33]))
    height = int(min(h, w) * rng.uniform(0.15, 0.5))
    if source == "font":
        mask = glyph_mask(rng, font_path, digit, height)
    else:
        mask = drawn_mask(rng, digit, height)
    coverage = np.zeros((h, w), np.float32)
    mh, mw = min(mask.shape[0], h), min(mask.shape[1], w)
    top, left = int(rng.integers(0, h - mh + 1)), int(rng.integers(0, w - mw + 1))
    coverage[top:top + mh, left:left + mw] = mask[:mh, :mw]
    # Made as dark ink on light paper; a board is its mirror image (1 - value): chalk on a dark
    # board whose glare and chalk-dust smears lighten it as much as the shade darkens paper, so
    # the shading departs from the paper on the ink's side in both polarities.
    paper = rng.uniform(0.8, 0.97) * np.array((1.0, 0.99, 0.95), np.float32)
    ink = rng.uniform(0.05, 0.25) * np.array((1.0, 1.0, 1.2), np.float32)
    texture = 0.01 * smooth_noise(rng, (h, w), max(h, w) / 30)
    surface = paper * (1.0 + texture)[..., None]
    surface = surface * (1 - coverage[..., None]) + ink * coverage[..., None]
    picture = surface * shading(rng, (h, w), condition, strength)[..., None]
    if polarity == "light_ink":
        picture = 1.0 - picture * np.array((1.0, 0.97, 0.99), np.float32)
    rgb = Image.fromarray((np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    rgb = rgb.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5) * max(h, w) / 1000))
    noisy = np.asarray(rgb, np.float32) + rng.normal(0, rng.uniform(2.0, 5.0), (h, w, 3))
    return Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), "RGB")


def shading_cells():
    """(condition, strength, polarity) of every cell of the shading set; plain has strength 0."""
    for condition in CONDITIONS:
        for strength in ((0.0,) if condition == "plain" else STRENGTHS):
            for polarity in POLARITIES:
                yield condition, strength, polarity


def make_shading_set(folder: Path = SHADING_FOLDER, per_cell: int = SHADING_PER_CELL,
                     seed: int = 20) -> Path:
    """The shading set: ``per_cell`` pictures for every cell of :func:`shading_cells` (digits
    0-9 in turn, font and drawn alternately) and labels.csv (file, digit, condition, strength,
    polarity, source, font)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fonts = available_fonts()
    rows = []
    for cell, (condition, strength, polarity) in enumerate(shading_cells()):
        for index in range(per_cell):
            rng = np.random.default_rng([seed, cell, index])
            digit, source = index % 10, SOURCES[(index // 10 + index) % 2]
            font = fonts[int(rng.integers(len(fonts)))]
            picture = make_shaded_picture(rng, condition, strength, polarity, digit, font, source)
            name = f"{condition}_{round(strength * 100):02d}_{polarity}_{index:03d}_{digit}.jpg"
            picture.save(folder / name, "JPEG", quality=int(rng.integers(70, 93)))
            rows.append((name, digit, condition, strength, polarity, source,
                         Path(font).stem if source == "font" else ""))
    labels = folder / "labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "digit", "condition", "strength", "polarity", "source", "font"))
        writer.writerows(rows)
    return labels


def make_set(folder: Path = DEFAULT_FOLDER, count: int = DEFAULT_COUNT, seed: int = 9) -> Path:
    """Write ``count`` pictures and labels.csv into ``folder``; return the labels file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fonts = available_fonts()
    rows = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])  # one generator per picture: reproducible
        kind, digit = KINDS[index % len(KINDS)], (index // len(KINDS)) % 10
        font = fonts[int(rng.integers(len(fonts)))]
        picture = make_picture(rng, kind, digit, font)
        name = f"{index:04d}_{kind}_{digit}.jpg"
        picture.save(folder / name, "JPEG", quality=int(rng.integers(60, 91)))
        rows.append((name, digit, kind, Path(font).stem))
    labels = folder / "labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "digit", "kind", "font"))
        writer.writerows(rows)
    return labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--shading", action="store_true",
                        help="the uneven-paper set instead (conditions x strengths x polarity; "
                             f"--count per cell, default {SHADING_PER_CELL}, into "
                             f"{SHADING_FOLDER})")
    args = parser.parse_args(argv)
    if args.shading:
        folder = SHADING_FOLDER if args.folder == DEFAULT_FOLDER else args.folder
        count = SHADING_PER_CELL if args.count == DEFAULT_COUNT else args.count
        labels = make_shading_set(folder, count, 20 if args.seed == 9 else args.seed)
        print(f"{count} pictures a cell and {labels}")
        return 0
    labels = make_set(args.folder, args.count, args.seed)
    print(f"{args.count} pictures and {labels}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
