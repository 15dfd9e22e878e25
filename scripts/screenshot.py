"""Open the app, draw a digit with real mouse events, and save a screenshot (for the README).

    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshot.py docs/screenshot.png
    options: --size=WxH (window size, default 1280x800), --training (train two epochs first),
             --teach=DIALOG.png (store ten flagged "1"s as samples, teach, save the dialog too),
             --views (show "What each layer sees" on the right, "Models side by side" below),
             --confidence=PANEL.png (with --training: hold out 10 % for calibration, then save
             the training panel showing the reliability diagram),
             --saliency=WINDOW.png (a closed-top 4 with "Where it looks" on, the window saved)
"""

import sys
import time

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def wait(app, seconds=0.0, until=None, timeout=60.0):
    deadline = time.time() + (timeout if until else seconds)
    while time.time() < deadline:
        app.processEvents()
        if until and until():
            return True
        time.sleep(0.01)
    return False


def draw_stroke(canvas, points):
    """``points`` on a 392-pixel reference canvas, mapped to where the canvas shows them."""
    shown = canvas.picture_rect()
    scale = shown.width() / 392

    def at(x, y):
        return QPoint(round(shown.x() + x * scale), round(shown.y() + y * scale))

    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     at(*points[0]))
    for x, y in points[1:]:
        QTest.mouseMove(canvas, at(x, y))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       at(*points[-1]))


def seven(scale=1.0):
    top = [(110 + i * 8, 90) for i in range(22)]
    down = [(286 - i * 5, 90 + i * 12) for i in range(22)]
    return [(int(x * scale), int(y * scale)) for x, y in top + down]


def flagged_one(shift=0, flag=40, drop=30):
    """A "1" written the European way: a flag up to the top, then straight down. The shipped
    model reads flags up to about a third of the stem untaught; a long level one (flag ~140,
    drop ~15) is the hand it reads as "7", and the one teaching is shown on."""
    flag_part = [(200 + shift - flag + i * flag // 10, 85 + drop - i * drop // 10)
                 for i in range(11)]
    down = [(200 + shift - i * 2, 85 + i * 12) for i in range(22)]
    return flag_part + down


def teach(app, window, out: str) -> None:
    from PySide6.QtWidgets import QPushButton

    window.canvas.clear()  # the drawing left by the shots before is not a sample
    for k in range(10):
        draw_stroke(window.canvas, flagged_one(shift=6 * k - 30, flag=130 + 4 * k, drop=15))
        wait(app, 0.2)
        window.findChild(QPushButton, "thisIs1").click()
    draw_stroke(window.canvas, flagged_one(shift=-10, flag=140, drop=15))  # read after
    started = time.perf_counter()
    window.teach_action.trigger()
    dialog = window.teach_dialog()
    keep = dialog.findChild(QPushButton, "keepTaught")
    wait(app, 1.0)
    wait(app, until=lambda: not dialog.controller.is_running(), timeout=600)
    seconds = time.perf_counter() - started  # from the menu to Keep enabled
    wait(app, 0.5)
    dialog.grab().save(out)
    print(out, f"{seconds:.1f} s from the menu to the result;", dialog.message.text(),
          dialog.results.text()[:300])
    keep.click()
    wait(app, until=lambda: "taught" in window.model_name.text(), timeout=60)
    wait(app, 1.0)


def saliency(app, window, out: str) -> None:
    from PySide6.QtGui import QAction

    action = window.findChild(QAction, "showSaliency")
    maps = []
    window.controller.explained.connect(maps.append)
    window.canvas.clear()
    action.trigger()
    draw_stroke(window.canvas, [(110 + i * 12, 80 - i) for i in range(11)]
                + [(230, 70 + i * 13) for i in range(21)])
    draw_stroke(window.canvas, [(110, 80 + i * 15) for i in range(11)]
                + [(110 + i * 13, 230) for i in range(13)])
    wait(app, until=lambda: bool(maps), timeout=60)
    wait(app, 1.5)
    window.grab().save(out)
    print(out, window.prediction_label.text())
    action.trigger()
    window.canvas.clear()
    draw_stroke(window.canvas, seven())
    wait(app, 1.0)


def main(out: str) -> None:
    app = QApplication(sys.argv)
    from desktop_app.main_window import MainWindow

    window = MainWindow()
    size = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--size=")), "1280x800")
    width, height = map(int, size.split("x"))
    window.resize(width, height)
    window.show()
    wait(app, until=window.model_ready)
    wait(app, until=lambda: "Loading" not in window.samples._hint.text() or
         not window.samples._hint.isVisible(), timeout=20)
    draw_stroke(window.canvas, seven())
    wait(app, 1.0)
    if "--training" in sys.argv:
        # One quick epoch from the training panel, then show its results.
        panel = window.training_panel
        window.show_training_panel()
        panel.preset.setCurrentText("Quick")
        panel.preset.activated.emit(panel.preset.currentIndex())
        panel.epochs.setValue(2)
        confidence_shot = next((a.split("=", 1)[1] for a in sys.argv
                                if a.startswith("--confidence=")), None)
        if confidence_shot:
            panel.validation_split.setValue(0.1)  # the temperature is fitted on it
        panel.start()
        wait(app, until=lambda: not panel.is_training(), timeout=300)
        wait(app, 1.0)
        if confidence_shot:
            panel.results.charts.setCurrentIndex(1)
            wait(app, until=lambda: panel.results.reliability.rendered_once(), timeout=30)
            wait(app, 1.0)
            panel.grab().save(confidence_shot)
            print(confidence_shot, panel.results.charts.tabText(1))
            panel.results.charts.setCurrentIndex(0)
            wait(app, 1.0)
    if "--views" in sys.argv:
        window.canvas.clear()  # a "1" with a flag: the models do not all agree
        draw_stroke(window.canvas, flagged_one(shift=10, flag=90))
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.compare_dock)
        window.show_dock(window.compare_dock)
        window.show_dock(window.layers_dock)
        window.resizeDocks([window.layers_dock], [width // 3], Qt.Orientation.Horizontal)
        window.resizeDocks([window.compare_dock], [height * 2 // 5], Qt.Orientation.Vertical)
        wait(app, until=lambda: window.layers_view.updates > 0 and
             window.compare_view.comparisons > 0, timeout=60)
        wait(app, 1.0)
        # Every layer of the lecture's CNN, whole (the dock scrolls): OUT-layers.png.
        combo, done = window.layers_view.model_choice, window.layers_view.updates
        combo.setCurrentIndex(combo.findText("Lecture CNN"))
        wait(app, until=lambda: window.layers_view.updates > done, timeout=60)
        wait(app, 0.5)
        from PySide6.QtWidgets import QScrollArea

        content = window.layers_view.findChild(QScrollArea).widget()
        layers_out = out.rsplit(".", 1)[0] + "-layers.png"
        content.grab().save(layers_out)
        print(layers_out)
        combo.setCurrentIndex(0)
        wait(app, 1.0)
    saliency_shot = next((a.split("=", 1)[1] for a in sys.argv
                          if a.startswith("--saliency=")), None)
    if saliency_shot:
        saliency(app, window, saliency_shot)
    teach_shot = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--teach=")), None)
    if teach_shot:
        teach(app, window, teach_shot)
    window.grab().save(out)
    print(out, window.prediction_label.text())
    from PySide6.QtWidgets import QMessageBox

    # The run just trained is not worth keeping: answer "Discard" to the close prompt.
    QMessageBox.question = lambda *args, **kwargs: QMessageBox.StandardButton.Discard
    window.close()


if __name__ == "__main__":
    main(next((a for a in sys.argv[1:] if not a.startswith("--")), "screenshot.png"))
