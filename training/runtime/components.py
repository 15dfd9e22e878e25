"""Connected components of a boolean map: the one routine the runtime and the window use.

Callers: ``outline.fill_enclosed`` (which background is enclosed, 4-connected),
``numbers`` (the pieces of ink of a row of digits, 8-connected) and the canvas's bucket fill
(the open area around a click, 4-connected).

How: a map is held as its row runs (the stretches of True in each row). Two runs of
neighbouring rows touch when their column ranges overlap (8-connected: when they overlap once
one of them is widened by a column); the touching pairs are found in numpy with two binary
searches per run, and only the unions are plain Python, one per touching pair - a few
thousand for a 560x560 canvas. numpy only (no scipy, no Qt).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Runs(NamedTuple):
    """The runs of True in a map, row by row and left to right: row ``rows[i]``, columns
    [``starts[i]``, ``ends[i]``)."""
    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def row_runs(mask: np.ndarray) -> Runs:
    """The runs of True in each row of the 2-D ``mask``."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]       # same order: row by row, left to right
    return Runs(rows, starts, ends)


def label_runs(mask: np.ndarray, connectivity: int = 4) -> tuple[Runs, np.ndarray, int]:
    """The runs of ``mask``, the component of each run and how many components there are.

    Components are numbered 0, 1, ... in the order of their first run (top row first, then
    left to right), so the numbering does not depend on how the unions went."""
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity is 4 or 8, not {connectivity!r}")
    runs = row_runs(mask)
    n = runs.rows.size
    if n == 0:
        return runs, np.zeros(0, np.intp), 0
    below, above = _touching(runs, mask.shape[1], connectivity == 8)
    parent = list(range(n))
    for a, b in zip(above.tolist(), below.tolist()):
        # Union by the smaller index, halving the paths on the way up.
        while parent[a] != a:
            parent[a] = a = parent[parent[a]]
        while parent[b] != b:
            parent[b] = b = parent[parent[b]]
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    roots = np.array(parent)
    while True:  # flatten: every run points at its root (the first run of its component)
        up = roots[roots]
        if np.array_equal(up, roots):
            break
        roots = up
    # A root is the smallest run index of its component: numbering the roots in order numbers
    # the components by their first run.
    is_root = roots == np.arange(n)
    number = np.cumsum(is_root) - 1
    return runs, number[roots], int(is_root.sum())


def label(mask: np.ndarray, connectivity: int = 4) -> tuple[np.ndarray, int]:
    """``(labels, count)``: each True cell of ``mask`` gets the number of its component
    (0 .. count - 1, in the order of each component's first cell in row-major order), every
    False cell -1. ``connectivity``: 4 (edges) or 8 (edges and corners)."""
    mask = np.asarray(mask, bool)
    runs, run_labels, count = label_runs(mask, connectivity)
    h, w = mask.shape
    # Paint each run with its label: +label at its first cell and -label after its last, then a
    # running sum (runs never overlap; labels are shifted by one so that 0 means background).
    step = np.zeros(h * w + 1, np.int64)
    value = run_labels + 1
    step[runs.rows * w + runs.starts] += value
    step[runs.rows * w + runs.ends] -= value
    labels = np.cumsum(step[:-1]).reshape(h, w) - 1
    return labels, count


def _touching(runs: Runs, width: int, diagonal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of runs in neighbouring rows that touch: (run in the lower row, run in the
    upper row). The runs of a row are sorted and apart, so the runs of row r - 1 touching a run
    of row r are consecutive: found by binary search on run ends and starts laid out on one
    line (row r at offset r * (width + 2), so the rows' ranges never meet)."""
    line = width + 2
    rows, starts, ends = runs
    start_keys = rows * line + starts
    end_keys = rows * line + ends
    reach = 1 if diagonal else 0
    above = (rows - 1) * line
    # Touching run a of the row above: ends[a] + reach > starts[b] and starts[a] < ends[b] + reach.
    first = np.searchsorted(end_keys, above + starts - reach, side="right")
    stop = np.searchsorted(start_keys, above + ends + reach, side="left")
    count = np.maximum(stop - first, 0)
    below = np.repeat(np.arange(rows.size), count)
    offsets = np.arange(below.size) - np.repeat(np.cumsum(count) - count, count)
    return below, np.repeat(first, count) + offsets
