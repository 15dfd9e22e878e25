"""The probability chart is painted by Qt: each bar as long as its probability, the top one
highlighted, its value label just right of it, nothing where a bar is too short to be labelled;
number mode shades one column per digit. It never imports matplotlib (the first prediction does
not wait for it)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PySide6.QtGui import QFont

from desktop_app.views.probability_chart import BAR_COLOUR, TOP_COLOUR, ProbabilityChart


def _darkness_right_of_bar(chart, image, index: int) -> int:
    """How many dark pixels lie just right of bar ``index`` (where its label belongs)."""
    bar = chart.bar_rect(index)
    left, middle = int(bar.right()) + 3, int(bar.center().y())
    return sum(image.pixelColor(x, y).lightness() < 110
               for x in range(left, left + 25) for y in range(middle - 4, middle + 5))


def _colour_in_bar(image, chart, index: int):
    bar = chart.bar_rect(index)
    return image.pixelColor(int(bar.left() + bar.width() / 2), int(bar.center().y()))


def shown_chart(qtbot) -> ProbabilityChart:
    chart = ProbabilityChart([str(i) for i in range(10)])
    qtbot.addWidget(chart)
    chart.resize(420, 340)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def test_bars_and_value_labels_follow_the_probabilities(qtbot):
    chart = shown_chart(qtbot)
    probabilities = np.array([0.0, 0.62, 0.0, 0.3, 0.0, 0.0, 0.08, 0.0, 0.0, 0.0], np.float32)
    chart.set_probabilities(probabilities)
    assert chart.value_labels() == ["", "62%", "", "30%", "", "", "8%", "", "", ""]
    image = chart.grab().toImage()
    assert abs(chart.bar_rect(1).width() / chart.bar_rect(3).width() - 0.62 / 0.30) < 0.02
    assert _colour_in_bar(image, chart, 1) == TOP_COLOUR      # the answer stands out
    assert _colour_in_bar(image, chart, 3) == BAR_COLOUR
    assert _darkness_right_of_bar(chart, image, 1) > 10
    assert _darkness_right_of_bar(chart, image, 3) > 10
    assert _darkness_right_of_bar(chart, image, 5) == 0

    # New values: the labels move with the bars; a cleared chart has none.
    chart.set_probabilities(probabilities[::-1].copy())
    image = chart.grab().toImage()
    assert _darkness_right_of_bar(chart, image, 8) > 10
    assert _darkness_right_of_bar(chart, image, 1) == 0
    chart.set_probabilities(None)
    assert not any(chart.value_labels())


def test_the_class_names_keep_their_room_when_they_or_the_font_change(qtbot):
    """Their width is measured once, not per bar of every paint: it must still follow new
    class names (MNIST -> Fashion-MNIST) and a new font, in the geometry and in the paint."""
    chart = shown_chart(qtbot)
    chart.set_probabilities(np.full(10, 0.1, np.float32))
    digits = chart.bar_rect(0).left()
    chart.set_class_names(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                           "Shirt", "Sneaker", "Bag", "Ankle boot"])
    chart.set_probabilities(np.full(10, 0.1, np.float32))
    garments = chart.bar_rect(0).left()
    assert garments > digits + 30
    chart.setFont(QFont(chart.font().family(), chart.font().pointSize() * 2))
    assert chart.bar_rect(0).left() > garments + 30
    image = chart.grab().toImage()  # and the bars are painted where the geometry says
    assert _colour_in_bar(image, chart, 0) == TOP_COLOUR
    assert image.pixelColor(int(chart.bar_rect(0).left()) - 3,
                            int(chart.bar_rect(0).center().y())) != TOP_COLOUR


def test_number_mode_has_a_column_per_digit_and_bars_come_back(qtbot):
    chart = shown_chart(qtbot)
    digits = np.full((3, 10), 0.01, np.float32)
    for column, digit in enumerate((2, 0, 9)):
        digits[column, digit] = 0.91
    chart.set_number(digits, digits[0])
    assert chart.mode() == "number" and chart.value_labels() == []
    assert np.array_equal(chart.digit_probabilities(), digits)
    image = chart.grab().toImage()
    dark = [image.pixelColor(x, y).lightness() < 80 for x in range(image.width())
            for y in range(image.height())]
    assert sum(dark) > 3 * 200      # three dark (0.91) cells at least
    chart.set_probabilities(digits[1])
    assert chart.mode() == "bars" and chart.value_labels()[0] == "91%"


def test_the_chart_does_not_import_matplotlib():
    code = ("import sys; import desktop_app.views.probability_chart; "
            "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False"
