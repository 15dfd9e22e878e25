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


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1], the models' input."""
    return (np.asarray(images, np.float32) / 255.0)[..., None]


def make_train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                       augment_for: str | None = None) -> tf.data.Dataset:
    """Shuffled batches each epoch; ``augment_for`` is None, "mnist" or "fashion_mnist"."""
    images = tf.constant(x, tf.uint8)
    labels = tf.constant(y, tf.int32)
    count = len(x)

    def gather(indices):
        batch = tf.cast(tf.gather(images, indices), tf.float32)[..., None] / 255.0
        return batch, tf.gather(labels, indices)

    ds = (tf.data.Dataset.range(count)
          .shuffle(count, seed=seed, reshuffle_each_iteration=True)
          .batch(batch_size)
          .map(gather, num_parallel_calls=tf.data.AUTOTUNE))
    if augment_for:
        generator = tf.random.Generator.from_seed(seed)
        digits = augment_for == "mnist"

        def augment(batch, batch_labels):
            return augment_batch(batch, generator, digits), batch_labels

        ds = ds.map(augment, num_parallel_calls=1)  # the generator is stateful: keep one caller
    return ds.prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((to_float(x), y.astype(np.int32))).batch(batch_size)


def augment_batch(batch: tf.Tensor, generator: tf.random.Generator, digits: bool) -> tf.Tensor:
    """Random warp of a (b, 28, 28, 1) float batch; for digits also a random stroke width."""
    params = DIGIT_WARP if digits else FASHION_WARP
    n = tf.shape(batch)[0]

    def uniform(low, high):
        return generator.uniform([n], low, high)

    angle = uniform(-1.0, 1.0) * math.radians(params["rotation_deg"])
    scale = uniform(*params["scale"])
    shear = uniform(-params["shear"], params["shear"])
    shift_x = uniform(-params["shift"], params["shift"])
    shift_y = uniform(-params["shift"], params["shift"])
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
