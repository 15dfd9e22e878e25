"""Read a whole number: several digits side by side, each classified like a single digit (issue #9).

A person reads a row of digits by its pieces of ink: strokes that touch belong together, a piece
lying over or under another (a "5"'s separate top bar, a "4" written in two strokes, a broken
stroke) belongs to the same digit, a stray dot or a faint scratch belongs to none, and a blob too
wide for one digit is two digits that touch. This module does the same on the ink map:

1. connected components of the strokes (8-connected, ``training.runtime.components``);
2. specks (tiny next to the tallest piece) and hairlines (much thinner than the pen and short: a
   faint trace, not a stroke) dropped unless they lie inside another piece's box;
3. pieces whose x-ranges overlap strongly merged into one digit;
4. the readings weighed by the classifier (recognition-based segmentation, both ways): a piece
   wide enough to hold two digits may be cut at the columns where its ink is thinnest, and
   neighbouring pieces may be read together as one digit; every candidate digit is classified
   and the reading of the whole row that a reader would choose wins - each digit clearly read,
   digits cut from one piece about as tall as it, a cut through one stroke (where two digits
   touch) rather than through a loop, no digit too wide, no digit made of a small fragment of
   its neighbour;
5. every digit laid out with the SAME MNIST recipe as a single digit (training.runtime.preprocess:
   fit 20x20, centre of mass at the centre) and classified in one batch.

One digit found means today's behaviour exactly: the model input is ``to_model_input(picture,
"mnist")``. numpy + Pillow only (no TensorFlow, no Qt): this runs in the window's process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from PIL import Image

from training.runtime.components import label_runs, row_runs
from training.runtime.paper import median
from training.runtime.precheck import INK_LEVEL
from training.runtime.preprocess import (
    TINY_MARK,
    BlankPictureError,
    _digit_layout,
    _orientation,
    ink_map,
)

SPECK = 0.3             # a piece whose long side is under this fraction of the tallest piece's
                        # height is a speck (a dot, dust), unless it lies inside a digit's box
HAIRLINE = 0.5          # a piece whose strokes are thinner than this fraction of the pen ...
HAIRLINE_HEIGHT = 0.75  # ... and shorter than this fraction of the tallest piece is a trace
MERGE_OVERLAP = 0.5     # x-ranges overlapping by this fraction of the narrower piece: one digit
MERGE_GAP = 0.6         # ... if the vertical gap between them is under this fraction of height
WIDE = 0.8              # a piece wider than this times its height may be several touching digits
MAX_ASPECT = 1.25       # no digit cut from a wider piece is wider than this times its height
MIN_PIECE_HEIGHT = 0.4  # a digit cut from a wide piece is at least this fraction of its height
MAX_CUTS = 10           # candidate cut columns tried in one wide piece (the thinnest ones)
NEIGHBOUR_REACH = 1.0   # pieces closer than this many pen widths may be one digit together
MAX_GROUP = 3           # ... at most this many pieces

# Weighing the readings of a row (log scores, summed over its digits; the highest wins). The
# classifier is sure of almost anything laid out in 20x20 (a lone stroke of a "0" is a "1" at
# 99 %), so its probabilities are softened and its margin counted, and a reader's sense of
# shape decides the rest. Tuned on the official MNIST test digits drawn as pictures (each must
# stay one digit) and on bench/bench_numbers.py's generated numbers (each must be read whole).
TEMPERATURE = 4.0       # probabilities compared as softmax(log p / TEMPERATURE)
MARGIN_WEIGHT = 0.1     # a digit read clearly is evidence: this times its log-odds margin over
MARGIN_CAP = 15.0       # ... the runner-up, counted up to this margin
SPLIT_MARGIN = 1.05     # one digit wins a near tie against several (the simpler reading)
NARROW_DIGIT = 0.75     # digits in a row are rarely wider than this times their height; beyond
ASPECT_COST = 4.0       # ... it, a reading loses a factor exp(-ASPECT_COST * excess) per digit
WIDE_DIGIT = 0.95       # ... but a digit read on its own may be this wide (MNIST's 0, 2, 5, 7)
CUT_COST = 2.0          # a cut crossing more than one stroke loses a factor exp(-CUT_COST per
                        # stroke beyond the first): touching digits meet at one stroke, a cut
                        # through a digit ("0" into "11") crosses two or three
FULL_HEIGHT = 0.85      # digits cut from one piece are about as tall as it (one writer, one
HEIGHT_COST = 20.0      # ... row); a shorter cut loses exp(-HEIGHT_COST * shortfall): it is an
                        # arm of a "4" or the bar of a "7", not a digit
FRAGMENT = 0.6          # a piece shorter than this fraction of a neighbour within reach, read
FRAGMENT_COST = 20.0    # ... on its own, loses exp(-FRAGMENT_COST * shortfall): it is more
                        # likely a part of that neighbour (a "5"'s bar, a broken stroke)

PredictBatch = Callable[[np.ndarray], np.ndarray]


class Box(NamedTuple):
    """A digit's box in pixels: columns [x0, x1), rows [y0, y1)."""
    x0: int
    y0: int
    x1: int
    y1: int


@dataclass
class DigitReading:
    label: int
    probabilities: list[float]
    box: Box                     # in the picture's pixels (after EXIF orientation)
    model_input: np.ndarray      # (28, 28) float32, what the model saw

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_json(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 6),
                "probabilities": [round(p, 6) for p in self.probabilities],
                "box": list(self.box)}


@dataclass
class NumberReading:
    digits: list[DigitReading] = field(default_factory=list)

    @property
    def number(self) -> str:
        return "".join(str(d.label) for d in self.digits)

    @property
    def confidence(self) -> float:
        """Probability that every digit is right: the product of the digits' confidences."""
        return math.prod(d.confidence for d in self.digits)

    def to_json(self) -> dict:
        return {"number": self.number, "confidence": round(self.confidence, 6),
                "digits": [d.to_json() for d in self.digits]}


@dataclass
class _Piece:
    """Some ink of the map: its box (ink-map pixels) and which pixels of the box are its own."""
    box: Box
    mask: np.ndarray             # bool, shape (y1 - y0, x1 - x0)

    @property
    def width(self) -> int:
        return self.box.x1 - self.box.x0

    @property
    def height(self) -> int:
        return self.box.y1 - self.box.y0


# -- public API

def segment_digits(ink: np.ndarray, predict_batch: PredictBatch | None = None) -> list[Box]:
    """Boxes (ink-map pixels) of the digits in ``ink`` (bright on 0, from ``ink_map``), left to
    right. Without ``predict_batch`` a too-wide piece is cut where its ink is thinnest; with it,
    at the cuts the classifier reads most confidently."""
    return [piece.box for piece in _segment(np.asarray(ink, np.float32), predict_batch)[0]]


def read_number(picture, predict_batch: PredictBatch, dataset: str = "mnist") -> NumberReading:
    """Read every digit of ``picture`` (anything ``to_model_input`` accepts), left to right.

    ``predict_batch`` maps (n, 28, 28) float32 to (n, 10) probabilities (``LiteModel
    .predict_batch``). Only MNIST is read as a number; raises ``BlankPictureError`` when there
    is nothing to read, ``ValueError`` for another dataset.
    """
    if dataset.replace("-", "_").lower() != "mnist":
        raise ValueError("only MNIST digits are read as numbers")
    ink = ink_map(picture)
    pieces, inputs, probabilities = _segment(ink, predict_batch)
    sx, sy = _picture_scale(picture, ink.shape)
    digits = []
    for piece, x, p in zip(pieces, inputs, probabilities):
        b = piece.box
        box = Box(math.floor(b.x0 * sx), math.floor(b.y0 * sy), math.ceil(b.x1 * sx),
                  math.ceil(b.y1 * sy))
        digits.append(DigitReading(int(np.argmax(p)), [float(v) for v in p], box, x))
    return NumberReading(digits)


# -- segmentation

def _segment(ink: np.ndarray, predict_batch: PredictBatch | None):
    """(pieces left to right, their model inputs (n, 28, 28), their probabilities (n, 10)) -
    inputs and probabilities only when ``predict_batch`` is given. Every candidate digit of
    the row is classified in ONE batch (a batch costs about as much as one picture)."""
    peak = float(ink.max()) if ink.size else 0.0
    if peak <= 0:
        raise BlankPictureError("the picture is blank")
    mask = ink > INK_LEVEL * peak
    stroke = _stroke_width(mask)
    pieces = sorted(_merge(_drop_specks(_components(mask), stroke)),
                    key=lambda p: p.box.x0 + p.box.x1)
    if predict_batch is None:
        return [part for piece in pieces for part in _split_by_profile(piece, stroke)], None, None
    plans = [_pruned(_candidates(piece, stroke)) for piece in pieces]
    groups = _groups(pieces, stroke)
    candidates = [part for plan in plans for part in plan.parts] + [g.union for g in groups]
    # One digit read from all the ink is read exactly as today: the whole map's own layout (a
    # stray dot is left to the layout's own speck-proof crop).
    inputs = np.stack([_digit_layout(ink) if _is_all(c, pieces) else _layout(ink, c)
                       for c in candidates])
    probabilities = np.asarray(predict_batch(inputs), np.float32)
    evidence = _evidence(probabilities)

    # Each piece alone: its best reading (whole or cut); then the row: pieces alone or groups.
    alone, first = [], 0
    for k, plan in enumerate(plans):
        scores = _span_scores(plan, evidence[first:first + len(plan.parts)])
        chosen, score = _best_reading(plan, scores)
        alone.append(([first + c for c in chosen], score - _fragment_cost(k, pieces, groups)))
        first += len(plan.parts)
    best = [0.0] + [-math.inf] * len(pieces)
    back: list[tuple[int, list[int]]] = [(-1, [])] * (len(pieces) + 1)
    for j in range(1, len(pieces) + 1):
        best[j], back[j] = best[j - 1] + alone[j - 1][1], (j - 1, alone[j - 1][0])
        for g_index, g in enumerate(groups):
            if g.stop == j:
                k = first + g_index
                score = best[g.start] + evidence[k] + math.log(SPLIT_MARGIN) - ASPECT_COST * max(
                    0.0, g.union.width / g.union.height - WIDE_DIGIT)
                if score > best[j]:
                    best[j], back[j] = score, (g.start, [k])
    chosen, j = [], len(pieces)
    while j > 0:
        chosen[:0] = back[j][1]
        j = back[j][0]
    return [candidates[k] for k in chosen], inputs[chosen], probabilities[chosen]


def _evidence(probabilities: np.ndarray) -> np.ndarray:
    """How clearly each candidate reads as a digit (a log score): its top probability softened
    by TEMPERATURE, plus MARGIN_WEIGHT times its log-odds margin over the runner-up (capped)."""
    log_p = np.log(np.maximum(probabilities, 1e-30))
    soft = log_p / TEMPERATURE
    soft = soft - soft.max(axis=1, keepdims=True)
    log_top = -np.log(np.exp(soft).sum(axis=1))
    two = np.sort(log_p, axis=1)[:, -2:]
    return log_top + MARGIN_WEIGHT * np.minimum(two[:, 1] - two[:, 0], MARGIN_CAP)


class _Group(NamedTuple):
    """Neighbouring pieces [start, stop) that may be one digit, and their union."""
    start: int
    stop: int
    union: _Piece


def _groups(pieces: list[_Piece], stroke: float) -> list[_Group]:
    """Runs of 2..MAX_GROUP neighbouring pieces each within NEIGHBOUR_REACH pen widths of the
    next (overlapping x-ranges included): a digit drawn in strokes that do not touch."""
    groups = []
    for start in range(len(pieces)):
        union = pieces[start]
        for stop in range(start + 2, min(len(pieces), start + MAX_GROUP) + 1):
            if pieces[stop - 1].box.x0 - pieces[stop - 2].box.x1 > NEIGHBOUR_REACH * stroke:
                break
            union = _union(union, pieces[stop - 1])
            groups.append(_Group(start, stop, union))
    return groups


def _fragment_cost(k: int, pieces: list[_Piece], groups: list[_Group]) -> float:
    """What reading piece ``k`` on its own costs when a neighbour within reach is much taller:
    a reader sees a part of that neighbour (a "5"'s bar, a broken stroke), not a digit."""
    taller = max((pieces[i].height for g in groups if g.start <= k < g.stop
                  for i in range(g.start, g.stop) if abs(i - k) == 1), default=0)
    if taller == 0:
        return 0.0
    return FRAGMENT_COST * max(0.0, FRAGMENT - pieces[k].height / taller)


def _is_all(piece: _Piece, pieces: list[_Piece]) -> bool:
    """Whether ``piece`` is all the ink there is (the only piece, or the union of them all)."""
    if len(pieces) == 1:
        return piece is pieces[0]
    return piece.box == _union_box(pieces) and int(piece.mask.sum()) == sum(
        int(p.mask.sum()) for p in pieces)


def _union_box(pieces: list[_Piece]) -> Box:
    return Box(min(p.box.x0 for p in pieces), min(p.box.y0 for p in pieces),
               max(p.box.x1 for p in pieces), max(p.box.y1 for p in pieces))


def _components(mask: np.ndarray) -> list[_Piece]:
    """8-connected components of ``mask`` as pieces, in the order of their first row run."""
    (rows, starts, ends), run_labels, count = label_runs(mask, connectivity=8)
    order = np.argsort(run_labels, kind="stable")      # each component's runs, row by row
    bounds = np.searchsorted(run_labels[order], np.arange(count + 1))
    pieces = []
    for k in range(count):
        mine = order[bounds[k]:bounds[k + 1]]
        rows_k, s, e = rows[mine], starts[mine], ends[mine]
        box = Box(int(s.min()), int(rows_k.min()), int(e.max()), int(rows_k.max()) + 1)
        own = np.zeros((box.y1 - box.y0, box.x1 - box.x0), bool)
        for row, x0, x1 in zip(rows_k - box.y0, s - box.x0, e - box.x0):
            own[row, x0:x1] = True
        pieces.append(_Piece(box, own))
    return pieces


def _drop_specks(pieces: list[_Piece], stroke: float) -> list[_Piece]:
    """Leave out dots, dust and hairlines: pieces tiny next to the tallest one, and short pieces
    whose strokes are much thinner than the pen's (a faint trace at the edge of a scan, not a
    stroke). Such a piece inside a bigger piece's box (a bit of a broken stroke) is kept: the
    merge joins it to its digit."""
    if not pieces:
        return pieces
    tallest = max(p.height for p in pieces)

    def speck(p: _Piece) -> bool:
        return max(p.width, p.height) < SPECK * tallest or (
            p.height < HAIRLINE_HEIGHT * tallest and _stroke_width(p.mask) < HAIRLINE * stroke)

    big = [p for p in pieces if not speck(p)]
    small = [p for p in pieces if speck(p)]
    return big + [s for s in small if any(_inside(s.box, b.box) for b in big)]


def _inside(inner: Box, outer: Box) -> bool:
    cx, cy = (inner.x0 + inner.x1) / 2, (inner.y0 + inner.y1) / 2
    return outer.x0 <= cx <= outer.x1 and outer.y0 <= cy <= outer.y1


def _merge(pieces: list[_Piece]) -> list[_Piece]:
    """Join pieces that a reader sees as one digit: their x-ranges overlap by most of the
    narrower one's width and they are not far apart vertically. Repeated until stable."""
    pieces = list(pieces)
    merged = True
    while merged:
        merged = False
        for i in range(len(pieces)):
            for j in range(i + 1, len(pieces)):
                a, b = pieces[i].box, pieces[j].box
                overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
                narrower = min(a.x1 - a.x0, b.x1 - b.x0)
                gap = max(a.y0, b.y0) - min(a.y1, b.y1)
                height = max(a.y1 - a.y0, b.y1 - b.y0)
                if overlap >= MERGE_OVERLAP * narrower and gap <= MERGE_GAP * height:
                    pieces[i] = _union(pieces[i], pieces[j])
                    del pieces[j]
                    merged = True
                    break
            if merged:
                break
    return pieces


def _union(a: _Piece, b: _Piece) -> _Piece:
    box = Box(min(a.box.x0, b.box.x0), min(a.box.y0, b.box.y0), max(a.box.x1, b.box.x1),
              max(a.box.y1, b.box.y1))
    own = np.zeros((box.y1 - box.y0, box.x1 - box.x0), bool)
    for p in (a, b):
        own[p.box.y0 - box.y0:p.box.y1 - box.y0, p.box.x0 - box.x0:p.box.x1 - box.x0] |= p.mask
    return _Piece(box, own)


def _stroke_width(mask: np.ndarray) -> float:
    """Typical pen width: the median length of the ink's horizontal and vertical runs (across a
    stroke one of the two is short; the shorter of the two medians is the width)."""
    widths = []
    for m in (mask, mask.T):
        runs = row_runs(m)
        lengths = runs.ends - runs.starts
        widths.append(float(median(lengths)) if lengths.size else 1.0)
    return max(1.0, min(widths))


def _sub_piece(piece: _Piece, left: int, right: int) -> _Piece | None:
    """The ink of ``piece`` in its columns [left, right), trimmed to its own box."""
    own = piece.mask[:, left:right]
    rows = np.flatnonzero(own.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(own.any(axis=0))
    own = own[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    x0, y0 = piece.box.x0 + left + int(cols[0]), piece.box.y0 + int(rows[0])
    return _Piece(Box(x0, y0, x0 + own.shape[1], y0 + own.shape[0]), own)


def _cut_candidates(piece: _Piece, stroke: float) -> list[int]:
    """Columns (inside the piece) where touching digits most likely meet: local minima of the
    column profile (ink per column, smoothed over a third of a stroke), thinnest first."""
    profile = piece.mask.sum(axis=0).astype(np.float64)
    k = max(1, round(stroke / 3))
    smooth = np.convolve(profile, np.ones(2 * k + 1) / (2 * k + 1), mode="same")
    margin = max(2, round(0.6 * stroke))              # no digit is thinner than a pen stroke
    reach = max(1, round(stroke / 2))
    found = []
    for x in range(margin, piece.width - margin):
        window = smooth[max(0, x - reach):x + reach + 1]
        if smooth[x] <= window.min():
            found.append(x)
    cuts: list[int] = []
    for x in sorted(found, key=lambda c: (smooth[c], c)):   # one cut per valley
        if all(abs(x - c) > reach for c in cuts):
            cuts.append(x)
    return sorted(cuts[:MAX_CUTS])


def _strokes_crossed(piece: _Piece, cut: int, stroke: float) -> float:
    """How many strokes a vertical cut at column ``cut`` crosses (runs of ink in the column),
    at the best column within a sixth of a stroke: where two digits touch, one."""
    reach = max(1, round(stroke / 6))
    columns = piece.mask[:, max(0, cut - reach):cut + reach + 1].astype(np.int8)
    starts = (np.diff(columns, axis=0, prepend=0) == 1).sum(axis=0)
    return float(starts.min())


def _split_by_profile(piece: _Piece, stroke: float) -> list[_Piece]:
    """No classifier: cut a too-wide piece at its thinnest column within the first digit's
    expected width (0.3 to 0.9 of the height from the left edge), and repeat on the rest."""
    if piece.width <= MAX_ASPECT * piece.height:
        return [piece]
    cuts = [c for c in _cut_candidates(piece, stroke)
            if 0.3 * piece.height <= c <= 0.9 * piece.height]
    if not cuts:
        return [piece]
    profile = piece.mask.sum(axis=0)
    cut = min(cuts, key=lambda c: (profile[c], c))
    parts = [_sub_piece(piece, 0, cut), _sub_piece(piece, cut, piece.width)]
    if any(p is None for p in parts):
        return [piece]
    return [parts[0]] + _split_by_profile(parts[1], stroke)


class _Plan(NamedTuple):
    """The ways to read one piece: its cut positions (edges 0..n-1: both ends and the candidate
    cuts) with the ink each cut crosses (in strokes), and the plausible digits between two of
    them ((i, j) spans and their pieces; span 0 is the whole piece)."""
    n_edges: int
    crossing: list[float]
    spans: list[tuple[int, int]]
    parts: list[_Piece]


def _candidates(piece: _Piece, stroke: float) -> _Plan:
    """A piece not wide enough to hold two digits has one candidate: itself."""
    cuts = _cut_candidates(piece, stroke) if piece.width > WIDE * piece.height else []
    edges = [0, *cuts, piece.width]
    spans, parts = [(0, len(edges) - 1)], [piece]   # always a way through: the piece whole
    for i in range(len(edges)):
        for j in range(i + 1, len(edges)):
            if (i, j) == (0, len(edges) - 1) or edges[j] - edges[i] > MAX_ASPECT * piece.height:
                continue
            part = _sub_piece(piece, edges[i], edges[j])
            if part is not None and part.height >= MIN_PIECE_HEIGHT * piece.height:
                spans.append((i, j))    # (a shorter part is a sliver of a stroke, not a digit)
                parts.append(part)
    crossing = [0.0] + [_strokes_crossed(piece, c, stroke) for c in cuts] + [0.0]
    return _Plan(len(edges), crossing, spans, parts)


def _span_scores(plan: _Plan, evidence: np.ndarray) -> np.ndarray:
    """The log score of each span of the plan read as one digit (see the constants)."""
    return evidence - _span_penalties(plan)


def _span_penalties(plan: _Plan) -> np.ndarray:
    """What the shape of each span costs its reading (log), before any classification."""
    whole = plan.parts[0]
    aspect = np.array([p.width / p.height for p in plan.parts])
    limit = np.full(len(aspect), NARROW_DIGIT)
    limit[0] = WIDE_DIGIT                                 # the piece read whole: one digit alone
    penalty = ASPECT_COST * np.maximum(0.0, aspect - limit)
    # A reader cuts where two digits meet, not through the middle of one ...
    penalty += CUT_COST * np.maximum(0.0, np.array([plan.crossing[i] for i, _ in plan.spans]) - 1)
    # ... and the digits of one piece are about as tall as it: a short part is an arm or a bar.
    height = np.array([p.height / whole.height for p in plan.parts])
    shortfall = HEIGHT_COST * np.maximum(0.0, FULL_HEIGHT - height)
    shortfall[0] = 0.0
    penalty += shortfall
    penalty[0] -= math.log(SPLIT_MARGIN)   # one digit wins a near tie: the simpler reading
    return penalty


# A candidate's evidence lies between these (its softened top probability is at least 1/10).
EVIDENCE_LOW, EVIDENCE_HIGH = -math.log(10), MARGIN_WEIGHT * MARGIN_CAP


def _pruned(plan: _Plan) -> _Plan:
    """The plan without the spans that cannot be part of the best reading whatever the
    classifier says: even read at best, every reading through them scores below the piece read
    whole at worst. The same reading is found, with fewer pictures to lay out and classify."""
    if len(plan.spans) == 1:
        return plan
    high = EVIDENCE_HIGH - _span_penalties(plan)
    floor = EVIDENCE_LOW + high[0] - EVIDENCE_HIGH    # the whole piece at worst
    order = sorted(range(len(plan.spans)), key=lambda k: plan.spans[k])
    ahead = [0.0] + [-math.inf] * (plan.n_edges - 1)  # best possible score up to each edge ...
    for k in order:
        i, j = plan.spans[k]
        ahead[j] = max(ahead[j], ahead[i] + high[k])
    behind = [-math.inf] * (plan.n_edges - 1) + [0.0]  # ... and from each edge to the end
    for k in reversed(order):
        i, j = plan.spans[k]
        behind[i] = max(behind[i], high[k] + behind[j])
    keep = [k for k, (i, j) in enumerate(plan.spans)
            if k == 0 or ahead[i] + high[k] + behind[j] >= floor]
    return plan._replace(spans=[plan.spans[k] for k in keep], parts=[plan.parts[k] for k in keep])


def _best_reading(plan: _Plan, score: np.ndarray) -> tuple[list[int], float]:
    """Indices of the plan's spans that read the piece with the highest total score, and that
    score: a dynamic programme over the cut positions (spans taken in order of their start
    edge, so the best reading up to a span's start is final when the span is reached)."""
    n_edges, spans = plan.n_edges, plan.spans
    best = [0.0] + [-math.inf] * (n_edges - 1)
    back = [-1] * n_edges
    for k in sorted(range(len(spans)), key=lambda k: spans[k]):
        i, j = spans[k]
        if best[i] + score[k] > best[j]:
            best[j], back[j] = best[i] + score[k], k
    chosen, j = [], n_edges - 1
    while j > 0:
        chosen.append(back[j])
        j = spans[back[j]][0]
    return chosen[::-1], float(best[-1])


def _layout(ink: np.ndarray, piece: _Piece) -> np.ndarray:
    """The MNIST input of one digit: the single-digit layout on that digit's ink alone. A small
    crop is padded to the picture's long side so the layout's tiny-mark rule measures a mark
    against the whole picture, as it does for a single digit (a crop well above the tiny-mark
    size needs no padding: the rule cannot apply, and the layout costs less)."""
    b = piece.box
    crop = np.where(piece.mask, ink[b.y0:b.y1, b.x0:b.x1], 0.0).astype(np.float32)
    side = max(ink.shape)
    if max(crop.shape) < 2 * TINY_MARK * side:
        field_ = np.zeros((crop.shape[0], max(side, crop.shape[1])), np.float32)
        field_[:, :crop.shape[1]] = crop
        crop = field_
    try:
        return _digit_layout(crop)
    except BlankPictureError:
        return np.zeros((28, 28), np.float32)


def _picture_scale(picture, shape: tuple[int, int]) -> tuple[float, float]:
    """Picture pixels per ink-map pixel (the map of a large picture is reduced)."""
    if isinstance(picture, Image.Image):
        width, height = picture.size
        if _orientation(picture) in (5, 6, 7, 8):  # shown turned by 90 degrees
            width, height = height, width
    else:
        height, width = np.asarray(picture).shape[:2]
    return width / shape[1], height / shape[0]
