"""What each layer sees (dock layersView) and Models side by side (dock compareView), issue #10:
real LiteRT inference off the GUI thread, only while a dock is shown, never TensorFlow in the
window's process."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, TIMEOUT, line, open_window, stroke, wait_label
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

from desktop_app.jobs.threads import running_threads
from desktop_app.prediction.model_choices import lecture_model_path
from training.modelfile.sidecar import (
    layers_tflite_path,
    read_metadata_checked,
    shipped_model_path,
    tflite_path,
)
from training.runtime.activations import LayerModel
from training.runtime.calibration import apply_temperature
from training.runtime.lite import LiteModel

DATASETS = ("mnist", "fashion_mnist")
SHIPPED = [shipped_model_path(d) for d in DATASETS] + [
    lecture_model_path(a, d) for a in ("lecture_dense", "lecture_cnn") for d in DATASETS]


def draw_one(qtbot, canvas, x=196):
    stroke(qtbot, canvas, line((x, 60), (x - 6, 330)))


def show(window, name):
    dock = window.findChild(QDockWidget, name)
    window.show_dock(dock)
    return dock


def layer_panels(window):
    return [p for p in window.layers_view.panels if p.isVisible()]


def panels_filled(window, count):
    panels = layer_panels(window)
    return len(panels) == count and all(p.data.get("peak", 0) > 0 for p in panels)


def test_shipped_every_layer_models_end_in_the_models_probabilities():
    """Each shipped model (ours and the lecture's two, both datasets) has its every-layer twin,
    whose last output is the probabilities of the model's own .tflite (<= 1e-4)."""
    rng = np.random.default_rng(0)
    pictures = [np.zeros((28, 28), np.float32)]
    for _ in range(20):  # random strokes: thick lines between random points
        picture = np.zeros((28, 28), np.float32)
        for _ in range(3):
            (r0, c0), (r1, c1) = rng.integers(4, 24, (2, 2))
            for t in np.linspace(0, 1, 30):
                r, c = round(r0 + (r1 - r0) * t), round(c0 + (c1 - c0) * t)
                picture[r - 1:r + 2, c - 1:c + 2] = 1.0
        pictures.append(picture)
    for keras_path in SHIPPED:
        layers = LayerModel(layers_tflite_path(keras_path))
        model = LiteModel(tflite_path(keras_path))
        assert len(layers.layers) >= 3 and layers.layers[-1].shape == (10,)
        for picture in pictures:
            outputs = layers.run(picture)
            assert [o.shape for o in outputs] == [layer.shape for layer in layers.layers]
            assert np.abs(outputs[-1] - model.predict(picture)).max() <= 1e-4, keras_path.name


@pytest.mark.slow
def test_export_layers_cli_matches_keras(tmp_path):
    """`python -m training.learn.export MODEL --layers` (what the window's converter runs) writes a
    model whose outputs are every layer's, the last one equal to Keras's answer."""
    import keras

    from training.learn.models import build_model
    from training.learn.saving import save_model

    model = build_model("compact_cnn", dropout=0.2)
    path = save_model(model, tmp_path / "small.keras", {"dataset": "mnist"}, with_tflite=False)
    out = tmp_path / "small.layers.tflite"
    done = subprocess.run([sys.executable, "-m", "training", "convert", "--model", str(path), "--layers",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    layers = LayerModel(out)
    # Dropout does nothing at inference: left out; every other layer is there, in order.
    assert [layer.kind for layer in layers.layers] == [
        type(layer).__name__ for layer in model.layers if type(layer).__name__ != "Dropout"]
    pictures = np.random.default_rng(1).random((8, 28, 28)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(pictures[..., None], training=False))
    for picture, want in zip(pictures, expected):
        assert np.abs(layers.run(picture)[-1] - want).max() <= 1e-4


@pytest.mark.slow
def test_a_conv_batch_norm_relu_block_is_shown_as_one_convolution(tmp_path):
    """vgg_cnn's Conv -> BatchNorm -> ReLU blocks are each one "Convolution · relu" step of the
    view, whose maps are the ReLU's output; the raw convolution and the normalised maps in
    between are not shown."""
    import keras

    from training.learn.export import export_layers_tflite
    from training.learn.models import build_model

    model = build_model("vgg_cnn", dropout=0.3)
    # Batch norm with non-trivial statistics, so that skipping it would show other numbers.
    rng = np.random.default_rng(2)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2, var.shape)])
    layers = LayerModel(export_layers_tflite(model, tmp_path / "vgg.layers.tflite"))
    stages = ["Conv2D", "Conv2D", "MaxPooling2D"] * 3
    assert [layer.kind for layer in layers.layers] == stages + ["Flatten", "Dense", "Dense"]
    assert [layer.activation for layer in layers.layers if layer.kind == "Conv2D"] == ["relu"] * 6
    relus = [layer.output for layer in model.layers if type(layer).__name__ == "ReLU"]
    keras_maps = keras.Model(model.inputs, relus)
    picture = rng.random((28, 28)).astype(np.float32)
    want = [keras.ops.convert_to_numpy(m)[0] for m in keras_maps(picture[None, ..., None])]
    got = [out for out, layer in zip(layers.run(picture), layers.layers)
           if layer.kind == "Conv2D"]
    for a, b in zip(got, want):
        assert np.abs(a - b).max() <= 1e-4


def test_docks_and_their_shortcuts(qtbot, window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    for name, key in (("showLayers", "Ctrl+4"), ("showCompare", "Ctrl+5")):
        action = window.findChild(QAction, name)
        assert action.shortcut().toString() == key and action in window.view_menu.actions()
    keys = [k.toString() for a in window.findChildren(QAction) for k in a.shortcuts()
            if k.toString()]
    assert len(keys) == len(set(keys)), "two actions share a shortcut"
    for name in ("layersView", "compareView"):
        assert window.findChild(QDockWidget, name) is not None
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: shown.append(a[2]))
    window.shortcuts_action.trigger()  # Help > Keyboard shortcuts lists them
    for words in ("Show What each layer sees", "Ctrl+4", "Show Models side by side", "Ctrl+5"):
        assert words in shown[0], words
    window.findChild(QAction, "showCompare").trigger()
    qtbot.waitUntil(lambda: window.compare_view._shown, timeout=TIMEOUT)


def test_nothing_is_computed_while_the_docks_are_hidden(qtbot, window):
    window.samples_dock.raise_()
    draw_one(qtbot, window.canvas)
    wait_label(qtbot, window, lambda text: text.startswith("1"))
    # The drawing waits in each hidden view: nothing in flight, nothing timed to start.
    for view in (window.layers_view, window.compare_view):
        assert view._job.is_busy() and view._job._in_flight is None  # waiting, not started
        assert not view._job._timer.isActive()
    assert window.layers_view.updates == 0 and window.compare_view.comparisons == 0
    assert not {"layers", "compare"} & set(running_threads())
    show(window, "layersView")  # shown: the waiting drawing is computed
    qtbot.waitUntil(lambda: window.layers_view.updates == 1, timeout=TIMEOUT)
    assert window.compare_view.comparisons == 0


def test_layer_view_shows_every_layer_and_follows_the_drawing(qtbot, window):
    show(window, "layersView")
    view = window.layers_view
    draw_one(qtbot, window.canvas)
    shipped = LayerModel(layers_tflite_path(shipped_model_path("mnist"))).layers
    qtbot.waitUntil(lambda: panels_filled(window, len(shipped)), timeout=TIMEOUT)
    panels = layer_panels(window)
    assert [p.title() for p in panels] == [layer.title for layer in shipped]
    maps = [p for p in panels if p.data.get("image") is not None and "levels" not in p.data]
    assert len(maps) == sum(layer.is_maps for layer in shipped) >= 4
    assert all(p.data["image"].width() > 20 and p.height() > 30 for p in maps)
    output = panels[-1].data
    assert int(np.argmax(output["levels"])) == 1 and output["labels"][1] == "1"

    # The drawing changes: the layers follow (a "7" is not a "1").
    before = [p.data["levels"].copy() for p in panels if "levels" in p.data]
    stroke(qtbot, window.canvas, line((110, 60), (300, 60)))
    qtbot.waitUntil(lambda: int(np.argmax(layer_panels(window)[-1].data["levels"])) != 1,
                    timeout=TIMEOUT)
    after = [p.data["levels"] for p in layer_panels(window) if "levels" in p.data]
    assert all(not np.allclose(a, b) for a, b in zip(after, before))

    # The lecture's dense net and CNN, chosen in the dock: their own layers.
    for key, kinds in (("lecture_dense", ["Flatten", "Dense", "Dense"]),
                       ("lecture_cnn", ["Conv2D", "Conv2D", "MaxPooling2D", "Conv2D",
                                        "Flatten", "Dense"])):
        combo = view.model_choice
        combo.setCurrentIndex(next(i for i in range(combo.count())
                                   if combo.itemData(i)["key"] == key))
        qtbot.waitUntil(lambda kinds=kinds: [p.data["kind"] for p in layer_panels(window)]
                        == kinds and panels_filled(window, len(kinds)), timeout=TIMEOUT)


@pytest.mark.slow
def test_layer_view_of_a_users_model_is_converted_in_the_background(qtbot, window, tmp_path):
    """A .keras without its every-layer twin: the controller's converter (a child process)
    makes it, the layers appear; the user's folder is not written to."""
    from training.learn.models import build_model
    from training.learn.saving import save_model

    path = save_model(build_model("lecture_dense", dropout=0.0), tmp_path / "mine.keras",
                      {"dataset": "mnist"})
    window.load_model(str(path))
    qtbot.waitUntil(lambda: getattr(window.controller.model(), "path", None) == str(path),
                    timeout=TIMEOUT)
    show(window, "layersView")
    draw_one(qtbot, window.canvas)
    qtbot.waitUntil(lambda: "Preparing" in window.layers_view.status.text()
                    or panels_filled(window, 3), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panels_filled(window, 3), timeout=120_000)
    assert not layers_tflite_path(path).exists()


def test_compare_view_runs_the_three_default_models(qtbot, window):
    show(window, "compareView")
    view = window.compare_view
    draw_one(qtbot, window.canvas)
    wait_label(qtbot, window, lambda text: text.startswith("1"))
    shown = view.columns[:3]
    qtbot.waitUntil(lambda: all(c.probabilities is not None for c in shown), timeout=TIMEOUT)
    assert [c.choice.currentText() for c in shown] == [
        "Lecture dense net", "Lecture CNN", "Shipped MNIST model"]
    assert view.columns[3].key() == "none" and not view.columns[3].bars.isVisible()
    assert all(c.bars.isVisible() for c in shown)
    assert view.names.names == [str(d) for d in range(10)]
    # Real inference: each column is its own model's answer for the canvas's model input.
    model_input = window.model_input.array()
    paths = [lecture_model_path("lecture_dense", "mnist"),
             lecture_model_path("lecture_cnn", "mnist"), shipped_model_path("mnist")]
    for column, path in zip(shown, paths):
        # as the canvas shows them: with the model's own temperature (calibrated), if it has one
        temperature = read_metadata_checked(path)[0].get("temperature")
        expected = apply_temperature(LiteModel(tflite_path(path)).predict(model_input),
                                     temperature)
        assert np.abs(column.probabilities - expected).max() <= 1e-5
        assert ("calibrated" in column.details.text()) == (temperature is not None)
        assert column.answer.text().startswith("1 ")
        assert "% on the test set" in column.details.text() and "weights" in column.details.text()
        assert column.probabilities.max() > 0.2  # an answer, not a uniform nothing
    assert not np.allclose(shown[0].probabilities, shown[1].probabilities)
    assert not np.allclose(shown[1].probabilities, shown[2].probabilities)

    # Another dataset: the same three kinds of model, for clothes.
    window.dataset_selector.setCurrentIndex(window.dataset_selector.findData("fashion_mnist"))
    qtbot.waitUntil(lambda: [c.choice.currentText() for c in shown] == [
        "Lecture dense net", "Lecture CNN", "Shipped Fashion-MNIST model"], timeout=TIMEOUT)
    stroke(qtbot, window.canvas, line((110, 90), (300, 300)))
    qtbot.waitUntil(lambda: all(c.probabilities is not None and c.info is not None
                                and c.info["dataset"] == "fashion_mnist" for c in shown),
                    timeout=TIMEOUT)
    assert view.names.names[0] == "T-shirt/top"


def test_compare_view_takes_a_fourth_model(qtbot, window, tmp_path):
    show(window, "compareView")
    view = window.compare_view
    fourth = view.columns[3]
    view.add_model_file(str(lecture_model_path("lecture_cnn", "mnist")), 3)
    draw_one(qtbot, window.canvas)
    qtbot.waitUntil(lambda: all(c.probabilities is not None for c in view.columns),
                    timeout=TIMEOUT)
    assert np.allclose(fourth.probabilities, view.columns[1].probabilities)
    qtbot.waitUntil(lambda: view.status.text() == "All 4 models answer 1.", timeout=TIMEOUT)
    fourth.choice.setCurrentIndex(fourth.choice.findText("— none —"))
    fourth.choice.activated.emit(fourth.choice.currentIndex())
    assert fourth.probabilities is None and not fourth.bars.isVisible()
    qtbot.waitUntil(lambda: view.status.text() == "All 3 models answer 1.", timeout=TIMEOUT)

    # A file that is no model: the column says so, and the summary no longer counts it.
    broken = tmp_path / "broken.keras"
    broken.write_text("not a model")
    view.add_model_file(str(broken), 3)
    qtbot.waitUntil(lambda: fourth.answer.text() == "—", timeout=TIMEOUT)
    assert "not a Keras model" in fourth.details.text()
    assert view.status.text() == "All 3 models answer 1."


def test_compare_choices_are_remembered_per_dataset(qtbot, app_settings, tmp_path):
    model = tmp_path / "mine.keras"  # a model file of the user's, in its own folder
    for suffix in (".keras", ".tflite", ".json"):
        model.with_suffix(suffix).write_bytes(
            lecture_model_path("lecture_cnn", "mnist").with_suffix(suffix).read_bytes())
    window = open_window(qtbot, app_settings)
    show(window, "compareView")
    view = window.compare_view
    view.add_model_file(str(model), 3)
    first = view.columns[0]
    first.choice.setCurrentIndex(first.choice.findText("— none —"))
    first.choice.activated.emit(first.choice.currentIndex())
    assert window.close()

    again = open_window(qtbot, app_settings)  # the next launch
    columns = again.compare_view.columns
    assert [c.key() for c in columns] == ["none", "lecture_cnn", "shipped", "file"]
    assert columns[3].choice.currentData()["path"] == str(model)
    # Fashion-MNIST was never changed: its defaults.
    again.dataset_selector.setCurrentIndex(again.dataset_selector.findData("fashion_mnist"))
    qtbot.waitUntil(lambda: [c.key() for c in columns] == [
        "lecture_dense", "lecture_cnn", "shipped", "none"], timeout=TIMEOUT)
    assert again.close()

    # A file since deleted, and garbage stored for a dataset: the defaults, nothing breaks.
    model.unlink()
    app_settings.set_compare_columns("mnist", [{"key": "file", "path": str(model)}])
    app_settings._s.setValue("compare/fashion_mnist", "[{'key': 3}]")
    third = open_window(qtbot, app_settings)  # on Fashion-MNIST, as the last one was left
    columns = third.compare_view.columns
    defaults = ["lecture_dense", "lecture_cnn", "shipped", "none"]
    assert [c.key() for c in columns] == defaults
    assert "compare/fashion_mnist" in app_settings.problems()
    third.dataset_selector.setCurrentIndex(third.dataset_selector.findData("mnist"))
    qtbot.waitUntil(lambda: third.controller.dataset == "mnist", timeout=TIMEOUT)
    assert [c.key() for c in columns] == defaults
    assert third.close()


WINDOW_SESSION = r"""
import sys, time
from PySide6.QtCore import QPoint, Qt, QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop_app.main_window import MainWindow
from desktop_app.settings import AppSettings
window = MainWindow(AppSettings(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
window.resize(1400, 900)
window.show()
window.ensure_ready()
def wait(condition, seconds=120):
    end = time.time() + seconds
    while not condition():
        assert time.time() < end, "timed out"
        app.processEvents(); time.sleep(0.005)
wait(window.model_ready)
window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.compare_dock)
window.show_dock(window.compare_dock)
window.show_dock(window.layers_dock)
canvas = window.canvas
QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(196, 60))
for y in range(60, 330, 10):
    QTest.mouseMove(canvas, QPoint(193, y))
QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(190, 330))
wait(lambda: window.layers_view.updates > 0 and window.compare_view.comparisons > 0 and all(
    c.probabilities is not None for c in window.compare_view.columns[:3]))
print(len(window.layers_view.panels), "panels")
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
window.close()
"""


def test_the_views_never_import_tensorflow_in_the_window(tmp_path):
    out = subprocess.run([sys.executable, "-c", WINDOW_SESSION, str(tmp_path / "s.ini")],
                         capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                              "DRAW_CLASSIFY_HOME": str(tmp_path / "home")})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == "12 panels"  # vgg_cnn: 6 convolution blocks, 3 poolings, 3 more
    assert lines[-1] == "[]"


@pytest.mark.parametrize("keras_path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_models_are_small_and_vouched_for(keras_path):
    """Each shipped model's files stay small, and its sidecar holds the hashes the window
    checks before trusting a .tflite."""
    from training.modelfile.sidecar import file_sha256, read_metadata

    info = read_metadata(keras_path)
    assert info.get("layers_tflite_sha256") == file_sha256(layers_tflite_path(keras_path))
    assert info.get("tflite_sha256") == file_sha256(tflite_path(keras_path))
    assert isinstance(info.get("test_accuracy"), float)
    total = sum(p.stat().st_size for p in (keras_path, tflite_path(keras_path),
                                            layers_tflite_path(keras_path)))
    assert total < 10_000_000  # vgg_cnn: 5.3 MB .keras (with its optimizer) + 2 x 1.7 MB
