"""Turn any picture into the 28x28 input a model of a given dataset expects.

The two datasets were made differently, so a picture must be made the same way as the data the
model learned from (numpy + Pillow only: this runs on the GUI thread, TensorFlow stays out):

* MNIST (LeCun's page): the digit is fitted into a 20x20 box keeping its aspect ratio,
  anti-aliased, and placed in the 28x28 field with its centre of mass at the centre.
* Fashion-MNIST (Xiao et al. 2017, section 2): background trimmed, longest edge resized to 28,
  short edge padded centred, intensities negated to a dark background. No 20x20 box, no
  centre-of-mass shift.

Both start the same way: composite alpha, honour EXIF orientation, go to grey in [0, 1], then the
paper model (training.runtime.paper) finds the ink: the paper's shading and stains divided out, polarity
by which way the ink departs from the paper, bright ink on a zero background.
"""

from __future__ import annotations

import struct
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from training.core.datasets import IMAGE_SIDE, normalize_name
from training.runtime.outline import fill_enclosed
from training.runtime.paper import INK_THRESHOLD, TINY_MARK, BlankPictureError, ink_of_grey

DIGIT_BOX = 20            # MNIST digits fill a 20x20 box inside the 28x28 field
# Where MNIST's centres of mass actually sit (mean over the training set, continuous coordinates
# where pixel i spans [i, i + 1)): the centre of pixel (14, 14), std 0.3 px.
DIGIT_CENTRE = 14.5
MAX_WORKING_SIDE = 1024   # larger pictures are reduced first: the output is only 28x28 anyway
MAX_DECODE_BYTES = 160 << 20  # decoding one picture may not cost more memory than this
FASHION_TRIM_TOLERANCE = 0.05  # Fashion-MNIST trims edges within 5 % of the corner colour


class PictureError(ValueError):
    """A file could not be read as a picture; the message is meant for the user."""


CANVAS_SIDE = 560  # desktop_app.views.canvas_widget.IMAGE_SIDE: the window's picture (no Qt here)


def on_canvas(picture) -> np.ndarray:
    """``picture`` (a PIL image or an array) as the window's canvas holds an opened or pasted
    one: its grey (``to_grey``) as uint8, fitted into CANVAS_SIDE x CANVAS_SIDE between margins
    of its border's median colour (bilinear). The window puts these very pixels on the canvas,
    and ``python -m training predict`` reads files through here, so both answer on the same
    pixels: one borderline photo read "Bag" in the window and "doesn't look like a garment" in
    ``predict`` when each resampled it its own way."""
    grey = np.round(to_grey(picture) * 255).astype(np.uint8)
    if grey.size == 0:
        raise PictureError("The picture holds no pixels.")
    h, w = grey.shape
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    canvas = np.full((CANVAS_SIDE, CANVAS_SIDE), int(np.median(border)), np.uint8)
    scale = CANVAS_SIDE / max(h, w)
    width, height = max(1, round(w * scale)), max(1, round(h * scale))
    top, left = (CANVAS_SIDE - height) // 2, (CANVAS_SIDE - width) // 2
    canvas[top:top + height, left:left + width] = np.asarray(
        Image.fromarray(grey).resize((width, height), Image.Resampling.BILINEAR))
    return canvas


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
    if normalize_name(dataset) == "fashion_mnist":  # a garment is broad, not a stain
        ink = ink_map(picture, strokes=False)
        out, scale, offset = _fashion_placed(fill_enclosed(ink))  # outlines -> silhouettes
    else:
        ink = ink_map(picture)
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


SPECK_GAP = 0.25          # ink further than this fraction of the mark's extent is not part of it


def ink_map(picture, strokes: bool = True) -> np.ndarray:
    """Grey float32 map in [0, 1] with the subject bright on a zero background: the picture's
    ink with the paper's shading, stains and noise removed (see :mod:`training.runtime.paper`);
    ``strokes=False`` for a filled subject (a garment), whose breadth is no stain."""
    return ink_of_grey(to_grey(picture), strokes)


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
