"""The architectures, by name.

Every model takes (28, 28, 1) float32 pixels in [0, 1] (bright ink on black) and returns ten
softmax probabilities. Parameter counts are for dropout on or off alike (dropout has no weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from training.protocol.config import PRECISIONS

if TYPE_CHECKING:
    import keras

# Keras is imported inside the builders: the catalogue below is read by the GUI and the CLI's
# argument parser, which must not pay TensorFlow's import time.

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def lecture_dense(dropout: float = 0.0, l2: float = 0.0, dtype=None) -> "keras.Model":
    """The lecture's dense net: Flatten -> Dense 128 relu -> Dense 10 softmax. 101,770 parameters.

    About 88 % on Fashion-MNIST after 5 epochs with Adam (the lecture), ~97.5 % on MNIST.
    """
    import keras
    from keras import layers

    reg = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential(name="lecture_dense")
    model.add(keras.Input(INPUT_SHAPE))
    model.add(layers.Flatten())
    model.add(layers.Dense(128, activation="relu", kernel_regularizer=reg, dtype=dtype))
    if dropout:
        model.add(layers.Dropout(dropout))
    model.add(_classifier())
    return model


def lecture_cnn(dropout: float = 0.0, l2: float = 0.0, dtype=None) -> "keras.Model":
    """The lecture's CNN: Conv 32 3x3 -> Conv 64 3x3 -> MaxPool 4x4 -> Conv 64 3x3 -> Flatten ->
    Dense 10 softmax. 65,994 parameters; 99.15 % on MNIST after 5 epochs of RMSprop (the lecture).

    Costly on a CPU: the second convolution runs at full 24x24 resolution (~11.5 M multiply-adds
    per image, about 42 s per MNIST epoch on 2 cores).
    """
    import keras
    from keras import layers

    reg = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential(name="lecture_cnn")
    model.add(keras.Input(INPUT_SHAPE))
    model.add(layers.Conv2D(32, 3, activation="relu", kernel_regularizer=reg, dtype=dtype))
    model.add(layers.Conv2D(64, 3, activation="relu", kernel_regularizer=reg, dtype=dtype))
    model.add(layers.MaxPooling2D(4, dtype=dtype))
    model.add(layers.Conv2D(64, 3, activation="relu", kernel_regularizer=reg, dtype=dtype))
    model.add(layers.Flatten())
    if dropout:
        model.add(layers.Dropout(dropout))
    model.add(_classifier())
    return model


def _conv_net(name: str, widths: tuple[int, ...], dense: int, dropout: float,
              l2: float, dtype) -> "keras.Model":
    """Conv 3x3 (same) + ReLU + MaxPool 2x2 per width: 28 -> 14 -> 7 -> 3, then a small head.

    No batch normalisation on purpose: on this 2-core CPU it tripled the step time (44 ms vs
    13 ms per batch of 128) for no accuracy gain within the short budgets we aim for.
    """
    import keras
    from keras import layers

    reg = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential(name=name)
    model.add(keras.Input(INPUT_SHAPE))
    for width in widths:
        model.add(layers.Conv2D(width, 3, padding="same", activation="relu",
                                kernel_regularizer=reg, dtype=dtype))
        model.add(layers.MaxPooling2D(2, dtype=dtype))
    _add_head(model, dense, dropout, reg, dtype)
    return model


def _vgg_net(name: str, widths: tuple[int, ...], dense: int, dropout: float, l2: float,
             dtype) -> "keras.Model":
    """Two blocks of Conv 3x3 (same, no bias) -> BatchNorm -> ReLU per width, then MaxPool 2x2:
    28 -> 14 -> 7 -> 3, then Flatten -> Dense -> Dense 10.

    Batch norm is free in float32 here (oneDNN fuses it into the convolution) but computed
    apart in bfloat16: bfloat16 trains this net only 1.2x faster (31 vs 38 s per 60,000
    pictures), against 2.3x for wide_cnn.
    """
    import keras
    from keras import layers

    reg = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential(name=name)
    model.add(keras.Input(INPUT_SHAPE))
    for width in widths:
        for _ in range(2):
            model.add(layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    kernel_regularizer=reg, dtype=dtype))
            model.add(layers.BatchNormalization(dtype=dtype))
            model.add(layers.ReLU(dtype=dtype))
        model.add(layers.MaxPooling2D(2, dtype=dtype))
    _add_head(model, dense, dropout, reg, dtype)
    return model


def _add_head(model, dense: int, dropout: float, reg, dtype) -> None:
    """Flatten -> [Dropout] -> Dense ``dense`` ReLU (when ``dense``) -> [Dropout] -> softmax."""
    from keras import layers

    model.add(layers.Flatten())
    if dense:
        if dropout:
            model.add(layers.Dropout(dropout))
        model.add(layers.Dense(dense, activation="relu", kernel_regularizer=reg, dtype=dtype))
    if dropout:
        model.add(layers.Dropout(dropout))
    model.add(_classifier())


def _classifier():
    """The softmax output, always float32: bfloat16 would round 0.999 to 1.0 and small
    probabilities to coarse steps."""
    from keras import layers

    return layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")


def compact_cnn(dropout: float = 0.2, l2: float = 0.0, dtype=None) -> "keras.Model":
    """Ours, for accuracy per CPU second: Conv 16 -> Conv 32 -> Conv 64 (each 3x3 + MaxPool 2) ->
    Flatten -> Dense 128 -> Dense 10. 98,442 parameters, ~2.0 M multiply-adds per image (a sixth
    of the lecture CNN): 99.1 % on MNIST after 2 epochs, ~12 s here in bfloat16.
    """
    return _conv_net("compact_cnn", (16, 32, 64), 128, dropout, l2, dtype)


def wide_cnn(dropout: float = 0.3, l2: float = 0.0, dtype=None) -> "keras.Model":
    """Ours, for the best accuracy (the shipped models): Conv 32 -> Conv 64 -> Conv 128 (each
    3x3 + MaxPool 2) -> Flatten -> Dense 128 -> Dense 10. 241,546 parameters, ~7.6 M multiply-adds
    per image (two thirds of the lecture CNN); the shipped models.
    """
    return _conv_net("wide_cnn", (32, 64, 128), 128, dropout, l2, dtype)


def mid_cnn(dropout: float = 0.1, l2: float = 0.0, dtype=None) -> "keras.Model":
    """Ours, for accuracy per second of training (the Thorough preset on Fashion-MNIST): Conv 16
    -> Conv 64 (each 3x3 + MaxPool 2) -> Flatten -> Dense 256 -> Dense 10. 815,082 parameters,
    ~2.7 M multiply-adds per image. Few channels at full resolution (where a CPU step spends
    its time moving activations), many at 14x14, and a big dense layer that learns fast.
    Dense 256 rather than 128 (session 28, AMD EPYC Zen 2, AVX2 only, oneDNN): Fashion-MNIST
    after the thorough recipe's 6 epochs 93.45 / 93.43 / 93.34 % (seeds 0-2) against 92.90 /
    93.10 / 93.07 %, for ~8 % more seconds; Dense 512 93.25 %, a second 64-channel
    convolution 93.19 % (+55 % time), Conv 96 93.34 % (+35 %).
    """
    return _conv_net("mid_cnn", (16, 64), 256, dropout, l2, dtype)


def strided_cnn(dropout: float = 0.1, l2: float = 0.0, dtype=None) -> "keras.Model":
    """Ours, for accuracy per second of training on Fashion-MNIST (the Quick preset there):
    Conv 32 4x4 stride 2 -> MaxPool 2 -> Conv 48 3x3 -> Flatten -> Dense 128 -> Dense 10.
    316,890 parameters, ~1.1 M multiply-adds per image (mid_cnn: 2.7 M). Nothing runs at full
    resolution: the strided first convolution reads the 28x28 picture straight into 14x14
    maps. On the 2-core EPYC (float32, no BF16) it trains about 2.3x as many pictures per CPU
    second as mid_cnn with Dense 128 did, for as much accuracy per epoch: Fashion-MNIST 91.48 /
    91.33 % after 4 epochs (seeds 0 / 1, one-cycle 5e-3, no dropout), mid_cnn 91.37 % after 3.
    With Conv 64 second it was 20 % slower for the same accuracy (91.37 / 91.34 %). Its first
    convolution is not learned but set from the training pictures (``whiten_first_conv``).
    """
    import keras
    from keras import layers

    reg = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential(name="strided_cnn")
    model.add(keras.Input(INPUT_SHAPE))
    model.add(layers.Conv2D(32, 4, strides=2, padding="same", activation="relu",
                            kernel_regularizer=reg, dtype=dtype))
    model.add(layers.MaxPooling2D(2, dtype=dtype))
    model.add(layers.Conv2D(48, 3, padding="same", activation="relu", kernel_regularizer=reg,
                            dtype=dtype))
    _add_head(model, 128, dropout, reg, dtype)
    return model


def vgg_cnn(dropout: float = 0.3, l2: float = 0.0, dtype=None) -> "keras.Model":
    """Ours, for the shipped models: VGG-style, two convolutions with batch norm per stage,
    Conv 32/32 -> 64/64 -> 128/128 (each stage then MaxPool 2) -> Flatten -> Dense 128 ->
    Dense 10. 436,650 parameters, ~29 M multiply-adds per image: four times wide_cnn, for
    ~38 s per 60,000 pictures here in float32 (wide_cnn: 15 s).
    """
    return _vgg_net("vgg_cnn", (32, 64, 128), 128, dropout, l2, dtype)


# The builder behind each name of training/protocol/config.py's ARCHITECTURES.
BUILDERS: dict[str, Callable[..., "keras.Model"]] = {
    "lecture_dense": lecture_dense, "lecture_cnn": lecture_cnn, "compact_cnn": compact_cnn,
    "mid_cnn": mid_cnn, "strided_cnn": strided_cnn, "wide_cnn": wide_cnn, "vgg_cnn": vgg_cnn,
}


# Architectures whose first convolution is not learned: ``whiten_first_conv`` sets it from the
# training pictures before training and freezes it (the trainer and the speed benchmark do).
FROZEN_FIRST_CONV = frozenset({"strided_cnn", "mid_cnn"})
PATCH_EPS_SCALE = 10.0  # eps of ``whiten_first_conv``, in mean eigenvalues of the patches


def whiten_first_conv(model, images, eps_scale: float = PATCH_EPS_SCALE,
                      patches: int = 100_000, seed: int = 0) -> "keras.Model":
    """Set ``model``'s first convolution (k x k, one input channel, 2 * k * k filters or fewer,
    in pairs) from the principal components of k x k patches of ``images`` ((n, 28, 28) uint8),
    zero its bias and freeze it (``trainable = False``); returns ``model``.

    Filter pairs +v / sqrt(lambda + eps) and -v / sqrt(lambda + eps) for the eigenvectors v of
    the patches' (uncentred) second-moment matrix, largest eigenvalue lambda first: after the
    ReLU the pair keeps the component whole. The airbench idea (CIFAR-10 speed runs), with eps
    = 10 mean eigenvalues: nearly an orthonormal basis, the first component damped ~1.5x. Full
    whitening (eps 1e-3 .. 1e-1 of the mean) fitted the training set faster but tested worse:
    91.8-92.1 % on Fashion-MNIST vs 92.6 % (strided_cnn, 10 epochs, seed 0).

    A frozen first layer needs no backward pass (nothing before it learns): strided_cnn's
    costly first stage only runs forward, ~22 % fewer CPU seconds per run on the 2-core EPYC,
    and learns as well or faster (Fashion-MNIST, one-cycle 5e-3, no dropout, seeds 0-2: 10
    epochs 92.60 / 92.64 / 92.58 %, as learned; 4 epochs 91.99 / 91.93 % vs 91.48 / 91.33 %).
    mid_cnn (16 filters 3x3: 8 pairs of the 9 components) after 3 epochs: 92.20 / 92.41 %
    (seeds 0 / 1; learned, seed 0: 91.67 %, ~10 % more CPU seconds). docs/benchmarks.md, the
    fifth search. The saved model keeps a plain Conv2D with these weights.
    """
    import keras
    import numpy as np

    conv = model.layers[0]
    if not isinstance(conv, keras.layers.Conv2D) or conv.kernel.shape[2] != 1:
        raise ValueError(f"{model.name}: the first layer is not a convolution of one channel")
    kh, kw = conv.kernel_size
    pairs = conv.filters // 2
    if conv.filters % 2 or pairs > kh * kw:
        raise ValueError(f"{model.name}: {conv.filters} filters are not pairs of the "
                         f"{kh * kw} components of {kh}x{kw} patches")
    pixels = np.asarray(images).reshape(len(images), *INPUT_SHAPE[:2])
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (kh, kw), axis=(1, 2))
    rng = np.random.default_rng(seed)
    picked = windows[rng.integers(0, windows.shape[0], patches),
                     rng.integers(0, windows.shape[1], patches),
                     rng.integers(0, windows.shape[2], patches)]
    flat = picked.reshape(patches, kh * kw).astype(np.float64) / 255.0
    values, vectors = np.linalg.eigh(flat.T @ flat / patches)
    values, vectors = values[::-1], vectors[:, ::-1]              # largest first
    # Each component's sign fixed (its largest entry positive): eigh may return -v on another
    # CPU or BLAS, and workers training one model together must set the same frozen filters.
    vectors = vectors * np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(len(values))])
    scaled = vectors[:, :pairs] / np.sqrt(values[:pairs] + eps_scale * values.mean())
    kernel = np.concatenate([scaled, -scaled], axis=1).reshape(kh, kw, 1, conv.filters)
    conv.kernel.assign(kernel.astype(np.float32))
    if conv.use_bias:
        conv.bias.assign(np.zeros(conv.filters, np.float32))
    conv.trainable = False
    return model


def training_twin(model) -> "keras.Model":
    """``model`` itself, or a faster model for training that computes the same function with the
    same variables (training it trains ``model``).

    A first convolution (stride s, "same" padding, ReLU) followed by a 2x2 max pooling, as in
    strided_cnn, computes 4x as many 14x14 outputs as it keeps, then pools them; on this CPU the
    two spend ~45 % of strided_cnn's step on ~10 % of its multiply-adds (the 1-channel
    convolution and the pooling's backward pass are memory-bound). The twin computes the four
    pooling phases as one convolution of stride 2s straight to the pooled grid (a (k+s)x(k+s)
    kernel built from the original in four shifted copies) and keeps their maximum: the same
    numbers up to float rounding, ~2 CPU seconds less per Fashion-MNIST epoch (5.1-5.5 -> 2.9-3.3
    for that part). Any other model is returned as it is.
    """
    import keras
    from keras import layers

    conv, pool = (model.layers + [None, None])[:2]
    if not (isinstance(model, keras.Sequential) and isinstance(conv, layers.Conv2D)
            and isinstance(pool, layers.MaxPooling2D)
            and type(conv) is layers.Conv2D and conv.padding == "same"
            and conv.data_format == "channels_last" and tuple(conv.dilation_rate) == (1, 1)
            and conv.groups == 1 and conv.strides[0] == conv.strides[1]
            and conv.activation in (keras.activations.relu, keras.activations.linear)
            and tuple(pool.pool_size) == (2, 2) and tuple(pool.strides) == (2, 2)
            and pool.padding == "valid" and pool.data_format == "channels_last"):
        return model
    side = conv.output.shape[1:3]
    if side[0] % 2 or side[1] % 2:
        return model
    twin = keras.Sequential(name=model.name + "_training_twin")
    twin.add(keras.Input(model.input_shape[1:]))
    twin.add(_pooled_conv_class()(conv, dtype=conv.dtype_policy))
    for layer in model.layers[2:]:
        twin.add(layer)
    return twin


def _pooled_conv_class():
    import keras
    import tensorflow as tf

    class PooledConv(keras.layers.Layer):
        """Conv2D (stride s, "same", ReLU or none) + MaxPooling2D(2) in one convolution of
        stride 2s over the four pooling phases, using ``conv``'s own kernel and bias."""

        def __init__(self, conv, **kwargs):
            super().__init__(**kwargs)
            self.conv = conv

        def call(self, x):
            conv = self.conv
            k = conv.kernel_size[0], conv.kernel_size[1]
            s = conv.strides[0]
            h, w = x.shape[1], x.shape[2]
            out = [-(-h // s), -(-w // s)]                       # "same": ceil(side / s)
            before = [max((o - 1) * s + kk - n, 0) // 2 for o, kk, n in zip(out, k, (h, w))]
            after = [(o // 2 - 1) * 2 * s + kk + s - n - b
                     for o, kk, n, b in zip(out, k, (h, w), before)]
            kernel = tf.cast(conv.kernel, self.compute_dtype)
            phases = [tf.pad(kernel, [[s * di, s - s * di], [s * dj, s - s * dj], [0, 0], [0, 0]])
                      for di in (0, 1) for dj in (0, 1)]
            pad = [[0, 0], [before[0], max(after[0], 0)], [before[1], max(after[1], 0)], [0, 0]]
            z = tf.nn.conv2d(x, tf.concat(phases, axis=3), 2 * s, pad)
            z = z[:, :out[0] // 2, :out[1] // 2]
            filters = conv.filters
            z = tf.reduce_max(tf.reshape(z, (-1, out[0] // 2, out[1] // 2, 4, filters)), axis=3)
            if conv.use_bias:
                z = z + tf.cast(conv.bias, self.compute_dtype)
            return conv.activation(z)

        def compute_output_shape(self, input_shape):
            s = self.conv.strides[0]
            return (input_shape[0], -(-input_shape[1] // s) // 2, -(-input_shape[2] // s) // 2,
                    self.conv.filters)

    return PooledConv


def build_model(architecture: str, dropout: float | None = None, l2: float = 0.0,
                precision: str = "float32") -> "keras.Model":
    """A fresh, uncompiled model; ``dropout=None`` keeps the architecture's own default.

    ``precision="bfloat16"`` computes the hidden layers in bfloat16 with float32 weights (Keras
    mixed precision): about twice as fast on CPUs with AVX512-BF16/AMX, much slower elsewhere.
    """
    try:
        build = BUILDERS[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of: "
                         f"{', '.join(BUILDERS)}") from None
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    dtype = "mixed_bfloat16" if precision == "bfloat16" else None
    if dropout is None:
        return build(l2=l2, dtype=dtype)
    return build(dropout, l2, dtype)


def describe(architecture: str, dropout: float | None = None) -> dict:
    """Layers, output shapes and parameter counts of a fresh model, as plain data, plus a narrow
    plain-text table (Keras's own summary draws box characters too wide for a side panel).

    Used by ``python -m training describe``: the window asks a child process for it, so that
    building a model (which imports TensorFlow) never happens in the window's process.
    """
    model = build_model(architecture, dropout)
    layers = [{"type": type(layer).__name__,
               "output_shape": [d for d in tuple(layer.output.shape)[1:]],
               "parameters": int(layer.count_params())} for layer in model.layers]
    rows = [("Layer", "Output shape", "Parameters")]
    rows += [(layer["type"], str(tuple(layer["output_shape"])).replace(",)", ")"),
              f"{layer['parameters']:,}") for layer in layers]
    lines = [model.name] + [f"{a:<14} {b:<14} {c:>10}" for a, b, c in rows]
    lines.insert(2, "-" * 40)
    lines += ["-" * 40, f"Total parameters: {model.count_params():,}"]
    return {"architecture": architecture, "dropout": dropout, "name": model.name,
            "layers": layers, "parameters": int(model.count_params()), "text": "\n".join(lines)}
