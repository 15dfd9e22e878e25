"""Where the app opens and keeps things (issue #20, item 9): settings under the app's home,
Save / Load model dialogs in the user's models folder, companion files not taken for models, and
a stored problem said once, in a notice that passes."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO, TIMEOUT, open_window
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QLabel


@pytest.fixture(scope="session")
def homes_before_any_test() -> tuple[Path, Path]:
    """The home a session's fixture sees (made before any test's own home, as the recorded
    runs are) and the one a child it starts sees."""
    from training.core.paths import user_home

    child = subprocess.run([sys.executable, "-c", "from training.core.paths import user_home; "
                            "print(user_home())"], cwd=REPO, capture_output=True, text=True,
                           timeout=60, check=True)
    return user_home(), Path(child.stdout.strip())


def test_no_fixture_test_or_child_sees_the_users_own_home(homes_before_any_test, private_home,
                                                          monkeypatch):
    from training.core.paths import HOME_ENV_VAR, user_home

    monkeypatch.delenv(HOME_ENV_VAR)
    users_own, temporary = user_home(), Path(tempfile.gettempdir()).resolve()
    for home in (*homes_before_any_test, private_home):
        assert home != users_own and home.resolve().is_relative_to(temporary), home
    assert private_home not in homes_before_any_test  # and each test has one of its own


def test_settings_live_under_the_app_home(private_home):
    from desktop_app.settings import AppSettings

    settings = AppSettings()
    settings.set_brush_size(7)
    settings.sync()
    stored = QSettings(str(private_home / "settings.ini"), QSettings.Format.IniFormat)
    assert int(stored.value(AppSettings.BRUSH_SIZE)) == 7
    assert AppSettings().brush_size() == 7


def test_model_folders_default_to_the_users_models_folder(app_settings, private_home, tmp_path):
    assert app_settings.models_folder() == str(private_home / "models")
    assert (private_home / "models").is_dir()
    app_settings.set_model_folder(str(tmp_path))
    assert app_settings.models_folder() == str(tmp_path)
    app_settings.set_model_folder(str(tmp_path / "gone"))     # deleted since: back to the default
    assert app_settings.models_folder() == str(private_home / "models")


def test_load_model_opens_the_models_folder_and_an_internal_file_means_its_model(
        qtbot, window, monkeypatch, private_home):
    asked = []
    internal = REPO / "resources" / "models" / "lecture_cnn_mnist.ood.tflite"

    def choose(parent, caption, start, filters, *args, **kwargs):
        asked.append((start, filters))
        return str(internal), filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    window.load_model_action.trigger()
    assert asked[0][0] == str(private_home / "models")
    assert asked[0][1].split(";;")[0] == "Keras models (*.keras)"   # models first, not twins
    name = window.findChild(QLabel, "modelName")
    qtbot.waitUntil(lambda: window.controller.model().path.endswith(
        "lecture_cnn_mnist.keras"), timeout=TIMEOUT)
    assert "ood" not in name.text()
    assert window.settings.model_folder() == str(internal.parent)


def test_a_companion_file_without_its_model_is_refused_with_a_message(qtbot, window,
                                                                     monkeypatch, tmp_path):
    lone = tmp_path / "lonely.layers.tflite"
    lone.write_bytes(b"not a model")
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *args, **kwargs: (str(lone), ""))
    before = window.controller.model().path
    window.load_model_action.trigger()
    assert "is not a model" in window.statusBar().currentMessage()
    assert window.controller.model().path == before


def test_an_unusable_stored_value_is_said_once_and_the_notice_passes(qtbot, app_settings,
                                                                     monkeypatch):
    import desktop_app.window.messages as main_window  # where the status bar's notices live

    monkeypatch.setattr(main_window, "NOTICE_MS", 300)
    app_settings._s.setValue(app_settings.TRAINING_CONFIG,
                             json.dumps({"epochs": 10**40, "optimizer": "adam"}))
    first = open_window(qtbot, app_settings)
    first.ensure_ready()
    assert "were unusable" in first.statusBar().currentMessage()
    qtbot.waitUntil(lambda: first.statusBar().currentMessage() == "", timeout=TIMEOUT)
    first.close()

    from desktop_app.settings import AppSettings

    again = AppSettings(app_settings._s)          # the next launch, same settings file
    second = open_window(qtbot, again)
    second.ensure_ready()
    assert again.problems() == []
    assert "unusable" not in second.statusBar().currentMessage()
    second.close()


def test_importing_the_same_folder_twice_adds_nothing_the_second_time(
        qtbot, app_settings, private_home, tmp_path, monkeypatch):
    """My samples ▸ Import… of a folder already imported doubled every sample."""
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    folder = tmp_path / "mine" / "3"
    folder.mkdir(parents=True)
    for k in range(3):
        picture = np.zeros((56, 56), np.uint8)
        picture[10:46, 20 + 4 * k:26 + 4 * k] = 255
        Image.fromarray(picture).save(folder / f"three-{k}.png")
    win = open_window(qtbot, app_settings)
    win.ensure_ready()
    qtbot.waitUntil(lambda: win.personal is not None, timeout=TIMEOUT)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder.parent))
    button = win.personal.findChild(QPushButton, "importSamples")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(list((private_home / "samples" / "mnist" / "3").glob("*.png"))) == 3
    assert "3 samples" in win.personal.findChild(QLabel, "sampleCounts").text()
    assert win.statusBar().currentMessage() == (
        "Imported 0 samples; 3 were already among your samples.")
    win.close()
