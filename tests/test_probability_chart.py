"""The probability chart paints each bar's value label just right of the bar (Qt over the
blitted matplotlib bars), and nothing where a bar is too short to be labelled."""

from __future__ import annotations

import numpy as np

from desktop_app.probability_chart import ProbabilityChart


def _darkness_right_of_bar(chart, image, index: int, value: float) -> int:
    """How many dark pixels lie just right of bar ``index`` (where its label belongs)."""
    ratio = chart.device_pixel_ratio
    x, y = chart._axes.transData.transform((value, index))
    left = int(x / ratio) + 2
    middle = int((chart.figure.bbox.height - y) / ratio)
    dark = 0
    for px in range(left, left + 25):
        for py in range(middle - 4, middle + 5):
            if image.pixelColor(px, py).lightness() < 110:
                dark += 1
    return dark


def test_value_labels_are_painted_beside_their_bars(qtbot):
    chart = ProbabilityChart([str(i) for i in range(10)])
    qtbot.addWidget(chart)
    chart.resize(420, 340)
    chart.show()
    qtbot.waitExposed(chart)
    probabilities = np.array([0.0, 0.62, 0.0, 0.3, 0.0, 0.0, 0.08, 0.0, 0.0, 0.0], np.float32)
    chart.set_probabilities(probabilities)
    qtbot.waitUntil(lambda: chart._background is not None, timeout=5000)
    chart.set_probabilities(probabilities)  # blitted, as while drawing
    assert chart.value_labels() == ["", "62%", "", "30%", "", "", "8%", "", "", ""]
    image = chart.grab().toImage()
    assert _darkness_right_of_bar(chart, image, 1, 0.62) > 10
    assert _darkness_right_of_bar(chart, image, 3, 0.30) > 10
    assert _darkness_right_of_bar(chart, image, 5, 0.0) == 0

    # New values: the labels move with the bars; a cleared chart has none.
    chart.set_probabilities(probabilities[::-1].copy())
    image = chart.grab().toImage()
    assert _darkness_right_of_bar(chart, image, 8, 0.62) > 10
    assert _darkness_right_of_bar(chart, image, 1, 0.0) == 0
    chart.set_probabilities(None)
    assert not any(chart.value_labels())
