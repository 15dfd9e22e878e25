"""Training from the main window: the trained model reaches the canvas; closing mid-run is clean;
loaded models show their saved history."""

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import TIMEOUT, line, open_window, stroke, wait_label
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QMessageBox, QPushButton
from test_training_panel import child, choose, make_panel, start


@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    """Runs are saved under $DRAW_CLASSIFY_HOME/runs: never in the user's real folder."""
    monkeypatch.setenv("DRAW_CLASSIFY_HOME", str(tmp_path / "user-home"))
    return tmp_path / "user-home"


def wait_until_idle(qtbot, panel):
    """Until the run's child has ended: trained, kept and measured (or failed)."""
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)


def configure(qtbot, win, data, epochs):
    """Use the window's own panel, set up the way make_panel sets up a standalone one."""
    panel = win.training_panel
    win.show_training_panel()
    reference = make_panel(qtbot, win.settings, data, epochs=epochs)
    panel.set_config(reference.config().to_dict())
    panel.data_folder.setText(str(data))
    panel._on_data_folder_changed()
    return panel


@pytest.mark.slow
def test_use_this_model_switches_the_canvas_to_the_trained_model(qtbot, app_settings, tiny_data,
                                                                 recorded_children):
    win = open_window(qtbot, app_settings)
    stroke(qtbot, win.canvas, line((196, 60), (190, 330)))
    wait_label(qtbot, win, lambda t: t.startswith("1"))
    shipped = win.chart.probabilities()

    panel = configure(qtbot, win, tiny_data, epochs=2)
    start(qtbot, panel)
    # While it trains, the canvas keeps classifying with the model in use.
    stroke(qtbot, win.canvas, line((100, 70), (300, 70)))
    qtbot.waitUntil(lambda: not np.allclose(win.chart.probabilities(), shipped, atol=1e-3),
                    timeout=TIMEOUT)
    wait_until_idle(qtbot, panel)
    assert panel.last_result() is not None

    before = win.chart.probabilities()
    qtbot.mouseClick(child(panel, QPushButton, "useModel"), Qt.MouseButton.LeftButton)
    name = Path(panel.last_result().path).stem  # the run's file: mnist_lecture_dense
    qtbot.waitUntil(lambda: getattr(win.controller.model(), "path", None)
                    == panel.last_result().path, timeout=TIMEOUT)
    assert name in win.model_status.text()
    qtbot.waitUntil(lambda: not np.allclose(win.chart.probabilities(), before, atol=1e-3),
                    timeout=TIMEOUT)
    assert f"{panel.last_result().test_accuracy:.2%}" in win.model_status.text()
    # Loading the run's file does not replace the run's results: it can still be saved.
    assert child(panel, QPushButton, "saveModel").isEnabled()


@pytest.mark.slow
def test_closing_during_training_stops_it_and_exits_cleanly(qtbot, app_settings, tiny_data,
                                                            monkeypatch):
    win = open_window(qtbot, app_settings)
    panel = configure(qtbot, win, tiny_data, epochs=200)
    start(qtbot, panel)
    qtbot.waitUntil(lambda: panel.progress.maximum() > 0 and panel.progress.value() > 0,
                    timeout=TIMEOUT)
    pid = panel.controller.job().pid
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert win.close()
    assert not panel.is_training()  # and the autouse fixture checks no thread is left
    assert not os.path.exists(f"/proc/{pid}")  # the child ended and was reaped


@pytest.mark.slow
def test_saying_no_keeps_the_window_and_the_run(qtbot, app_settings, tiny_data, monkeypatch,
                                                recorded_children):
    win = open_window(qtbot, app_settings)
    panel = configure(qtbot, win, tiny_data, epochs=200)
    start(qtbot, panel)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert not win.close()
    assert win.isVisible() and panel.is_training()
    panel.request_stop()
    wait_until_idle(qtbot, panel)
    monkeypatch.setattr(QMessageBox, "question",  # the stopped run: discard it and close
                        lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert win.close()


@pytest.mark.slow
def test_a_loaded_model_shows_its_saved_history(qtbot, app_settings, tmp_path):
    from training.learn.models import build_model
    from training.learn.saving import save_model

    history = {"loss": [0.9, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9],
               "val_loss": [0.8, 0.6, 0.5], "val_accuracy": [0.7, 0.75, 0.8]}
    path = save_model(build_model("lecture_dense"), tmp_path / "mine.keras",
                      {"dataset": "mnist", "history": history, "test_accuracy": 0.812,
                       "test_loss": 0.55, "confusion": np.eye(10, dtype=int).tolist(),
                       "class_names": list("0123456789")})
    win = open_window(qtbot, app_settings)
    win.load_model(str(path))
    qtbot.waitUntil(lambda: "mine" in win.model_status.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: win.training_panel.charts.points().get("loss") == history["loss"],
                    timeout=TIMEOUT)
    assert "81.20%" in win.model_status.text()



def _assert_all_ended(children: list[int]) -> None:
    from conftest import child_pids

    from desktop_app.jobs.threads import running_threads

    assert child_pids() == [] and running_threads() == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # reaped, no zombie


def test_closing_during_a_download_ends_it_and_leaves_no_partial_file(
        qtbot, app_settings, tmp_path, isolated_cache, file_server, monkeypatch):
    import threading

    from conftest import child_pids, write_idx_dataset

    www, url, state = file_server
    write_idx_dataset(www, train=200, test=50)
    state["stall"] = threading.Event()  # the server sends half a file, then waits
    monkeypatch.setenv("DRAW_CLASSIFY_DOWNLOAD_URL", url)
    empty = tmp_path / "no-data-here"
    empty.mkdir()
    win = open_window(qtbot, app_settings)
    panel = configure(qtbot, win, empty, epochs=1)
    choose(child(panel, QComboBox, "datasetField"), "fashion_mnist")  # IDX files: the server's
    start(qtbot, panel)
    qtbot.waitUntil(state["stalled"].is_set, timeout=TIMEOUT)
    children = child_pids()
    assert children and panel.is_training()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert win.close()
    state["stall"].set()
    _assert_all_ended(children)
    keras_home = isolated_cache / "keras-home" / "datasets"
    cached = [p for p in keras_home.rglob("*") if p.is_file()] if keras_home.exists() else []
    assert cached == [], cached  # no half-downloaded dataset where a whole one belongs


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["evaluate_begin", "result"])
def test_closing_while_the_results_come_in_ends_everything(qtbot, app_settings, tiny_data,
                                                            moment, recorded_children):
    """Close at the end of a run: while the child evaluates, and the moment its result reaches
    the panel (the gallery and the confusion matrix are being drawn)."""
    from conftest import child_pids
    from PySide6.QtCore import QTimer

    win = open_window(qtbot, app_settings)
    panel = configure(qtbot, win, tiny_data, epochs=1)
    seen, children, closed = [], [], []  # the prompts are answered by the autouse fixture

    def close_now():
        children.extend(child_pids())
        closed.append(win.close())

    def on_event(event):
        if getattr(event, "event", None) == moment and not seen:
            seen.append(moment)
            QTimer.singleShot(0, close_now)

    panel.controller.progress.connect(on_event)
    panel.controller.finished.connect(lambda run: on_event(run.result))
    start(qtbot, panel)
    qtbot.waitUntil(lambda: closed != [], timeout=TIMEOUT)
    assert closed == [True] and seen == [moment]
    assert not panel.is_training()
    _assert_all_ended(children)


@pytest.mark.slow
def test_a_stopped_model_is_used_on_the_canvas_while_it_is_being_measured(qtbot, app_settings,
                                                                           tiny_data,
                                                                           recorded_children):
    """Issue #20 (7) through the window: Stop, then "Use this model" at once; the canvas
    switches to the kept model before its evaluation has ended, and Start is available."""
    win = open_window(qtbot, app_settings)
    panel = configure(qtbot, win, tiny_data, epochs=200)
    events = []
    panel.controller.progress.connect(lambda message: events.append(message.event))
    panel.controller.finished.connect(lambda result: events.append("result"))
    start(qtbot, panel)
    qtbot.waitUntil(lambda: "batch" in events, timeout=TIMEOUT)
    qtbot.mouseClick(child(panel, QPushButton, "stopTraining"), Qt.MouseButton.LeftButton)
    start_button = child(panel, QPushButton, "startTraining")
    qtbot.waitUntil(start_button.isEnabled, timeout=TIMEOUT)
    assert "result" not in events  # kept, not yet measured
    name = Path(panel.last_result().path).stem
    qtbot.mouseClick(child(panel, QPushButton, "useModel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: getattr(win.controller.model(), "path", None)
                    == panel.last_result().path, timeout=TIMEOUT)
    assert name in win.model_status.text()
    stroke(qtbot, win.canvas, line((100, 70), (300, 70)))
    wait_label(qtbot, win, lambda text: " — " in text or text.startswith(("Not sure", "That")))
    wait_until_idle(qtbot, panel)
    assert panel.last_result().status == "stopped" and "result" in events
    # Measured: the canvas answers with its temperature from then on (it loads the model
    # again if it had loaded it before the measuring ended).
    kept = panel.last_result().path
    qtbot.waitUntil(lambda: win.controller.model().path == kept
                    and win.controller.model().calibrated, timeout=TIMEOUT)
