"""Personal samples: the user's own drawings, labelled, kept as PNG files.

Layout (Keras ``image_dataset_from_directory``): ``<home>/samples/<dataset>/<class>/<time>.png``,
``<class>`` being the class name with "/" made "-" (``T-shirt-top``). Every write is atomic
(training.core.atomic), so a crash never leaves a half-written sample. Deleting or relabelling moves
the file (a rename: atomic too); a deleted sample goes to ``.trash/`` so it can be brought back.
numpy + Pillow only: the window uses this directly.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training.core.atomic import WriteError, write_bytes
from training.core.datasets import dataset_info
from training.core.paths import samples_dir

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
TRASH = ".trash"


def class_folder(name: str) -> str:
    return name.replace("/", "-").replace("\\", "-").strip() or "unnamed"


ALREADY = "already one of your samples"  # import_folder's reason for a file it leaves out


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


class SampleStore:
    def __init__(self, dataset: str, root: str | os.PathLike | None = None):
        self.info = dataset_info(dataset)
        self.root = Path(root) if root is not None else samples_dir(self.info.name)
        self.folders = [class_folder(n) for n in self.info.class_names]

    # -- reading
    def samples(self) -> list[Sample]:
        """Every sample, by class, oldest first within a class."""
        found = []
        for label, folder in enumerate(self.folders):
            directory = self.root / folder
            if not directory.is_dir():
                continue
            files = sorted(p for p in directory.iterdir()
                           if p.suffix.lower() in PICTURE_SUFFIXES and not p.name.startswith("."))
            found += [Sample(p, label) for p in files]
        return found

    def counts(self) -> list[int]:
        counts = [0] * len(self.folders)
        for sample in self.samples():
            counts[sample.label] += 1
        return counts

    # -- writing
    def add(self, label: int, grey: np.ndarray) -> Sample:
        """Store a uint8 grey picture as a sample of class ``label``."""
        if not 0 <= label < len(self.folders):
            raise ValueError(f"no class {label} in {self.info.title}")
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(grey, np.uint8)).save(buffer, "PNG", optimize=True)
        path = self._new_path(label)
        write_bytes(path, buffer.getvalue())
        return Sample(path, label)

    def delete(self, sample: Sample) -> Path:
        """Move the sample to the trash; returns where it went (for :meth:`restore`)."""
        trash = self.root / TRASH / self.folders[sample.label]
        return self._move(sample.path, trash / sample.path.name)

    def restore(self, trashed: Path, sample: Sample) -> Sample:
        """Undo a delete (or a relabel, given the sample as it was)."""
        return Sample(self._move(trashed, sample.path), sample.label)

    def relabel(self, sample: Sample, label: int) -> Sample:
        if label == sample.label:
            return sample
        return Sample(self._move(sample.path, self._new_path(label, sample.path.suffix)), label)

    def import_folder(self, folder: str | os.PathLike) -> tuple[int, list[str]]:
        """Copy pictures from ``<folder>/<class>/`` (the same layout); returns (count, skipped
        files or folders with the reason)."""
        folder = Path(folder)
        imported, skipped = 0, []
        if not folder.is_dir():
            raise WriteError(f"{folder} is not a folder.")
        by_name = {name.lower(): i for i, name in enumerate(self.folders)}
        by_name.update({n.lower(): i for i, n in enumerate(self.info.class_names)})
        # The same folder imported twice doubled every sample: a file already here is skipped.
        held = self._held()
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            label = by_name.get(sub.name.lower())
            if label is None:
                skipped.append(f"{sub.name}/: not a class of {self.info.title}")
                continue
            for picture in sorted(sub.iterdir()):
                if picture.suffix.lower() not in PICTURE_SUFFIXES:
                    continue
                try:
                    with Image.open(picture) as image:
                        image.verify()  # a picture, not just a name that ends in .png
                    content = picture.read_bytes()
                    key = (label, _digest(content))
                    if key in held:
                        skipped.append(f"{sub.name}/{picture.name}: {ALREADY}")
                        continue
                    write_bytes(self._new_path(label, picture.suffix.lower()), content)
                    held.add(key)
                    imported += 1
                except WriteError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a bad file is skipped, not fatal
                    skipped.append(f"{sub.name}/{picture.name}: {type(exc).__name__}")
        return imported, skipped

    def _held(self) -> set[tuple[int, str]]:
        """(class, digest) of every sample now kept; one that cannot be read is left out."""
        held = set()
        for sample in self.samples():
            try:
                held.add((sample.label, _digest(sample.path.read_bytes())))
            except OSError:
                continue
        return held

    def export_folder(self, folder: str | os.PathLike) -> int:
        """Copy every sample to ``<folder>/<class>/`` (what import_folder and Keras read)."""
        folder = Path(folder)
        count = 0
        for sample in self.samples():
            write_bytes(folder / self.folders[sample.label] / sample.path.name,
                        sample.path.read_bytes())
            count += 1
        return count

    # -- helpers
    def _new_path(self, label: int, suffix: str = ".png") -> Path:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = self.root / self.folders[label] / f"{stamp}{suffix}"
        n = 1
        while path.exists():
            path = path.with_name(f"{stamp}-{n}{suffix}")
            n += 1
        return path

    @staticmethod
    def _move(source: Path, target: Path) -> Path:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target = target.with_name(f"{target.stem}-moved{target.suffix}")
            os.replace(source, target)  # same file system: atomic
        except OSError as exc:
            raise WriteError(f"could not move {source.name}: {exc.strerror or exc}.") from None
        return target

    def empty_trash(self) -> None:
        shutil.rmtree(self.root / TRASH, ignore_errors=True)


@dataclass(frozen=True)
class TeachingHistory:
    """What a taught model's lineage says about the samples the user has now."""

    when: str                 # "taught 2026-12-03 17:40 UTC"
    nothing_new: bool         # the same samples per class, none added, moved or relabelled since
    original: Path | None     # the model it was taught from, if that file is still there
    original_name: str

    def describe(self, taught_name: str) -> str:
        return f"{self.original_name} (the original of {taught_name})"


def taught_before(lineage, samples: list[Sample]) -> TeachingHistory | None:
    """None for a model that was never taught; else whether ``samples`` hold anything it was not
    taught (a lineage is stored data: any field may be missing or of the wrong type)."""
    if not isinstance(lineage, dict):
        return None
    try:
        taught_at = _dt.datetime.fromisoformat(str(lineage.get("taught_at")))
    except ValueError:
        taught_at = None
    per_class: dict[str, int] = {}
    newest = 0.0
    for sample in samples:
        folder = sample.path.parent.name
        per_class[folder] = per_class.get(folder, 0) + 1
        try:
            info = sample.path.stat()
            newest = max(newest, info.st_mtime, info.st_ctime)  # ctime: moved or relabelled
        except OSError:
            continue
    stored = lineage.get("per_class")
    same_counts = isinstance(stored, dict) and per_class == {
        class_folder(str(name)): count for name, count in stored.items()}
    nothing_new = (same_counts and taught_at is not None
                   and newest <= taught_at.timestamp())
    original = lineage.get("base_model")
    original = Path(original) if isinstance(original, str) and original else None
    if original is not None and not original.is_file():
        original = None
    name = lineage.get("base_display_name")
    when = (f"taught {taught_at.astimezone().strftime('%Y-%m-%d %H:%M')}" if taught_at
            else "taught earlier")
    return TeachingHistory(when, nothing_new, original,
                           name if isinstance(name, str) and name else
                           (original.stem if original else "the original model"))


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
