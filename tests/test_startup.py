"""Start-up (issue #22): the first frame imports only what it shows, the model loads in its
thread while that frame paints, and the rest of the window is built once the first answer is
out. What the user does meanwhile is kept: a stroke drawn at once is answered when the model is
ready, and the docks built later follow the dataset and the drawing of that moment."""

import json
import os
import subprocess
import sys

from conftest import REPO, TIMEOUT, line, stroke

from desktop_app.main_window import MainWindow

# Not needed before the first frame: the prediction's modules (loaded in the inference thread),
# the docks' panels and the child processes' protocol (imported when the docks are built).
NOT_IN_THE_FIRST_FRAME = (
    "numpy", "PIL", "ai_edge_litert", "matplotlib", "tensorflow", "keras", "importlib.metadata",
    "importlib.resources", "subprocess",
    "training.runtime", "training.protocol.messages", "desktop_app.jobs.child",
    "desktop_app.prediction.inference_worker", "desktop_app.prediction.explain_worker",
    "desktop_app.prediction.picture_loader", "desktop_app.prediction.conversion",
    "desktop_app.views.probability_chart", "desktop_app.views.sample_browser",
    "desktop_app.views.personal_samples", "desktop_app.views.layers_view",
    "desktop_app.views.compare_view", "desktop_app.learning", "desktop_app.figures",
    # the speed cache (the panel's estimate) and the standard modules only a later step needs:
    # ~6 ms of the ~100 ms between a bare window and this one (session 17)
    "training.core.speed_cache", "training.core.cpu", "platform", "datetime", "gzip",
)

FIRST_FRAME = r"""
import json, sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop_app.app import configure_process
configure_process()
from desktop_app.main_window import MainWindow
from desktop_app.settings import AppSettings
window = MainWindow(AppSettings(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
print(json.dumps(sorted(sys.modules)))
"""

FIRST_ANSWER = r"""
import json, sys, time
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop_app.main_window import MainWindow
from desktop_app.settings import AppSettings
window = MainWindow(AppSettings(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
window.show()
app.processEvents()
answers = []
window.controller.resultReady.connect(
    lambda r: r.probabilities is not None and answers.append((r, sorted(sys.modules))))
canvas = window.canvas  # a stroke drawn at once, before the model is ready
QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(196, 60))
for y in range(60, 330, 10):
    QTest.mouseMove(canvas, QPoint(193, y))
QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(190, 330))
end = time.time() + 60
while not (answers and window.model_ready()) and time.time() < end:
    app.processEvents(); time.sleep(0.005)
answer, modules = answers[0]
print(json.dumps({"label": int(answer.probabilities.argmax()), "modules": modules,
                  "checked": answer.ood_score is not None and answer.verdict is not None,
                  "calibrated": window.controller.model().calibrated,
                  "built": [getattr(window, name) is not None for name in (
                      "chart", "samples", "personal", "layers_view", "compare_view",
                      "training_panel")]}))
window.close()
"""


def _run(code: str, tmp_path) -> dict | list:
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "settings.ini")],
                         capture_output=True, text=True, timeout=300, cwd=REPO,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in names)]


def test_the_first_frame_imports_only_what_it_shows(tmp_path):
    """The window made (canvas, menus, the docks' tabs, the prediction controller) has imported
    no numpy, no Pillow, no LiteRT and none of the docks' panels."""
    assert _loaded(_run(FIRST_FRAME, tmp_path), NOT_IN_THE_FIRST_FRAME) == []


def test_a_stroke_drawn_at_once_is_answered_without_extra_imports(tmp_path):
    """Drawn before the model is ready, the stroke is answered once it is, calibrated and
    checked ("doesn't look like") like any other answer; the way there imports neither
    numpy.ma (np.median's first call does), nor the number reader (a single digit only needs
    its pre-check), nor importlib.resources (~8 ms: the shipped files are found from their
    package), nor TensorFlow; the rest of the window is built after."""
    session = _run(FIRST_ANSWER, tmp_path)
    assert session["label"] == 1
    assert session["checked"] and session["calibrated"]
    assert _loaded(session["modules"], ("numpy.ma", "tensorflow", "keras", "importlib.resources",
                                        "training.runtime.numbers")) == []
    assert all(session["built"])


def test_the_docks_built_later_follow_what_happened_before(qtbot, app_settings):
    """The dataset switched and a drawing made before the docks' panels exist: once built,
    they show that dataset, and the layers view that drawing."""
    window = MainWindow(settings=app_settings)
    qtbot.addWidget(window)
    window.show()
    assert window.personal is None and window.layers_view is None  # built after the answer
    window.dataset_selector.setCurrentIndex(window.dataset_selector.findData("fashion_mnist"))
    stroke(qtbot, window.canvas, line((100, 100), (300, 300)))
    qtbot.waitUntil(window.model_ready, timeout=TIMEOUT)
    assert window.personal.store.info.name == "fashion_mnist"
    assert window.chart.class_names()[0] == "T-shirt/top"
    window.show_dock(window.layers_dock)
    qtbot.waitUntil(lambda: bool(window.layers_view.panels), timeout=TIMEOUT)


SOURCES_READ = r"""
import json, linecache, sys
sys.path.insert(0, sys.argv[1])
import PySide6.QtWidgets
import before_set_up
from desktop_app.app import configure_process
configure_process()
import after_set_up
print(json.dumps({name: any(path.endswith(name + ".py") for path in linecache.cache)
                  for name in ("before_set_up", "after_set_up")}))
"""


def test_pyside_reads_no_module_imported_after_the_set_up(tmp_path):
    """PySide6 reads the whole source of each module imported after it (to switch its opt-in
    ``__feature__`` syntax per module): ~60 ms of the way to the first answer here. The app's
    set-up marks every module as one PySide6 is to ignore, and none is read any more."""
    for name in ("before_set_up", "after_set_up"):
        (tmp_path / f"{name}.py").write_text("# a module that names PySide6\nVALUE = 1\n")
    done = subprocess.run([sys.executable, "-c", SOURCES_READ, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"before_set_up": True, "after_set_up": False}


def test_one_blas_thread_is_the_windows_choice_and_children_get_the_users(monkeypatch):
    from desktop_app.app import configure_process
    from desktop_app.jobs.child import child_environment

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("DRAW_CLASSIFY_WINDOW_BLAS", raising=False)
    monkeypatch.setattr("sys.setswitchinterval", lambda interval: None)
    configure_process()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"  # the window's own numpy
    env = child_environment()
    assert "OPENBLAS_NUM_THREADS" not in env and "DRAW_CLASSIFY_WINDOW_BLAS" not in env

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # the user's choice: everyone keeps it
    monkeypatch.delenv("DRAW_CLASSIFY_WINDOW_BLAS")
    configure_process()
    assert child_environment()["OPENBLAS_NUM_THREADS"] == "3"
