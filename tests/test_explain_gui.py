"""The "where it looks" overlay on the canvas (issue #10): toggled by the showSaliency action or
S, computed off the GUI thread after the probabilities, and landing on the strokes."""

import numpy as np
from conftest import TIMEOUT, line, stroke, wait_label
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QImage
from PySide6.QtTest import QTest

from desktop_app.jobs.threads import running_threads
from desktop_app.views.canvas_widget import qimage_to_array


def draw_seven(qtbot, canvas, shift=(0, 0)):
    dx, dy = shift
    stroke(qtbot, canvas, line((100 + dx, 90 + dy), (280 + dx, 90 + dy)))
    stroke(qtbot, canvas, line((280 + dx, 90 + dy), (170 + dx, 320 + dy)))


def overlay_alpha(window):
    image = window.canvas.overlay()
    return None if image is None else qimage_to_array(image, QImage.Format.Format_RGBA8888)[..., 3]


def ink_blocks(grey, shape):
    """The canvas (white ink on black) in blocks of the overlay's pixels: (mostly ink, any ink,
    all ink)."""
    step = grey.shape[0] // shape[0]
    blocks = grey.reshape(shape[0], step, shape[1], step)
    return blocks.mean((1, 3)) > 128, blocks.max((1, 3)) > 0, blocks.min((1, 3)) > 128


def check_overlay_lies_on(alpha, grey):
    mostly, some, full = ink_blocks(grey, alpha.shape)
    strong = alpha > 100
    assert strong.sum() > 200
    assert mostly[strong].mean() > 0.95      # the colour is on the strokes...
    assert (alpha[full] > 0).mean() > 0.8    # ...and on most of them (the mapping is right)
    assert not alpha[~some].any()            # never on the paper


def check_overlay_lies_on_the_ink(window):
    check_overlay_lies_on(overlay_alpha(window), window.canvas.grey_array())


def test_toggle_draw_overlay_on_the_strokes_then_off(qtbot, window):
    action = window.findChild(QAction, "showSaliency")
    assert action.isCheckable() and action in window.view_menu.actions()
    assert action.shortcut().toString() == "S"
    maps = []
    window.controller.explained.connect(maps.append)
    action.trigger()
    draw_seven(qtbot, window.canvas)
    wait_label(qtbot, window, lambda text: text.startswith("7"))
    qtbot.waitUntil(lambda: overlay_alpha(window) is not None and maps
                    and maps[-1].label == 7, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not window.controller._explains.is_busy(), timeout=TIMEOUT)
    check_overlay_lies_on_the_ink(window)
    last = maps[-1]
    assert last.saliency.shape == (28, 28) and last.saliency.max() > 0
    assert last.lag_ms >= 0
    assert "explainer" in running_threads()  # its own thread: not the GUI's, nor inference's

    action.trigger()
    assert window.canvas.overlay() is None
    count = len(maps)
    results = []
    window.controller.resultReady.connect(results.append)
    stroke(qtbot, window.canvas, line((60, 300), (120, 340)))
    qtbot.waitUntil(lambda: bool(results) and not window.controller._inference.is_busy(),
                    timeout=TIMEOUT)
    explains = window.controller._explains  # asked at once after each answer, if at all
    assert window.canvas.overlay() is None and not explains.is_busy()
    # Off: nothing was computed. On again, the newest drawing's map is the one next map (one
    # asked for while off would come first: the explainer answers in order).
    action.trigger()
    qtbot.waitUntil(lambda: len(maps) > count and not window.controller._explains.is_busy(),
                    timeout=TIMEOUT)
    assert [m.seq for m in maps[count:]] == [results[-1].seq]


def test_overlay_follows_a_drawing_off_centre_and_goes_when_cleared(qtbot, window):
    window.findChild(QAction, "showSaliency").setChecked(True)
    draw_seven(qtbot, window.canvas, shift=(90, 60))  # the crop box is not the canvas
    wait_label(qtbot, window, lambda text: text.startswith("7"))
    qtbot.waitUntil(lambda: overlay_alpha(window) is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not window.controller._explains.is_busy(), timeout=TIMEOUT)
    check_overlay_lies_on_the_ink(window)
    window.canvas.clear()
    qtbot.waitUntil(lambda: window.canvas.overlay() is None, timeout=TIMEOUT)


def test_s_key_toggles_and_a_switched_on_map_shows_the_drawing_at_once(qtbot, window):
    action = window.findChild(QAction, "showSaliency")
    draw_seven(qtbot, window.canvas)
    wait_label(qtbot, window, lambda text: text.startswith("7"))
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, Qt.Key.Key_S)
    assert action.isChecked()
    qtbot.waitUntil(lambda: overlay_alpha(window) is not None, timeout=TIMEOUT)  # no redraw
    QTest.keyClick(window.canvas, Qt.Key.Key_S)
    assert not action.isChecked() and window.canvas.overlay() is None


def test_the_overlay_needs_the_preprocessing_placement():
    """Carried back through the crop/scale/centring, the map covers the strokes; stretched
    naively over the whole canvas (as if the model saw the canvas shrunk), it would not."""
    from conftest import REPO
    from PIL import Image, ImageDraw

    from desktop_app.prediction.saliency_overlay import canvas_overlay
    from training.runtime.explain import saliency
    from training.runtime.lite import LiteModel
    from training.runtime.preprocess import Placement, place_model_input

    image = Image.new("L", (560, 560), 0)
    ImageDraw.Draw(image).line([(270, 210), (520, 210), (370, 530)], fill=255, width=26)
    grey = np.asarray(image)
    picture, placement = place_model_input(grey, "mnist")
    heat = saliency(picture, LiteModel(REPO / "resources/models/mnist.tflite").predict_batch)
    right = canvas_overlay(heat, placement, grey)[..., 3]
    check_overlay_lies_on(right, grey)
    naive = canvas_overlay(heat, Placement((28 / 560, 28 / 560), (0.0, 0.0)), grey)[..., 3]
    full = ink_blocks(grey, naive.shape)[2]
    assert (right[full] > 0).mean() > 0.95 and (naive[full] > 0).mean() < 0.5


def test_the_overlay_path_never_loads_tensorflow():
    """The explain thread runs in the window's process: LiteRT and numpy only."""
    import subprocess
    import sys

    from conftest import REPO

    code = ("import sys, numpy as np\n"
            "from desktop_app.prediction.explain_worker import Explainer\n"
            "from desktop_app.prediction.saliency_overlay import canvas_overlay\n"
            "from training.runtime.explain import explain\n"
            "from training.runtime.lite import LiteModel\n"
            "from training.runtime.preprocess import place_model_input\n"
            "grey = np.zeros((560, 560), np.uint8); grey[100:400, 250:290] = 255\n"
            "picture, placement = place_model_input(grey, 'mnist')\n"
            "model = LiteModel('resources/models/mnist.tflite')\n"
            "canvas_overlay(explain(picture, model.predict_batch).saliency, placement, grey)\n"
            "print([m for m in ('tensorflow', 'keras') if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_toggle_is_remembered(qtbot, app_settings):
    from conftest import open_window

    first = open_window(qtbot, app_settings)
    first.findChild(QAction, "showSaliency").setChecked(True)
    first.close()
    second = open_window(qtbot, app_settings)
    assert second.findChild(QAction, "showSaliency").isChecked()
    draw_seven(qtbot, second.canvas)
    qtbot.waitUntil(lambda: overlay_alpha(second) is not None, timeout=TIMEOUT)
