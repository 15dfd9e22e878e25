"""The saliency heat map as a picture over the canvas: the 28x28 map is carried back through
the preprocessing's placement (crop, scale, centring) onto the drawing and coloured only where
there is ink, so the strokes themselves turn orange (they pushed the answer towards the class)
or blue (against it). Both steps run in the explain thread (a QImage, unlike a QPixmap, may be
made there): the GUI thread only paints the result.

The overlay has half the canvas's resolution (Qt smooths it when painting it over the picture)
and takes its ink from the picture's contrast with its paper: a full-resolution overlay through
the preprocessing's ink map cost 4 ms of mostly GIL-holding numpy per map, which doubled the
stroke -> probabilities p95 while drawing; this one costs well under a millisecond.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from training.runtime.explain import heat_rgba
from training.runtime.preprocess import Placement

FLOOR = 0.4  # every stroke shows its colour; the strongest evidence is painted solid
STEP = 2     # canvas pixels per overlay pixel, each way


def canvas_overlay(saliency: np.ndarray, placement: Placement, grey: np.ndarray) -> np.ndarray:
    """(H / STEP, W / STEP, 4) uint8 RGBA over ``grey``, the (H, W) uint8 picture that was
    classified (``placement`` maps its pixels onto the model input)."""
    grey = np.asarray(grey)
    height, width = grey.shape[0] // STEP, grey.shape[1] // STEP
    blocks = sum(grey[i:height * STEP:STEP, j:width * STEP:STEP].astype(np.float32)
                 for i in range(STEP) for j in range(STEP)) / STEP ** 2  # strided: fast
    paper = float(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))
    ink = np.abs(blocks - paper)
    weight = np.clip(ink * (1.5 / max(float(ink.max()), 1.0)), 0, 1)
    coarse = Placement((placement.scale[0] * STEP, placement.scale[1] * STEP), placement.offset)
    sampled = _sample(np.asarray(saliency, np.float32), coarse, height, width)
    return heat_rgba(sampled, weight=weight, peak=float(np.abs(saliency).max()), floor=FLOOR)


def _sample(grid: np.ndarray, placement: Placement, height: int, width: int) -> np.ndarray:
    """Bilinear value of ``grid`` (model-input pixels) at the centre of every overlay pixel, 0
    outside the model's field. Gathers, not matrix products: OpenBLAS would start threads that
    spin on the cores the GUI needs."""
    padded = np.pad(grid, 1)  # a ring of zeros: outside the field
    r0, fr = _between(height, placement.scale[0], placement.offset[0], grid.shape[0])
    c0, fc = _between(width, placement.scale[1], placement.offset[1], grid.shape[1])
    rows = padded[r0] * (1 - fr)[:, None] + padded[r0 + 1] * fr[:, None]
    return rows[:, c0] * (1 - fc) + rows[:, c0 + 1] * fc


def _between(count: int, scale: float, offset: float, side: int):
    """For each overlay pixel's centre: the padded model pixel before it and how far past it."""
    position = (np.arange(count) + 0.5) * scale + offset + 0.5  # -0.5 to centres, +1 padding
    position = np.clip(position, 0, side + 1)
    low = np.minimum(np.floor(position).astype(int), side)
    return low, (position - low).astype(np.float32)


def to_qimage(rgba: np.ndarray) -> QImage:
    """A QImage in the format Qt paints fastest (premultiplied: no conversion at each paint)."""
    rgba = np.ascontiguousarray(rgba, np.uint8)
    height, width = rgba.shape[:2]
    image = QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)  # a copy
