"""tf.data input pipelines and the augmentation that makes real drawings work.

Images stay uint8 in memory; each batch is gathered by shuffled indices, scaled to [0, 1] and, for
training with augmentation, warped in one projective transform (shift, rotation, scale, shear) and
for digits given a random stroke thickness. All of it runs per batch inside the tf.data graph, so
the Python side of a training step stays tiny.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

SIDE = 28
# Digits: MNIST is centred by centre of mass, so shifts stay small; drawings vary in slant,
# size and pen width far more than MNIST does.
DIGIT_WARP = dict(shift=2.0, rotation_deg=12.0, scale=(0.85, 1.1), shear=0.15)
# Fashion-MNIST: items are centred and upright; mirror images are still the same class.
FASHION_WARP = dict(shift=1.5, rotation_deg=5.0, scale=(0.92, 1.05), shear=0.05)
# One person's digits (teaching their handwriting): a hand keeps its slant, and a 1 with a long
# flag turned by DIGIT_WARP's 12 degrees is a 7, so turned copies taught the head that 7s are 1s.
# Measured on ten flagged 1s (bench teach, docs/benchmarks.md): new drawings of the hand read
# 90-99 % with DIGIT_WARP, 98-100 % with this, and 7s 93 -> 99 %.
HAND_WARP = dict(shift=2.0, rotation_deg=6.0, scale=(0.85, 1.1), shear=0.08)
# Batches gathered at once and waiting ready: fixed, so tf.data's autotuner stays off (below).
PARALLEL_BATCHES = 2


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1], the models' input."""
    return (np.asarray(images, np.float32) / 255.0)[..., None]


def train_batches(count: int, batch_size: int) -> int:
    """Batches of an epoch of ``count`` pictures (``make_train_dataset``): full ones only, the
    few left over (fewer than a batch, a different one each epoch) wait for the next epoch.
    A last, smaller batch has another shape, which XLA compiles the training step again for
    (~1 s on a 2-core Zen 1). Fewer pictures than a batch: one batch of them all."""
    return max(1, count // batch_size)


def make_train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                       augment_for: str | None = None) -> tf.data.Dataset:
    """Shuffled batches each epoch (``train_batches`` of them); ``augment_for`` is None,
    "mnist" or "fashion_mnist"."""
    images = tf.constant(x, tf.uint8)
    labels = tf.constant(y, tf.int32)
    count = len(x)

    def gather(indices):
        batch = tf.cast(tf.gather(images, indices), tf.float32)[..., None] / 255.0
        return batch, tf.gather(labels, indices)

    ds = (tf.data.Dataset.range(count)
          .shuffle(count, seed=seed, reshuffle_each_iteration=True)
          .batch(batch_size, drop_remainder=count >= batch_size)
          .map(gather, num_parallel_calls=PARALLEL_BATCHES))
    if augment_for:
        generator = tf.random.Generator.from_seed(seed)
        digits = augment_for == "mnist"

        def augment(batch, batch_labels):
            recentre = (0.0, 0.0)
            if digits:
                batch, recentre = add_variant_strokes(batch, batch_labels, generator)
            return augment_batch(batch, generator, digits, recentre), batch_labels

        ds = ds.map(augment, num_parallel_calls=1)  # the generator is stateful: keep one caller
    return without_autotuner(ds.prefetch(PARALLEL_BATCHES))


def make_eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tf.data.Dataset:
    return without_autotuner(
        tf.data.Dataset.from_tensor_slices((to_float(x), y.astype(np.int32))).batch(batch_size))


def without_autotuner(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with tf.data's autotuner off. The autotuner runs one thread per iterator (and
    Keras makes an iterator per epoch), and a freed iterator waits for that thread's sleep to
    end: up to 10 s each in a busy process. Our pipelines' sizes are fixed and small, so it had
    nothing to tune (an epoch is as fast without it: docs/benchmarks.md, session 21)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def augment_batch(batch: tf.Tensor, generator: tf.random.Generator, digits: bool,
                  recentre=(0.0, 0.0), warp: dict | None = None) -> tf.Tensor:
    """Random warp of a (b, 28, 28, 1) float batch; for digits also a random stroke width.
    ``recentre``: per-image (dx, dy) pixels the content is moved by before the random shift;
    ``warp``: the ranges (DIGIT_WARP or FASHION_WARP by ``digits`` when None)."""
    params = warp or (DIGIT_WARP if digits else FASHION_WARP)
    n = tf.shape(batch)[0]

    def uniform(low, high):
        return generator.uniform([n], low, high)

    angle = uniform(-1.0, 1.0) * math.radians(params["rotation_deg"])
    scale = uniform(*params["scale"])
    shear = uniform(-params["shear"], params["shear"])
    shift_x = uniform(-params["shift"], params["shift"]) + recentre[0]
    shift_y = uniform(-params["shift"], params["shift"]) + recentre[1]
    # The transform maps output pixel (x, y) to the input pixel it samples, about the centre.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1 = cos, -sin + shear * cos
    b0, b1 = sin, cos + shear * sin
    c = (SIDE - 1) / 2.0
    a2 = c - a0 * c - a1 * c - shift_x
    b2 = c - b0 * c - b1 * c - shift_y
    zeros = tf.zeros([n])
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=batch, transforms=transforms, output_shape=[SIDE, SIDE],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    if not digits:
        flip = generator.uniform([n, 1, 1, 1]) < 0.5
        return tf.where(flip, tf.reverse(warped, axis=[2]), warped)

    # Stroke thickness: blend towards a 3x3 dilation (thicker) or erosion (thinner).
    amount = generator.uniform([n, 1, 1, 1], -0.6, 1.0)
    thicker = tf.nn.max_pool2d(warped, 3, 1, "SAME")
    thinner = -tf.nn.max_pool2d(-warped, 3, 1, "SAME")
    target = tf.where(amount > 0, thicker, thinner)
    return warped + tf.abs(amount) * (target - warped)


# --- Hands MNIST rarely shows (issue #23) --------------------------------------------------------
# Share of MNIST's 1s given a flag (of those, BASE_RATE also a base) and of its 7s crossed.
FLAG_RATE, BASE_RATE, CROSS_RATE = 0.35, 0.4, 0.3
FLAG_LENGTH = (0.15, 0.5)     # fraction of the digit's height
FLAG_ANGLE = (0.0, 50.0)      # degrees below horizontal, pointing left
FLAT_FLAG = 0.28              # longest flag drawn level without a base: longer, it is a 7's bar
BASE_HALF = (0.12, 0.3)       # each side of the stem's foot, fraction of the height
CROSS_HALF = (0.15, 0.32)     # each side of the 7's stem
CROSS_AT = (0.42, 0.62)       # how far down the 7 the bar crosses
INK = 0.3                     # a pixel this bright is part of the digit


def add_variant_strokes(batch: tf.Tensor, labels: tf.Tensor, generator: tf.random.Generator):
    """Draws a flag (and sometimes a base) on some 1s and a bar across some 7s of a (b, 28, 28, 1)
    batch; returns it and the (dx, dy) that puts each picture's centre of mass back where it was
    (MNIST and the canvas centre digits by mass)."""
    images = batch[..., 0]
    n = tf.shape(images)[0]
    grid = tf.range(SIDE, dtype=tf.float32)

    def uniform(low, high):
        return generator.uniform([n], low, high)

    top, bottom, height = _extent(images)

    def x_at(y):  # ink-weighted column of the row at height y
        row = _row(images, y)
        return tf.reduce_sum(row * grid, 1) / tf.maximum(tf.reduce_sum(row, 1), 1e-3)

    # The pen: a 1's stroke width is its ink over its height; a 7's, its stem's row width.
    one_pen = tf.reduce_sum(images, [1, 2]) / height
    cross_y = top + uniform(*CROSS_AT) * height
    seven_pen = tf.reduce_sum(_row(images, cross_y), 1) * 0.8
    radius = tf.clip_by_value(tf.where(tf.equal(labels, 7), seven_pen, one_pen) / 2.0, 0.9, 2.2)

    chance = generator.uniform([n])
    is_one, is_seven = tf.equal(labels, 1), tf.equal(labels, 7)
    flagged = is_one & (chance < FLAG_RATE)
    based = flagged & (generator.uniform([n]) < BASE_RATE)
    crossed = is_seven & (chance < CROSS_RATE)

    # Flag: from the top of the stem, down and to the left; without a base, the flatter the
    # flag the shorter (a long level flag over a leaning stem is how a 7 looks).
    top_x = x_at(top)
    steepness = uniform(0.0, 1.0)
    angle = (FLAG_ANGLE[0] + steepness * (FLAG_ANGLE[1] - FLAG_ANGLE[0])) * (math.pi / 180.0)
    longest = tf.where(based, FLAG_LENGTH[1],
                       FLAT_FLAG + steepness * (FLAG_LENGTH[1] - FLAT_FLAG))
    length = (FLAG_LENGTH[0] + uniform(0.0, 1.0) * (longest - FLAG_LENGTH[0])) * height
    flag = (top_x, top + 0.5, top_x - length * tf.cos(angle), top + 0.5 + length * tf.sin(angle))
    # Base: across the foot of the stem.
    foot_x, foot_y = x_at(bottom), bottom - 0.5
    base = (foot_x - uniform(*BASE_HALF) * height, foot_y,
            foot_x + uniform(*BASE_HALF) * height, foot_y)
    # Cross: through the 7's stem, nearly level.
    stem_x = x_at(cross_y)
    tilt = uniform(-0.06, 0.06) * height
    cross = (stem_x - uniform(*CROSS_HALF) * height, cross_y - tilt,
             stem_x + uniform(*CROSS_HALF) * height, cross_y + tilt)

    strokes = tf.zeros_like(images)
    for segment, chosen in ((flag, flagged), (base, based), (cross, crossed)):
        ink = _segment_ink(segment, radius, grid)
        strokes = tf.maximum(strokes, ink * tf.cast(chosen, tf.float32)[:, None, None])
    drawn = tf.maximum(images, strokes)
    recentre = [centre - moved for centre, moved in zip(_centre_of_mass(images, grid),
                                                        _centre_of_mass(drawn, grid))]
    return drawn[..., None], recentre


def _extent(images):
    """(top row, bottom row, height) of each picture's ink, as floats."""
    rows = tf.cast(tf.reduce_max(images, axis=2) > INK, tf.int32)          # (b, 28)
    top = tf.cast(tf.argmax(rows, axis=1), tf.float32)
    bottom = SIDE - 1 - tf.cast(tf.argmax(tf.reverse(rows, [1]), axis=1), tf.float32)
    return top, bottom, tf.maximum(bottom - top + 1.0, 4.0)


def _row(images, y):
    """(b, 28): each picture's row at height y (rounded, kept inside the picture)."""
    index = tf.cast(tf.clip_by_value(tf.round(y), 0, SIDE - 1), tf.int32)
    return tf.gather(images, index, axis=1, batch_dims=1)


def _segment_ink(segment, radius, grid):
    """(b, 28, 28) anti-aliased ink of a round pen of ``radius`` along segment (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (v[:, None, None] for v in segment)
    px, py = grid[None, None, :], grid[None, :, None]
    dx, dy = x1 - x0, y1 - y0
    t = tf.clip_by_value(((px - x0) * dx + (py - y0) * dy) / tf.maximum(dx * dx + dy * dy, 1e-6),
                         0.0, 1.0)
    distance = tf.sqrt(tf.square(px - x0 - t * dx) + tf.square(py - y0 - t * dy))
    return tf.clip_by_value(radius[:, None, None] + 0.5 - distance, 0.0, 1.0)


def _centre_of_mass(images, grid):
    mass = tf.maximum(tf.reduce_sum(images, [1, 2]), 1e-3)
    return (tf.reduce_sum(images * grid[None, None, :], [1, 2]) / mass,
            tf.reduce_sum(images * grid[None, :, None], [1, 2]) / mass)
