"""A real window session (launch, draw, classify, switch dataset, open the training panel) loads
no TensorFlow or Keras: the import rules themselves are pyproject.toml's import-linter contracts
(tests/test_layers_contract.py)."""

import subprocess
import sys

from conftest import REPO

WINDOW_SESSION = r"""
import sys, time
from PySide6.QtCore import QPoint, Qt, QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop_app.main_window import MainWindow
from desktop_app.settings import AppSettings
window = MainWindow(AppSettings(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
window.show()
window.ensure_ready()
def wait(condition, seconds=60):
    end = time.time() + seconds
    while not condition():
        assert time.time() < end, "timed out"
        app.processEvents(); time.sleep(0.005)
wait(window.model_ready)
results = []
window.controller.resultReady.connect(lambda r: results.append(r))
canvas = window.canvas
QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(196, 60))
for y in range(60, 330, 10):
    QTest.mouseMove(canvas, QPoint(193, y))
QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(190, 330))
wait(lambda: results and results[-1].probabilities is not None)
window.dataset_selector.setCurrentIndex(window.dataset_selector.findData("fashion_mnist"))
wait(lambda: window.controller.model("fashion_mnist") is not None)
window.training_dock.show(); window.training_dock.raise_()
for _ in range(50):
    app.processEvents(); time.sleep(0.01)
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
window.close()
"""


def test_the_window_process_never_imports_tensorflow(tmp_path):
    """Launch, draw, classify, switch dataset, open the training panel: no TensorFlow, no Keras
    in the window's process (they run in child processes only)."""
    import os

    out = subprocess.run([sys.executable, "-c", WINDOW_SESSION, str(tmp_path / "s.ini")],
                         capture_output=True, text=True, timeout=300, cwd=REPO,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
