"""Classifiers of the user's own classes (issue #23): their names, their classes, where their
drawings and their model live. A classifier is a dataset of the user's making: it sits beside
MNIST and Fashion-MNIST wherever a dataset is chosen (``datasets.dataset_info`` finds it here).

    <home>/classifiers/<name>/classifier.json   {"name", "title", "class_names", "created_at"}
    <home>/classifiers/<name>/model.keras       the newest trained model (+ .tflite, .json)
    <home>/samples/<name>/<class>/*.png         its drawings (Keras's folder layout)
    <home>/deleted/<name>-<UTC time>/           a deleted classifier: both folders, as they were

Classes are kept in sorted order, the order Keras and ``train --dataset FOLDER`` give a folder's
classes, so a class has one number everywhere. The drawings' folder is the truth: a class folder
added or removed by hand is found by :func:`reconcile`, reported, and nothing is deleted.
The definition is stored data: read through a validator, written atomically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from training.core.atomic import WriteError, write_text
from training.core.paths import samples_dir, user_home

MIN_CLASSES, MAX_CLASSES = 2, 36    # up to the letters A-Z and the digits
MAX_CLASS_NAME = 40
BUILT_IN = ("mnist", "fashion_mnist")  # training.core.datasets.DATASETS' names (no import cycle)
BUILT_IN_TITLES = ("MNIST", "Fashion-MNIST")  # ... and their titles
FORMAT = "draw-classify-classifier/1"


class ClassifierError(ValueError):
    """A classifier cannot be made or read; the message is meant for the user."""


@dataclass(frozen=True)
class Classifier:
    name: str                       # lower case, letters, digits and "_": a dataset name
    title: str                      # as the user typed it
    class_names: tuple[str, ...]    # sorted

    @property
    def folder(self) -> Path:
        return classifiers_dir() / self.name

    @property
    def model_path(self) -> Path:
        return self.folder / "model.keras"

    @property
    def samples(self) -> Path:
        return samples_dir(self.name)


def drawing_count(classifier: Classifier) -> int:
    """How many drawings the classifier's classes hold."""
    return sum(1 for _ in classifier.samples.glob("*/*.png"))


def classifiers_dir() -> Path:
    return user_home() / "classifiers"


def slug(title: str) -> str:
    """``My Shapes`` -> ``my_shapes``; never a built-in dataset's name."""
    name = re.sub(r"[^a-z0-9]+", "_", title.strip().lower()).strip("_")[:60] or "classes"
    return f"{name}_classes" if name in BUILT_IN else name


def parse_class_names(text: str) -> tuple[str, ...]:
    """``"star, heart, house"`` or ``"A-Z"`` (a run of single letters or digits) -> the sorted
    class names; ClassifierError saying what is wrong."""
    names: list[str] = []
    for part in re.split(r"[,;\n]", text):
        part = part.strip()
        run = re.fullmatch(r"([A-Za-z0-9])\s*[-–]\s*([A-Za-z0-9])", part)
        if run and _same_kind(*run.groups()):
            first, last = sorted(map(ord, run.groups()))
            names += [chr(c) for c in range(first, last + 1)]
        elif part:
            names.append(part)
    for name in names:
        if len(name) > MAX_CLASS_NAME:
            raise ClassifierError(f"'{name[:20]}…' is too long for a class name (at most "
                                  f"{MAX_CLASS_NAME} characters).")
        if name.startswith(".") or any(c in name for c in "/\\:*?\"<>|"):
            raise ClassifierError(f"'{name}' cannot name a class: it would not be a plain "
                                  "folder name (no / \\ : * ? \" < > | and no leading dot).")
    lowered = [n.lower() for n in names]
    twice = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if twice:
        raise ClassifierError(f"{', '.join(twice)} is given twice; each class needs its own name.")
    if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
        raise ClassifierError(f"{len(names)} class name{'s' if len(names) != 1 else ''} given; "
                              f"a classifier has {MIN_CLASSES} to {MAX_CLASSES} classes, "
                              "separated by commas (e.g. star, heart, house; or A-Z).")
    return tuple(sorted(names))


def _same_kind(a: str, b: str) -> bool:
    return (a.isdigit() and b.isdigit()) or (a.isupper() and b.isupper()) or (
        a.islower() and b.islower())


def create(title: str, class_names: tuple[str, ...] | str) -> Classifier:
    """A new classifier: its definition and an empty folder per class for its drawings."""
    if isinstance(class_names, str):
        class_names = parse_class_names(class_names)
    if not title.strip():
        raise ClassifierError("Give the classifier a name.")
    classifier = Classifier(slug(title), title.strip()[:80], tuple(sorted(class_names)))
    if (classifier.folder / "classifier.json").exists():
        raise ClassifierError(f"A classifier named '{classifier.name}' exists already; open it "
                              "from the dataset list, or choose another name.")
    save(classifier)
    for name in classifier.class_names:
        _make_folder(classifier.samples / name)
    return classifier


def save(classifier: Classifier) -> None:
    import datetime as _dt  # here: the window's first frame imports this module

    record = {"format": FORMAT, "name": classifier.name, "title": classifier.title,
              "class_names": list(classifier.class_names),
              "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    write_text(classifier.folder / "classifier.json", json.dumps(record, indent=1))


def model_name(title: str, classes: int, drawings) -> str:
    """How a classifier's trained model is named: the trainer writes it in the sidecar, and the
    window makes it again from the current title (a renamed classifier's model follows)."""
    return f"{title} · {classes} classes, {drawings} drawings"


def rename(classifier: Classifier, title: str) -> Classifier:
    """The classifier with a new title (what the dataset list and its model show). Its name,
    the folders' name, stays: nothing moves, its model and drawings stay where they are."""
    title = title.strip()[:80]
    if not title:
        raise ClassifierError("Give the classifier a name: an empty one cannot be shown in the "
                              "dataset list.")
    taken = [c.title for c in all_classifiers() if c.name != classifier.name]
    if title.casefold() in {t.casefold() for t in (*taken, *BUILT_IN_TITLES)}:
        raise ClassifierError(f"'{title}' is already in the dataset list; choose another name.")
    renamed = Classifier(classifier.name, title, load(classifier.name).class_names)
    save(renamed)
    return renamed


def delete(classifier: Classifier) -> Path:
    """Move the classifier's folder and its drawings' folder into
    ``<home>/deleted/<name>-<UTC time>/classifiers/<name>`` and ``.../samples/<name>`` (the
    home's own layout: moving them back restores it) and return that folder. Nothing is
    removed for good. A folder that cannot be moved raises WriteError, with everything put
    back where it was."""
    import datetime as _dt

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = user_home() / "deleted" / f"{classifier.name}-{stamp}"
    for n in range(2, 100):    # two deletions in one second (a classifier made again)
        if not target.exists():
            break
        target = target.with_name(f"{classifier.name}-{stamp}-{n}")
    moves = [(source, target / source.parent.name / source.name)
             for source in (classifier.folder, classifier.samples) if source.exists()]
    deleted_existed = target.parent.exists()   # <home>/deleted, to leave as it was
    done: list[tuple[Path, Path]] = []
    for source, destination in moves:
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            # A rename, not a copy: one step that either happens or not (shutil.move would
            # copy across drives and could stop half way).
            source.rename(destination)
        except OSError as exc:
            for moved, where in reversed(done):   # put back what had moved
                where.rename(moved)
            _remove_empty(target if deleted_existed else target.parent)
            raise WriteError(f"{classifier.title} cannot be deleted: {source} cannot be moved "
                             f"to {target} ({exc.strerror or exc}). Nothing was changed.") from None
        done.append((source, destination))
    return target


def _remove_empty(folder: Path) -> None:
    """Remove ``folder`` and the empty folders in it (what a failed delete made)."""
    if folder.is_dir():
        for inner in folder.iterdir():
            if inner.is_dir():
                _remove_empty(inner)
        try:
            folder.rmdir()
        except OSError:
            pass   # not empty: something was left there; keep it


def find(name: str) -> Classifier | None:
    """The classifier of that name, or None when there is none or its definition is unusable."""
    try:
        return load(name)
    except ClassifierError:
        return None


def load(name: str) -> Classifier:
    path = classifiers_dir() / name / "classifier.json"
    if not re.fullmatch(r"[a-z0-9_]{1,64}", name or "") or name in BUILT_IN:
        raise ClassifierError(f"'{name}' is not a classifier's name.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClassifierError(f"there is no classifier named '{name}'.") from None
    except (OSError, ValueError) as exc:
        raise ClassifierError(f"{path} cannot be read ({exc}).") from None
    names = record.get("class_names") if isinstance(record, dict) else None
    title = record.get("title") if isinstance(record, dict) else None
    if (not isinstance(names, list) or not all(isinstance(n, str) and n for n in names)
            or not MIN_CLASSES <= len(set(names)) == len(names) <= MAX_CLASSES):
        raise ClassifierError(f"{path} does not list 2 to {MAX_CLASSES} classes.")
    return Classifier(name, title if isinstance(title, str) and title else name,
                      tuple(sorted(names)))


def all_classifiers() -> list[Classifier]:
    """Every usable classifier, by name (an unreadable definition is left out)."""
    folder = classifiers_dir()
    if not folder.is_dir():
        return []
    found = (find(p.name) for p in sorted(folder.iterdir()) if p.is_dir())
    return [c for c in found if c is not None]


def reconcile(classifier: Classifier) -> tuple[Classifier, list[str]]:
    """The classifier as its drawings' folder has it now, and what changed: a class folder
    made by hand is a new class; a class whose folder was removed stays, with a new empty
    folder (its drawings are gone, its name is not). Nothing is deleted."""
    on_disk = set()
    if classifier.samples.is_dir():
        on_disk = {p.name for p in classifier.samples.iterdir()
                   if p.is_dir() and not p.name.startswith(".")}
    added = sorted(on_disk - set(classifier.class_names))
    missing = sorted(set(classifier.class_names) - on_disk)
    changes = []
    if added:
        room = MAX_CLASSES - len(classifier.class_names)
        if len(added) > room:
            changes.append(f"{len(added) - room} folder(s) beyond {MAX_CLASSES} classes were "
                           f"left out: {', '.join(added[room:])}")
            added = added[:room]
        if added:
            changes.append(f"new class folder(s) found: {', '.join(added)}")
            classifier = Classifier(classifier.name, classifier.title,
                                    tuple(sorted(classifier.class_names + tuple(added))))
            save(classifier)
    for name in missing:
        _make_folder(classifier.samples / name)
    if missing:
        changes.append(f"the folder of {', '.join(missing)} was missing; an empty one was made")
    return classifier, changes


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot make the folder {path}: {exc.strerror or exc}") from None
