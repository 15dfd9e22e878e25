"""What a finished (or stopped) training run achieved on the test set.

``ConfusionMatrixView`` draws the 10x10 matrix as a heat map with the class names on the axes and
the counts in the cells; ``MisclassifiedGallery`` shows the first mistakes as thumbnails labelled
"true → predicted" and emits the picture that is clicked.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.figures.figure_drawings import draw_confusion
from desktop_app.figures.figure_renderer import FigureRenderer, RenderedFigure
from desktop_app.views.reliability_view import ReliabilityView
from desktop_app.views.reliability_view import describe as describe_calibration

THUMB = 56  # pixels: each 28x28 picture scaled 2x, crisp (no smoothing)


class ConfusionMatrixView(RenderedFigure):
    """Rows are the true classes, columns the predicted ones. Cells are coloured by the share of
    their row, so the errors of small classes stay visible; the text is the count, or the row's
    percentage (toggle); hovering a cell says both."""

    def __init__(self, renderer: FigureRenderer, parent=None):
        super().__init__(renderer, draw_confusion, parent)
        self.setObjectName("confusionMatrix")
        self.setMinimumSize(300, 280)
        self.setMouseTracking(True)
        self._matrix = np.zeros((0, 0), np.int64)
        self._class_names: list[str] = []
        self._percent = False
        self.clear()

    def clear(self) -> None:
        self._matrix = np.zeros((0, 0), np.int64)
        self._class_names = []
        self.set_state(matrix=self._matrix, names=[])

    def set_matrix(self, matrix, class_names) -> None:
        self._matrix = np.asarray(matrix, np.int64)
        self._class_names = [str(n) for n in class_names]
        self.set_state(matrix=self._matrix, names=self._class_names)

    def set_percent(self, percent: bool) -> None:
        self._percent = bool(percent)
        self.set_state(percent=self._percent)

    def matrix(self) -> np.ndarray:
        """The counts on display (0x0 when empty)."""
        return self._matrix.copy()

    def class_names(self) -> list[str]:
        return list(self._class_names)

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(true, predicted) of the cell under widget point (x, y), if any."""
        axes, n = self.layout_info.get("axes"), self.layout_info.get("n")
        if not axes or not n:
            return None
        left, top, width, height = axes
        col, row = int((x - left) / width * n), int((y - top) / height * n)
        return (row, col) if 0 <= row < n and 0 <= col < n and x >= left and y >= top else None

    def describe_cell(self, row: int, col: int) -> str:
        count = int(self._matrix[row, col])
        total = int(self._matrix[row].sum())
        share = count / total if total else 0.0
        names = self._class_names
        return (f"true {names[row]}, predicted {names[col]}: {count} of {total} "
                f"({share:.1%} of the {names[row]} pictures)")

    def mouseMoveEvent(self, event) -> None:
        cell = self.cell_at(event.position().x(), event.position().y())
        self.setToolTip(self.describe_cell(*cell) if cell else "")
        super().mouseMoveEvent(event)


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

    def __init__(self, renderer: FigureRenderer, parent=None):
        super().__init__(parent)
        self.setObjectName("resultsView")
        self.summary = QLabel("Train a model to see its test results.")
        self.summary.setObjectName("testResults")
        self.summary.setWordWrap(True)
        self.confusion = ConfusionMatrixView(renderer, self)
        self.percent = QCheckBox("Row %", objectName="confusionPercent")
        self.percent.setToolTip("Show each row's percentages instead of the counts")
        self.percent.toggled.connect(self.confusion.set_percent)
        self.reliability = ReliabilityView(renderer, self)
        # The confusion matrix and the reliability diagram (calibration) share the space.
        self.charts = QTabWidget(self, objectName="resultsCharts")
        self.charts.addTab(self.confusion, "Confusion matrix")
        self.charts.addTab(self.reliability, "Confidence")
        self.charts.setTabToolTip(1, "Reliability diagram: is the model as sure as it is right? "
                                     "Before and after temperature scaling")
        self.gallery = MisclassifiedGallery(self)
        self.gallery_title = QLabel("Misclassified test pictures")
        self.gallery.sampleClicked.connect(self.sampleClicked)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.percent)
        layout.addLayout(top)
        layout.addWidget(self.charts, 3)
        layout.addWidget(self.gallery_title)
        layout.addWidget(self.gallery, 2)

    def clear(self) -> None:
        self.summary.setText("Train a model to see its test results.")
        self.confusion.clear()
        self.reliability.set_calibration(None)
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


    def show_calibration(self, block: dict | None) -> None:
        """The reliability diagram (before / after temperature scaling) of the sidecar's
        ``calibration`` block; None: the model has none."""
        self.reliability.set_calibration(block)
        text = describe_calibration(block)
        self.charts.setTabText(1, "Confidence" if not block else
                               f"Confidence (ECE {block['ece_before']:.2%} → "
                               f"{block['ece_after']:.2%})")
        self.charts.setTabToolTip(1, text or "No calibration for this model")


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
