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
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.views.class_keys import KEYS, class_keys, keys_text
from desktop_app.views.fitting import ButtonGrid
from training.core.atomic import WriteError
from training.core.datasets import DATASETS
from training.runtime.samples import ALREADY, Sample, SampleStore

THUMB = 48


class PersonalSamplesPanel(QWidget):
    sampleChosen = Signal(object)   # uint8 grey picture of the clicked sample
    message = Signal(str)           # for the status bar
    trainRequested = Signal()       # a classifier of the user's own classes: Train pressed
    stopRequested = Signal()        # ... and Stop, while it trains

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
        self.hint = QLabel(objectName="classKeysHint")  # its keys: set_dataset
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: gray")
        self.classes_box = self._build_classes_box()
        layout = QVBoxLayout(self)
        layout.addWidget(self.counts)
        layout.addWidget(self.list, 1)
        layout.addLayout(edit)
        layout.addWidget(files)
        layout.addWidget(self.classes_box)
        layout.addWidget(self.hint)
        self._training = False
        self.set_dataset(dataset)

    def _build_classes_box(self) -> QWidget:
        """A classifier of the user's own classes is trained here: Train (Stop while it runs),
        its progress, then the held-out accuracy and the confusion matrix."""
        box = QWidget(objectName="classesBox")
        self.train_button = QPushButton("Train", objectName="trainClasses")
        self.train_button.setToolTip("Learn these classes from your samples (a new head on the "
                                     "digit model's features; seconds), then use it")
        self.train_button.clicked.connect(self._train_clicked)
        self.classes_progress = QProgressBar(objectName="classesProgress")
        self.classes_progress.setTextVisible(True)
        self.classes_progress.hide()
        self.classes_result = QLabel(objectName="classesResult")
        self.classes_result.setWordWrap(True)
        self.confusion = QTableWidget(objectName="classesConfusion")
        self.confusion.setToolTip("Held-out drawings: rows are what they are, columns what the "
                                  "classifier answered")
        self.confusion.hide()
        self.fine_tune = QCheckBox("Fine-tune the base too", objectName="fineTuneClasses")
        self.fine_tune.setToolTip(
            "Also train the digit model's last convolutions on your drawings: four to five "
            "times as long, and not reliably better: drawn clothes, ten of each, read new "
            "drawings 93.7 → 94.7 % right in one run, 94.3 → 94.0 % in another, and a few "
            "more were refused")
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.classes_progress, 1)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.fine_tune)
        layout.addWidget(self.classes_result)
        layout.addWidget(self.confusion)
        return box

    # -- public API
    @property
    def store(self) -> SampleStore:
        return self._store

    def set_dataset(self, dataset: str) -> None:
        self._store = SampleStore(dataset)
        self.classes_box.setVisible(dataset not in DATASETS)
        if not self._training:
            self.show_classes_result(None)
        self._undo.clear()
        self.relabel_to.clear()
        names = self._store.info.class_names
        for index, name in enumerate(names):
            self.relabel_to.addItem(f"{index}: {name}")
        keys = class_keys(names)
        self.hint.setText(
            f"With the canvas focused, type a class key ({keys_text(keys)}) to store the "
            "drawing as a sample of that class, or use the “This is…” buttons.")
        if len(names) > 10 and keys == KEYS[:len(names)]:  # which letter is which: say each
            self.hint.setText(self.hint.text() + " Keys: " + ", ".join(
                f"{key} {name}" for key, name in zip(keys, names)) + ".")
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

    # -- a classifier of the user's own classes
    def set_training(self, on: bool) -> None:
        self._training = on
        self.train_button.setText("Stop" if on else "Train")
        self.fine_tune.setEnabled(not on)
        self.classes_progress.setVisible(on)
        if on:
            self.classes_progress.setRange(0, 0)  # busy until the child says how much
            self.classes_progress.setFormat("Starting…")
            self.classes_result.setText("")

    def show_classes_progress(self, done: int, total: int, text: str) -> None:
        self.classes_progress.setRange(0, max(1, total))
        self.classes_progress.setValue(min(done, total))
        self.classes_progress.setFormat(text)

    def show_classes_result(self, figures: dict | None, note: str = "") -> None:
        """The held-out figures of the classifier's model (a run's result or its sidecar's
        lineage); None: nothing trained yet."""
        self.confusion.hide()
        if not figures:
            self.classes_result.setText(note or "Not trained yet: keep a few drawings of each "
                                        "class (ten is good), then press Train.")
            return
        cv = figures.get("cross_validation") or {}
        names = list(figures.get("class_names") or self._store.info.class_names)
        if isinstance(cv.get("accuracy"), float):
            text = (f"<b>{cv['accuracy']:.0%}</b> of {cv.get('held_out')} drawings right when "
                    f"held out ({cv.get('folds')}-fold cross-validation)")
        else:
            text = f"Trained; {cv.get('reason') or 'no held-out figure'}"
        if cv.get("fine_tune_steps"):
            text += " · base fine-tuned"
        seconds = (figures.get("seconds") or {}).get("total")
        if isinstance(seconds, (int, float)):
            text += f" · trained in {seconds:.0f} s"
        self.classes_result.setText(text + (f"<br>{note}" if note else ""))
        matrix = cv.get("confusion") or figures.get("confusion")
        if isinstance(matrix, list) and len(matrix) == len(names):
            self._show_confusion(names, matrix)

    def _show_confusion(self, names: list[str], matrix: list) -> None:
        self.confusion.clear()
        self.confusion.setRowCount(len(names))
        self.confusion.setColumnCount(len(names))
        self.confusion.setHorizontalHeaderLabels(names)
        self.confusion.setVerticalHeaderLabels(names)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                item = QTableWidgetItem(str(count) if count else "·")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if count and i != j:
                    item.setBackground(Qt.GlobalColor.yellow)
                self.confusion.setItem(i, j, item)
        self.confusion.resizeColumnsToContents()
        self.confusion.setMaximumHeight(24 * (len(names) + 2))
        self.confusion.show()

    def _train_clicked(self) -> None:
        (self.stopRequested if self._training else self.trainRequested).emit()

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
        already = sum(reason.endswith(ALREADY) for reason in skipped)
        others = len(skipped) - already
        self.message.emit(f"Imported {count} samples"
                          + (f"; {already} were already among your samples" if already else "")
                          + (f"; skipped {others}" if others else "") + ".")

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
