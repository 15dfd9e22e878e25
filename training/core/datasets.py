"""Load MNIST and Fashion-MNIST as uint8 arrays.

Sources, in order:
  1. an explicit ``data_dir`` (or the ``DRAW_CLASSIFY_DATA`` environment variable): a folder holding
     ``mnist/`` and ``fashion-mnist/`` sub-folders of the standard IDX files, or the files directly;
  2. the Keras cache (``~/.keras/datasets`` or ``$KERAS_HOME/datasets``);
  3. a download from Keras's dataset storage (the same files and cache folder Keras's own
     ``load_data()`` uses), with a progress callback so the GUI can show it.

The IDX files are parsed here with numpy and validated, so a truncated or corrupt file gives one clear
:class:`DatasetError` naming the file, never a bare gzip/numpy traceback. No TensorFlow import here
unless the download fallback is reached, and numpy only where arrays are read: the window's
first frame needs the datasets' names (``DATASETS``), not numpy.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from training.core.atomic import atomic_path, remove_stale_temps
from training.core.classifiers import find

if TYPE_CHECKING:
    import numpy as np

DATA_ENV_VAR = "DRAW_CLASSIFY_DATA"
# Where keras.datasets downloads from; overridable for mirrors (and for the tests' local server).
DOWNLOAD_ENV_VAR = "DRAW_CLASSIFY_DOWNLOAD_URL"
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DOWNLOAD_TIMEOUT = 30  # seconds without an answer before a download is given up
IMAGE_SIDE = 28
NUM_CLASSES = 10

MNIST_CLASS_NAMES = tuple(str(d) for d in range(10))
FASHION_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# The official file names; ``.gz`` or uncompressed both accepted.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

IDX_UBYTE = 0x08


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    class_names: tuple[str, ...]
    folder_names: tuple[str, ...]  # sub-folders of a data folder that may hold the files


DATASETS = {
    "mnist": DatasetInfo("mnist", "MNIST", MNIST_CLASS_NAMES, ("mnist",)),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST", FASHION_CLASS_NAMES,
        ("fashion-mnist", "fashion_mnist", "fashion"),
    ),
}


OFFICIAL_TRAINING_PICTURES = 60_000  # both datasets' official training sets (estimates only)


class DatasetError(Exception):
    """The dataset could not be found or read; the message says where we looked and what to do."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # (n, 28, 28) uint8
    y_train: np.ndarray  # (n,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str = ""  # where it was read from, for messages
    info: DatasetInfo = field(init=False, repr=False)

    def __post_init__(self):
        self.info = DATASETS[self.name]


def dataset_info(name: str) -> DatasetInfo:
    """MNIST, Fashion-MNIST, or a classifier of the user's own classes (training.core.classifiers)."""
    key = normalize_name(name)
    if key in DATASETS:
        return DATASETS[key]
    classifier = find(key) if is_classifier_name(key) else None
    if classifier is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)} "
                         "or a classifier of your own")
    return DatasetInfo(classifier.name, classifier.title, classifier.class_names, ())


def dataset_title(name: str) -> str:
    """What people read: "MNIST", "Fashion-MNIST", a classifier's own title; else the name."""
    try:
        return dataset_info(name).title
    except ValueError:
        return str(name)


def all_datasets() -> list[DatasetInfo]:
    """The built-in datasets, then the user's classifiers by name (for the dataset list)."""
    from training.core.classifiers import all_classifiers

    return list(DATASETS.values()) + [
        DatasetInfo(c.name, c.title, c.class_names, ()) for c in all_classifiers()]


def known_dataset(name) -> bool:
    """A built-in dataset's name, or a classifier's that exists."""
    try:
        return isinstance(name, str) and bool(dataset_info(name))
    except ValueError:
        return False


def is_classifier_name(name) -> bool:
    """A name a classifier of the user's own classes may have (``shapes``, ``my_letters``):
    lower-case letters, digits and "_", not a built-in dataset's."""
    return (isinstance(name, str) and re.fullmatch(r"[a-z0-9_]{1,64}", name) is not None
            and name not in DATASETS)


def normalize_name(name: str) -> str:
    """'Fashion-MNIST', 'fashion-mnist' and 'fashion_mnist' all name the same dataset."""
    return name.strip().lower().replace("-", "_")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None,
                 allow_download: bool = True, progress=None, test_only: bool = False) -> Dataset:
    """Return the train and test splits of ``name`` ("mnist" or "fashion_mnist").

    ``progress``, if given, receives ``{"event": "download", "file", "done", "total"}`` dicts
    while files are downloaded (``total`` is 0 when the server does not say). ``test_only``
    reads the test split alone (the training arrays are then empty): a sixth of the work, for
    the window, which only ever shows test pictures.
    """
    import numpy as np

    if normalize_name(name) not in DATASETS:  # a classifier of the user's own, or a typo
        raise DatasetError(f"{name} is not MNIST or Fashion-MNIST: a classifier of your own "
                           "classes has no official training and test sets (it is trained "
                           "and measured on its drawings: train --dataset FOLDER).")
    info = dataset_info(name)
    tried: list[str] = []

    for folder in _candidate_folders(info, data_dir):
        files = _find_idx_files(folder)
        if files is None:
            tried.append(str(folder))
            continue
        arrays = {split: _read_split(*files[split]) if split == "test" or not test_only
                  else (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
                  for split in SPLIT_FILES}
        return _make_dataset(info, arrays, source=str(folder), test_only=test_only)

    cached = _keras_cache_dir() / "mnist.npz"
    if info.name == "mnist" and cached.is_file():
        return _make_dataset(info, _read_mnist_npz(cached), source=str(cached))
    tried.append(str(cached) if info.name == "mnist" else str(_keras_cache_dir() / "fashion-mnist"))

    if allow_download:
        try:
            path = download_to_keras_cache(info, progress)
        except DatasetError as exc:
            tried.append(f"download: {exc}")
        else:
            return load_dataset(info.name, path if path.is_dir() else None,
                                allow_download=False)
    raise DatasetError(_not_found_message(info, tried))


def _candidate_folders(info: DatasetInfo, data_dir) -> list[Path]:
    roots = [Path(p).expanduser() for p in (data_dir, os.environ.get(DATA_ENV_VAR)) if p]
    roots.append(_keras_cache_dir())
    folders: list[Path] = []
    for root in roots:
        folders += [root / sub for sub in info.folder_names]
        if root != _keras_cache_dir():
            folders.append(root)  # the four files directly in the given folder
    return list(dict.fromkeys(folders))  # drop repeats, keep order


def _keras_cache_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "datasets"


def _find_idx_files(folder: Path) -> dict[str, tuple[Path, Path]] | None:
    """The four IDX files in ``folder`` (gzipped or not), or None if any is missing."""
    if not folder.is_dir():
        return None
    found = {}
    for split, stems in SPLIT_FILES.items():
        paths = []
        for stem in stems:
            path = next((folder / (stem + ext) for ext in (".gz", "")
                         if (folder / (stem + ext)).is_file()), None)
            if path is None:
                return None
            paths.append(path)
        found[split] = tuple(paths)
    return found


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one IDX file of unsigned bytes (gzipped or plain) into an array, validating the header."""
    import numpy as np

    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            import gzip  # here: the window's first frame imports this module

            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read or decompress ({exc}). "
                           "The file is damaged; download it again.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'}).")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != IDX_UBYTE or ndim not in (1, 3):
        raise DatasetError(f"{path}: unsupported IDX type 0x{dtype_code:02x} with {ndim} dimensions; "
                           "expected unsigned bytes with 1 (labels) or 3 (images) dimensions.")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetError(f"{path}: truncated IDX header.")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    body = len(raw) - header_len
    if body != expected:
        raise DatasetError(f"{path}: header announces {dims} ({expected} bytes) but the file holds "
                           f"{body} bytes; it is truncated or corrupt.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DatasetError(f"{images_path}: expected 28x28 images, found shape {images.shape}.")
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path}: expected a 1-D label file, found shape {labels.shape}.")
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} has {len(images)} images but {labels_path} has "
                           f"{len(labels)} labels.")
    if len(labels) and labels.max() >= NUM_CLASSES:
        raise DatasetError(f"{labels_path}: label {int(labels.max())} is outside 0..9.")
    return images, labels


def _read_mnist_npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {"train": (f["x_train"], f["y_train"]), "test": (f["x_test"], f["y_test"])}
    except Exception as exc:
        raise DatasetError(f"{path}: cannot read the Keras MNIST cache ({exc}). "
                           "Delete it so it is downloaded again.") from None
    return arrays


def download_to_keras_cache(info: DatasetInfo, progress=None) -> Path:
    """Download the dataset where Keras keeps it (``mnist.npz``; ``fashion-mnist/*.gz``).

    Each file is written through training.core.atomic (a temporary name, renamed when complete), so
    an interrupted download never leaves a half-written file behind.
    """
    import http.client
    import urllib.error
    import urllib.request

    cache = _keras_cache_dir()
    base = os.environ.get(DOWNLOAD_ENV_VAR) or KERAS_ORIGIN
    if info.name == "mnist":
        files, folder = ["mnist.npz"], cache
    else:
        files = [stem + ".gz" for pair in SPLIT_FILES.values() for stem in pair]
        folder = cache / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        target = folder / name
        if target.is_file():
            continue
        remove_stale_temps(target)  # what an earlier download killed mid-file left
        try:
            # training.core.atomic: a temporary file, fsynced and renamed only when complete.
            with urllib.request.urlopen(base.rstrip("/") + "/" + name,
                                        timeout=DOWNLOAD_TIMEOUT) as response, \
                    atomic_path(target) as partial, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while block := response.read(1 << 16):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress({"event": "download", "file": name, "done": done,
                                  "total": total})
                out.flush()
                if total and done != total:
                    raise DatasetError(f"{name}: the download stopped after {done} of "
                                       f"{total} bytes")
        except DatasetError:
            raise
        except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DatasetError(f"could not download {name} from {base} ({reason})") from None
    return target if info.name == "mnist" else folder


def _make_dataset(info: DatasetInfo, arrays, source: str, test_only: bool = False) -> Dataset:
    import numpy as np

    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    for split, images in (("training", x_train), ("test", x_test)):
        if test_only and split == "training":
            continue
        if len(images) == 0:  # a model cannot be trained or scored on nothing: say so now
            raise DatasetError(f"The {split} set of {info.title} in {source} holds no images; "
                               "put the full IDX files there (60,000 training and 10,000 test "
                               "images).")
    return Dataset(info.name, np.asarray(x_train, np.uint8), np.asarray(y_train, np.uint8),
                   np.asarray(x_test, np.uint8), np.asarray(y_test, np.uint8),
                   info.class_names, source=source)


def _not_found_message(info: DatasetInfo, tried: list[str]) -> str:
    lines = "\n".join(f"  - {t}" for t in tried)
    sub = info.folder_names[0]
    return (
        f"{info.title} was not found. Looked in:\n{lines}\n"
        f"To fix it, point {DATA_ENV_VAR} (or --data-dir / the data-folder setting) at a folder "
        f"containing '{sub}/' with the four IDX files (train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), "
        "or connect to the internet so Keras can download it."
    )
