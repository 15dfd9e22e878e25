"""The models a view can run besides the canvas's: the lecture's two and the shipped one.

Small trained copies of the lecture's dense net and CNN are shipped for both datasets
(``resources/models/lecture_dense_<dataset>.keras`` and ``lecture_cnn_<dataset>.keras``, each
with its ``.tflite``, ``.layers.tflite`` and JSON sidecar; ``make models`` trains them), so the
"Models side by side" and "What each layer sees" docks work on first launch.

A choice is a plain dict the worker threads understand: {"key", "title", "path"} where "path"
is "" for the shipped model of the dataset (as in the LoadRequest of prediction/inference_worker.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from training.core.datasets import DATASETS, dataset_title

if TYPE_CHECKING:  # the description only: the inference's imports stay out of this module
    from desktop_app.prediction.requests import ModelInfo

IN_USE = "in_use"
SHIPPED = "shipped"
LECTURE_MODELS = (("lecture_dense", "Lecture dense net"), ("lecture_cnn", "Lecture CNN"))


def lecture_model_path(architecture: str, dataset: str) -> Path:
    """``resources/models/lecture_cnn_mnist.keras``, found through the installed package."""
    from importlib import resources

    return Path(str(resources.files("resources") / "models" / f"{architecture}_{dataset}.keras"))


def standard_choices(dataset: str) -> list[dict]:
    """The lecture's dense net, the lecture's CNN and the shipped model of ``dataset``, in the
    order the compare view shows them by default; a classifier of the user's own classes has
    its newest model only."""
    if dataset not in DATASETS:
        from training.core.classifiers import find

        classifier = find(dataset)
        return [{"key": SHIPPED, "title": f"{dataset_title(dataset)} (newest trained)",
                 "path": str(classifier.model_path)}] if classifier else []
    choices = [{"key": key, "title": title, "path": str(lecture_model_path(key, dataset))}
               for key, title in LECTURE_MODELS]
    choices.append({"key": SHIPPED, "title": f"Shipped {DATASETS[dataset].title} model",
                    "path": ""})
    return choices


def in_use_choice(info: ModelInfo | None) -> dict | None:
    """The canvas's model, when it is none of the standard ones (a trained, taught or loaded
    model); None otherwise."""
    if info is None or info.shipped:
        return None
    path = str(info.path or "")
    if not path or any(path == c["path"] for c in standard_choices(info.dataset)):
        return None
    return {"key": IN_USE, "title": f"In use: {info.name or Path(path).stem}",
            "path": path}


def file_size_text(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 1000 * 1000:
        return f"{size / 1000:.0f} kB"
    return f"{size / 1e6:.1f} MB"


# Files that live beside a model but are not models a user opens (the window's own twins).
COMPANION_SUFFIXES = (".ood.tflite", ".layers.tflite", ".ood.npz", ".json")
MODEL_FILTER = "Keras models (*.keras);;LiteRT models (*.tflite);;All files (*)"


def model_behind(path: str) -> str | None:
    """The model a chosen file belongs to: ``m.ood.tflite`` -> ``m.keras`` (or ``m.tflite``);
    the path itself for a model file; None when it is a companion with no model beside it."""
    lower = path.lower()
    for suffix in COMPANION_SUFFIXES:
        if lower.endswith(suffix):
            stem = path[:-len(suffix)]
            for model in (stem + ".keras", stem + ".tflite"):
                if Path(model).is_file():
                    return model
            return None
    return path
