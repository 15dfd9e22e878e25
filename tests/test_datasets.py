import gzip

import numpy as np
import pytest
from conftest import idx_bytes, write_idx_dataset

from training.core.datasets import (
    dataset_info,
    FASHION_CLASS_NAMES,
    DatasetError,
    load_dataset,
    normalize_name,
    read_idx,
)


def test_loads_from_explicit_folder_with_subfolders(tiny_data):
    ds = load_dataset("mnist", tiny_data, allow_download=False)
    assert ds.x_train.shape == (300, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.y_train.shape == (300,) and ds.y_test.shape == (100,)
    assert ds.class_names == tuple("0123456789")
    assert ds.source.endswith("mnist")


def test_test_only_reads_the_test_split_alone(tiny_data):
    full = load_dataset("mnist", tiny_data, allow_download=False)
    (tiny_data / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"not an IDX file")
    ds = load_dataset("mnist", tiny_data, allow_download=False, test_only=True)
    assert ds.x_train.shape == (0, 28, 28) and len(ds.y_train) == 0  # never read
    assert np.array_equal(ds.x_test, full.x_test) and np.array_equal(ds.y_test, full.y_test)


def test_fashion_has_the_lecture_class_names(tiny_data):
    ds = load_dataset("Fashion-MNIST", tiny_data, allow_download=False)
    assert ds.class_names == FASHION_CLASS_NAMES
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_environment_variable_and_flat_uncompressed_folder(isolated_cache, monkeypatch):
    flat = write_idx_dataset(isolated_cache / "flat", train=50, test=20, compress=False)
    monkeypatch.setenv("DRAW_CLASSIFY_DATA", str(flat))
    ds = load_dataset("mnist", allow_download=False)
    assert len(ds.x_train) == 50 and len(ds.x_test) == 20


def test_keras_cache_npz_is_used(isolated_cache):
    cache = isolated_cache / "keras-home" / "datasets"
    cache.mkdir(parents=True)
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(cache / "mnist.npz", x_train=x, y_train=np.arange(4), x_test=x[:2], y_test=np.arange(2))
    ds = load_dataset("mnist", allow_download=False)
    assert len(ds.x_train) == 4 and ds.source.endswith("mnist.npz")


def test_missing_dataset_names_every_place_tried(isolated_cache):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion_mnist", isolated_cache / "nowhere", allow_download=False)
    message = str(err.value)
    assert "nowhere" in message and "DRAW_CLASSIFY_DATA" in message and "keras-home" in message


def test_download_with_progress_into_the_keras_cache(isolated_cache, file_server, monkeypatch):
    www, url, _ = file_server
    write_idx_dataset(www, train=40, test=10, seed=3)
    monkeypatch.setenv("DRAW_CLASSIFY_DOWNLOAD_URL", url)
    events = []
    ds = load_dataset("fashion_mnist", isolated_cache / "nowhere", progress=events.append)
    assert len(ds.x_train) == 40 and len(ds.x_test) == 10
    cached = isolated_cache / "keras-home" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(p.name for p in www.iterdir())
    assert {e["file"] for e in events} == {p.name for p in www.iterdir()}
    last = events[-1]
    assert last["event"] == "download" and last["done"] == last["total"] > 0
    # Now cached: no second download.
    events.clear()
    load_dataset("fashion_mnist", isolated_cache / "nowhere", progress=events.append)
    assert events == []


def test_interrupted_download_leaves_no_partial_file(isolated_cache, file_server, monkeypatch):
    www, url, state = file_server
    write_idx_dataset(www, train=40, test=10)
    state["lie"] = True
    monkeypatch.setenv("DRAW_CLASSIFY_DOWNLOAD_URL", url)
    with pytest.raises(DatasetError, match="download"):
        load_dataset("fashion_mnist", isolated_cache / "nowhere")
    cached = isolated_cache / "keras-home" / "datasets" / "fashion-mnist"
    assert list(cached.iterdir()) == []


def test_offline_download_failure_is_a_clear_message(isolated_cache, monkeypatch):
    monkeypatch.setenv("DRAW_CLASSIFY_DOWNLOAD_URL", "http://127.0.0.1:9/")  # nothing listens
    with pytest.raises(DatasetError, match="could not download mnist.npz") as err:
        load_dataset("mnist", isolated_cache / "nowhere")
    assert "Traceback" not in str(err.value) and "DRAW_CLASSIFY_DATA" in str(err.value)


@pytest.mark.parametrize("damage, expected", [
    (lambda b: gzip.compress(b)[:-20], "cannot read or decompress"),     # truncated gzip
    (lambda b: b"\x1f\x8b" + b"garbage" * 10, "cannot read or decompress"),  # corrupt gzip
    (lambda b: gzip.compress(b"\x00\x00\x0d\x03" + b[4:]), "unsupported IDX type"),
    (lambda b: gzip.compress(b"PK\x03\x04" + b[4:]), "bad magic"),
    (lambda b: gzip.compress(b[:-100]), "truncated or corrupt"),
    (lambda b: b"", "bad magic"),
])
def test_damaged_image_file_raises_one_clear_error(tiny_data, damage, expected):
    path = tiny_data / "mnist" / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(damage(raw))
    with pytest.raises(DatasetError, match=expected) as err:
        load_dataset("mnist", tiny_data, allow_download=False)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


def test_label_out_of_range_and_count_mismatch(tiny_data):
    labels = tiny_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(np.full(100, 12, np.uint8))))
    with pytest.raises(DatasetError, match="outside 0..9"):
        load_dataset("mnist", tiny_data, allow_download=False)
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(99, np.uint8))))
    with pytest.raises(DatasetError, match="100 images but"):
        load_dataset("mnist", tiny_data, allow_download=False)


def test_wrong_image_size_is_refused(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((3, 32, 32), np.uint8)))
    assert read_idx(path).shape == (3, 32, 32)
    write_idx_dataset(tmp_path / "mnist", train=5, test=5)
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros((5, 32, 32), np.uint8))))
    with pytest.raises(DatasetError, match="expected 28x28"):
        load_dataset("mnist", tmp_path, allow_download=False)


def test_unknown_dataset_name():
    assert normalize_name("Fashion-MNIST") == "fashion_mnist"
    with pytest.raises(DatasetError, match="cifar10 is not MNIST or Fashion-MNIST"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown dataset"):
        dataset_info("cifar10")
