import json
import threading
import zipfile

import numpy as np
import pytest

from training.modelfile.sidecar import ModelLoadError, read_metadata, sidecar_path
from training.protocol.config import ARCHITECTURES

pytestmark = pytest.mark.slow  # every test here loads Keras


@pytest.fixture(scope="module", autouse=True)
def keras_parts():
    """Keras is imported when the first test runs, not when the module is collected."""
    global keras, build_model, Predictor, load_model, save_model
    import keras

    from training.learn.models import build_model
    from training.learn.predictor import Predictor
    from training.learn.saving import load_model, save_model


@pytest.fixture(scope="module")
def model(keras_parts):
    return build_model("compact_cnn")


@pytest.fixture
def pictures():
    return np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)


def test_lecture_models_have_the_lectures_parameter_counts():
    assert build_model("lecture_dense").count_params() == 101_770
    assert build_model("lecture_cnn").count_params() == 65_994
    for name in ARCHITECTURES:
        built = build_model(name, dropout=0.1)
        assert built.input_shape == (None, 28, 28, 1) and built.output_shape == (None, 10)


def test_save_load_round_trip_keeps_predictions_and_metadata(tmp_path, model, pictures):
    path = save_model(model, tmp_path / "sub" / "digits.keras",
                      {"dataset": "mnist", "test_accuracy": np.float32(0.9), "history": {"loss": [1.0]}})
    loaded = load_model(path)
    expected = model.predict_on_batch(pictures[..., None])
    np.testing.assert_allclose(loaded.model.predict_on_batch(pictures[..., None]), expected,
                               atol=1e-6)
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["dataset"] == "mnist" and meta["test_accuracy"] == pytest.approx(0.9)
    assert meta["keras_version"] == keras.__version__ and meta["parameters"] == model.count_params()
    assert loaded.metadata["history"] == {"loss": [1.0]} and loaded.dataset == "mnist"
    assert [p.name for p in path.parent.iterdir()] and not list(path.parent.glob("*.partial*"))


def test_interrupted_save_leaves_the_previous_model_intact(tmp_path, model, pictures):
    path = save_model(model, tmp_path / "m.keras", {"dataset": "mnist"})
    before = path.read_bytes()

    class CrashingModel:
        def save(self, filepath):
            with open(filepath, "wb") as f:
                f.write(b"PK\x03\x04 half a zip")
            raise KeyboardInterrupt  # the user pulled the plug mid-write

        def count_params(self):
            return 0

    with pytest.raises(KeyboardInterrupt):
        save_model(CrashingModel(), path, {"dataset": "fashion_mnist"})
    assert path.read_bytes() == before
    assert read_metadata(path)["dataset"] == "mnist"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.keras", "m.tflite"]


def test_stale_sidecar_is_ignored(tmp_path, model):
    path = save_model(model, tmp_path / "m.keras", {"dataset": "mnist"})
    other = save_model(build_model("lecture_dense"), tmp_path / "other.keras", {})
    path.write_bytes(other.read_bytes())  # replaced by hand; the sidecar no longer describes it
    assert read_metadata(path) == {}


def test_safe_mode_refuses_lambda_layers(tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelLoadError, match="refused"):
        load_model(path)


def test_wrong_shapes_are_refused(tmp_path):
    cifar = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    cifar.save(tmp_path / "cifar.keras")
    with pytest.raises(ModelLoadError, match="expects input"):
        load_model(tmp_path / "cifar.keras")
    many = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(100)])
    many.save(tmp_path / "many.keras")
    with pytest.raises(ModelLoadError, match="2 to 36 class scores"):
        load_model(tmp_path / "many.keras")
    # two classes are a classifier of the user's own, but only with their names beside it
    binary = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(2)])
    binary.save(tmp_path / "binary.keras")
    with pytest.raises(ModelLoadError, match="gives 2 class scores but .* names no classes"):
        load_model(tmp_path / "binary.keras")


def test_bad_files_give_clear_errors(tmp_path):
    (tmp_path / "empty.keras").write_bytes(b"")
    (tmp_path / "text.keras").write_text("hello")
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF\r\n")
    with zipfile.ZipFile(tmp_path / "zip.keras", "w") as z:
        z.writestr("readme.txt", "a zip but not a model")
    (tmp_path / "dir.keras").mkdir()
    for name, words in (("empty.keras", "empty"), ("text.keras", "not a Keras model"),
                        ("weights.h5", "not a .keras"), ("zip.keras", "cannot load"),
                        ("dir.keras", "folder"), ("missing.keras", "no such file")):
        with pytest.raises(ModelLoadError, match=words):
            load_model(tmp_path / name)


def test_predictor_matches_the_model_and_sums_to_one(model, pictures):
    predictor = Predictor(model)
    for picture in pictures:
        probabilities = predictor.predict(picture)
        assert probabilities.shape == (10,) and probabilities.sum() == pytest.approx(1, abs=1e-5)
        np.testing.assert_allclose(probabilities, model.predict_on_batch(picture[None, ..., None])[0],
                                   atol=1e-5)


def test_predictor_accepts_models_without_channel_axis_or_softmax():
    logits = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                               keras.layers.Dense(10)])
    probabilities = Predictor(logits).predict(np.ones((28, 28), np.float32))
    assert probabilities.min() >= 0 and probabilities.sum() == pytest.approx(1, abs=1e-5)


def test_lite_model_is_safe_from_several_threads(tmp_path, model):
    """LiteRT keeps input and output in shared buffers: without LiteModel's lock, concurrent
    callers get another's answer or LiteRT's "reference to internal data" error."""
    import sys

    from training.runtime.lite import LiteModel

    path = save_model(model, tmp_path / "m.keras", {"dataset": "mnist"})
    lite = LiteModel(path.with_suffix(".tflite"))
    pictures = np.random.default_rng(2).random((8, 28, 28)).astype(np.float32)
    expected = [lite.predict(p) for p in pictures]
    wrong = []

    def work(offset):
        for i in range(1000):
            k = (i + offset) % len(pictures)
            try:
                if not np.allclose(lite.predict(pictures[k]), expected[k], atol=1e-6):
                    wrong.append(k)
            except RuntimeError as exc:  # LiteRT refuses to run while a buffer is in use
                wrong.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []


def test_predictor_runs_mixed_precision_models_in_float32():
    mixed = build_model("compact_cnn", precision="bfloat16")
    picture = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    reference = build_model("compact_cnn")
    reference.set_weights(mixed.get_weights())
    expected = reference.predict_on_batch(picture[None, ..., None])[0]
    np.testing.assert_allclose(Predictor(mixed).predict(picture), expected, atol=1e-5)
