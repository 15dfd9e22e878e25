"""Turn any picture into the 28x28 input a model of a given dataset expects.

The two datasets were made differently, so a picture must be made the same way as the data the
model learned from (numpy + Pillow only: this runs on the GUI thread, TensorFlow stays out):

* MNIST (LeCun's page): the digit is fitted into a 20x20 box keeping its aspect ratio,
  anti-aliased, and placed in the 28x28 field with its centre of mass at the centre.
* Fashion-MNIST (Xiao et al. 2017, section 2): background trimmed, longest edge resized to 28,
  short edge padded centred, intensities negated to a dark background. No 20x20 box, no
  centre-of-mass shift.

Both start the same way: composite alpha, honour EXIF orientation, go to grey in [0, 1], decide the
polarity from the border (light paper -> invert) so ink is bright on dark, subtract the background.
"""

from __future__ import annotations

import struct
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .datasets import IMAGE_SIDE, normalize_name
from .outline import fill_enclosed

DIGIT_BOX = 20            # MNIST digits fill a 20x20 box inside the 28x28 field
# Where MNIST's centres of mass actually sit (mean over the training set, continuous coordinates
# where pixel i spans [i, i + 1)): the centre of pixel (14, 14), std 0.3 px.
DIGIT_CENTRE = 14.5
INK_THRESHOLD = 0.1       # ink weaker than this (after background removal) is noise
MAX_WORKING_SIDE = 1024   # larger pictures are reduced first: the output is only 28x28 anyway
MAX_DECODE_BYTES = 160 << 20  # decoding one picture may not cost more memory than this
FASHION_TRIM_TOLERANCE = 0.05  # Fashion-MNIST trims edges within 5 % of the corner colour


class BlankPictureError(ValueError):
    """The picture holds nothing to classify (empty, uniform, or ink too faint)."""


class PictureError(ValueError):
    """A file could not be read as a picture; the message is meant for the user."""


def open_picture(path) -> Image.Image:
    """Read an image file (first frame), reduced to at most MAX_WORKING_SIDE pixels a side.

    The cost of decoding is bounded before any pixel is decoded: JPEGs are decoded at 1/2 to
    1/8 scale (draft mode), so even a 20000x20000 photo costs little; a picture whose decoding
    would still need more than MAX_DECODE_BYTES (a huge PNG, or a progressive JPEG, whose
    decoder buffers the whole image's coefficients at any scale) is refused with a message.
    EXIF orientation is applied; the result's own EXIF is dropped.
    """
    import os

    name = os.path.basename(str(path)) or str(path)
    if os.path.isdir(path):
        raise PictureError(f"{name} is a folder, not a picture.")
    try:
        if os.path.getsize(path) == 0:
            raise PictureError(f"{name} is empty (0 bytes).")
        with _open_first_frame(path) as image:
            if image.width <= 0 or image.height <= 0:
                raise PictureError(f"{name} holds no pixels.")
            orientation = _orientation(image)
            _check_decoding_cost(image, name)
            if image.format == "JPEG":
                image.draft("RGB" if image.mode != "L" else "L",
                            (MAX_WORKING_SIDE, MAX_WORKING_SIDE))
            image.load()
            if max(image.size) > MAX_WORKING_SIDE:
                image = _reduce(image)
            else:
                image = image.copy()
    except PictureError:
        raise
    except Image.DecompressionBombError:
        raise PictureError(f"{name} is too large to open safely.") from None
    except FileNotFoundError:
        raise PictureError(f"{name} does not exist.") from None
    except Image.UnidentifiedImageError:
        raise PictureError(f"{name} is not a picture this app can read "
                           "(PNG, JPEG, BMP, GIF, TIFF or WebP).") from None
    except MemoryError:
        raise PictureError(f"{name} is too large to open.") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise PictureError(f"{name} is damaged or truncated ({exc}).") from None
    image.info.pop("exif", None)
    return image.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else image


# EXIF orientation tag -> the transpose that shows the picture upright.
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block is no reason to refuse the picture
        return 1


def decoding_cost(image: Image.Image) -> int:
    """Bytes the decoder will need for ``image`` (header read, nothing decoded yet)."""
    width, height = image.size
    if image.format == "JPEG":
        if image.info.get("progressive") or image.info.get("progression"):
            # libjpeg keeps every 16-bit DCT coefficient of a progressive image, whatever the scale.
            return width * height * len(image.getbands()) * 2
        scale = 1
        while scale < 8 and max(width, height) // (scale * 2) >= MAX_WORKING_SIDE:
            scale *= 2  # what draft() will pick
        width, height = -(-width // scale), -(-height // scale)
    # Pillow keeps 8-bit single-band pictures in 1 byte a pixel, everything else in 4.
    per_pixel = 1 if image.mode in ("1", "L", "P") else 4
    if image.mode not in _REDUCIBLE_MODES and max(width, height) > MAX_WORKING_SIDE:
        per_pixel += 4  # converted to RGBA at full size before it can be reduced
    return width * height * per_pixel


def _check_decoding_cost(image: Image.Image, name: str) -> None:
    if decoding_cost(image) > MAX_DECODE_BYTES:
        raise PictureError(f"{name} is too large to open safely "
                           f"({image.width}×{image.height} pixels).")


_BOMB_LIMIT_LOCK = threading.Lock()


def _open_first_frame(path) -> Image.Image:
    """Image.open (headers only) with Pillow's global pixel limit lifted: the cost of the actual
    decoding is checked by the caller, which knows about draft mode and progressive JPEGs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError:
            with _BOMB_LIMIT_LOCK:  # Pillow's limit is global: lift it for this open only
                limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    image = Image.open(path)
                finally:
                    Image.MAX_IMAGE_PIXELS = limit
    image.seek(0)  # GIF, TIFF, WebP: the first frame
    return image


def to_model_input(picture, dataset: str) -> np.ndarray:
    """Return the (28, 28) float32 array in [0, 1] (bright ink on black) for ``dataset``.

    ``picture`` is a PIL image of any mode or a numpy array (H, W), (H, W, 1|3|4), of uint8,
    uint16, bool or float in [0, 1]. Raises :class:`BlankPictureError` when there is nothing to
    classify.
    """
    return place_model_input(picture, dataset)[0]


@dataclass(frozen=True)
class Placement:
    """Where a picture landed in its model input: ``model = picture * scale + offset`` per axis
    (row, column), in continuous pixel coordinates (pixel i spans [i, i + 1))."""

    scale: tuple[float, float]
    offset: tuple[float, float]

    def to_model(self, row, col):
        return (row * self.scale[0] + self.offset[0], col * self.scale[1] + self.offset[1])

    def to_picture(self, row, col):
        return ((row - self.offset[0]) / self.scale[0], (col - self.offset[1]) / self.scale[1])


def place_model_input(picture, dataset: str) -> tuple[np.ndarray, Placement]:
    """:func:`to_model_input` and the :class:`Placement` that maps ``picture``'s pixels onto it
    (e.g. to show on the picture what the model made of each input pixel)."""
    ink = ink_map(picture)
    if normalize_name(dataset) == "fashion_mnist":
        out, scale, offset = _fashion_placed(fill_enclosed(ink))  # outlines -> silhouettes
    else:
        out, scale, offset = _digit_placed(ink)
    height, width = _picture_shape(picture)  # ink_map may have worked on a reduced copy
    ry, rx = ink.shape[0] / height, ink.shape[1] / width
    return out, Placement((scale[0] * ry, scale[1] * rx), offset)


def _picture_shape(picture) -> tuple[int, int]:
    if isinstance(picture, Image.Image):
        upright = _orientation(picture) not in (5, 6, 7, 8)  # these EXIF turns swap the sides
        return (picture.height, picture.width) if upright else (picture.width, picture.height)
    return np.shape(picture)[:2]


def is_blank(picture) -> bool:
    """True when ``picture`` has nothing to classify (what the GUI shows as "Draw something")."""
    try:
        ink_map(picture)
    except BlankPictureError:
        return True
    return False


# Photos of paper (issue #9): the paper's shade is modelled and divided out before looking for ink.
BACKGROUND_GRID = 48      # the paper's shading is fitted on a grid at most this many cells a side
BACKGROUND_ORDER = 3      # ... as a cubic in x and y: follows gradients and vignetting, not strokes
NOISE_SIGMAS = 4.0        # departures within this many noise sigmas are paper (texture, JPEG)
TINY_MARK = 0.02          # a mark shorter than this fraction of the picture's long side is tiny:
TINY_MARK_INK = 0.5       # blank if also fainter than this, never magnified beyond this size
MIN_CONTRAST = 0.04       # ink must depart this much further from the paper than texture does
LOCAL_RADIUS = 2          # grid cells around a cell that bend the surface there (shadows)
SPECK_GAP = 0.25          # ink further than this fraction of the mark's extent is not part of it


def ink_map(picture) -> np.ndarray:
    """Grey float32 map in [0, 1] with the subject bright on a zero background.

    Real paper is neither white nor evenly lit: its brightness is modelled as a smooth surface (a
    cubic fitted robustly to the picture, the ink left out, bent locally to follow a shadow's
    edge) and the picture is divided by it, so gradients, vignetting and soft shadows vanish.
    The ink is whatever departs from that surface, on the side where it departs most (dark pen
    on grey paper, chalk on a board); departures within the paper's own noise (texture, JPEG)
    are removed. A clean canvas drawing (uniform
    paper, no noise) comes out as before: 1 - grey on white, grey on black.
    """
    grey = to_grey(picture)
    if grey.size == 0:
        raise BlankPictureError("the picture is empty")
    ink = _clean_drawing_ink(grey)
    if ink is not None:
        return _checked_ink(ink)
    background, bright_ink, contrast = _background(grey)
    if contrast < MIN_CONTRAST:  # nothing departs from the paper further than its own texture
        raise BlankPictureError("the picture is blank")
    if bright_ink:  # work as if the ink were dark on light paper
        grey, background = 1.0 - grey, 1.0 - background
    # Ink over paper under the same light: the ratio cancels the light, a shadow darkens both.
    # Not below a quarter: on near-black "paper" no darker ink can show, only noise would.
    paper = np.maximum(background, 0.25)
    flat = (background - grey) / paper
    floor = min(_paper_noise_floor(flat), 0.5)
    return _checked_ink(np.clip((flat - floor) / (1.0 - floor), 0.0, 1.0))


def _clean_drawing_ink(grey: np.ndarray) -> np.ndarray | None:
    """The ink of a picture on perfectly even black or white paper (the canvas, a clean
    export), else None. Such paper has nothing to model: the ink is the grey itself (or 1 -
    grey on white), which is what the full model gives too, in a fifth of the time (the live
    canvas's every update). The paper must be exact: the whole border ring one value, 0 or 1,
    and at least half the picture that value; no photo or scan with texture passes."""
    border = _border(grey)
    paper = float(border[0])
    if paper not in (0.0, 1.0) or not np.all(border == paper):
        return None
    if np.count_nonzero(grey == paper) * 2 < grey.size:
        return None
    return grey.copy() if paper == 0.0 else 1.0 - grey


def _checked_ink(ink: np.ndarray) -> np.ndarray:
    """``ink``, unless it is too faint to be a drawing (BlankPictureError)."""
    peak = float(ink.max())
    if peak < INK_THRESHOLD:
        raise BlankPictureError("the picture is blank")
    if peak < TINY_MARK_INK and _extent(ink > INK_THRESHOLD * peak) < TINY_MARK * max(ink.shape):
        raise BlankPictureError("only a faint speck")  # dust or a smudge, not a drawing
    return ink


def _background(grey: np.ndarray) -> tuple[np.ndarray, bool, float]:
    """The paper's brightness under its lighting at every pixel, whether the ink is brighter than
    the paper, and by how much the ink side departs further than the other (see _ink_side).
    Fitted on a small box-averaged grid: fast, and blind to texture."""
    h, w = grey.shape
    scale = min(1.0, BACKGROUND_GRID / max(h, w))
    gw, gh = max(1, round(w * scale)), max(1, round(h * scale))
    small = grey if scale == 1.0 else _resize_box(grey, gw, gh)
    values = small.ravel().astype(np.float64)
    order = BACKGROUND_ORDER if min(gh, gw) >= 8 else 0
    terms = [(i, j) for i in range(order + 1) for j in range(order + 1 - i)]
    ys, xs = _unit_coordinates(gh), _unit_coordinates(gw)
    design = np.stack([np.outer(ys ** j, xs ** i).ravel() for i, j in terms], axis=1)

    # Start from the border, where the paper shows even when the subject fills the middle; then
    # refit on the cells close to the fit, so the ink (far from it on either side) is left out.
    ring = _border(small).astype(np.float64)
    level = float(np.median(ring))
    inliers = np.abs(values - level) <= _tolerance(ring - level)
    fit = np.full_like(values, level)
    for _ in range(6):
        if inliers.sum() < 2 * len(terms):
            break
        coef = _least_squares(design[inliers], values[inliers])
        fit = design @ coef
        residual = values - fit
        updated = np.abs(residual) <= _tolerance(residual[inliers])
        if np.array_equal(updated, inliers):
            break
        inliers = updated
    if inliers.sum() < 2 * len(terms):  # too few paper cells to fit a surface: a flat level
        terms, coef = [(0, 0)], np.array([level])
        fit = np.full_like(values, level)

    # Let the surface bend locally, from paper cells only, where a cubic cannot follow (the edge
    # of a cast shadow): each cell takes the mean residual of the paper cells around it. Ink and
    # garments are far from the surface and left out, so their cells are filled from the paper.
    local = np.zeros((gh, gw))
    if order:
        for _ in range(3):
            local = _masked_mean((values - fit).reshape(gh, gw), inliers.reshape(gh, gw),
                                 LOCAL_RADIUS)
            residual = values - fit - local.ravel()
            # Cells only ever leave: were ink cells let back in as the surface approaches
            # them, a bold stroke would pull the surface onto itself.
            updated = inliers & (np.abs(residual) <= _tolerance(residual[inliers]))
            if np.array_equal(updated, inliers):
                break
            inliers = updated

    grid = np.clip(fit + local.ravel(), 0.0, 1.0).reshape(gh, gw).astype(np.float32)
    bright_ink, contrast = _ink_side(grey, grid, level)
    # Ink only darkens paper (or only brightens it): where a cell is on the paper's side of the
    # surface, the surface is wrong there (a cubic diving into a shaded corner) - lift it.
    grid = (np.minimum if bright_ink else np.maximum)(grid, small.astype(np.float32))
    # Interpolate to full size (the surface is smooth: a grid of cells is plenty).
    surface = grid if (gh, gw) == (h, w) else np.asarray(Image.fromarray(grid).resize(
        (w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    return surface, bright_ink, contrast


def _masked_mean(values: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``values`` over the ``mask`` cells in a (2 radius + 1)^2 window; 0 where the window
    holds too few of them (no paper near: the smooth surface alone is the better guess)."""
    padded = np.pad(values * mask, radius), np.pad(mask.astype(np.float64), radius)
    total, count = np.zeros_like(values, dtype=np.float64), np.zeros_like(values, np.float64)
    h, w = values.shape
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            total += padded[0][dy:dy + h, dx:dx + w]
            count += padded[1][dy:dy + h, dx:dx + w]
    return np.where(count >= 3, total / np.maximum(count, 1), 0.0)


def _ink_side(grey: np.ndarray, paper: np.ndarray, level: float) -> tuple[bool, float]:
    """Polarity: the ink is on the side where the picture departs furthest from the ``paper``
    surface (a fixed 0.5 calls dark ink on mid-grey paper blank). Furthest, not most: a shading
    the surface missed may cover more area than a digit, but ink departs more than a shadow.
    Measured as the mean of the strongest 0.1 % of block extremes: blocks keep a 1-pixel line,
    and one speck does not decide. Returns (ink is bright, how much further the ink side
    departs than the other side, which shows how far mere texture and noise reach)."""
    step = max(1, max(grey.shape) // 128)
    h, w = (grey.shape[0] // step) * step, (grey.shape[1] // step) * step
    if h == 0 or w == 0:
        h, w, step = grey.shape[0], grey.shape[1], 1
    cropped = grey[:h, :w]
    low, high = _block_extremes(cropped, step, np.minimum), _block_extremes(cropped, step,
                                                                            np.maximum)
    if paper.shape != low.shape:
        paper = np.asarray(Image.fromarray(paper).resize(low.shape[::-1],
                                                         Image.Resampling.BILINEAR))
    bright, dark = (high - paper).ravel(), (paper - low).ravel()
    k = max(1, bright.size // 1000)
    bright_score = float(np.partition(bright, bright.size - k)[-k:].mean())
    dark_score = float(np.partition(dark, dark.size - k)[-k:].mean())
    contrast = abs(bright_score - dark_score)
    if contrast < 1e-6:
        return level <= 0.5, 0.0  # no ink either way: as before (light paper means dark ink)
    return bright_score > dark_score, contrast


def _block_extremes(values: np.ndarray, step: int, pick) -> np.ndarray:
    """Min or max (``pick``) of each step x step block; strided slices, fast in numpy."""
    rows = values[0::step]
    for i in range(1, step):
        rows = pick(rows, values[i::step])
    out = rows[:, 0::step]
    for i in range(1, step):
        out = pick(out, rows[:, i::step])
    return out


def _least_squares(design: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Normal equations: a 10x10 solve (numpy's lstsq takes 30 ms on some of these systems)."""
    gram = design.T @ design
    try:
        return np.linalg.solve(gram, design.T @ values)
    except np.linalg.LinAlgError:  # degenerate inliers (e.g. all on one row)
        return np.linalg.lstsq(gram, design.T @ values, rcond=None)[0]


def _tolerance(residual: np.ndarray) -> float:
    """How far from the fit a paper cell may be: 3 robust sigmas, at least one grey level."""
    if residual.size == 0:
        return 1 / 255
    return max(3.0 * 1.4826 * float(np.median(np.abs(residual))), 1 / 255)


def _unit_coordinates(n: int) -> np.ndarray:
    """Pixel centres mapped to [-1, 1] (the same surface at any resolution)."""
    return (np.arange(n, dtype=np.float64) + 0.5) / n * 2.0 - 1.0


def _resize_box(values: np.ndarray, width: int, height: int) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    return np.asarray(image.resize((width, height), Image.Resampling.BOX), dtype=np.float32)


def _paper_noise_floor(flat: np.ndarray) -> float:
    """Level below which the flattened map is paper: its median plus NOISE_SIGMAS robust sigmas,
    over the whole picture (a subsample of at most ~128x128 pixels: the statistics need no more)
    or over its border ring, whichever is lower. The whole picture assumes most of it is paper;
    a filled subject (a garment) breaks that - its median is inside the subject, and its texture
    would be wiped out as "paper" (measured: Fashion-MNIST's own test pictures 92.8% -> 81.5%) -
    while the ring still shows only paper there."""
    step = max(1, -(-max(flat.shape) // 128))
    return min(_robust_level(flat[::step, ::step]), _robust_level(_border(flat)))


def _robust_level(sample: np.ndarray) -> float:
    centre = float(np.median(sample))
    sigma = 1.4826 * float(np.median(np.abs(sample - centre)))
    return max(centre, 0.0) + NOISE_SIGMAS * sigma


def _extent(mask: np.ndarray) -> int:
    """Longest side of the box around the True pixels (0 when there are none)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0])) + 1


def _digit_layout(ink: np.ndarray) -> np.ndarray:
    return _digit_placed(ink)[0]


def _digit_placed(ink: np.ndarray):
    """(28x28 input, (row, col) scale, (row, col) offset): input = ink * scale + offset."""
    top, bottom, left, right = _mark_box(ink, INK_THRESHOLD * ink.max())
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    # A tiny mark (a dot, a speck) is not blown up into a 20-pixel blob: it keeps its size
    # relative to a mark of TINY_MARK of the picture, which would fill the box.
    scale = DIGIT_BOX / max(h, w, TINY_MARK * max(ink.shape))
    patch = _resize(crop, max(1, round(w * scale)), max(1, round(h * scale)))
    peak = patch.max()
    if peak <= 0:
        raise BlankPictureError("the ink is too faint to read")
    patch /= peak  # a thin stroke shrunk 20x is faint; MNIST strokes peak at full intensity

    # Place the patch so its centre of mass sits at the centre of the field; keep it whole.
    ph, pw = patch.shape
    cy, cx = _centre_of_mass(patch)
    row = int(np.clip(round(DIGIT_CENTRE - cy), 0, IMAGE_SIDE - ph))
    col = int(np.clip(round(DIGIT_CENTRE - cx), 0, IMAGE_SIDE - pw))
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32)
    out[row:row + ph, col:col + pw] = patch
    return out, (ph / h, pw / w), (row - top * ph / h, col - left * pw / w)


def _fashion_layout(ink: np.ndarray) -> np.ndarray:
    return _fashion_placed(ink)[0]


def _fashion_placed(ink: np.ndarray):
    """Like :func:`_digit_placed`, the Fashion-MNIST way."""
    top, bottom, left, right = _ink_box(ink, FASHION_TRIM_TOLERANCE)
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = IMAGE_SIDE / max(h, w)
    patch = np.clip(_resize(crop, max(1, round(w * scale)), max(1, round(h * scale))), 0, 1)
    ph, pw = patch.shape
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32)
    row, col = (IMAGE_SIDE - ph) // 2, (IMAGE_SIDE - pw) // 2
    out[row:row + ph, col:col + pw] = patch
    return out, (ph / h, pw / w), (row - top * ph / h, col - left * pw / w)


def to_grey(picture) -> np.ndarray:
    """Float32 luminance in [0, 1] from a PIL image or an array; alpha composited, EXIF
    orientation applied, reduced to at most MAX_WORKING_SIDE a side."""
    if isinstance(picture, Image.Image):
        return _pil_to_grey(picture)
    array = np.asarray(picture)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got {array.shape}")
    if array.size == 0:
        return np.zeros((0, 0), np.float32)
    values = _unit_range(array)
    if values.ndim == 3:
        rgb, alpha = values[..., :3], (values[..., 3] if values.shape[2] == 4 else None)
        values = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        if alpha is not None:
            values = _composite(values, alpha)
    if max(values.shape) > MAX_WORKING_SIDE:
        return _pil_to_grey(Image.fromarray(values.astype(np.float32)))
    return values.astype(np.float32, copy=False)


def _pil_to_grey(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    if image.width == 0 or image.height == 0:
        return np.zeros((0, 0), np.float32)
    if max(image.size) > MAX_WORKING_SIDE:
        image = _reduce(image)
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif mode == "PA":
        image = image.convert("RGBA")

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        if image.mode.startswith("I;16"):
            values = values / 65535.0
        else:
            low, high = float(values.min()), float(values.max())
            values = (values - low) / (high - low) if high > low else np.zeros_like(values)
        return values
    alpha = None
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return _composite(grey, alpha) if alpha is not None else grey


_REDUCIBLE_MODES = ("L", "RGB", "RGBA", "LA", "F", "I", "I;16")


def _reduce(image: Image.Image) -> Image.Image:
    """Shrink a large image cheaply but anti-aliased (keeps the mode's meaning): first an integer
    box reduction (no full-size copy), then a thumbnail of that."""
    if image.mode not in _REDUCIBLE_MODES:
        image = image.convert("RGBA")
    factor = max(1, max(image.size) // MAX_WORKING_SIDE)
    small = image.reduce(factor) if factor > 1 else image.copy()
    small.thumbnail((MAX_WORKING_SIDE, MAX_WORKING_SIDE), Image.Resampling.BOX)
    return small


def _composite(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Put a transparent picture on a background that contrasts with what is drawn on it."""
    weight = float(alpha.sum())
    if weight <= 0:
        return np.zeros_like(grey)  # fully transparent: nothing drawn
    content = float((grey * alpha).sum()) / weight
    background = 1.0 if content < 0.5 else 0.0  # dark ink -> white paper, light ink -> black
    return grey * alpha + background * (1.0 - alpha)


def _unit_range(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        top = 65535.0 if array.dtype.itemsize >= 2 and array.max() > 255 else 255.0
        return array.astype(np.float32) / top
    values = np.nan_to_num(array.astype(np.float32))
    return values / 255.0 if values.max() > 1.0 else np.clip(values, 0.0, 1.0)


def _border(grey: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels (where the paper shows, not the subject)."""
    if min(grey.shape) <= 2:
        return grey.ravel()
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def _ink_box(ink: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        raise BlankPictureError("the picture is blank")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _mark_box(ink: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """Crop box of the main mark, leaving out specks, fibres and shading patches away from it.

    The rows holding ink (among the mark's columns) and the columns holding ink (among its
    rows) are narrowed alternately to the run around the heaviest one, bridging gaps shorter
    than SPECK_GAP of the run's length: a speck beside the digit, or a dark band along one edge,
    is cut off in one direction and then no longer counts in the other.
    """
    # Weight by ink squared: strong strokes outweigh a broad faint patch (chalk dust, a shadow).
    weight = np.where(ink > threshold, ink * ink, 0.0)
    if not weight.any():
        raise BlankPictureError("the picture is blank")
    top, bottom, left, right = 0, ink.shape[0], 0, ink.shape[1]
    for _ in range(4):
        box = (top, bottom, left, right)
        top, bottom = _main_run(weight[:, left:right].sum(axis=1))
        left, right = _main_run(weight[top:bottom].sum(axis=0))
        if (top, bottom, left, right) == box:
            break
    return top, bottom, left, right


def _main_run(profile: np.ndarray) -> tuple[int, int]:
    """[start, end) of the heaviest run of non-zero entries, grown over short gaps."""
    inked = np.flatnonzero(profile)
    if inked.size == 0:
        return 0, len(profile)
    breaks = np.flatnonzero(np.diff(inked) > 1)
    starts = inked[np.r_[0, breaks + 1]]
    ends = inked[np.r_[breaks, inked.size - 1]] + 1
    cumulative = np.r_[0, np.cumsum(profile)]
    mass = cumulative[ends] - cumulative[starts]
    first = last = int(np.argmax(mass))
    while True:  # bridge the nearer neighbour while the gap is short next to the run so far
        length = ends[last] - starts[first]
        gaps = [(starts[first] - ends[first - 1], first - 1, last) if first > 0 else None,
                (starts[last + 1] - ends[last], first, last + 1) if last + 1 < len(starts)
                else None]
        gaps = [gap for gap in gaps if gap is not None and gap[0] <= max(2, SPECK_GAP * length)]
        if not gaps:
            return int(starts[first]), int(ends[last])
        _, first, last = min(gaps)


def _resize(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Anti-aliased resize of a float map (Pillow widens the filter when shrinking)."""
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    resized = image.resize((width, height), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, None)


def _centre_of_mass(values: np.ndarray) -> tuple[float, float]:
    """Centre of mass in continuous pixel coordinates (pixel i spans [i, i + 1))."""
    total = float(values.sum())
    ys = np.arange(values.shape[0], dtype=np.float64) + 0.5
    xs = np.arange(values.shape[1], dtype=np.float64) + 0.5
    return float(values.sum(axis=1) @ ys) / total, float(values.sum(axis=0) @ xs) / total


def centre_of_mass(values: np.ndarray) -> tuple[float, float]:
    """Public helper for tests and diagnostics: (row, column) centre of mass."""
    return _centre_of_mass(np.asarray(values, dtype=np.float64))
