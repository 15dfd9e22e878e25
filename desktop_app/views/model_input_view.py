"""ModelInputView: the 28x28 picture the model actually sees, magnified with hard pixel edges.

Part of the window's first frame, empty: numpy is imported by the functions that get arrays
(the prediction's thread has loaded it by then)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    import numpy as np

DIGIT_GAP = 3       # model pixels between two digits of a number
GAP_SHADE = 0.25    # grey: the gap is not ink, but not the black of a digit's picture either


class ModelInputView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelInput")
        self.setToolTip("What the model sees: your picture reduced to 28×28 as the training "
                        "data was made")
        self._array: np.ndarray | None = None
        self._image: QImage | None = None

    def sizeHint(self) -> QSize:
        return QSize(140, 140)

    def minimumSizeHint(self) -> QSize:
        return QSize(112, 112)

    def array(self) -> np.ndarray | None:
        return None if self._array is None else self._array.copy()

    def set_array(self, array: np.ndarray | None) -> None:
        """A (28, 28) float array in [0, 1], or None for "nothing yet"."""
        import numpy as np

        self._array = None if array is None else np.asarray(array, np.float32)
        self._show(self._array)

    def set_digits(self, arrays: list) -> None:
        """A number: each digit's (28, 28) input, side by side with a gap, as the reader gave
        them to the model one by one (``array()`` stays the whole drawing's input)."""
        import numpy as np

        gap = np.full((28, DIGIT_GAP), GAP_SHADE, np.float32)
        parts = []
        for array in arrays:
            parts += [np.asarray(array, np.float32), gap]
        self._show(np.concatenate(parts[:-1], axis=1) if parts else None)

    def _show(self, array: np.ndarray | None) -> None:
        if array is None:
            self._image = None
        else:
            import numpy as np

            pixels = np.ascontiguousarray(np.clip(array * 255, 0, 255).astype(np.uint8))
            height, width = pixels.shape
            self._image = QImage(pixels.data, width, height, width,
                                 QImage.Format.Format_Grayscale8).copy()
        self.update()

    def shown_size(self) -> tuple[int, int]:
        """(width, height) of the picture on display, in model pixels; (0, 0) for none."""
        return (0, 0) if self._image is None else (self._image.width(), self._image.height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        side = min(self.width(), self.height())
        target = QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)
        if self._image is not None and self._image.width() > self._image.height():
            # several digits: as wide as the view, as tall as their proportion gives
            high = max(1, side * self._image.height() // self._image.width())
            target = QRect((self.width() - side) // 2, (self.height() - high) // 2, side, high)
        painter.fillRect(target, QColor(0, 0, 0))
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(target, self._image)
        painter.setPen(QColor(90, 90, 90))
        painter.drawRect(target.adjusted(0, 0, -1, -1))
        if self._image is None:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, "28×28")
