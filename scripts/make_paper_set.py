"""Generate a realistic test set of digits "photographed on paper" (issue #9, item 4).

    python scripts/make_paper_set.py [FOLDER] [--count N] [--seed S]

Digits are rendered from the fonts found on this machine (script and handwriting-like ones when
installed: URW Chancery, TeX Gyre Chorus, Comic Neue; DejaVu always, via matplotlib), with a pen
of random width, rotated +-10 degrees, scaled and placed at random, on paper with a lighting
gradient, vignette and cast shadow, paper texture and fibres, dust specks; black, blue or pencil
ink, mostly dark on light but also grey paper and chalkboards. Saved as JPEG (quality 60-90,
400-1200 px) with ``labels.csv`` (file, digit, kind, font). Every picture is drawn from its own
seeded generator, so the set is the same on every machine that has the same fonts. The pictures
are test data: never commit them.
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
    args = parser.parse_args(argv)
    labels = make_set(args.folder, args.count, args.seed)
    print(f"{args.count} pictures and {labels}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
