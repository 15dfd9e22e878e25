"""Screenshot of a classifier of your own classes (for the README): five letters, ten of each
drawn through the canvas and kept, My samples ▸ Train, then a new letter drawn.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshot_classes.py \
        docs/own-classes.png

Runs in a fresh temporary home folder (your own classifiers are not touched); prints the
seconds from Train to the model in use.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["DRAW_CLASSIFY_HOME"] = tempfile.mkdtemp(prefix="screenshot-classes-")

import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QPushButton  # noqa: E402

from bench.bench_own_classes import LETTERS, Hand, letter_strokes, wait  # noqa: E402


def main(out: str) -> None:
    from desktop_app.main_window import MainWindow
    from desktop_app.settings import AppSettings
    from training.core.classifiers import create

    app = QApplication(sys.argv)
    classifier = create("Letters", ", ".join(LETTERS))
    settings = AppSettings(QSettings(os.path.join(os.environ["DRAW_CLASSIFY_HOME"],
                                                  "settings.ini"), QSettings.Format.IniFormat))
    settings.set_dataset(classifier.name)
    win = MainWindow(settings=settings)
    win.resize(1280, 800)
    win.show()
    win.ensure_ready()
    win.show_dock(win.personal_dock)
    hand, rng = Hand(win), np.random.default_rng(7)
    for _ in range(10):
        for label, letter in enumerate(LETTERS):
            win.canvas.clear()
            hand.draw(letter_strokes(letter, rng, 1.0))
            win.findChild(QPushButton, f"thisIs{label}").click()
    started = time.perf_counter()
    win.findChild(QPushButton, "trainClasses").click()
    wait(app, lambda: win.controller.model() is not None
         and win.controller.model().path == str(classifier.model_path), 600)
    print(f"Train -> model in use: {time.perf_counter() - started:.1f} s")
    win.canvas.clear()
    hand.draw(letter_strokes("K", rng, 1.3))
    wait(app, lambda: win.prediction_label.text().startswith("K"), 30)
    wait(app, lambda: False, 1.0)  # the chart and the docks settle
    win.grab().save(out)
    print(f"saved {out}: the answer {win.prediction_label.text()!r}")
    win.close()


if __name__ == "__main__":
    main(next((a for a in sys.argv[1:] if not a.startswith("--")), "own-classes.png"))
