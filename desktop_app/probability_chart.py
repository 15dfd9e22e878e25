"""ProbabilityChart: ten horizontal bars, one per class, updated in place by blitting.

A full matplotlib redraw costs tens of milliseconds; while the user draws we only restore the
cached empty axes, redraw the ten bars and their value labels, and blit that rectangle.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtWidgets import QSizePolicy

BAR_COLOUR = "#9aa5b1"
TOP_COLOUR = "#2f80ed"


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
        self.mpl_connect("draw_event", self._remember_background)
        self.set_class_names(class_names)

    # -- public API
    def class_names(self) -> list[str]:
        return [label.get_text() for label in self._axes.get_yticklabels()]

    def probabilities(self) -> np.ndarray:
        return self._probabilities.copy()

    def set_class_names(self, names: list[str]) -> None:
        """New classes: rebuild the axes (a full draw, once per dataset switch)."""
        axes = self._axes
        axes.clear()
        positions = np.arange(len(names))
        self._bars = axes.barh(positions, np.zeros(len(names)), color=BAR_COLOUR, linewidth=0,
                               height=0.7, animated=True)
        self._texts = [axes.text(0.01, y, "", va="center", fontsize=8, animated=True)
                       for y in positions]
        axes.set_yticks(positions, names)
        axes.invert_yaxis()  # class 0 at the top, as people read a list
        axes.set_xlim(0, 1.12)
        axes.set_xticks([0, 0.5, 1.0], ["0", "50 %", "100 %"])
        axes.tick_params(axis="both", labelsize=9)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        self._probabilities = np.zeros(len(names), np.float32)
        self._background = None
        self.draw_idle()

    def set_probabilities(self, probabilities: np.ndarray | None) -> None:
        """Show new probabilities (None clears the bars): blit when possible."""
        values = (np.zeros(len(self._bars), np.float32) if probabilities is None
                  else np.asarray(probabilities, np.float32))
        self._probabilities = values
        top = int(values.argmax()) if probabilities is not None else -1
        for index, (bar, text, value) in enumerate(zip(self._bars, self._texts, values)):
            bar.set_width(float(value))
            bar.set_color(TOP_COLOUR if index == top else BAR_COLOUR)
            text.set_x(float(value) + 0.01)
            text.set_text(f"{value:.0%}" if probabilities is not None and value >= 0.005 else "")
        self._blit()

    # -- drawing
    def _remember_background(self, event) -> None:
        self._background = self.copy_from_bbox(self._axes.bbox)
        self._draw_animated()

    def _draw_animated(self) -> None:
        for artist in (*self._bars, *self._texts):
            self._axes.draw_artist(artist)

    def _blit(self) -> None:
        if self._background is None:
            self.draw_idle()  # first show or after a resize: the draw event caches the axes
            return
        self.restore_region(self._background)
        self._draw_animated()
        self.blit(self._axes.bbox)
