"""Could a drawing hold several digits? The cheap test made on every MNIST answer (< 1 ms).

Only when it says yes is the drawing read as a whole number (training.runtime.numbers, whose
import is left to the thread that reads numbers: a single digit's answer does not wait for
it).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from training.runtime.paper import median

INK_LEVEL = 0.25        # a pixel above this fraction of the peak ink is part of a stroke
PRECHECK_SIDE = 64  # may_hold_several looks at a picture block-averaged to about this size


def may_hold_several(model_input: np.ndarray, picture=None) -> bool:
    """Cheap test on a single-digit model input (28x28, what ``to_model_input`` made of the whole
    picture): could it be several digits? Its ink is wider than tall (one digit fitted into the
    20x20 box keeps its aspect, and digits are taller than wide) or has an empty column inside
    (digits side by side, a stray dot). Only then is the full reading worth its cost.

    The layout crops to the main mark, though: digits a pen's width or more apart, it keeps the
    heaviest and leaves the others out ("42" drawn with a gap becomes a lone "2"). With
    ``picture`` (a grey uint8 or float (H, W) array, e.g. the canvas) the same test is also made
    on the whole picture, block-averaged to about 64 pixels a side (well under a millisecond)."""
    if _wide_or_gapped(np.asarray(model_input, np.float32)):
        return True
    return picture is not None and _wide_or_gapped(_coarse_ink(picture))


def _wide_or_gapped(ink: np.ndarray) -> bool:
    """Ink (bright on 0) wider than tall, or with an empty column between inked ones."""
    mask = ink > INK_LEVEL * max(float(np.max(ink)) if ink.size else 0.0, 1e-6)
    columns, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if columns.size == 0:
        return False
    width, height = columns[-1] - columns[0] + 1, rows[-1] - rows[0] + 1
    return width > height or columns.size < width


def _coarse_ink(picture) -> np.ndarray:
    """A rough ink map of a grey picture for the pre-check: block means, minus the border's
    median (the paper), either way round (dark ink on light paper or light on dark)."""
    grey = np.asarray(picture)
    if grey.ndim != 2 or grey.size == 0:
        return np.zeros((1, 1), np.float32)
    k = max(1, max(grey.shape) // PRECHECK_SIDE)
    if grey.dtype == np.uint8:  # the canvas: Pillow's box reduction, ~0.1 ms for 560x560
        small = np.asarray(Image.fromarray(grey).reduce(k), np.float32) / 255
    else:
        h, w = grey.shape[0] // k * k, grey.shape[1] // k * k
        if h == 0 or w == 0:
            return np.zeros((1, 1), np.float32)
        small = grey[:h, :w].astype(np.float32).reshape(h // k, k, w // k, k).mean(axis=(1, 3))
        small /= max(float(grey.max()), 1.0)   # uint16 and friends: about [0, 1] too
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    departure = np.abs(small - median(border))
    return departure if departure.max() > 0.1 else np.zeros_like(departure)
