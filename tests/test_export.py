"""LiteRT export and runtime (issue #8): the .tflite computes what Keras computes in float32,
bad files give clear errors, exports are atomic, and the runtime never loads TensorFlow."""

import json
import subprocess
import sys

import numpy as np
import pytest

from training.core.atomic import WriteError
from training.learn.export import export_tflite, float32_version
from training.learn.saving import load_model
from training.modelfile.sidecar import (
    SHIPPED_MODELS,
    ModelLoadError,
    shipped_model_path,
    tflite_path,
)
from training.runtime.lite import LiteModel

SHIPPED_TFLITE = {name: tflite_path(shipped_model_path(name)) for name in SHIPPED_MODELS}


def keras_float32(model, images01: np.ndarray) -> np.ndarray:
    """What the exported file must reproduce: the model run with every layer in float32."""
    return np.asarray(float32_version(model)(images01[..., None], training=False))


def test_tflite_path_is_beside_the_keras_file(tmp_path):
    assert tflite_path(tmp_path / "my.model.keras") == tmp_path / "my.model.tflite"
    assert SHIPPED_TFLITE["mnist"].name == "mnist.tflite"


@pytest.mark.slow
@pytest.mark.parametrize("architecture, precision",
                         [("lecture_dense", "float32"), ("compact_cnn", "bfloat16"),
                          ("vgg_cnn", "bfloat16")])
def test_export_matches_keras_in_float32(tmp_path, architecture, precision):
    import keras

    from training.learn.models import build_model

    keras.utils.set_random_seed(3)
    model = build_model(architecture, precision=precision)
    path = export_tflite(model, tmp_path / "m.tflite")
    assert path == tmp_path / "m.tflite" and not list(tmp_path.glob("*partial*"))

    lite = LiteModel(path)
    pictures = np.random.default_rng(0).random((300, 28, 28), dtype=np.float32)
    expected = keras_float32(model, pictures)
    batch = lite.predict_batch(pictures)  # one full chunk of 256, then 44 one at a time
    assert batch.shape == (300, 10) and batch.dtype == np.float32
    assert np.abs(batch - expected).max() <= 1e-4
    assert (batch.argmax(1) == expected.argmax(1)).all()
    singles = np.stack([lite.predict(p) for p in pictures[:20]])
    assert np.abs(singles - expected[:20]).max() <= 1e-4
    uint8 = (pictures * 255).astype(np.uint8)
    from_uint8 = keras_float32(model, uint8 / np.float32(255))
    assert np.abs(lite.predict_batch(uint8) - from_uint8).max() <= 1e-4


def test_a_few_pictures_are_not_padded_to_a_full_chunk():
    """The number reader asks for a few candidates at a time: they run one by one on the live
    interpreter (0.26 ms each with the shipped model), not padded into a chunk of 256 (68 ms)."""
    lite = LiteModel(SHIPPED_TFLITE["mnist"])
    pictures = np.random.default_rng(5).random((3, 28, 28), dtype=np.float32)
    batch = lite.predict_batch(pictures)
    assert lite._model._batch is None  # the 256-picture interpreter was never made
    singles = np.stack([lite.predict(picture) for picture in pictures])
    assert np.abs(batch - singles).max() <= 1e-6


@pytest.mark.slow
def test_fixed_batch_model_ending_in_logits(tmp_path):
    """A .tflite made elsewhere: batch fixed at 1, (28, 28) input, logits out."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    model.export(str(tmp_path / "logits.tflite"), format="litert", verbose=False,
                 input_signature=[tf.TensorSpec((1, 28, 28), tf.float32)])
    pictures = np.random.default_rng(1).random((7, 28, 28), dtype=np.float32)
    expected = np.asarray(keras.activations.softmax(model(pictures)))
    lite = LiteModel(tmp_path / "logits.tflite")
    assert np.abs(lite.predict_batch(pictures) - expected).max() <= 1e-5
    assert np.abs(lite.predict(pictures[0]) - expected[0]).max() <= 1e-5


def test_bad_files_raise_model_load_error(tmp_path):
    good = SHIPPED_TFLITE["mnist"].read_bytes()
    cases = {
        "missing.tflite": (None, "no such file"),
        "empty.tflite": (b"", "empty"),
        "text.tflite": (b"hello, I am not a model\n" * 10, "not a LiteRT"),
        "renamed.tflite": (shipped_model_path("mnist").read_bytes(), "Keras archive"),
        "truncated.tflite": (good[:len(good) // 3], "not a usable LiteRT model"),
    }
    for name, (content, message) in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelLoadError, match=message) as caught:
            LiteModel(tmp_path / name)
        assert name in str(caught.value)
    with pytest.raises(ModelLoadError, match="folder"):
        LiteModel(tmp_path)


@pytest.mark.slow
def test_export_into_a_file_posing_as_a_folder_fails_cleanly(tmp_path):
    from training.learn.models import build_model

    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(WriteError):
        export_tflite(build_model("lecture_dense"), tmp_path / "blocker" / "m.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


@pytest.mark.slow
@pytest.mark.parametrize("fails", ["converting", "writing"])
def test_failed_export_keeps_the_previous_file(tmp_path, monkeypatch, fails):
    import keras

    from training.core import atomic
    from training.learn import export
    from training.learn.models import build_model

    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous")
    if fails == "converting":  # both ways: the frozen function's and Keras's own export

        def no_fast_path(*args):
            raise TypeError("this TensorFlow converts no frozen functions")

        def half_written_then_fails(self, filepath, **kwargs):
            open(filepath, "wb").write(b"half")
            raise RuntimeError("converter crashed")

        monkeypatch.setattr(export, "_frozen_and_converted", no_fast_path)
        monkeypatch.setattr(keras.Model, "export", half_written_then_fails)
        expected = "converter crashed"
    else:  # the disk turns out full when the written file is flushed

        def full_disk(fd):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(atomic.os, "fsync", full_disk)
        expected = "the disk is full"
    with pytest.raises(Exception, match=expected):
        export_tflite(build_model("lecture_dense"), target)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


@pytest.mark.slow
def test_without_the_frozen_way_keras_exports_the_same_model(tmp_path, monkeypatch):
    """A TensorFlow that cannot convert a frozen function still exports, through Keras."""
    import keras

    from training.learn import export
    from training.learn.models import build_model

    keras.utils.set_random_seed(4)
    model = build_model("lecture_dense")
    fast = LiteModel(export_tflite(model, tmp_path / "fast.tflite"))

    def no_fast_path(*args):
        raise TypeError("this TensorFlow converts no frozen functions")

    monkeypatch.setattr(export, "_frozen_and_converted", no_fast_path)
    slow = LiteModel(export_tflite(model, tmp_path / "keras.tflite"))
    pictures = np.random.default_rng(1).random((50, 28, 28), dtype=np.float32)
    expected = keras_float32(model, pictures)
    for lite in (fast, slow):
        assert np.abs(lite.predict_batch(pictures) - expected).max() <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.tflite", "keras.tflite"]


def test_runtime_never_imports_tensorflow_or_keras():
    """The window's process: import, load both shipped models, predict, and still no TF."""
    code = f"""
import json, sys
import numpy as np
import training.learn.export, training.runtime.lite
from training.runtime.lite import LiteModel
paths = {json.dumps([str(p) for p in SHIPPED_TFLITE.values()])}
for path in paths:
    model = LiteModel(path)
    model.predict(np.zeros((28, 28), np.float32))
    model.predict_batch(np.zeros((300, 28, 28), np.uint8))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_tflite_matches_its_keras_model(shared_data, name):
    from training.core.datasets import load_dataset

    images = load_dataset(name, shared_data, allow_download=False).x_test[:1000]
    model = load_model(name).model
    lite = LiteModel(SHIPPED_TFLITE[name]).predict_batch(images)
    float32 = keras_float32(model, images / np.float32(255))
    mixed = np.asarray(model(images[..., None] / np.float32(255), training=False))
    assert np.abs(lite - float32).max() <= 1e-4
    assert (lite.argmax(1) == mixed.argmax(1)).mean() >= 0.999


@pytest.mark.slow
def test_named_outputs_keep_their_names_without_keras_export(tmp_path, monkeypatch):
    """The answer check's features model (a dict of outputs) is converted the frozen way and
    read by its signature's names, as a Keras export would be; Keras's export is not used."""
    import keras

    from training.learn.models import build_model
    from training.learn.ood_fit import feature_model
    from training.runtime.lite import LiteRunner

    def no_keras_export(self, *args, **kwargs):
        raise AssertionError("Keras's export was used")

    monkeypatch.setattr(keras.Model, "export", no_keras_export)
    keras.utils.set_random_seed(5)
    features, _ = feature_model(build_model("compact_cnn"))
    path = export_tflite(features, tmp_path / "f.tflite")
    runner = LiteRunner(path, 1, "features model", by_signature=True)
    pictures = np.random.default_rng(2).random((7, 28, 28, 1), dtype=np.float32)
    expected = {name: np.asarray(value) for name, value in features(pictures).items()}
    got = dict(zip((out.name for out in runner.outputs), runner.run(pictures)))
    assert sorted(got) == sorted(expected) == ["early", "flat", "penult"]
    for name, value in expected.items():
        assert np.abs(got[name] - value).max() <= 1e-4, name
