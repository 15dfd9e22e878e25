"""Your own classes through the real window (issue #23, item 1): Model ▸ New classifier…, the
drawings kept with the "This is…" buttons into ``<home>/samples/<classifier>/<class>/``, My
samples ▸ Train (a real training child), the held-out figures and confusion matrix, the canvas
switched to the new model and reading new drawings, and all of it there again after a restart —
with a class folder added by hand reported and kept."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TIMEOUT, line, open_window, stroke
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLabel, QLineEdit, QPushButton
from desktop_app.texts import BLANK, NO_MODEL


def bar(qtbot, canvas, k):
    stroke(qtbot, canvas, line((190 + 6 * k, 70 + 3 * k), (200 - 4 * k, 320)))


def cross(qtbot, canvas, k):
    stroke(qtbot, canvas, line((110 + 5 * k, 100), (290, 300 - 6 * k)))
    stroke(qtbot, canvas, line((290 - 4 * k, 100), (110, 300)))


def box(qtbot, canvas, k):
    a, b = 110 + 5 * k, 290 - 3 * k
    stroke(qtbot, canvas, line((a, a), (b, a)) + line((b, a), (b, b)) + line((b, b), (a, b))
           + line((a, b), (a, a)))


SHAPES = {"bar": bar, "box": box, "cross": cross}   # the classes, in their sorted order


def fill_new_classifier_dialog(title: str, classes: str, outcome: list) -> None:
    """Type into the modal dialog once it is open, press Create, and note what it said."""
    def act():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(50, act)
            return
        dialog.findChild(QLineEdit, "classifierName").setText(title)
        dialog.findChild(QLineEdit, "classifierClasses").setText(classes)
        create = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        create.click()
        error = dialog.findChild(QLabel, "classifierError").text()
        outcome.append(error)
        if error:  # refused: the dialog stays open with the message; cancel it
            dialog.reject()
    QTimer.singleShot(0, act)


def new_classifier(win, title, classes) -> str:
    outcome: list[str] = []
    fill_new_classifier_dialog(title, classes, outcome)
    win.findChild(type(win.new_classifier_action), "newClassifier").trigger()
    return outcome[0] if outcome else "no dialog"


def keep(qtbot, win, label: int, draw, k: int) -> None:
    draw(qtbot, win.canvas, k)
    qtbot.mouseClick(win.findChild(QPushButton, f"thisIs{label}"), Qt.MouseButton.LeftButton)
    assert win.canvas.is_empty()


@pytest.mark.slow
def test_a_classifier_of_my_own_shapes_is_made_trained_used_and_kept(qtbot, app_settings,
                                                                     private_home, caplog):
    win = open_window(qtbot, app_settings)
    win.ensure_ready()
    refused = new_classifier(win, "Shapes", "only one")   # said in the dialog, nothing made
    assert "1 class name given" in refused and win.dataset_selector.count() == 2
    assert new_classifier(win, "Shapes", "box, bar, cross") == ""
    assert win.dataset_selector.currentData() == "shapes"
    assert win.dataset_selector.currentText() == "Shapes"
    names = [win.findChild(QPushButton, f"thisIs{i}").text() for i in range(3)]
    assert names == list(SHAPES) and win.findChild(QPushButton, "thisIs3") is None
    train = win.findChild(QPushButton, "trainClasses")
    assert train.isVisible()

    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)   # nothing kept yet: said, not started
    assert "Keep at least one drawing of bar, box, cross" in win.statusBar().currentMessage()
    assert not win._classes_training()

    for label, draw in enumerate(SHAPES.values()):
        for k in range(4):
            keep(qtbot, win, label, draw, k)
    samples = private_home / "samples" / "shapes"
    assert {p.name: len(list(p.glob("*.png"))) for p in samples.iterdir()} == dict.fromkeys(
        SHAPES, 4)

    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    result = win.findChild(QLabel, "classesResult")
    qtbot.waitUntil(lambda: "held out" in result.text() or "error" in result.text().lower()
                    or (not win._classes_training() and result.text() != ""), timeout=180_000)
    assert "held out" in result.text(), result.text()
    assert win.findChild(type(win.personal.confusion), "classesConfusion").isVisible()
    model = private_home / "classifiers" / "shapes" / "model.keras"
    assert model.is_file() and model.with_suffix(".tflite").is_file()

    # The canvas now answers with the classifier: a new cross is read as a cross.
    qtbot.waitUntil(lambda: win.controller.model() is not None
                    and win.controller.model().class_names == list(SHAPES), timeout=TIMEOUT)
    cross(qtbot, win.canvas, 6)
    qtbot.waitUntil(lambda: win.prediction_label.text().startswith("cross"), timeout=TIMEOUT)
    assert win.chart.class_names() == list(SHAPES)
    win.canvas.clear()   # a scribble is none of them
    stroke(qtbot, win.canvas, [(60, 300), (120, 80), (150, 330), (200, 60), (230, 340),
                               (280, 90), (320, 310), (340, 150)])
    qtbot.waitUntil(lambda: win.prediction_label.text().startswith(
        "That doesn't look like any of my classes"), timeout=TIMEOUT)

    # Every view runs it: where it looks, each layer, side by side.
    win.canvas.clear()
    box(qtbot, win.canvas, 5)
    win.findChild(QAction, "showSaliency").trigger()
    qtbot.waitUntil(lambda: win.canvas.overlay() is not None, timeout=TIMEOUT)
    win.findChild(QAction, "showLayers").trigger()
    shown = lambda: [p for p in win.layers_view.panels if p.isVisible()]  # noqa: E731
    qtbot.waitUntil(lambda: len(shown()) >= 5 and all(
        (p.data or {}).get("peak", 0) > 0 for p in shown()), timeout=120_000)
    assert int(np.argmax(shown()[-1].data["levels"])) == 1  # the last layer says: box
    win.findChild(QAction, "showCompare").trigger()
    column = win.compare_view.columns[0]
    qtbot.waitUntil(lambda: column.probabilities is not None, timeout=TIMEOUT)
    assert column.choice.currentText() == "Shapes (newest trained)"
    assert win.compare_view.names.names == list(SHAPES)
    assert int(np.argmax(column.probabilities)) == 1  # box
    win.close()

    # By hand, a class folder is added with one drawing: the restart reports it, keeps all.
    (samples / "ring").mkdir()
    Image.fromarray(np.pad(np.full((20, 20), 255, np.uint8), 4)).save(samples / "ring" / "a.png")
    caplog.set_level("INFO")
    again = open_window(qtbot, app_settings)
    again.ensure_ready()
    assert "Shapes: new class folder(s) found: ring" in caplog.text
    assert again.dataset_selector.currentData() == "shapes"
    qtbot.waitUntil(lambda: "held out" in again.findChild(QLabel, "classesResult").text(),
                    timeout=TIMEOUT)
    assert [again.findChild(QPushButton, f"thisIs{i}").text() for i in range(4)] == [
        "bar", "box", "cross", "ring"]
    assert {p.name: len(list(p.glob("*.png"))) for p in samples.iterdir()} == {
        **dict.fromkeys(SHAPES, 4), "ring": 1}
    cross(qtbot, again.canvas, 2)
    qtbot.waitUntil(lambda: again.prediction_label.text().startswith("cross"), timeout=TIMEOUT)


def shapes_window(qtbot, app_settings):
    """A window on a classifier of three shapes, four drawings of each already kept."""
    from training.core.classifiers import create

    classifier = create("Shapes", ", ".join(SHAPES))
    app_settings.set_dataset(classifier.name)
    from desktop_app.main_window import MainWindow

    win = MainWindow(settings=app_settings)
    qtbot.addWidget(win)
    win.show()
    win.ensure_ready()
    for label, draw in enumerate(SHAPES.values()):
        for k in range(4):
            keep(qtbot, win, label, draw, k)
    return win, classifier


@pytest.mark.slow
@pytest.mark.parametrize("how", ["stop", "close"])
def test_stopping_or_closing_mid_training_leaves_no_model_and_no_child(qtbot, app_settings,
                                                                       how):
    from conftest import child_pids

    from PySide6.QtWidgets import QCheckBox

    win, classifier = shapes_window(qtbot, app_settings)
    train = win.findChild(QPushButton, "trainClasses")
    fine_tune = win.findChild(QCheckBox, "fineTuneClasses")
    if how == "stop":   # this run fine-tunes the base too: its steps say so; the choice is kept
        qtbot.mouseClick(fine_tune, Qt.MouseButton.LeftButton)
        assert fine_tune.isChecked() and app_settings.fine_tune_classes()
    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    progress = win.personal.classes_progress
    # as soon as the run has begun: the child is loading the base or running it over the
    # drawings (a stop is read between batches there too, not only between steps)
    qtbot.waitUntil(lambda: progress.maximum() > 1, timeout=120_000)
    assert train.text() == "Stop" and not fine_tune.isEnabled()
    # 4 folds of 300 head steps, 600 for the final head, 200 fine-tuning steps after each
    assert progress.maximum() == (2800 if how == "stop" else 1800)
    if how == "stop":
        qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not win._classes_training(), timeout=TIMEOUT)
        assert "Training stopped; the classifier's model is unchanged." in (
            win.personal.classes_result.text())
        assert train.text() == "Train"
        win.close()
    else:
        win.close()   # the child is ended with the window
    qtbot.waitUntil(lambda: not child_pids(), timeout=TIMEOUT)
    assert not classifier.model_path.exists()
    assert sorted(p.name for p in classifier.folder.iterdir()) == ["classifier.json"]


def test_a_classifier_of_the_letters_a_to_z_opens_with_26_buttons_and_no_model_yet(
        qtbot, app_settings):
    """No training here (no TensorFlow): the classes, the buttons, the keys and the message
    of a classifier that has no model yet."""
    from training.core.classifiers import create

    classifier = create("Letters", "A-Z")
    app_settings.set_dataset(classifier.name)
    from desktop_app.main_window import MainWindow

    win = MainWindow(settings=app_settings)
    qtbot.addWidget(win)
    win.show()
    win.ensure_ready()
    buttons = [win.findChild(QPushButton, f"thisIs{i}") for i in range(26)]
    assert [b.text() for b in buttons] == [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    assert "key K" in buttons[10].toolTip() and "key J" in buttons[9].toolTip()  # its own
    qtbot.waitUntil(lambda: "has no model yet" in win.statusBar().currentMessage(),
                    timeout=TIMEOUT)
    assert win.model_name.text() == "No model"   # not "Loading model…" for ever
    assert win.findChild(QPushButton, "trainClasses").isVisible()
    stroke(qtbot, win.canvas, line((100, 300), (200, 80)) + line((200, 80), (300, 300)))
    qtbot.waitUntil(lambda: win.prediction_label.text() != BLANK, timeout=TIMEOUT)
    qtbot.wait(300)
    assert win.prediction_label.text() == NO_MODEL  # not "Loading model…" for ever
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_C)   # C: its own key, kept in its folder
    assert len(list((classifier.samples / "C").glob("*.png"))) == 1
    # Back to MNIST: the classifier's missing model is no longer the window's problem.
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("mnist"))
    qtbot.waitUntil(lambda: win.controller.model() is not None, timeout=TIMEOUT)
    assert "has no model yet" not in win.statusBar().currentMessage()
    win.close()
