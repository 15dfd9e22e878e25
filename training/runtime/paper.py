"""The paper and the ink: a grey picture -> a map of its ink, bright on a zero background.

Real paper is neither white nor evenly lit (issues #9 and #20). Its brightness is modelled in two
steps, and the picture divided by it, so that only what the pen left stands out:

1. A smooth surface: a cubic in x and y fitted robustly on a coarse grid (the ink left out),
   bent locally where a cubic cannot follow (a cast shadow's edge). Gradients, vignetting and
   soft shadows vanish; polarity is the side where the picture departs furthest from it.
2. For strokes (digits), what is left at a scale larger than the strokes: a morphological
   opening of the flattened map with a window a few stroke widths wide (the width measured on
   the picture), joined by a rolling paraboloid (which follows a stain's rounded top where the
   flat window would clip it), on a coarse grid, upsampled smoothly. Stains, blotches and a
   shadow's step are broad; a stroke is not. A filled subject (a garment) is broad too, so the
   Fashion pipeline skips this step.

A photo shown on the window's canvas sits between flat margins of its border colour; the paper
is modelled inside them (the step from margin to shaded paper is no ink).

Departures within the paper's own noise (texture, JPEG) are then removed. A clean canvas
drawing (exactly uniform paper) skips the model: the ink is the grey itself (or 1 - grey).
numpy + Pillow only: the window runs this on every stroke, TensorFlow stays out.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

INK_THRESHOLD = 0.1       # ink weaker than this (after background removal) is noise
BACKGROUND_GRID = 48      # the paper's shading is fitted on a grid at most this many cells a side
BACKGROUND_ORDER = 3      # ... as a cubic in x and y: follows gradients and vignetting, not strokes
NOISE_SIGMAS = 4.0        # departures within this many noise sigmas are paper (texture, JPEG)
TINY_MARK = 0.02          # a mark shorter than this fraction of the picture's long side is tiny:
TINY_MARK_INK = 0.5       # blank if also fainter than this, never magnified beyond this size
MIN_CONTRAST = 0.04       # ink must depart this much further from the paper than texture does
LOCAL_RADIUS = 2          # grid cells around a cell that bend the surface there (shadows)
# Stains (step 2): what stays under an opening STAIN_WINDOW stroke widths wide is paper.
STAIN_WINDOW = 4.0        # stroke widths: wider than a stroke, its crossings and bold stems
STAIN_CURVATURE = 0.03    # ... or under a paraboloid this curved (per stroke width squared):
                          # keeps < 1 % of a stroke, follows a 35 % stain's top if it is over
                          # 3.4 stroke widths wide (its Gaussian sigma)
STAIN_GRID = 256          # the opening runs on a grid at most this many cells a side
STROKE_LEVEL = 0.5        # a stroke's width is measured at this fraction of the ink's peak
MARGIN_MIN = 3            # flat margins (a photo letterboxed on the canvas) this many pixels deep
CLEAN_BORDER = 0.95       # a clean drawing's border ring is all paper but where strokes cross it
#                           (a stroke begun off the canvas took the 5x slower photo path)


class BlankPictureError(ValueError):
    """The picture holds nothing to classify (empty, uniform, or ink too faint)."""


def ink_of_grey(grey: np.ndarray, strokes: bool = True) -> np.ndarray:
    """Grey float32 map in [0, 1] with the subject bright on a zero background.

    ``grey`` is a float map in [0, 1] (see ``preprocess.to_grey``). The paper's brightness is
    modelled as a smooth surface and the picture divided by it; with ``strokes`` (a digit, a
    number: thin lines) whatever is broader than the strokes is removed as well (stains,
    blotches, steps in the shading). The ink is whatever departs from that paper, on the side
    where it departs most (dark pen on grey paper, chalk on a board); departures within the
    paper's own noise are removed. Raises BlankPictureError when nothing departs enough.
    """
    if grey.size == 0:
        raise BlankPictureError("the picture is empty")
    ink = _clean_drawing_ink(grey)
    if ink is not None:
        return _checked_ink(ink)
    top, bottom, left, right = _inside_margins(grey) if strokes else (0, 0, 0, 0)
    if bottom > 0:
        ink = np.zeros_like(grey, dtype=np.float32)
        ink[top:bottom, left:right] = _photo_ink(grey[top:bottom, left:right], strokes)
        return _checked_ink(ink)
    return _checked_ink(_photo_ink(grey, strokes))


def _photo_ink(grey: np.ndarray, strokes: bool) -> np.ndarray:
    """The ink of a picture of real paper (see :func:`ink_of_grey`), not yet checked."""
    background, bright_ink, contrast = _background(grey)
    if contrast < MIN_CONTRAST:  # nothing departs from the paper further than its own texture
        raise BlankPictureError("the picture is blank")
    if bright_ink:  # work as if the ink were dark on light paper
        grey, background = 1.0 - grey, 1.0 - background
    # Ink over paper under the same light: the ratio cancels the light, a shadow darkens both.
    # Not below a quarter: on near-black "paper" no darker ink can show, only noise would.
    paper = np.maximum(background, 0.25)
    flat = (background - grey) / paper
    floor = _paper_noise_floor(flat)
    if strokes:
        cleaned = _without_stains(flat, floor)
        if cleaned is not flat:
            flat, floor = cleaned, _paper_noise_floor(cleaned)
    floor = min(floor, 0.5)
    return np.clip((flat - floor) / (1.0 - floor), 0.0, 1.0)


def _inside_margins(grey: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a photo letterboxed on the window's canvas, else zeros.

    The canvas shows a dropped photo fitted, between two equal margins of one exact value (the
    photo's border colour): above and below it, or left and right. The step from such a margin
    to the photo's shaded paper is no ink, and no smooth surface follows it, so the paper is
    modelled inside. A photo's own paper always has noise: it never has such margins.
    """
    h, w = grey.shape
    if grey[0, 0] != grey[-1, -1] or min(h, w) < 4 * MARGIN_MIN:
        return 0, 0, 0, 0
    flat = grey == grey[0, 0]
    rows, cols = np.flatnonzero(~flat.all(axis=1)), np.flatnonzero(~flat.all(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    for axis, inside, across in ((0, rows, cols), (1, cols, rows)):  # above/below, left/right
        side, other = grey.shape[axis], grey.shape[1 - axis]
        first, last = int(inside[0]), int(inside[-1]) + 1
        if (first >= MARGIN_MIN and abs(first - (side - last)) <= 2 and 3 * (last - first) >= side
                and across[0] == 0 and across[-1] == other - 1):
            return (first, last, 0, w) if axis == 0 else (0, h, first, last)
    return 0, 0, 0, 0


def _without_stains(flat: np.ndarray, floor: float) -> np.ndarray:
    """``flat`` (ink positive, paper near 0, its noise below ``floor``) with what is broader
    than the strokes divided out; ``flat`` itself when there is nothing to remove.

    The stain left at each pixel is the opening (min filter, then max filter) of ``flat`` with
    a square window STAIN_WINDOW stroke widths wide: no stroke holds such a square, so strokes
    vanish from it, while a stain or a band of shade, wider than the window, keeps its level
    and its edges. The window clips a stain's rounded top; an opening by a gently curved
    paraboloid follows it (and, as it must fit under a stroke from both sides, keeps almost
    nothing of one): the stain is the higher of the two. Ink on a stain of depth s reads
    1 - r (1 - s) instead of 1 - r, hence the division by 1 - s. Unchanged when nothing broad
    rises above the paper's noise (plain paper).
    """
    image = Image.fromarray(np.ascontiguousarray(flat, np.float32))
    width = _stroke_width(image)
    if width is None:
        return flat
    h, w = flat.shape
    cell = max(1, -(-max(h, w) // STAIN_GRID), int(STAIN_WINDOW * width / 8))
    small = flat if cell == 1 else np.asarray(image.reduce(cell), np.float32)  # block means
    window = int(np.ceil(STAIN_WINDOW * width / cell)) + 2  # + a cell each side: cells straddle
    if window >= max(small.shape):
        return flat  # strokes as wide as the picture: nothing broader to see
    bend = STAIN_CURVATURE * (cell / width) ** 2  # per cell, squared
    stain = np.maximum(_sliding(_sliding(small, window, np.minimum), window, np.maximum),
                       _parabolic(_parabolic(small, bend, np.minimum), bend, np.maximum))
    stain = np.clip(stain, 0.0, 0.9).astype(np.float32)
    if float(stain.max()) <= floor:
        return flat
    if cell > 1:  # back to full size, smoothly: the grid covers whole cells, the picture not
        stain = np.asarray(Image.fromarray(stain).resize(
            (w, h), Image.Resampling.BILINEAR, box=(0, 0, w / cell, h / cell)), np.float32)
    return (flat - stain) / (1.0 - stain)


def _stroke_width(flat: Image.Image) -> float | None:
    """Typical width in pixels of the strongest marks of ``flat`` (a float image): 2 area /
    perimeter of the cells above STROKE_LEVEL of the peak (a long stroke of width w and length
    L: 2 w L / 2 L), or None when there are none. Measured on block means, at most ~256 a side,
    blurred once more: the grain of chalk, pencil or JPEG would riddle the strokes with holes
    and edges, and a width measured too small would let the stain model keep part of a stroke
    (too large only makes it follow stains less closely)."""
    step = max(2, -(-max(flat.size) // 256))
    sample = _box3(np.asarray(flat.reduce(step), np.float32))
    k = max(1, sample.size // 1000)
    peak = float(np.partition(sample.ravel(), sample.size - k)[-k:].min())
    if peak <= 0:
        return None
    mask = sample > STROKE_LEVEL * peak
    area = int(np.count_nonzero(mask))
    edges = (np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
             + np.count_nonzero(mask[0]) + np.count_nonzero(mask[-1])
             + np.count_nonzero(mask[:, 0]) + np.count_nonzero(mask[:, -1]))
    if area == 0 or edges == 0:
        return None
    return max(1.0, 2.0 * area / edges) * step


def _box3(values: np.ndarray) -> np.ndarray:
    """3x3 mean (edges repeated)."""
    padded = np.pad(values, 1, mode="edge")
    h, w = values.shape
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:])[:h, :w] / 9.0


def _parabolic(values: np.ndarray, bend: float, pick) -> np.ndarray:
    """Erosion (``pick`` = minimum) or dilation (maximum) by the paraboloid -bend * d^2
    (separable: rows, then columns)."""
    spread = float(values.max() - values.min())
    reach = int(min(max(values.shape), np.ceil(np.sqrt(max(spread, 1e-6) / bend))))
    sign = 1.0 if pick is np.minimum else -1.0
    fill = sign * np.inf
    out = values.astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(out, [(reach, reach) if a == axis else (0, 0) for a in (0, 1)],
                        constant_values=fill)
        n = out.shape[axis]
        out = pick.reduce([(padded[shift:shift + n] if axis == 0 else padded[:, shift:shift + n])
                           + sign * bend * (shift - reach) ** 2
                           for shift in range(2 * reach + 1)])
    return out


def _sliding(values: np.ndarray, size: int, pick) -> np.ndarray:
    """Min or max (``pick``) over a size x size window centred on each cell, the window clipped
    to the map (separable: rows, then columns)."""
    fill = np.inf if pick is np.minimum else -np.inf
    before, after = (size - 1) // 2, size // 2
    out = values.astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(out, [(before, after) if a == axis else (0, 0) for a in (0, 1)],
                        constant_values=fill)
        n = out.shape[axis]
        out = pick.reduce([padded[shift:shift + n] if axis == 0 else padded[:, shift:shift + n]
                           for shift in range(size)])
    return out


def _clean_drawing_ink(grey: np.ndarray) -> np.ndarray | None:
    """The ink of a picture on perfectly even black or white paper (the canvas, a clean
    export), else None. Such paper has nothing to model: the ink is the grey itself (or 1 -
    grey on white), which is what the full model gives too, in a fifth of the time (the live
    canvas's every update). The paper must be exact: the border ring one value, 0 or 1, but
    where strokes run off the edge (CLEAN_BORDER), and at least half the picture that value;
    no photo or scan with texture passes."""
    border = _border(grey)
    paper = 0.0 if np.count_nonzero(border == 0.0) * 2 >= border.size else 1.0
    if np.count_nonzero(border == paper) < CLEAN_BORDER * border.size:
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
    level = float(median(ring))
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


def median(values: np.ndarray) -> np.floating:
    """``np.median(values)`` over all the values, computed as numpy does, but without importing
    numpy.ma, which ``np.median`` does on its first call: ~40 ms on the way to the window's
    first answer (the ink map and the number pre-check take medians)."""
    flat = np.ravel(values)
    if flat.size == 0:
        return flat.mean()  # NaN, with numpy's warning
    half = flat.size // 2
    kth = [half] if flat.size % 2 else [half - 1, half]
    inexact = flat.dtype.kind in "fc"
    part = np.partition(flat, kth + [flat.size - 1] if inexact else kth)
    if inexact and np.isnan(part[-1]):  # as numpy: a NaN anywhere makes the median NaN
        return part[-1]
    return part[kth[0]:half + 1].mean()


def _tolerance(residual: np.ndarray) -> float:
    """How far from the fit a paper cell may be: 3 robust sigmas, at least one grey level."""
    if residual.size == 0:
        return 1 / 255
    return max(3.0 * 1.4826 * float(median(np.abs(residual))), 1 / 255)


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
    centre = float(median(sample))
    sigma = 1.4826 * float(median(np.abs(sample - centre)))
    return max(centre, 0.0) + NOISE_SIGMAS * sigma


def _extent(mask: np.ndarray) -> int:
    """Longest side of the box around the True pixels (0 when there are none)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0])) + 1




def _border(grey: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels (where the paper shows, not the subject)."""
    if min(grey.shape) <= 2:
        return grey.ravel()
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
