"""LazyFigureCanvas: a matplotlib canvas that skips full redraws while it is hidden.

The training charts and the confusion matrix live in tabs; a full matplotlib draw takes ~50-100
ms of UI time, so a hidden one is only marked stale and drawn when it is shown again.
"""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg


class LazyFigureCanvas(FigureCanvasQTAgg):
    _stale = False

    def _redraw(self) -> None:
        if self.isVisible():
            self.draw_idle()
        else:
            self._stale = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.draw_idle()
