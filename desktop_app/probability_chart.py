"""ProbabilityChart: ten horizontal bars, one per class, updated in place by blitting.

A full matplotlib redraw costs tens of milliseconds; while the user draws we only restore the
cached empty axes, redraw the ten bars, and blit that rectangle. The bars' value labels ("87%")
are painted by Qt over the blitted bars: a matplotlib text costs a font layout each time its
string changes (0.3 ms each, over half of every update), a Qt one a few microseconds.

Number mode (several digits read side by side): a table with one column per digit, a row per
class, each cell shaded by that digit's probability of the class with its % written in, and the
digit read with its confidence above each column. Its cells are animated artists blitted like
the bars; only a change of the number of digits (or of mode) costs a full draw.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QSizePolicy

BAR_COLOUR = "#9aa5b1"
TOP_COLOUR = "#2f80ed"
CELL_COLOURS = "Blues"     # number mode: a cell's shade is its probability (white 0 -> blue 1)
DARK_CELL = 0.6            # ... its text turns white above this probability
LABEL_POINTS = 8           # the bars' value labels, in points at the figure's dpi


class ProbabilityChart(FigureCanvasQTAgg):
    def __init__(self, class_names: list[str], parent=None):
        figure = Figure(figsize=(4.2, 3.4), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setObjectName("probabilityChart")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)
        self._axes = figure.add_subplot()
        self._background = None
        self._probabilities = np.zeros(10, np.float32)
        self._digits: np.ndarray | None = None  # number mode: (digits, classes) probabilities
        self._animated: list = []
        self.mpl_connect("draw_event", self._remember_background)
        self.set_class_names(class_names)

    # -- public API
    def class_names(self) -> list[str]:
        return [label.get_text() for label in self._axes.get_yticklabels()]

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
        """New classes: rebuild the axes as bars (a full draw, once per dataset switch)."""
        self._names = list(names)
        self._digits = None
        self._build_bars()
        self._probabilities = np.zeros(len(names), np.float32)

    def set_number(self, digits, probabilities: np.ndarray | None = None) -> None:
        """Number mode: one column per digit (``digits``: one probabilities array each, left to
        right); ``probabilities``, the whole picture's, are kept for ``probabilities()``.
        Blits when the number of digits is unchanged."""
        values = np.asarray(digits, np.float32).reshape(len(digits), len(self._names))
        if probabilities is not None:
            self._probabilities = np.asarray(probabilities, np.float32)
        if self._digits is None or len(self._digits) != len(values):
            self._build_grid(len(values))
        self._digits = values
        self._image.set_data(values.T)
        tops = values.argmax(axis=1)
        for column, (top, row) in enumerate(zip(tops, values)):
            self._headers[column].set_text(f"{self._names[top]}\n{row[top]:.0%}")
            for index, (text, value) in enumerate(zip(self._cells[column], row)):
                text.set_text(f"{value:.0%}" if value >= 0.005 else "")
                text.set_color("white" if value > DARK_CELL else "black")
                text.set_fontweight("bold" if index == top else "normal")
        self._blit()

    def _build_bars(self) -> None:
        names = self._names
        axes = self._axes
        axes.clear()
        positions = np.arange(len(names))
        self._bars = axes.barh(positions, np.zeros(len(names)), color=BAR_COLOUR, linewidth=0,
                               height=0.7, animated=True)
        self._labels = [""] * len(names)  # painted by Qt (paintEvent)
        axes.set_yticks(positions, names)
        axes.invert_yaxis()  # class 0 at the top, as people read a list
        axes.set_xlim(0, 1.12)
        axes.set_xticks([0, 0.5, 1.0], ["0", "50 %", "100 %"])
        axes.tick_params(axis="both", labelsize=9)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        self._animated = list(self._bars)
        self._background = None
        self.draw_idle()

    def _build_grid(self, count: int) -> None:
        """The number-mode table for ``count`` digits (a full draw)."""
        names = self._names
        axes = self._axes
        axes.clear()
        self._image = axes.imshow(np.zeros((len(names), count)), cmap=CELL_COLOURS, vmin=0,
                                  vmax=1, aspect="auto", interpolation="nearest", animated=True,
                                  extent=(-0.5, count - 0.5, len(names) - 0.5, -0.5))
        size = 8 if count <= 6 else 6
        self._cells = [[axes.text(column, row, "", ha="center", va="center", fontsize=size,
                                  animated=True) for row in range(len(names))]
                       for column in range(count)]
        # The digit read and its confidence head each column, inside the axes (a header row).
        self._headers = [axes.text(column, -1.1, "", ha="center", va="center", fontsize=9,
                                   color=TOP_COLOUR, animated=True) for column in range(count)]
        axes.set_xlim(-0.5, count - 0.5)
        axes.set_ylim(len(names) - 0.5, -1.6)  # class 0 at the top, the header row above it
        axes.set_yticks(np.arange(len(names)), names)
        axes.set_xticks([])
        axes.tick_params(axis="both", labelsize=9)
        for side in ("top", "right", "bottom"):
            axes.spines[side].set_visible(False)
        self._animated = [self._image, *(t for column in self._cells for t in column),
                          *self._headers]
        self._background = None
        self.draw_idle()

    def set_probabilities(self, probabilities: np.ndarray | None) -> None:
        """Show new probabilities (None clears the bars; number mode ends): blit when
        possible."""
        if self._digits is not None:
            self._digits = None
            self._build_bars()
        values = (np.zeros(len(self._bars), np.float32) if probabilities is None
                  else np.asarray(probabilities, np.float32))
        self._probabilities = values
        top = int(values.argmax()) if probabilities is not None else -1
        for index, (bar, value) in enumerate(zip(self._bars, values)):
            bar.set_width(float(value))
            bar.set_color(TOP_COLOUR if index == top else BAR_COLOUR)
            shown = probabilities is not None and value >= 0.005
            self._labels[index] = f"{value:.0%}" if shown else ""
        self._blit()

    def value_labels(self) -> list[str]:
        """The bars' value labels as shown ("" where a bar is too short to be labelled)."""
        return list(self._labels) if self._digits is None else []

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._digits is not None or not any(self._labels):
            return
        # Each label just right of its bar, centred on it (where matplotlib would put it).
        ratio = self.device_pixel_ratio
        height = self.figure.bbox.height
        painter = QPainter(self)
        font = QFont(self.font())
        font.setPixelSize(max(6, round(LABEL_POINTS * self.figure.dpi / 72 / ratio)))
        painter.setFont(font)
        painter.setPen(QColor("black"))
        metrics = painter.fontMetrics()
        for index, (label, value) in enumerate(zip(self._labels, self._probabilities)):
            if not label:
                continue
            x, y = self._axes.transData.transform((float(value) + 0.01, index))
            left, middle = x / ratio, (height - y) / ratio
            box = QRectF(left, middle - metrics.height() / 2, metrics.horizontalAdvance(label)
                         + 2, metrics.height())
            painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             label)
        painter.end()

    # -- drawing
    def _remember_background(self, event) -> None:
        # The axes and everything right of them: a "100 %" label reaches past the axes' right
        # edge, and what is drawn outside the restored region would stay on screen. Not the
        # whole figure: every blit copies this region to the screen (half the cost of an update).
        self._region = self._animated_region()
        self._background = self.copy_from_bbox(self._region)
        self._draw_animated()

    def _animated_region(self) -> Bbox:
        axes = self._axes.bbox
        figure = self.figure.bbox
        return Bbox([[np.floor(axes.x0), np.floor(axes.y0)],
                     [figure.x1, min(np.ceil(axes.y1) + 1, figure.y1)]])

    def _draw_animated(self) -> None:
        for artist in self._animated:
            self._axes.draw_artist(artist)

    def _blit(self) -> None:
        if self._background is None:
            self.draw_idle()  # first show or after a resize: the draw event caches the axes
            return
        self.restore_region(self._background)
        self._draw_animated()
        self.blit(self._region)
