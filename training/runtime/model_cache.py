"""ModelCache: the LiteRT models one worker thread keeps loaded, by path.

One cache per thread, on purpose: an interpreter serialises its calls, so two threads sharing
one (the live answer and its saliency map) would wait for each other. LiteRT is imported on
the first load, in the thread that runs the model (the window starts without it).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable


def _lite_model(path: str):
    from training.runtime.lite import LiteModel

    return LiteModel(path)


class ModelCache:
    def __init__(self, make: Callable[[str], object] = _lite_model, size: int = 4):
        """``make(path)`` loads a model (LiteModel, or activations.LayerModel); ``size``: how
        many are kept (the models the user has since left go first)."""
        self._make = make
        self._size = size
        self._models: OrderedDict[str, object] = OrderedDict()

    def get(self, path: str | os.PathLike):
        """The model of ``path``, loaded on first use (ModelLoadError says why it cannot be).
        A file written again since (a classifier retrained into the same file) is loaded
        again: the key holds its size and time of change."""
        try:
            stat = os.stat(path)
            key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        except OSError:
            key = str(path)
        model = self._models.pop(key, None)
        if model is None:
            model = self._make(str(path))
            while len(self._models) >= self._size:
                self._models.popitem(last=False)  # the one used longest ago
        self._models[key] = model
        return model
