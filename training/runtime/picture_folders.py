"""A folder of pictures, one sub-folder per class (Keras's ``image_dataset_from_directory``
layout), read as the 28x28 inputs of a classifier of the user's own classes (issue #23).

    shapes/            <- the classifier's name: "shapes"
      heart/ a.png b.jpg ...
      star/  ...
      house/ ...

Class names are the sub-folders' names in sorted order (as Keras orders them); hidden files and
folders (``.trash``) are ignored; any picture format and size Pillow reads is accepted. Every
picture goes through the canvas's own preprocessing for drawings (training.runtime.preprocess:
ink found on any paper, fitted in a 20x20 box, centred by mass, as MNIST's digits), so what the
model learns from a folder is what it will see from the canvas.

A folder that cannot make a classifier (one class, an empty class, an unreadable picture, ten
thousand classes) raises :class:`FolderError` with one line saying which and what to do.
numpy + Pillow only: the window reads sample folders with this too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.core.classifiers import MAX_CLASSES, MIN_CLASSES, slug
from training.runtime import samples
from training.runtime.paper import BlankPictureError
from training.runtime.preprocess import PictureError, open_picture, to_model_input

MAX_PICTURES = 20_000      # more is a dataset to train with `train --dataset` on IDX files
PICTURE_SUFFIXES = (*samples.PICTURE_SUFFIXES, ".tif", ".tiff")  # a user's folder: TIFF too
DRAWING_STYLE = "drawing"  # the preprocessing a folder's pictures get: the digits' layout


class FolderError(ValueError):
    """The folder cannot make a classifier; the message is one line for the user."""


@dataclass(frozen=True)
class ClassFolder:
    name: str                      # the class name: the sub-folder's name
    pictures: tuple[Path, ...]     # sorted


@dataclass
class PictureFolder:
    name: str                      # the classifier's name (the folder's, as a slug)
    folder: Path
    class_names: tuple[str, ...]
    images: np.ndarray             # uint8 (n, 28, 28): the models' input
    labels: np.ndarray             # int64 (n,)
    paths: list[Path]

    def per_class(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}


def is_picture_folder(value: str | os.PathLike) -> bool:
    """Whether a ``--dataset`` value names a folder rather than a built-in dataset."""
    return Path(value).expanduser().is_dir()


def classifier_name(folder: str | os.PathLike) -> str:
    """A folder's name as a dataset name: lower case, letters, digits and "_" (``My Shapes`` ->
    ``my_shapes``); never "mnist" or "fashion_mnist", which name the built-in datasets."""
    return slug(Path(folder).expanduser().resolve().name)


def scan(folder: str | os.PathLike) -> list[ClassFolder]:
    """The class sub-folders and their pictures, checked (no picture opened yet)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FolderError(f"{folder} is not a folder: give a folder with one sub-folder of "
                          "pictures per class.")
    try:
        subfolders = sorted(p for p in folder.iterdir()
                            if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise FolderError(f"{folder} cannot be read ({exc.strerror or exc}).") from None
    if len(subfolders) > MAX_CLASSES:
        raise FolderError(f"{folder.name} holds {len(subfolders):,} class folders; a classifier "
                          f"here has {MIN_CLASSES} to {MAX_CLASSES} classes.")
    if len(subfolders) < MIN_CLASSES:
        found = "no sub-folder" if not subfolders else f"one sub-folder ({subfolders[0].name})"
        raise FolderError(f"{folder.name} holds {found}; a classifier needs at least "
                          f"{MIN_CLASSES} classes: one sub-folder of pictures per class.")
    classes = []
    for sub in subfolders:
        try:
            pictures = tuple(sorted(p for p in sub.iterdir() if p.is_file()
                                    and not p.name.startswith(".")
                                    and p.suffix.lower() in PICTURE_SUFFIXES))
        except OSError as exc:
            raise FolderError(f"{sub.name}/ cannot be read ({exc.strerror or exc}).") from None
        if not pictures:
            raise FolderError(f"class '{sub.name}' ({sub.name}/) holds no pictures; add some "
                              "or remove the folder.")
        classes.append(ClassFolder(sub.name, pictures))
    total = sum(len(c.pictures) for c in classes)
    if total > MAX_PICTURES:
        raise FolderError(f"{folder.name} holds {total:,} pictures; at most {MAX_PICTURES:,} "
                          "are read for a classifier of your own classes.")
    return classes


def read(folder: str | os.PathLike,
         on_picture: Callable[[int, int], None] | None = None) -> PictureFolder:
    """Every picture of ``folder`` as the model's input; ``on_picture(done, total)`` after each.

    An unreadable or blank picture stops the reading with a FolderError naming it: a class
    trained without some of its pictures would be a silent surprise."""
    folder = Path(folder).expanduser()
    classes = scan(folder)
    total = sum(len(c.pictures) for c in classes)
    images, labels, paths = [], [], []
    for label, entry in enumerate(classes):
        for path in entry.pictures:
            where = f"{entry.name}/{path.name}"
            try:
                pixels = to_model_input(open_picture(path), DRAWING_STYLE)
            except BlankPictureError:
                raise FolderError(f"{where} is blank (no drawing found); remove it.") from None
            except PictureError as exc:
                raise FolderError(f"{where}: {exc} Fix or remove it.") from None
            images.append(np.round(pixels * 255).astype(np.uint8))
            labels.append(label)
            paths.append(path)
            if on_picture is not None:
                on_picture(len(images), total)
    return PictureFolder(classifier_name(folder), folder, tuple(c.name for c in classes),
                         np.stack(images), np.array(labels, np.int64), paths)
