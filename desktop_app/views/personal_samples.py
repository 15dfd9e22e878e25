"""PersonalSamplesPanel: the user's own labelled drawings ("My samples" dock).

Samples are stored by ``training.runtime.samples.SampleStore`` (PNG files, atomic writes, the Keras
folder layout). The panel lists them by class with counts; a click puts one on the canvas;
Delete and Relabel can be undone; Import/Export copy a folder of the same layout.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.views.fitting import ButtonGrid
from training.core.atomic import WriteError
from training.runtime.samples import Sample, SampleStore

THUMB = 48


class PersonalSamplesPanel(QWidget):
    sampleChosen = Signal(object)   # uint8 grey picture of the clicked sample
    message = Signal(str)           # for the status bar

    def __init__(self, dataset: str, parent=None):
        super().__init__(parent)
        self.setObjectName("personalSamplesPanel")
        self._store = SampleStore(dataset)
        self._undo: list[tuple] = []    # (kind, sample as it was, where it is now)
        self.counts = QLabel(objectName="sampleCounts")
        self.counts.setWordWrap(True)
        self.list = QListWidget(objectName="sampleList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setGridSize(QSize(THUMB + 40, THUMB + 30))
        self.list.itemClicked.connect(self._clicked)
        self.relabel_to = QComboBox(objectName="relabelTo")
        self.delete_button = QPushButton("Delete", objectName="deleteSample")
        self.relabel_button = QPushButton("Relabel as", objectName="relabelSample")
        self.undo_button = QPushButton("Undo", objectName="undoSampleChange")
        self.import_button = QPushButton("Import…", objectName="importSamples")
        self.export_button = QPushButton("Export…", objectName="exportSamples")
        self.delete_button.clicked.connect(self.delete_selected)
        self.relabel_button.clicked.connect(
            lambda: self.relabel_selected(self.relabel_to.currentIndex()))
        self.undo_button.clicked.connect(self.undo)
        self.import_button.clicked.connect(self._import)
        self.export_button.clicked.connect(self._export)
        # "Relabel as [class]" on its own row (the combo shows its whole class name); the
        # other buttons in as many rows as the dock's width needs.
        self.relabel_to.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        edit = QHBoxLayout()
        edit.addWidget(self.relabel_button)
        edit.addWidget(self.relabel_to)
        edit.addStretch(1)
        files = ButtonGrid()
        files.setObjectName("sampleButtons")
        files.set_buttons([self.delete_button, self.undo_button, self.import_button,
                           self.export_button])
        hint = QLabel("With the canvas focused, type a class key (0–9) to store the drawing "
                      "as a sample of that class, or use the “This is…” buttons.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addWidget(self.counts)
        layout.addWidget(self.list, 1)
        layout.addLayout(edit)
        layout.addWidget(files)
        layout.addWidget(hint)
        self.set_dataset(dataset)

    # -- public API
    @property
    def store(self) -> SampleStore:
        return self._store

    def set_dataset(self, dataset: str) -> None:
        self._store = SampleStore(dataset)
        self._undo.clear()
        self.relabel_to.clear()
        for index, name in enumerate(self._store.info.class_names):
            self.relabel_to.addItem(f"{index}: {name}")
        self.refresh()

    def add(self, label: int, grey: np.ndarray) -> Sample | None:
        try:
            sample = self._store.add(label, grey)
        except WriteError as exc:
            self.message.emit(f"The sample could not be stored: {exc}")
            return None
        self.refresh()
        name = self._store.info.class_names[label]
        self.message.emit(f"Stored as a sample of “{name}” ({self._store.counts()[label]} "
                          f"of that class, {len(self._store.samples())} in all).")
        return sample

    def refresh(self) -> None:
        self.list.clear()
        names = self._store.info.class_names
        samples = self._store.samples()
        for sample in samples:
            item = QListWidgetItem(QIcon(_thumbnail(sample.path)), names[sample.label])
            item.setData(Qt.ItemDataRole.UserRole, sample)
            self.list.addItem(item)
        counts = self._store.counts()
        self.counts.setText(f"<b>{len(samples)} samples</b> · " + " · ".join(
            f"{names[i]}: {c}" for i, c in enumerate(counts) if c) if samples
            else "No samples yet.")
        self.undo_button.setEnabled(bool(self._undo))

    def delete_selected(self) -> None:
        for sample in self._selected():
            try:
                self._undo.append(("delete", sample, self._store.delete(sample)))
            except WriteError as exc:
                self.message.emit(str(exc))
        self.refresh()

    def relabel_selected(self, label: int) -> None:
        for sample in self._selected():
            try:
                moved = self._store.relabel(sample, label)
            except WriteError as exc:
                self.message.emit(str(exc))
                continue
            self._undo.append(("relabel", sample, moved.path))
        self.refresh()

    def undo(self) -> None:
        if not self._undo:
            return
        _, sample, now = self._undo.pop()
        try:
            self._store.restore(now, sample)
        except WriteError as exc:
            self.message.emit(str(exc))
        self.refresh()

    # -- internals
    def _selected(self) -> list[Sample]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]

    @Slot(QListWidgetItem)
    def _clicked(self, item: QListWidgetItem) -> None:
        sample = item.data(Qt.ItemDataRole.UserRole)
        try:
            with Image.open(sample.path) as image:
                self.sampleChosen.emit(np.asarray(image.convert("L")))
        except OSError as exc:
            self.message.emit(f"{sample.path.name} cannot be read: {exc}")

    def _import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import samples from a folder")
        if not folder:
            return
        try:
            count, skipped = self._store.import_folder(folder)
        except WriteError as exc:
            self.message.emit(f"Import failed: {exc}")
            return
        self.refresh()
        self.message.emit(f"Imported {count} samples" + (f"; skipped {len(skipped)}" if skipped
                                                          else "") + ".")

    def _export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export samples to a folder")
        if not folder:
            return
        try:
            count = self._store.export_folder(folder)
        except WriteError as exc:
            self.message.emit(f"Export failed: {exc}")
            return
        self.message.emit(f"Exported {count} samples to {folder}.")


def _thumbnail(path) -> QPixmap:
    try:
        with Image.open(path) as image:
            image = image.convert("L")
            image.thumbnail((THUMB, THUMB))
            pixels = np.ascontiguousarray(np.asarray(image))
    except OSError:
        return QPixmap()
    height, width = pixels.shape
    qimage = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(qimage)
