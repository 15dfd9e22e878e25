"""SampleBrowser: a 5x5 grid of test images with their labels (as in the lecture).

Clicking one puts it on the canvas. The test set is read by a LatestJob (its own thread); when it cannot be
found, the grid is replaced by the loader's message (where it looked, how to fix it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.jobs.latest import LatestJob
from desktop_app.jobs.registry import JobRegistry
from training.core.datasets import DATASETS

GRID = 5
THUMB = 48  # pixels: five across fit a narrow dock with their labels (Fashion's too)


@dataclass(frozen=True)
class TestSet:
    dataset: str
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    class_names: tuple = ()
    error: str | None = None     # where it looked, how to fix it


def load_test_set(request: tuple[str, str]) -> TestSet:
    """(dataset, data folder or "") -> its test set, read in the "test-set-loader" job."""
    from training.core.datasets import load_dataset

    dataset, data_dir = request
    try:
        # Never a download from here: a browsing aid must not pull 30 MB behind the user's back.
        data = load_dataset(dataset, data_dir or None, allow_download=False, test_only=True)
    except Exception as exc:  # DatasetError says where it looked; anything else is shown too
        return TestSet(dataset, error=str(exc))
    return TestSet(dataset, data.x_test, data.y_test, tuple(data.class_names))


class SampleBrowser(QWidget):
    sampleChosen = Signal(object, int)  # (uint8 28x28 image, true label)
    dataFolderChosen = Signal(str)      # the user picked a data folder from the no-data state
    def __init__(self, jobs: JobRegistry | None = None, parent=None):
        """``jobs``: the window's registry (a private one when built alone)."""
        super().__init__(parent)
        self.setObjectName("sampleBrowser")
        self._cache: dict[str, tuple] = {}
        self._dataset = ""
        self._data_dir: str | None = None
        self._offset = 0
        self._job = LatestJob("test-set-loader", load_test_set,
                              jobs if jobs is not None else JobRegistry(), parent=self)
        self._job.done.connect(self._loaded)
        self._requested: set[str] = set()

        self._hint = QLabel()
        self._hint.setObjectName("sampleHint")
        self._hint.setWordWrap(True)
        self._hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid = QGridLayout()
        grid.setSpacing(2)
        self._buttons: list[QToolButton] = []
        label_font = QFont(self.font())
        label_font.setPointSizeF(self.font().pointSizeF() * 0.9)
        for index in range(GRID * GRID):
            button = QToolButton()
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIconSize(QSize(THUMB, THUMB))
            button.setAutoRaise(True)
            button.setFont(label_font)  # "Ankle boot" whole under a thumbnail
            button.clicked.connect(lambda _=False, i=index: self._choose(i))
            grid.addWidget(button, index // GRID, index % GRID)
            self._buttons.append(button)
        self._more = QPushButton("Show other samples")
        self._more.clicked.connect(self._next_page)
        # The no-data state: a short message, the details on demand, and the two ways out.
        self._details = QLabel()
        self._details.setObjectName("sampleDetails")
        self._details.setWordWrap(True)
        self._details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._details.setStyleSheet("color: gray")
        self._choose_folder = QPushButton("Choose folder…", objectName="chooseDataFolder")
        self._retry = QPushButton("Retry", objectName="retryDataFolder")
        self._choose_folder.clicked.connect(self._ask_for_folder)
        self._retry.clicked.connect(self.retry)
        fixes = QHBoxLayout()
        fixes.addWidget(self._choose_folder)
        fixes.addWidget(self._retry)
        fixes.addStretch(1)
        self._fixes = QWidget()
        self._fixes.setLayout(fixes)
        layout = QVBoxLayout(self)
        layout.addWidget(self._hint)
        layout.addWidget(self._fixes)
        layout.addWidget(self._details)
        layout.addLayout(grid)
        layout.addWidget(self._more)
        layout.addStretch(1)
        self._set_grid_visible(False)
        self._show_fixes(False)

    def show_dataset(self, dataset: str, data_dir: str | None = None) -> None:
        self._dataset, self._offset = dataset, 0
        if data_dir != self._data_dir:
            self._cache.clear()
            self._requested.clear()
            self._data_dir = data_dir
        if dataset in self._cache:
            self._fill()
            return
        if dataset not in DATASETS:  # a classifier of the user's own classes
            self._hint.setText("Your own classifier has no official test pictures: its "
                               "drawings are in My samples, and Train measures it on them "
                               "(cross-validation).")
            self._hint.show()
            self._show_fixes(False)
            self._set_grid_visible(False)
            return
        self._hint.setText("Loading test images…")
        self._hint.show()
        self._show_fixes(False)
        self._set_grid_visible(False)
        if dataset not in self._requested:
            self._requested.add(dataset)
            self._job.submit((dataset, data_dir or ""), dataset)  # one key each: both may load

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        self._job.stop()
        return self._job.wait(timeout_ms / 1000)

    def shown_labels(self) -> list[str]:
        return [b.text() for b in self._buttons if b.isVisible()]

    @Slot(object)
    def _loaded(self, found: TestSet) -> None:
        dataset, message = found.dataset, found.error
        self._requested.discard(dataset)  # after a failure, asking again may succeed
        if message is None:
            self._cache[dataset] = (found.images, found.labels, list(found.class_names))
            if dataset == self._dataset:
                self._fill()
        elif dataset == self._dataset:
            self._hint.setText("<b>No test images to show.</b> Point the app at a folder "
                               "holding <tt>mnist/</tt> and <tt>fashion-mnist/</tt>, or connect "
                               "to the internet and train once (the data is then downloaded).")
            self._details.setText(message)
            self._show_fixes(True)
            self._set_grid_visible(False)

    def retry(self) -> None:
        """Look for the data again (e.g. after the user copied it into place)."""
        self._cache.pop(self._dataset, None)
        self._requested.discard(self._dataset)
        self.show_dataset(self._dataset, self._data_dir)

    def _ask_for_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Folder with mnist/ and fashion-mnist/",
                                                  self._data_dir or "")
        if folder:
            self.dataFolderChosen.emit(folder)
            self.show_dataset(self._dataset, folder)

    def _show_fixes(self, visible: bool) -> None:
        self._fixes.setVisible(visible)
        self._details.setVisible(visible)

    def _fill(self) -> None:
        images, labels, names = self._cache[self._dataset]
        for index, button in enumerate(self._buttons):
            sample = (self._offset + index) % len(images)
            button.setIcon(QIcon(_pixmap(images[sample])))
            button.setText(names[int(labels[sample])])
            button.setToolTip(f"Test image #{sample}: {names[int(labels[sample])]}. "
                              "Click to put it on the canvas.")
        self._hint.hide()
        self._show_fixes(False)
        self._set_grid_visible(True)

    def _set_grid_visible(self, visible: bool) -> None:
        for button in self._buttons:
            button.setVisible(visible)
        self._more.setVisible(visible)

    def _next_page(self) -> None:
        self._offset += GRID * GRID
        self._fill()

    def _choose(self, index: int) -> None:
        images, labels, _ = self._cache[self._dataset]
        sample = (self._offset + index) % len(images)
        self.sampleChosen.emit(np.array(images[sample]), int(labels[sample]))


def _pixmap(image: np.ndarray) -> QPixmap:
    pixels = np.ascontiguousarray(255 - image)  # dark on light reads better in a list
    qimage = QImage(pixels.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(qimage).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)
