"""Your own classes, managed in the window (issue #23): Model ▸ Rename classifier… (a new title,
the folders stay), Model ▸ Delete classifier… (confirmed, Cancel the default; both folders moved
to <home>/deleted/, nothing erased; a move that fails changes nothing), and a class key for
each of up to 36 classes (0–9, then A–Z) typed on the canvas. No training here (no TensorFlow):
the classifiers are made on disk and the window is driven as Qt fires things."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TIMEOUT, line, stroke
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QLabel, QMessageBox, QPushButton

from training.core.classifiers import create, find

TWELVE = "ant, bee, cat, dog, eel, fox, gnu, hen, ibis, jay, kiwi, lynx"  # kiwi: key A, lynx: B


def open_on(qtbot, app_settings, classifier):
    from desktop_app.main_window import MainWindow

    app_settings.set_dataset(classifier.name)
    win = MainWindow(settings=app_settings)
    qtbot.addWidget(win)
    win.show()
    win.ensure_ready()
    # Active, as a window the user works in: one-letter shortcuts (E: eraser) work only then.
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=TIMEOUT)
    return win


def shapes_with_drawings(count_each: int = 2):
    """A classifier of three shapes with drawings already kept (written as the store does)."""
    classifier = create("Shapes", "bar, box, cross")
    for name in classifier.class_names:
        for k in range(count_each):
            picture = np.zeros((28, 28), np.uint8)
            picture[5 + k:20, 10:14] = 255
            Image.fromarray(picture).save(classifier.samples / name / f"{k}.png")
    return classifier


def with_a_model(classifier):
    """The shipped digit model put in place of a trained one of the classifier's (LiteRT runs
    it: no training needed), named as the trainer names it."""
    import json
    import shutil

    models = Path(__file__).resolve().parent.parent / "resources" / "models"
    for suffix in (".keras", ".tflite", ".layers.tflite", ".ood.npz", ".ood.tflite"):
        shutil.copy(models / f"mnist{suffix}", classifier.folder / f"model{suffix}")
    sidecar = json.loads((models / "mnist.json").read_text(encoding="utf-8"))
    sidecar.update(dataset=classifier.name, display_name=f"{classifier.title} · 10 classes, "
                   "20 drawings", lineage={"kind": "own_classes", "samples": 20},
                   model_file="model.keras")
    (classifier.folder / "model.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return classifier


def action(win, name: str) -> QAction:
    return win.findChild(QAction, name)


def answer_rename(monkeypatch, title: str, ok: bool = True) -> list:
    asked = []

    def get_text(parent, caption, label, echo, text, *args, **kwargs):
        asked.append(text)
        return title, ok

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    return asked


def answer_delete(button: str) -> list:
    """The delete question, once open, answered by clicking its ``button`` ("Delete" or
    "Cancel"); what it asked and its default button are recorded."""
    asked = []

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        asked.append({"text": box.text(), "default": box.defaultButton().text(),
                      "name": box.objectName()})
        next(b for b in box.buttons() if b.text().replace("&", "") == button).click()

    QTimer.singleShot(0, answer)
    return asked


def folders(home: Path) -> dict:
    """What is where: the classifier's folder, its drawings', and anything under deleted/."""
    deleted = home / "deleted"
    return {"classifier": (home / "classifiers" / "shapes" / "classifier.json").is_file(),
            "samples": len(list((home / "samples" / "shapes").glob("*/*.png"))),
            "deleted": sorted(p.relative_to(deleted).as_posix() for p in deleted.rglob("*"))
            if deleted.exists() else None}


def test_rename_changes_the_title_shown_and_kept_but_not_the_folders(
        qtbot, app_settings, private_home, monkeypatch):
    classifier = shapes_with_drawings()
    win = open_on(qtbot, app_settings, classifier)
    rename = action(win, "renameClassifier")
    assert rename.isEnabled() and action(win, "deleteClassifier").isEnabled()
    before = folders(private_home)

    asked = answer_rename(monkeypatch, "  My figures ")
    rename.trigger()
    assert asked == ["Shapes"]   # the dialog offered the current title to edit
    assert win.dataset_selector.currentText() == "My figures"
    assert win.dataset_selector.currentData() == "shapes"
    assert find("shapes").title == "My figures"
    assert folders(private_home) == before   # nothing moved
    assert [win.findChild(QPushButton, f"thisIs{i}").text() for i in range(3)] == [
        "bar", "box", "cross"]

    # Its trained model is named with the title it has now (when the window loads it).
    from desktop_app.prediction.inference_worker import model_info

    sidecar = {"display_name": "Shapes · 3 classes, 6 drawings", "lineage": {"samples": 6},
               "class_names": ["bar", "box", "cross"]}
    assert model_info(classifier.model_path, sidecar, "shapes", False).name == (
        "My figures · 3 classes, 6 drawings")

    answer_rename(monkeypatch, "   ")   # an empty title is refused, and said
    rename.trigger()
    assert "Give the classifier a name" in win.statusBar().currentMessage()
    assert find("shapes").title == "My figures"
    answer_rename(monkeypatch, "mnist")   # a title the list already shows, too
    rename.trigger()
    assert "already in the dataset list" in win.statusBar().currentMessage()
    win.close()

    again = open_on(qtbot, app_settings, classifier)   # read again from disk
    assert again.dataset_selector.currentText() == "My figures"
    assert [again.dataset_selector.itemText(i) for i in range(3)] == [
        "MNIST", "Fashion-MNIST", "My figures"]
    again.close()


def test_rename_and_delete_are_for_a_classifier_of_ones_own_while_nothing_trains(
        qtbot, app_settings, monkeypatch):
    from desktop_app.jobs.child import ChildJob

    classifier = shapes_with_drawings()
    win = open_on(qtbot, app_settings, classifier)
    managing = [action(win, "renameClassifier"), action(win, "deleteClassifier")]
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("mnist"))
    assert win.controller.dataset == "mnist"
    assert not any(a.isEnabled() for a in managing)
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("shapes"))
    assert all(a.isEnabled() for a in managing)

    # Train starts a child (here one that waits for "stop" instead of training): while it
    # runs, the classifier's folder is not renamed or moved under it.
    monkeypatch.setattr(ChildJob, "ENTRY", ("-c", "import sys; sys.stdin.readline()"))
    train = win.findChild(QPushButton, "trainClasses")
    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(win._classes_training, timeout=TIMEOUT)
    assert not any(a.isEnabled() for a in managing)
    qtbot.mouseClick(train, Qt.MouseButton.LeftButton)   # Stop
    qtbot.waitUntil(lambda: not win._classes_training(), timeout=TIMEOUT)
    assert all(a.isEnabled() for a in managing)
    win.close()


def test_delete_moves_both_folders_aside_and_goes_back_to_mnist(
        qtbot, app_settings, private_home, monkeypatch):
    classifier = shapes_with_drawings(2)
    win = open_on(qtbot, app_settings, classifier)
    asked = answer_delete("Delete")
    action(win, "deleteClassifier").trigger()

    assert len(asked) == 1 and asked[0]["default"] == "Cancel"
    assert asked[0]["name"] == "deleteClassifierQuestion"
    assert "Shapes" in asked[0]["text"] and "6 drawings" in asked[0]["text"]
    assert not (private_home / "classifiers" / "shapes").exists()
    assert not (private_home / "samples" / "shapes").exists()
    [moved] = (private_home / "deleted").iterdir()
    assert moved.name.startswith("shapes-")
    assert (moved / "classifiers" / "shapes" / "classifier.json").is_file()
    assert len(list((moved / "samples" / "shapes").glob("*/*.png"))) == 6
    assert str(moved) in win.statusBar().currentMessage()
    assert win.dataset_selector.currentData() == "mnist" and win.controller.dataset == "mnist"
    assert [win.dataset_selector.itemData(i) for i in range(win.dataset_selector.count())] == [
        "mnist", "fashion_mnist"]
    assert not action(win, "deleteClassifier").isEnabled()
    assert win.findChild(QPushButton, "thisIs9").text() == "9"   # the digits' buttons again
    win.close()


def test_delete_cancelled_moves_nothing(qtbot, app_settings, private_home, monkeypatch):
    classifier = shapes_with_drawings()
    win = open_on(qtbot, app_settings, classifier)
    before = folders(private_home)
    answer_delete("Cancel")
    action(win, "deleteClassifier").trigger()
    assert folders(private_home) == before and before["deleted"] is None
    assert win.dataset_selector.currentData() == "shapes"
    assert win.controller.dataset == "shapes"
    win.close()


def test_a_delete_that_cannot_move_a_folder_says_so_and_changes_nothing(
        qtbot, app_settings, private_home, monkeypatch):
    """The drawings' folder cannot be moved (read-only, in use): the classifier's folder, moved
    first, is put back, and the message says why."""
    classifier = shapes_with_drawings()
    win = open_on(qtbot, app_settings, classifier)
    before = folders(private_home)
    rename = Path.rename

    def refuse_samples(self, target):
        if self == classifier.samples:
            raise PermissionError(13, "Permission denied")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_samples)
    answer_delete("Delete")
    action(win, "deleteClassifier").trigger()
    message = win.statusBar().currentMessage()
    assert "Shapes cannot be deleted" in message and "Permission denied" in message
    assert "Nothing was changed" in message
    assert folders(private_home) == before and before["deleted"] is None
    assert win.dataset_selector.currentData() == "shapes"
    assert find("shapes") is not None
    win.close()


def test_letter_keys_keep_a_drawing_as_the_classes_after_the_tenth(qtbot, app_settings):
    classifier = create("Twelve", TWELVE)
    win = open_on(qtbot, app_settings, classifier)
    canvas = win.canvas
    assert win.findChild(QPushButton, "thisIs10").toolTip().startswith("This is kiwi (key A ")
    assert "key B" in win.findChild(QPushButton, "thisIs11").toolTip()
    hint = win.personal.findChild(QLabel, "classKeysHint").text()
    assert "(0–9 and A–B)" in hint and "A kiwi, B lynx" in hint

    def kept(name: str) -> int:
        return len(list((classifier.samples / name).glob("*.png")))

    stroke(qtbot, canvas, line((100, 300), (200, 80)))
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert kept("kiwi") == 0 and not canvas.is_empty()   # Ctrl+A is not a class key
    QTest.keyClick(canvas, Qt.Key.Key_C)
    assert not canvas.is_empty()   # C would be a 13th class: none here
    QTest.keyClick(canvas, Qt.Key.Key_A)
    assert kept("kiwi") == 1 and canvas.is_empty()
    stroke(qtbot, canvas, line((120, 300), (220, 90)))
    QTest.keyClick(canvas, Qt.Key.Key_B)
    assert kept("lynx") == 1 and canvas.is_empty()
    stroke(qtbot, canvas, line((120, 300), (220, 90)))
    QTest.keyClick(canvas, Qt.Key.Key_1)   # the digits as before
    assert kept("bee") == 1
    win.close()


def test_a_letter_that_is_a_class_key_wins_over_its_one_letter_shortcut(qtbot, app_settings):
    """E is the eraser's shortcut; on a classifier of the letters A–Z, E on the canvas keeps
    the drawing as an E (each letter is its own key, the hint says so) and the eraser stays
    off."""
    classifier = create("Letters", "A-Z")
    win = open_on(qtbot, app_settings, classifier)
    stroke(qtbot, win.canvas, line((100, 300), (200, 80)))
    win.canvas.setFocus()
    QTest.keyClick(win.canvas, Qt.Key.Key_E)
    assert len(list((classifier.samples / "E").glob("*.png"))) == 1
    assert "(A–Z)" in win.personal.findChild(QLabel, "classKeysHint").text()
    assert "E is a class key here" in win.canvas_caption.text()   # not "E: eraser"
    assert not win.findChild(QAction, "eraserTool").isChecked()
    win.close()


def test_on_mnist_letters_keep_nothing_and_the_eraser_keeps_its_key(qtbot, app_settings,
                                                                     private_home):
    from conftest import open_window

    win = open_window(qtbot, app_settings)
    win.ensure_ready()
    stroke(qtbot, win.canvas, line((100, 300), (200, 80)))
    win.canvas.setFocus()
    QTest.keyClick(win.canvas, Qt.Key.Key_A)
    assert not win.canvas.is_empty() and not list(private_home.glob("samples/mnist/*/*.png"))
    QTest.keyClick(win.canvas, Qt.Key.Key_E)
    assert win.findChild(QAction, "eraserTool").isChecked()
    assert "E: eraser" in win.canvas_caption.text()
    QTest.keyClick(win.canvas, Qt.Key.Key_7)
    assert len(list(private_home.glob("samples/mnist/7/*.png"))) == 1
    win.close()


def test_each_class_has_one_key():
    from desktop_app.views.class_keys import KEYS, class_keys, key_class, keys_text

    in_order = class_keys([f"class {i}" for i in range(36)])
    assert in_order == KEYS and in_order[10] == "A"
    assert all(key_class(getattr(Qt.Key, f"Key_{k}"), in_order) == i
               for i, k in enumerate(in_order))
    assert key_class(Qt.Key.Key_Space, in_order) is None
    assert key_class(Qt.Key.Key_C, KEYS[:12]) is None        # no 13th class
    own = class_keys(["x", "o", "7"])                          # names that are keys: their own
    assert own == "XO7" and key_class(Qt.Key.Key_O, own) == 1
    assert class_keys(["a", "A"]) == "01"                      # the same key twice: in order
    assert [keys_text(KEYS[:n]) for n in (3, 10, 11, 12, 36)] == [
        "0–2", "0–9", "0–9 and A", "0–9 and A–B", "0–9 and A–Z"]
    assert keys_text(class_keys("ABCDEFGHIJKLMNOPQRSTUVWXYZ")) == "A–Z"
    assert keys_text("XO7") == "7 and X, O"


def test_a_classifier_made_again_and_deleted_again_keeps_both_deleted_copies(private_home):
    from training.core.classifiers import delete

    first = delete(shapes_with_drawings(1))
    second = delete(shapes_with_drawings(2))   # the same name, in the same second perhaps
    assert first != second and first.parent == second.parent == private_home / "deleted"
    assert [len(list(d.glob("samples/shapes/*/*.png"))) for d in (first, second)] == [3, 6]
    assert not (private_home / "classifiers" / "shapes").exists()


def test_the_model_in_use_shows_the_new_title_after_a_rename(qtbot, app_settings, monkeypatch):
    """A classifier's trained model is named with the classifier's title: renamed, it
    follows."""
    classifier = with_a_model(create("Digits", "0-9"))
    win = open_on(qtbot, app_settings, classifier)
    qtbot.waitUntil(lambda: win.controller.model() is not None, timeout=TIMEOUT)
    assert win.model_name.text() == "Digits · 10 classes, 20 drawings"

    answer_rename(monkeypatch, "My digits")
    action(win, "renameClassifier").trigger()
    qtbot.waitUntil(lambda: win.model_name.text() == "My digits · 10 classes, 20 drawings",
                    timeout=TIMEOUT)
    assert "(My digits, " in win.model_status.text()
    win.close()


def test_a_classifier_made_again_after_a_delete_has_not_the_deleted_ones_model(
        qtbot, app_settings, private_home, monkeypatch):
    classifier = with_a_model(create("Digits", "0-9"))
    win = open_on(qtbot, app_settings, classifier)
    qtbot.waitUntil(lambda: win.controller.model() is not None, timeout=TIMEOUT)
    asked = answer_delete("Delete")
    action(win, "deleteClassifier").trigger()
    assert "and its trained model" in asked[0]["text"]
    assert [p.name for p in private_home.glob("deleted/*/classifiers/digits/model.keras")] == [
        "model.keras"]
    qtbot.waitUntil(lambda: win.model_name.text().startswith("Shipped MNIST"), timeout=TIMEOUT)

    create("Digits", "0-9")   # made again: no model of its own yet
    win._fill_dataset_selector()
    win.dataset_selector.setCurrentIndex(win.dataset_selector.findData("digits"))
    qtbot.waitUntil(lambda: "has no model yet" in win.statusBar().currentMessage(),
                    timeout=TIMEOUT)
    assert win.controller.model() is None
    win.close()


@pytest.mark.slow
def test_a_classifiers_export_is_named_after_it(qtbot, app_settings, private_home, monkeypatch,
                                                tmp_path):
    from PySide6.QtWidgets import QFileDialog

    from training.learn.export_all import SUFFIXES

    classifier = with_a_model(create("Digits", "0-9"))
    win = open_on(qtbot, app_settings, classifier)
    qtbot.waitUntil(lambda: win.controller.model() is not None, timeout=TIMEOUT)
    out = tmp_path / "exported"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    action(win, "exportModel").trigger()
    qtbot.waitUntil(lambda: "Exported to" in win.statusBar().currentMessage(),
                    timeout=TIMEOUT * 3)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"digits{s}" for s in SUFFIXES)
    win.close()


def test_a_new_classifier_of_twelve_classes_names_its_keys(qtbot, app_settings, monkeypatch):
    from conftest import open_window
    from test_classifier_window import new_classifier

    win = open_window(qtbot, app_settings)
    win.ensure_ready()
    said = []
    monkeypatch.setattr(win, "show_info", said.append)
    assert new_classifier(win, "Twelve", TWELVE) == ""
    assert "keep it with its key (0–9 and A–B)" in said[-1]
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: shown.append(a[2]))
    win.shortcuts_action.trigger()
    assert "0–9 and A–B on the canvas" in shown[0]
    win.close()


@pytest.mark.parametrize("stored", [7, "maybe", b"\xff\xfe"])
def test_an_unusable_fine_tune_choice_opens_unchecked_and_is_reported(qtbot, app_settings,
                                                                      stored):
    """My samples' "Fine-tune the base too" as stored by hand or by an older version: the
    window opens with it off, says the value was unusable, and keeps the user's next choice."""
    from PySide6.QtWidgets import QCheckBox

    app_settings._s.setValue(app_settings.FINE_TUNE_CLASSES, stored)
    win = open_on(qtbot, app_settings, create("Shapes", "star, heart, house"))
    fine_tune = win.findChild(QCheckBox, "fineTuneClasses")
    assert not fine_tune.isChecked()
    assert app_settings.FINE_TUNE_CLASSES in app_settings.problems()
    qtbot.mouseClick(fine_tune, Qt.MouseButton.LeftButton)
    assert app_settings.fine_tune_classes()
    win.close()
