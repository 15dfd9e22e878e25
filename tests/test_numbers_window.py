"""Whole numbers in the window (issue #9 item 3): several digits drawn side by side are read as
a number - "predictedClass" shows it with the chance that every digit is right, and the chart
switches to one column per digit; back to one digit, the label and the bars are as before."""

import numpy as np
from conftest import TIMEOUT, drop_file, line, stroke, wait_label
from PIL import Image

from bench.bench_numbers import hand_glyph, render_number

# On the 392-pixel reference canvas: a "4" in two strokes on the left, a "2" on the right.
FOUR = [line((95, 90), (40, 230)) + line((40, 230), (150, 230)), line((120, 150), (120, 320))]
TWO = [line((215, 130), (260, 95)) + line((260, 95), (320, 110)) + line((320, 110), (330, 160))
       + line((330, 160), (220, 310)) + line((220, 310), (350, 310))]


def draw(qtbot, window, strokes):
    for points in strokes:
        stroke(qtbot, window.canvas, points)


def chart_is(window, mode, columns=None):
    chart = window.chart
    digits = chart.digit_probabilities()
    return chart.mode() == mode and (columns is None or (digits is not None
                                                         and len(digits) == columns))


def test_a_number_drawn_on_the_canvas_is_read_digit_by_digit(qtbot, window):
    draw(qtbot, window, FOUR + TWO)
    text = wait_label(qtbot, window, lambda t: t.startswith("42 — "))
    confidence = float(text.split("— ")[1].rstrip("%")) / 100
    qtbot.waitUntil(lambda: chart_is(window, "number", 2), timeout=TIMEOUT)
    digits = window.chart.digit_probabilities()
    assert list(digits.argmax(axis=1)) == [4, 2]
    assert np.allclose(digits.sum(axis=1), 1, atol=1e-3)
    # The % shown is the chance that both digits are right: the product of their confidences.
    assert abs(confidence - digits.max(axis=1).prod()) <= 0.006
    # The chart still knows the whole picture's probabilities (the single-digit reading).
    assert window.chart.probabilities().sum() > 0.99
    # "What the model sees" shows both digits side by side, each as a 28x28 input.
    width, height = window.model_input.shown_size()
    assert height == 28 and width > 2 * 28


def test_back_to_one_digit_the_bars_return(qtbot, window):
    draw(qtbot, window, FOUR + TWO)
    wait_label(qtbot, window, lambda t: t.startswith("42 — "))
    qtbot.waitUntil(lambda: chart_is(window, "number", 2), timeout=TIMEOUT)
    window.canvas.undo()  # the "2" goes: one digit is left
    text = wait_label(qtbot, window, lambda t: not t.startswith("42"))
    assert text.startswith("4 — "), text
    qtbot.waitUntil(lambda: chart_is(window, "bars"), timeout=TIMEOUT)
    assert window.chart.digit_probabilities() is None
    assert window.model_input.shown_size() == (28, 28)     # one digit: one input again
    assert window.chart.probabilities().argmax() == 4
    window.canvas.redo()  # and the number again
    wait_label(qtbot, window, lambda t: t.startswith("42 — "))
    qtbot.waitUntil(lambda: chart_is(window, "number", 2), timeout=TIMEOUT)


def test_a_dropped_picture_of_a_number_is_read(qtbot, window, tmp_path):
    rng = np.random.default_rng(7)
    picture = render_number([hand_glyph(int(d), 240, 26, rng) for d in "309"], 0.15,
                            (1000, 600), rng)
    path = tmp_path / "number.png"
    Image.fromarray(255 - picture).save(path)  # dark ink on white paper, like a scan
    drop_file(window.canvas, path)
    wait_label(qtbot, window, lambda t: t.startswith("309 — "))
    qtbot.waitUntil(lambda: chart_is(window, "number", 3), timeout=TIMEOUT)
    assert list(window.chart.digit_probabilities().argmax(axis=1)) == [3, 0, 9]
