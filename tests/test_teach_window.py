"""Model ▸ Teach it my handwriting, through the real window: samples stored with the "This is…"
buttons, a real teaching child (few steps, the tiny synthetic dataset), before → after shown,
Keep switches the canvas to the taught model and names it, Discard and closing leave nothing.
Runs that are stopped or closed while they teach replay a real stopped run recorded once per
session (tests/recorded_child.py): the window's side is their subject."""

from __future__ import annotations

import pytest
from conftest import TIMEOUT, line, open_window, stroke
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

FAST = ["--steps", "3", "--cv-steps", "1"]  # a real teaching child, in as few steps as it takes


@pytest.fixture
def teach_window(qtbot, app_settings, tiny_data):
    app_settings.set_data_dir(str(tiny_data))  # the replay and the test set: tiny, synthetic
    win = open_window(qtbot, app_settings)
    win.teach_dialog().controller.extra_args = FAST
    return win


def store_samples(qtbot, win, label: int, count: int) -> None:
    for k in range(count):
        stroke(qtbot, win.canvas, line((190 + 4 * k, 60), (200, 330)))
        qtbot.mouseClick(win.findChild(QPushButton, f"thisIs{label}"),
                         Qt.MouseButton.LeftButton)
        assert win.canvas.is_empty()  # stored and cleared for the next one


def run_teaching(qtbot, win):
    win.findChild(type(win.teach_action), "teachModel").trigger()
    dialog = win.teach_dialog()
    keep = dialog.findChild(QPushButton, "keepTaught")
    qtbot.waitUntil(lambda: keep.isVisible() or dialog.message.text() != "", timeout=120_000)
    assert keep.isVisible(), dialog.message.text()
    return dialog


def models_in(home):
    folder = home / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_bar_is_the_whole_run_and_says_the_seconds_left(qtbot):
    """The child's ``done`` of ``work`` fill the bar (reading the pictures and saving are part
    of the run, not only the teaching steps), and its text gives the whole run's time left."""
    from desktop_app.learning.teach_dialog import TeachDialog
    from training.protocol.messages import TeachBatch

    dialog = TeachDialog()
    qtbot.addWidget(dialog)

    def batch(phase, step, done, eta):
        return TeachBatch(phase=phase, fold=None, step=step, steps=200, batch=step, epoch=1,
                          epochs=1, loss=None, accuracy=None, eta_seconds=eta, done=done,
                          work=4000)

    dialog._on_progress(batch("reading", 0, 1000, 30.4))
    assert dialog.progress.value() == 250 and dialog.progress.maximum() == 1000
    assert dialog.progress.format() == "Reading the pictures · 30 s left"
    dialog._on_progress(batch("final", 40, 3000, 9.6))
    assert dialog.progress.value() == 750
    assert dialog.progress.format() == "Teaching: step 40 of 200 · 10 s left"


def test_without_samples_it_says_how_to_make_some(qtbot, teach_window):
    win = teach_window
    win.findChild(type(win.teach_action), "teachModel").trigger()
    assert "No samples to teach yet" in win.statusBar().currentMessage()
    assert not win.teach_dialog().controller.is_running()


@pytest.mark.slow
def test_closing_while_teaching_ends_the_child_and_leaves_no_model(qtbot, teach_window,
                                                                  private_home,
                                                                  recorded_teaching):
    from conftest import child_pids

    from desktop_app.jobs.threads import running_threads

    win = teach_window
    win.teach_dialog().controller.extra_args = ["--steps", "100000", "--cv-steps", "0"]
    store_samples(qtbot, win, 3, 2)
    win.findChild(type(win.teach_action), "teachModel").trigger()
    dialog = win.teach_dialog()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=120_000)  # really teaching
    children = child_pids()
    assert children
    assert win.close()
    assert child_pids() == [] and running_threads() == []
    assert models_in(private_home) == []


@pytest.mark.slow
def test_stop_stops_and_the_model_in_use_stays(qtbot, teach_window, private_home,
                                               recorded_teaching):
    win = teach_window
    win.teach_dialog().controller.extra_args = ["--steps", "100000", "--cv-steps", "0"]
    store_samples(qtbot, win, 3, 2)
    win.findChild(type(win.teach_action), "teachModel").trigger()
    dialog = win.teach_dialog()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=120_000)
    qtbot.mouseClick(dialog.findChild(QPushButton, "stopTeaching"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.controller.is_running(), timeout=TIMEOUT)
    assert dialog.message.text() == "Teaching stopped; the model in use is unchanged."
    assert models_in(private_home) == [] and win.controller.model().shipped


@pytest.mark.slow
def test_escape_stops_teaching_as_closing_does(qtbot, teach_window, private_home,
                                               recorded_teaching):
    """Esc only hid the dialog: teaching went on unseen and left its model in models/."""
    win = teach_window
    dialog = start_long_teaching(qtbot, win)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.controller.is_running(), timeout=TIMEOUT)
    assert not dialog.isVisible()
    assert models_in(private_home) == [] and win.controller.model().shipped


def asked(monkeypatch, answer):
    """Answer every question box with ``answer``; the list of (title, text) asked."""
    from PySide6.QtWidgets import QMessageBox

    questions = []

    def question(parent, title, text, *args, **kwargs):
        questions.append((title, text))
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    return questions


def start_long_teaching(qtbot, win):
    win.teach_dialog().controller.extra_args = ["--steps", "100000", "--cv-steps", "0"]
    store_samples(qtbot, win, 3, 2)
    win.findChild(type(win.teach_action), "teachModel").trigger()
    dialog = win.teach_dialog()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=120_000)
    return dialog


@pytest.mark.slow
def test_closing_while_teaching_asks_and_no_keeps_teaching(qtbot, teach_window, monkeypatch,
                                                           recorded_teaching):
    from conftest import child_pids
    from PySide6.QtWidgets import QMessageBox

    win = teach_window
    dialog = start_long_teaching(qtbot, win)
    questions = asked(monkeypatch, QMessageBox.StandardButton.No)
    assert not win.close()
    assert [title for title, _ in questions] == ["Teaching is running"]
    assert win.isVisible() and dialog.controller.is_running() and child_pids()
    questions = asked(monkeypatch, QMessageBox.StandardButton.Yes)
    assert win.close() and questions
    assert child_pids() == []


@pytest.mark.slow
def test_ctrl_q_quits_while_the_teach_dialog_has_the_focus(qtbot, teach_window, monkeypatch,
                                                           recorded_teaching):
    from PySide6.QtCore import Qt as QtKeys
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMessageBox

    win = teach_window
    dialog = start_long_teaching(qtbot, win)
    questions = asked(monkeypatch, QMessageBox.StandardButton.Yes)
    dialog.activateWindow()
    dialog.setFocus()
    QTest.keyClick(dialog, QtKeys.Key.Key_Q, QtKeys.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=TIMEOUT)
    assert [title for title, _ in questions] == ["Teaching is running"]
    from conftest import child_pids

    assert child_pids() == []


@pytest.mark.slow
def test_keep_names_the_taught_model_and_teaching_it_again_starts_from_the_original(
        qtbot, teach_window, private_home, monkeypatch):
    """Keep puts the taught model in use, named and remembered; teaching it again asks first
    when no sample is new, and starts from the original when one is; Discard removes that
    second model and keeps the one in use. (One journey: each teaching is a TensorFlow child.)"""
    from PySide6.QtWidgets import QMessageBox

    win = teach_window
    store_samples(qtbot, win, 1, 3)
    dialog = run_teaching(qtbot, win)
    table = dialog.findChild(QLabel, "teachResults").text()
    assert "Official test set (100 pictures)" in table and "Your 3 samples" in table
    assert "→" in table
    kept = models_in(private_home)
    assert len([n for n in kept if n.endswith(".keras")]) == 1
    assert any(n.endswith(".tflite") for n in kept) and any(n.endswith(".json") for n in kept)

    qtbot.mouseClick(dialog.findChild(QPushButton, "keepTaught"), Qt.MouseButton.LeftButton)
    name = win.findChild(QLabel, "modelName")
    qtbot.waitUntil(lambda: name.text() == "MNIST · taught with 3 samples", timeout=TIMEOUT)
    info = win.controller.model()
    assert info.metadata["lineage"]["samples"] == 3
    assert info.calibrated  # its own temperature, fitted after teaching
    assert win.settings.model_path("mnist") == info.path   # remembered for the next launch
    stroke(qtbot, win.canvas, line((196, 60), (190, 330)))
    qtbot.waitUntil(lambda: win.prediction_label.text() != "Draw something", timeout=TIMEOUT)
    assert not dialog.isVisible()
    win.canvas.clear()

    questions = asked(monkeypatch, QMessageBox.StandardButton.No)   # nothing new: ask first
    win.findChild(type(win.teach_action), "teachModel").trigger()
    assert len(questions) == 1 and "already taught these 3 samples" in questions[0][1]
    assert not dialog.controller.is_running()

    store_samples(qtbot, win, 7, 1)                                  # something new: no question
    questions = asked(monkeypatch, QMessageBox.StandardButton.No)
    win.findChild(type(win.teach_action), "teachModel").trigger()
    assert questions == [] and dialog.controller.is_running()
    assert "the original of MNIST · taught with 3 samples" in dialog.heading.text()
    keep = dialog.findChild(QPushButton, "keepTaught")
    qtbot.waitUntil(lambda: keep.isVisible() or dialog.message.text() != "", timeout=120_000)
    assert keep.isVisible(), dialog.message.text()
    assert len(models_in(private_home)) > len(kept)                  # the second model, written

    qtbot.mouseClick(dialog.findChild(QPushButton, "discardTaught"), Qt.MouseButton.LeftButton)
    assert models_in(private_home) == kept
    assert name.text() == "MNIST · taught with 3 samples" and win.controller.model().path == info.path
