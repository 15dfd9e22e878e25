"""The one connected-components routine (training.runtime.components) against a plain
breadth-first search, on random masks of many densities and shapes, both connectivities."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from training.runtime.components import label, label_runs, row_runs


def reference(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """Breadth-first search from each unlabelled True cell, cells scanned in row-major order:
    components numbered by their first cell, as ``label`` promises."""
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    h, w = mask.shape
    labels = np.full((h, w), -1, np.int64)
    count = 0
    for y in range(h):
        for x in range(w):
            if not mask[y, x] or labels[y, x] >= 0:
                continue
            labels[y, x] = count
            queue = deque([(y, x)])
            while queue:
                cy, cx = queue.popleft()
                for dy, dx in steps:
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and labels[ny, nx] < 0:
                        labels[ny, nx] = count
                        queue.append((ny, nx))
            count += 1
    return labels, count


def random_masks(seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        density = float(rng.choice([0.1, 0.3, 0.45, 0.55, 0.6, 0.8, 0.95]))
        yield rng.random((h, w)) < density


@pytest.mark.parametrize("connectivity", [4, 8])
def test_labels_match_breadth_first_search_on_random_masks(connectivity):
    for mask in random_masks(seed=connectivity):
        labels, count = label(mask, connectivity)
        expected, expected_count = reference(mask, connectivity)
        assert count == expected_count
        np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_long_winding_shapes(connectivity):
    """A spiral and a comb: components that wind up and down through many rows (unions that
    join long chains of runs late)."""
    spiral = np.zeros((41, 41), bool)
    top, left, bottom, right = 0, 0, 40, 40
    while top <= bottom and left <= right:
        spiral[top, left:right + 1] = spiral[top:bottom + 1, right] = True
        spiral[bottom, left:right + 1] = True
        spiral[top + 2:bottom + 1, left] = True
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
        if top <= bottom:
            spiral[top, left - 2:left + 1] = True
    comb = np.zeros((30, 61), bool)
    comb[:, ::2] = True
    comb[0, :] = True
    comb[-1, 1::4] = True
    for mask in (spiral, comb, ~spiral, ~comb):
        labels, count = label(mask, connectivity)
        expected, expected_count = reference(mask, connectivity)
        assert count == expected_count
        np.testing.assert_array_equal(labels, expected)


def test_diagonal_neighbours_join_only_when_8_connected():
    board = (np.indices((6, 7)).sum(axis=0) % 2 == 0)
    assert label(board, 4)[1] == int(board.sum())
    labels, count = label(board, 8)
    assert count == 1 and (labels[board] == 0).all() and (labels[~board] == -1).all()


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 1), (3, 4)])
def test_empty_and_full_maps(shape):
    labels, count = label(np.zeros(shape, bool))
    assert count == 0 and labels.shape == shape and (labels == -1).all()
    if 0 not in shape:
        labels, count = label(np.ones(shape, bool), 8)
        assert count == 1 and (labels == 0).all()


def test_runs_carry_their_component():
    mask = np.array([[1, 1, 0, 1],
                     [0, 0, 0, 1],
                     [1, 0, 1, 1]], bool)
    runs, run_labels, count = label_runs(mask, 4)
    assert [tuple(int(v) for v in r) for r in zip(*runs)] == [
        (0, 0, 2), (0, 3, 4), (1, 3, 4), (2, 0, 1), (2, 2, 4)]
    assert run_labels.tolist() == [0, 1, 1, 2, 1] and count == 3
    assert row_runs(mask.T).rows.size == 5  # the columns: 2 + 1 + 1 + 1


def test_connectivity_must_be_4_or_8():
    with pytest.raises(ValueError, match="4 or 8"):
        label(np.ones((2, 2), bool), connectivity=6)
