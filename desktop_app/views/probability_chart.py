"""ProbabilityChart: ten horizontal bars, one per class, painted by Qt.

The chart is on the way to the first prediction, so it is plain QPainter work: no matplotlib
import (0.8-0.9 s on an ordinary CPU, more than the window and the model together) and an update
costs a repaint of one widget, well under a millisecond.

Number mode (several digits read side by side): a table with one column per digit, a row per
class, each cell shaded by that digit's probability of the class with its % written in, and the
digit read with its confidence above each column.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

BAR_COLOUR = QColor("#9aa5b1")
TOP_COLOUR = QColor("#2f80ed")
AXIS_COLOUR = QColor("#555555")
GRID_COLOUR = QColor("#e3e6ea")
CELL_LOW, CELL_HIGH = QColor("#f7fbff"), QColor("#08306b")   # a cell's shade: 0 -> 1
DARK_CELL = 0.6            # number mode: a cell's text turns white above this probability
SHOWN_FROM = 0.005         # a value under this has no label ("0%" would be noise)
X_MAX = 1.12               # room right of a full bar for its "100%"
TICKS = ((0.0, "0"), (0.5, "50 %"), (1.0, "100 %"))
MARGIN = 8


def cell_colour(value: float) -> QColor:
    """White-blue scale of a number-mode cell (0: near white, 1: dark blue)."""
    t = min(1.0, max(0.0, float(value)))
    return QColor.fromRgbF(*(a + (b - a) * t for a, b in zip(CELL_LOW.getRgbF()[:3],
                                                            CELL_HIGH.getRgbF()[:3])))


class ProbabilityChart(QWidget):
    def __init__(self, class_names: list[str], parent=None):
        super().__init__(parent)
        self.setObjectName("probabilityChart")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._names: list[str] = []
        self._probabilities = np.zeros(10, np.float32)
        self._shown = False       # False: no answer yet (a cleared chart has no top bar)
        self._digits: np.ndarray | None = None  # number mode: (digits, classes) probabilities
        self._label_width_of: tuple = (None, 0)  # (font and names, their width): measured once
        self.set_class_names(class_names)

    def sizeHint(self) -> QSize:
        return QSize(420, 340)

    # -- public API
    def class_names(self) -> list[str]:
        return list(self._names)

    def probabilities(self) -> np.ndarray:
        """The whole picture's probabilities, as last given (in number mode too)."""
        return self._probabilities.copy()

    def mode(self) -> str:
        """"bars" (one picture, one digit) or "number" (one column per digit)."""
        return "bars" if self._digits is None else "number"

    def digit_probabilities(self) -> np.ndarray | None:
        """Number mode: the (digits, classes) probabilities shown; None in bars mode."""
        return None if self._digits is None else self._digits.copy()

    def set_class_names(self, names: list[str]) -> None:
        """New classes: bars mode, nothing shown yet."""
        self._names = [str(n) for n in names]
        self._digits = None
        self._probabilities = np.zeros(len(self._names), np.float32)
        self._shown = False
        self.update()

    def set_number(self, digits, probabilities: np.ndarray | None = None) -> None:
        """Number mode: one column per digit (``digits``: one probabilities array each, left to
        right); ``probabilities``, the whole picture's, are kept for ``probabilities()``."""
        self._digits = np.asarray(digits, np.float32).reshape(len(digits), len(self._names))
        if probabilities is not None:
            self._probabilities = np.asarray(probabilities, np.float32)
        self.update()

    def set_probabilities(self, probabilities: np.ndarray | None) -> None:
        """Show new probabilities (None clears the bars); number mode ends."""
        self._digits = None
        self._shown = probabilities is not None
        self._probabilities = (np.zeros(len(self._names), np.float32) if probabilities is None
                               else np.asarray(probabilities, np.float32).reshape(-1))
        self.update()

    def value_labels(self) -> list[str]:
        """The bars' value labels as shown ("" where a bar is too short to be labelled)."""
        if self._digits is not None:
            return []
        return [f"{v:.0%}" if self._shown and v >= SHOWN_FROM else ""
                for v in self._probabilities]

    def bar_rect(self, index: int) -> QRectF:
        """Where bar ``index`` is painted (widget pixels; zero width for a zero value)."""
        plot = self._plot_area()
        return self._bar_rect(index, plot, self._row_height(plot))

    # -- geometry
    def _bar_rect(self, index: int, plot: QRectF, row: float) -> QRectF:
        width = plot.width() * float(self._probabilities[index]) / X_MAX
        return QRectF(plot.left(), plot.top() + row * (index + 0.15), max(0.0, width), row * 0.7)

    def _label_width(self) -> int:
        # Measured once per font and class names, not per bar of every paint: the chart is
        # repainted on every stroke move (measuring was 2-3 ms of the GUI thread's per move).
        key = (self.font().key(), tuple(self._names))
        if self._label_width_of[0] != key:
            metrics = self.fontMetrics()
            width = max((metrics.horizontalAdvance(n) for n in self._names), default=0) + 6
            self._label_width_of = (key, width)
        return self._label_width_of[1]

    def _plot_area(self) -> QRectF:
        """Bars mode: the rectangle the bars span (x: 0 .. X_MAX, one row per class)."""
        metrics = self.fontMetrics()
        bottom = metrics.height() + 6                    # the ticks' labels
        left = MARGIN + self._label_width()
        # Room right of a full bar for its "100%", whatever the width (X_MAX alone is a share
        # of the width: too little when the chart is narrow).
        room = max(0, metrics.horizontalAdvance("100%") + 6 - (self.width() - left) * (
            1 - 1 / X_MAX))
        return QRectF(left, MARGIN, max(1, self.width() - left - MARGIN - room),
                      max(1, self.height() - 2 * MARGIN - bottom))

    def _row_height(self, plot: QRectF | None = None) -> float:
        plot = self._plot_area() if plot is None else plot
        return plot.height() / max(1, len(self._names))

    # -- painting
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if self._digits is None:
            self._paint_bars(painter)
        else:
            self._paint_table(painter)
        painter.end()

    def _paint_class_names(self, painter: QPainter, top: float, row: float) -> None:
        painter.setPen(self.palette().text().color())
        width = self._label_width() - 6
        for index, name in enumerate(self._names):
            box = QRectF(MARGIN, top + row * index, width, row)
            painter.drawText(box, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             name)

    def _paint_bars(self, painter: QPainter) -> None:
        plot = self._plot_area()
        row = self._row_height(plot)
        metrics = self.fontMetrics()
        for value, text in TICKS:   # grid lines and the x axis's labels
            x = plot.left() + plot.width() * value / X_MAX
            painter.setPen(QPen(GRID_COLOUR, 1))
            painter.drawLine(round(x), round(plot.top()), round(x), round(plot.bottom()))
            painter.setPen(AXIS_COLOUR)
            width = metrics.horizontalAdvance(text)
            left = min(x - width / 2, self.width() - MARGIN - width)
            painter.drawText(QRectF(left, plot.bottom() + 3, width + 2, metrics.height()),
                             Qt.AlignmentFlag.AlignLeft, text)
        painter.setPen(QPen(AXIS_COLOUR, 1))
        painter.drawLine(round(plot.left()), round(plot.top()), round(plot.left()),
                         round(plot.bottom()))
        self._paint_class_names(painter, plot.top(), row)
        top = int(self._probabilities.argmax()) if self._shown and len(self._names) else -1
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.9))
        painter.setFont(small)
        labels = self.value_labels()
        for index, label in enumerate(labels):
            bar = self._bar_rect(index, plot, row)
            if bar.width() >= 0.5:
                painter.fillRect(bar, TOP_COLOUR if index == top else BAR_COLOUR)
            if label:
                painter.setPen(self.palette().text().color())
                painter.drawText(QRectF(bar.right() + 3, bar.top() - row * 0.15, 60, row),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 label)

    def _paint_table(self, painter: QPainter) -> None:
        digits = self._digits
        metrics = self.fontMetrics()
        header = 2 * metrics.height() + 4                    # the digit read and its %
        left = MARGIN + self._label_width()
        area = QRectF(left, MARGIN + header, max(1, self.width() - left - MARGIN),
                      max(1, self.height() - 2 * MARGIN - header))
        row = area.height() / max(1, len(self._names))
        column = area.width() / max(1, len(digits))
        self._paint_class_names(painter, area.top(), row)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, self.font().pointSizeF() * (0.9 if len(digits) <= 6
                                                                  else 0.75)))
        bold = QFont(small)
        bold.setBold(True)
        for c, values in enumerate(digits):
            best = int(values.argmax())
            x = area.left() + column * c
            painter.setFont(self.font())
            painter.setPen(TOP_COLOUR)
            painter.drawText(QRectF(x, MARGIN, column, header), Qt.AlignmentFlag.AlignCenter,
                             f"{self._names[best]}\n{values[best]:.0%}")
            for r, value in enumerate(values):
                cell = QRectF(x, area.top() + row * r, column, row)
                painter.fillRect(cell, cell_colour(value))
                if value >= SHOWN_FROM:
                    painter.setFont(bold if r == best else small)
                    painter.setPen(QColor("white") if value > DARK_CELL else QColor("black"))
                    painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, f"{value:.0%}")
