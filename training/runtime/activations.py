"""Every layer's output for one picture, with LiteRT (no TensorFlow): "What each layer sees".

The ``<model>.layers.tflite`` written by ``training.learn.export.export_layers_tflite`` has one output
per layer, named ``l<NN>_<layer class>_<activation>``; :class:`LayerModel` runs it and returns
the outputs in layer order. :func:`feature_mosaic` and :func:`vector_levels` turn an output into
what the window paints (a grid of greyscale feature maps; bar heights), in plain numpy so that
the window's worker thread does the work and the GUI thread only draws.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from training.core.classifiers import MAX_CLASSES, MIN_CLASSES
from training.modelfile.sidecar import ModelLoadError
from training.runtime.lite import LiteRunner

_OUTPUT_NAME = re.compile(r"^l(\d+)_([A-Za-z0-9]+)_(.+)$")
TILE_GAP = 1           # pixels between two feature maps in a mosaic
MAP_GAMMA = 0.6        # feature maps are shown brightened (monotone: brighter is still stronger);
#                        linear, one strong channel leaves the others too dark to read
GAP_COLOUR = (52, 60, 78)  # the grid lines between feature maps (dark slate, not a grey level)

# How a layer class reads in the view.
_KIND_TITLES = {"Conv2D": "Convolution", "MaxPooling2D": "Max pooling",
                "AveragePooling2D": "Average pooling", "Flatten": "Flatten", "Dense": "Dense",
                "Output": "Output", "BatchNormalization": "Batch norm", "Activation": "Activation",
                "GlobalAveragePooling2D": "Global average pooling", "Reshape": "Reshape"}


@dataclass(frozen=True)
class LayerInfo:
    index: int
    kind: str          # the Keras layer class: "Conv2D", "Dense", ...
    activation: str    # "relu", "softmax", "linear", "none"
    shape: tuple       # output shape without the batch: (26, 26, 32) or (128,)
    output: str        # the signature's output name

    @property
    def is_maps(self) -> bool:
        """Feature maps (H, W, channels), shown as small pictures; else a vector of bars."""
        return len(self.shape) == 3

    @property
    def title(self) -> str:
        name = _KIND_TITLES.get(self.kind, self.kind)
        size = "×".join(str(d) for d in self.shape)
        act = "" if self.activation in ("none", "linear") else f" · {self.activation}"
        if self.is_maps:
            h, w, c = self.shape
            return f"{name}: {c} maps of {h}×{w}{act}"
        if self.shape == (10,) and self.activation == "softmax":
            return f"{name}: the 10 class probabilities (softmax)"
        return f"{name}: {size} values{act}"


class LayerModel:
    """A ``.layers.tflite``: a (28, 28) float picture in [0, 1] -> one array per layer.

    Used by one thread at a time (the window's layers worker); the runner's lock makes it safe
    anyway. Every failure to load becomes a :class:`ModelLoadError`.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1):
        self._model = LiteRunner(path, num_threads, "layers model", by_signature=True)
        self.path = self._model.path
        inputs, outputs = self._model.inputs, self._model.outputs
        if len(inputs) != 1:
            raise ModelLoadError(f"{self.path.name}: the model has {len(inputs)} inputs.")
        self._picture_shape = inputs[0].shape[1:]
        if self._picture_shape not in ((28, 28), (28, 28, 1)):
            raise ModelLoadError(f"{self.path.name}: the model expects input "
                                 f"{self._picture_shape}, not 28x28 grey pictures.")
        layers = []
        for output in outputs:
            found = _OUTPUT_NAME.match(output.name)
            if not found:
                raise ModelLoadError(f"{self.path.name}: output {output.name!r} is not a layer "
                                     "output (make it with python -m training.learn.export "
                                     "--layers).")
            layers.append(LayerInfo(int(found[1]), found[2], found[3], output.shape[1:],
                                    output.name))
        if not layers:
            raise ModelLoadError(f"{self.path.name}: the model has no outputs.")
        self.layers = sorted(layers, key=lambda layer: layer.index)
        last = self.layers[-1].shape
        if len(last) != 1 or not MIN_CLASSES <= last[0] <= MAX_CLASSES:
            raise ModelLoadError(f"{self.path.name}: its last output is {last}, not "
                                 f"{MIN_CLASSES} to {MAX_CLASSES} class scores.")
        position = {output.name: k for k, output in enumerate(outputs)}
        self._order = [position[layer.output] for layer in self.layers]

    def run(self, picture: np.ndarray) -> list[np.ndarray]:
        """One (28, 28) picture in [0, 1] -> each layer's output (float32, no batch axis)."""
        x = np.asarray(picture, np.float32).reshape(1, *self._picture_shape)
        out = self._model.run(x)
        return [np.asarray(out[k][0], np.float32) for k in self._order]


def feature_mosaic(maps: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(H, W, C) feature maps -> one (rows*(H+gap)-gap, cols*(W+gap)-gap, 3) uint8 RGB picture:
    the C maps in a grid, bright = strong, scaled by the layer's largest value so that maps
    compare with each other (a channel that does not fire stays black), with a gamma of
    MAP_GAMMA."""
    maps = np.asarray(maps, np.float32)
    height, width, count = maps.shape
    if not columns:  # a wide grid (a side panel is wider than tall): 32 -> 8x4, 64 -> 16x4
        columns = 2 ** math.ceil(math.log2(math.sqrt(2 * count * height / max(width, 1))))
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    levels = _levels(maps, MAP_GAMMA)
    out = np.empty((rows * (height + TILE_GAP) - TILE_GAP,
                    columns * (width + TILE_GAP) - TILE_GAP, 3), np.uint8)
    out[:] = GAP_COLOUR
    for channel in range(count):
        row, col = divmod(channel, columns)
        top, left = row * (height + TILE_GAP), col * (width + TILE_GAP)
        out[top:top + height, left:left + width] = levels[:, :, channel, None]
    return out


def vector_levels(values: np.ndarray) -> np.ndarray:
    """A layer's vector -> bar heights in [0, 1] (the largest value is 1; negatives go to 0
    for ReLU-like layers, else the range is stretched from the smallest value)."""
    return _levels(np.asarray(values, np.float32).ravel()).astype(np.float32) / 255


def _levels(values: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    if high - low <= 1e-12:
        return np.zeros(finite.shape, np.uint8)
    scaled = np.clip((finite - low) / (high - low), 0, 1)
    if gamma != 1.0:
        scaled = scaled ** gamma
    return np.round(scaled * 255).astype(np.uint8)
