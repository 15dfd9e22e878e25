"""What a finished (or stopped) training run achieved on the test set.

``ConfusionMatrixView`` draws the 10x10 matrix as a heat map with the class names on the axes and
the counts in the cells; ``MisclassifiedGallery`` shows the first mistakes as thumbnails labelled
"true → predicted" and emits the picture that is clicked.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout,
                               QWidget)

from .figure_canvas import LazyFigureCanvas

THUMB = 56  # pixels: each 28x28 picture scaled 2x, crisp (no smoothing)


class ConfusionMatrixView(LazyFigureCanvas):
    """Rows are the true classes, columns the predicted ones. Cells are coloured by the share of
    their row, so the errors of small classes stay visible; the text is the raw count."""

    def __init__(self, parent=None):
        figure = Figure(figsize=(5, 4.5), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setObjectName("confusionMatrix")
        self.setMinimumSize(300, 280)
        self._ax = figure.add_subplot(1, 1, 1)
        self._matrix = np.zeros((0, 0), np.int64)
        self._class_names: list[str] = []
        self._stale = False
        self.clear()

    def clear(self) -> None:
        self._matrix = np.zeros((0, 0), np.int64)
        self._class_names = []
        self._ax.clear()
        self._ax.set_axis_off()
        self._ax.text(0.5, 0.5, "No results yet", ha="center", va="center",
                      transform=self._ax.transAxes, color="gray")
        self._redraw()

    def set_matrix(self, matrix, class_names) -> None:
        matrix = np.asarray(matrix, np.int64)
        names = [str(n) for n in class_names]
        self._matrix, self._class_names = matrix, names
        # Redrawn from scratch: it changes once per run, not per batch.
        ax = self._ax
        ax.clear()
        ax.set_axis_on()
        rows = matrix.sum(axis=1, keepdims=True)
        shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        ticks = range(len(names))
        ax.set_xticks(ticks, names, rotation=45 if max(map(len, names), default=0) > 2 else 0,
                      ha="right" if max(map(len, names), default=0) > 2 else "center",
                      fontsize="small")
        ax.set_yticks(ticks, names, fontsize="small")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for (row, col), count in np.ndenumerate(matrix):
            if count:
                ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                        color="white" if shares[row, col] > 0.5 else "black")
        self._redraw()



    def matrix(self) -> np.ndarray:
        """The counts on display (0x0 when empty)."""
        return self._matrix.copy()

    def class_names(self) -> list[str]:
        return list(self._class_names)


class MisclassifiedGallery(QListWidget):
    """Thumbnails of misclassified test pictures; clicking one emits it (uint8 28x28)."""

    sampleClicked = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("misclassifiedGallery")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(QSize(THUMB + 60, THUMB + 34))
        self.setWordWrap(True)
        self.setToolTip("Click a picture to put it on the canvas")
        self._images: list[np.ndarray] = []
        self.itemClicked.connect(self._on_item_clicked)

    def set_samples(self, images, true, predicted, class_names) -> None:
        self.clear()
        self._images = [np.array(img, np.uint8) for img in (images if images is not None else [])]
        names = [str(n) for n in class_names]
        for index, (image, t, p) in enumerate(zip(self._images, true, predicted)):
            item = QListWidgetItem(QIcon(_pixmap(image)), f"{names[int(t)]} → {names[int(p)]}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setToolTip(f"true: {names[int(t)]}, predicted: {names[int(p)]}")
            self.addItem(item)

    def image(self, index: int) -> np.ndarray:
        return self._images[index].copy()

    @Slot(QListWidgetItem)
    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if index is not None:
            self.sampleClicked.emit(self.image(int(index)))


class ResultsView(QWidget):
    """Test accuracy and loss, the confusion matrix, and the gallery of mistakes."""

    sampleClicked = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("resultsView")
        self.summary = QLabel("Train a model to see its test results.")
        self.summary.setObjectName("testResults")
        self.summary.setWordWrap(True)
        self.confusion = ConfusionMatrixView(self)
        self.gallery = MisclassifiedGallery(self)
        self.gallery_title = QLabel("Misclassified test pictures")
        self.gallery.sampleClicked.connect(self.sampleClicked)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.confusion, 3)
        layout.addWidget(self.gallery_title)
        layout.addWidget(self.gallery, 2)

    def clear(self) -> None:
        self.summary.setText("Train a model to see its test results.")
        self.confusion.clear()
        self.gallery.set_samples([], [], [], [])
        self.gallery_title.setText("Misclassified test pictures")

    def show_results(self, test_accuracy, test_loss, confusion, class_names,
                     images=None, true=None, predicted=None, heading: str = "",
                     mistakes: int | None = None) -> None:
        """``images``/``true``/``predicted``: the first mistakes, or None when unknown (a model
        loaded from disk keeps its scores but not the pictures). ``mistakes``: how many there
        are in all (default: from the confusion matrix). A score may be None (not a number)."""
        matrix = np.asarray(confusion, np.int64)
        total = int(matrix.sum())
        if mistakes is None:
            mistakes = total - int(np.trace(matrix)) if matrix.size else 0
        text = f"Test accuracy {_share(test_accuracy)} · test loss {_number(test_loss)}"
        if total:
            text += f" · {mistakes} of {total} test pictures misclassified"
        self.summary.setText(f"{heading}{text}")
        if matrix.size:
            self.confusion.set_matrix(matrix, class_names)
        else:
            self.confusion.clear()
        if images is None:
            self.gallery.set_samples([], [], [], [])
            self.gallery_title.setText("Misclassified test pictures (not available)")
        else:
            self.gallery.set_samples(images, true, predicted, class_names)
            shown = len(images)
            self.gallery_title.setText(
                f"Misclassified test pictures: first {shown} of {mistakes}" if mistakes > shown
                else f"Misclassified test pictures: {shown}")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _share(value) -> str:
    return f"{value:.2%}" if _finite(value) else "n/a"


def _number(value) -> str:
    return f"{value:.4f}" if _finite(value) else "n/a"


def _pixmap(image: np.ndarray) -> QPixmap:
    data = np.ascontiguousarray(image, np.uint8)
    qimage = QImage(data.data, data.shape[1], data.shape[0], data.strides[0],
                    QImage.Format.Format_Grayscale8).copy()  # copy: own the pixels
    return QPixmap.fromImage(qimage).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)
