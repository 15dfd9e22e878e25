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

import threading
import warnings

import numpy as np
from PIL import Image, ImageOps

from .datasets import IMAGE_SIDE, normalize_name

DIGIT_BOX = 20            # MNIST digits fill a 20x20 box inside the 28x28 field
# Where MNIST's centres of mass actually sit (mean over the training set, continuous coordinates
# where pixel i spans [i, i + 1)): the centre of pixel (14, 14), std 0.3 px.
DIGIT_CENTRE = 14.5
INK_THRESHOLD = 0.1       # ink weaker than this (after background removal) is noise
MAX_WORKING_SIDE = 1024   # larger pictures are reduced first: the output is only 28x28 anyway
FASHION_TRIM_TOLERANCE = 0.05  # Fashion-MNIST trims edges within 5 % of the corner colour


class BlankPictureError(ValueError):
    """The picture holds nothing to classify (empty, uniform, or ink too faint)."""


class PictureError(ValueError):
    """A file could not be read as a picture; the message is meant for the user."""


def open_picture(path) -> Image.Image:
    """Read an image file (first frame), reduced to at most MAX_WORKING_SIDE pixels a side.

    JPEGs of any size are decoded at 1/2 to 1/8 scale (draft mode), so even a 20000x20000 photo
    costs little memory; other formats beyond Pillow's decompression-bomb limit (~89 M pixels)
    are refused with a message.
    """
    import os

    name = os.path.basename(str(path)) or str(path)
    if os.path.isdir(path):
        raise PictureError(f"{name} is a folder, not a picture.")
    try:
        if os.path.getsize(path) == 0:
            raise PictureError(f"{name} is empty (0 bytes).")
        with _open_first_frame(path) as image:
            if image.format == "JPEG":
                image.draft("RGB" if image.mode != "L" else "L",
                            (MAX_WORKING_SIDE, MAX_WORKING_SIDE))
            limit = Image.MAX_IMAGE_PIXELS
            if limit and image.width * image.height > limit:
                raise PictureError(f"{name} is too large to open safely "
                                   f"({image.width}×{image.height} pixels).")
            image.load()
            image = ImageOps.exif_transpose(image)
            if max(image.size) > MAX_WORKING_SIDE:
                image = _reduce(image)
            return image.copy()
    except PictureError:
        raise
    except Image.DecompressionBombError:
        raise PictureError(f"{name} is too large to open safely.") from None
    except FileNotFoundError:
        raise PictureError(f"{name} does not exist.") from None
    except Image.UnidentifiedImageError:
        raise PictureError(f"{name} is not a picture this app can read "
                           "(PNG, JPEG, BMP, GIF, TIFF or WebP).") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise PictureError(f"{name} is damaged or truncated ({exc}).") from None


_BOMB_LIMIT_LOCK = threading.Lock()


def _open_first_frame(path) -> Image.Image:
    """Image.open, letting through huge JPEGs only: they are decoded reduced (draft mode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # sizes checked by caller
        try:
            image = Image.open(path)
        except Image.DecompressionBombError:
            with open(path, "rb") as f:
                if f.read(3) != b"\xff\xd8\xff":  # not a JPEG: no cheap way to decode it
                    raise
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
    ink = ink_map(picture)
    if normalize_name(dataset) == "fashion_mnist":
        return _fashion_layout(ink)
    return _digit_layout(ink)


def is_blank(picture) -> bool:
    """True when ``picture`` has nothing to classify (what the GUI shows as "Draw something")."""
    try:
        ink_map(picture)
    except BlankPictureError:
        return True
    return False


def ink_map(picture) -> np.ndarray:
    """Grey float32 map in [0, 1] with the subject bright on a zero background."""
    grey = to_grey(picture)
    if grey.size == 0:
        raise BlankPictureError("the picture is empty")
    background = float(np.median(_border(grey)))
    if background > 0.5:  # light paper, dark ink
        grey = 1.0 - grey
        background = 1.0 - background
    ink = np.clip((grey - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    if ink.max() < INK_THRESHOLD:
        raise BlankPictureError("the picture is blank")
    return ink


def _digit_layout(ink: np.ndarray) -> np.ndarray:
    top, bottom, left, right = _ink_box(ink, INK_THRESHOLD * ink.max())
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = DIGIT_BOX / max(h, w)
    patch = _resize(crop, max(1, round(w * scale)), max(1, round(h * scale)))
    peak = patch.max()
    if peak <= 0:
        raise BlankPictureError("the ink is too faint to read")
    patch /= peak  # a thin stroke shrunk 20x is faint; MNIST strokes peak at full intensity

    # Place the patch so its centre of mass sits at the centre of the field; keep it whole.
    ph, pw = patch.shape
    cy, cx = _centre_of_mass(patch)
    top = int(np.clip(round(DIGIT_CENTRE - cy), 0, IMAGE_SIDE - ph))
    left = int(np.clip(round(DIGIT_CENTRE - cx), 0, IMAGE_SIDE - pw))
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32)
    out[top:top + ph, left:left + pw] = patch
    return out


def _fashion_layout(ink: np.ndarray) -> np.ndarray:
    top, bottom, left, right = _ink_box(ink, FASHION_TRIM_TOLERANCE)
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = IMAGE_SIDE / max(h, w)
    patch = np.clip(_resize(crop, max(1, round(w * scale)), max(1, round(h * scale))), 0, 1)
    ph, pw = patch.shape
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32)
    top, left = (IMAGE_SIDE - ph) // 2, (IMAGE_SIDE - pw) // 2
    out[top:top + ph, left:left + pw] = patch
    return out


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


def _reduce(image: Image.Image) -> Image.Image:
    """Shrink a large image cheaply but anti-aliased (keeps the mode's meaning)."""
    if image.mode not in ("L", "RGB", "RGBA", "LA", "F", "I", "I;16"):
        image = image.convert("RGBA")
    copy = image.copy()
    copy.thumbnail((MAX_WORKING_SIDE, MAX_WORKING_SIDE), Image.Resampling.BOX)
    return copy


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
