"""Issue #12, parts 2 and 3 through the real window: a model trained in this session is never
dropped without asking (Start again, another dataset, quitting), Save/Discard/Cancel each do
what they say, a misclassified tile shows the answer of the model that got it wrong, and the
window, the canvas and the training form share one dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TIMEOUT, line, open_window, stroke
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QMessageBox, QPushButton
from test_training_panel import child, choose, start
from test_window_training import configure, wait_until_idle

pytestmark = pytest.mark.slow  # each test trains in a child, or starts the model summary's


@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DRAW_CLASSIFY_HOME", str(tmp_path / "user-home"))


@pytest.fixture
def trained(qtbot, app_settings, tiny_data, monkeypatch, recorded_children):
    """A window whose panel has just trained a model that is not saved."""
    win = open_window(qtbot, app_settings)
    panel = configure(qtbot, win, tiny_data, epochs=1)
    start(qtbot, panel)
    qtbot.waitUntil(panel.is_training, timeout=TIMEOUT)
    wait_until_idle(qtbot, panel)
    assert panel.has_unsaved_model(), panel.message.text()
    yield win, panel
    answer(monkeypatch, QMessageBox.StandardButton.Discard)  # whatever the test answered
    win.close()


def answer(monkeypatch, button):
    asked = []

    def question(*args, **kwargs):
        asked.append(args[2] if len(args) > 2 else "")
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_start_again_asks_and_cancel_keeps_the_model(qtbot, trained, monkeypatch):
    win, panel = trained
    result = panel.last_result()
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    start(qtbot, panel)
    assert len(asked) == 1 and "not saved" in asked[0]
    assert not panel.is_training()
    assert panel.last_result() is result and panel.has_unsaved_model()
    assert child(panel, QPushButton, "saveModel").isEnabled()


def test_start_again_with_save_saves_first_then_trains(qtbot, trained, monkeypatch, tmp_path):
    win, panel = trained
    target = tmp_path / "kept" / "mine.keras"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(target), "Keras models (*.keras)"))
    asked = answer(monkeypatch, QMessageBox.StandardButton.Save)
    start(qtbot, panel)
    assert len(asked) == 1 and "not saved" in asked[0]
    assert target.is_file() and target.with_suffix(".tflite").is_file()
    qtbot.waitUntil(panel.is_training, timeout=TIMEOUT)
    panel.request_stop()
    wait_until_idle(qtbot, panel)


def test_discard_drops_it_and_the_new_run_starts(qtbot, trained, monkeypatch):
    win, panel = trained
    run_folder = Path(panel.last_result().path).parent
    assert run_folder.parent.name == "runs" and run_folder.is_dir()
    asked = answer(monkeypatch, QMessageBox.StandardButton.Discard)
    start(qtbot, panel)
    assert len(asked) == 1 and "not saved" in asked[0]
    assert panel.last_result() is None and not panel.has_unsaved_model()  # dropped
    assert not run_folder.exists()  # runs/ holds the models not yet saved or discarded
    assert not child(panel, QPushButton, "saveModel").isEnabled()
    qtbot.waitUntil(panel.is_training, timeout=TIMEOUT)
    panel.request_stop()
    wait_until_idle(qtbot, panel)


def test_a_discarded_model_leaves_the_canvas_too(qtbot, trained, monkeypatch):
    """Discard means gone: the canvas, which used it, goes back to the shipped model, and its
    files go (kept in use, it came back on a switch of dataset and at the next launch)."""
    win, panel = trained
    path = panel.last_result().path
    qtbot.mouseClick(child(panel, QPushButton, "useModel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.controller.model().path == path, timeout=TIMEOUT)
    answer(monkeypatch, QMessageBox.StandardButton.Discard)
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("fashion_mnist"))
    qtbot.waitUntil(lambda: win.controller.dataset == "fashion_mnist", timeout=TIMEOUT)
    assert not panel.has_unsaved_model() and not Path(path).exists()
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("mnist"))
    qtbot.waitUntil(lambda: win.controller.model() is not None
                    and win.controller.model().dataset == "mnist", timeout=TIMEOUT)
    assert win.controller.model().shipped
    assert win.settings.model_path("mnist") == ""  # nor at the next launch


def test_switching_dataset_asks_and_cancel_keeps_both_the_model_and_the_dataset(
        qtbot, trained, monkeypatch):
    win, panel = trained
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("fashion_mnist"))
    assert asked and win.controller.dataset == "mnist"
    assert "before you switch to Fashion-MNIST?" in asked[0]  # its name, as the menu says it
    assert win.dataset_selector.currentData() == "mnist"          # put back, visibly
    assert child(panel, QComboBox, "datasetField").currentData() == "mnist"
    assert panel.has_unsaved_model()


def test_quitting_asks_and_cancel_keeps_the_window(qtbot, trained, monkeypatch):
    win, panel = trained
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not win.close()
    assert asked and win.isVisible() and panel.has_unsaved_model()
    answer(monkeypatch, QMessageBox.StandardButton.Discard)
    assert win.close()


def test_a_misclassified_tile_shows_the_answer_of_the_model_that_got_it_wrong(qtbot, trained):
    """The gallery's tile is answered by the trained model (which got it wrong), not by the
    canvas's model, until the user draws. A picture on which the two disagree shows which."""
    from training.modelfile.sidecar import tflite_path
    from training.runtime.lite import LiteModel

    win, panel = trained
    result = panel.last_result()
    trained_model = LiteModel(tflite_path(result.path))
    canvas_model = LiteModel(tflite_path(win.controller.model().path))
    rng = np.random.default_rng(0)
    for _ in range(200):
        image = np.zeros((28, 28), np.uint8)
        y, x = rng.integers(4, 16, 2)
        image[y:y + 10, x:x + rng.integers(2, 10)] = 255
        theirs = int(trained_model.predict(image / 255.0).argmax())
        if theirs != int(canvas_model.predict(image / 255.0).argmax()):
            break
    else:
        pytest.fail("no picture on which the two models disagree")
    panel.sampleChosen.emit(image, "mnist")
    names = result.class_names
    first = (f"{names[theirs]} —", f"Not sure: {names[theirs]} or")
    qtbot.waitUntil(lambda: win.prediction_label.toolTip() != "", timeout=TIMEOUT)
    assert win.prediction_label.text().startswith(first), win.prediction_label.text()
    assert "the model just trained" in win.prediction_label.toolTip()
    # The line under the answer names the model that gave it (it named the one in use).
    assert win.model_name.text().startswith("Answer of the model just trained")
    stroke(qtbot, win.canvas, line((100, 100), (300, 300)))        # drawing: the canvas's model
    qtbot.waitUntil(lambda: "the model just trained" not in win.prediction_label.toolTip(),
                    timeout=TIMEOUT)
    assert win.model_name.text() == win.controller.model().name


def test_one_dataset_for_the_window_the_canvas_and_the_form(qtbot, app_settings, tiny_data):
    win = open_window(qtbot, app_settings)
    panel = configure(qtbot, win, tiny_data, epochs=1)
    form = child(panel, QComboBox, "datasetField")
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("fashion_mnist"))
    assert form.currentData() == "fashion_mnist" and win.controller.dataset == "fashion_mnist"
    choose(form, "mnist")                                          # and back, from the form
    form.activated.emit(form.currentIndex())                       # what a user's pick emits
    qtbot.waitUntil(lambda: win.controller.dataset == "mnist", timeout=TIMEOUT)
    assert win.dataset_selector.currentData() == "mnist"
    assert win.chart is None or win.chart.class_names()[0] == "0"
    assert [b.objectName() for b in win._this_is_buttons][:2] == ["thisIs0", "thisIs1"]
    assert win.close()
