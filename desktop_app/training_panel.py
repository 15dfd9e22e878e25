"""The training panel: a form bound to ``training.TrainingConfig``, Start/Stop, live progress and
charts, and the test results of the run.

Training runs in a ``TrainingWorker`` on its own ``QThread`` (started through
``threads.start_worker``). The worker owns the model until it finishes; only then does the result
(with its model) reach this panel, which can hand it to the live canvas (``modelReady``) or save
it. TensorFlow is never imported here: the model summary is built by a background worker too.
"""

from __future__ import annotations

import logging
import math
import os

from PySide6.QtCore import QMetaObject, Qt, Signal, Slot
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QMessageBox, QPlainTextEdit, QProgressBar, QPushButton,
                               QScrollArea, QSpinBox, QTabWidget, QVBoxLayout,
                               QWidget)

from training.datasets import DATA_ENV_VAR, DATASETS
from training.models import ARCHITECTURES, PRECISIONS, cpu_supports_bfloat16
from training.trainer import LR_SCHEDULES, ConfigError, TrainingConfig

from .results_view import ResultsView
from .settings import AppSettings
from .threads import start_worker
from .training_charts import TrainingCharts
from .training_worker import SummaryWorker, TrainingWorker

log = logging.getLogger(__name__)

OPTIMIZER_TITLES = {"adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD + momentum"}
SCHEDULE_TITLES = {"constant": "constant", "cosine": "warm-up + cosine decay"}
PRECISION_TITLES = {"float32": "float32", "bfloat16": "bfloat16 (mixed)"}

CUSTOM = "Custom"
SUMMARY_PENDING = "…"
ERROR_STYLE = "color: #b00020;"


def presets() -> dict[str, dict]:
    """The named starting points; each sets the model and optimisation, not dataset or seed."""
    fast = "bfloat16" if cpu_supports_bfloat16() else "float32"
    return {
        "Lecture dense net": dict(architecture="lecture_dense", optimizer="adam",
                                  learning_rate=1e-3, lr_schedule="constant", epochs=5,
                                  batch_size=32, dropout=0.0, augment=False, precision="float32"),
        "Lecture CNN": dict(architecture="lecture_cnn", optimizer="rmsprop", learning_rate=1e-3,
                            lr_schedule="constant", epochs=5, batch_size=64, dropout=0.0,
                            augment=False, precision="float32"),
        "Quick": dict(architecture="compact_cnn", optimizer="adam", learning_rate=3e-3,
                      lr_schedule="cosine", epochs=2, batch_size=128, dropout=0.2, augment=False,
                      precision=fast),
        "Best": dict(architecture="wide_cnn", optimizer="adam", learning_rate=3e-3,
                     lr_schedule="cosine", epochs=15, batch_size=128, dropout=0.3, augment=True,
                     precision=fast),
    }


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


class TrainingPanel(QWidget):
    modelReady = Signal(object, dict)       # (keras model, metadata) on "Use this model"
    sampleChosen = Signal(object, str)      # (uint8 28x28 picture, dataset) from the gallery
    trainingStateChanged = Signal(bool)     # True when a run starts, False when it has ended
    dataFolderChanged = Signal(str)         # the data-folder setting was edited

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self._settings = settings
        self._presets = presets()
        self._thread = None
        self._worker = None
        self._result = None                 # the last TrainingResult (its model is ours now)
        self._results_dataset = "mnist"     # dataset of the results on display
        self._summary_cache: dict[tuple, str] = {}
        self._summary_thread = None
        self._summary_worker = None
        self._shown = False
        self._loading = True                # no saving or preset matching while restoring

        self._build_form()
        self._build_controls()
        self._build_layout()
        self._restore()
        self._loading = False
        self._on_form_changed()
        self._update_buttons()

    # ------------------------------------------------------------------ construction
    def _build_form(self) -> None:
        self.preset = QComboBox(objectName="presetSelector")
        self.preset.addItems([CUSTOM, *self._presets])
        self.preset.setToolTip("Fill the form with a known-good combination")

        self.dataset = QComboBox(objectName="datasetField")
        for name, info in DATASETS.items():
            self.dataset.addItem(info.title, name)
        self.architecture = QComboBox(objectName="architectureField")
        for name, arch in ARCHITECTURES.items():
            self.architecture.addItem(arch.title, name)
            self.architecture.setItemData(self.architecture.count() - 1, arch.description,
                                          Qt.ItemDataRole.ToolTipRole)
        self.optimizer = QComboBox(objectName="optimizerField")
        for name, title in OPTIMIZER_TITLES.items():
            self.optimizer.addItem(title, name)

        self.learning_rate = QDoubleSpinBox(objectName="learningRateField")
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(1e-5, 1.0)
        self.learning_rate.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr_schedule = QComboBox(objectName="lrScheduleField")
        for name in LR_SCHEDULES:
            self.lr_schedule.addItem(SCHEDULE_TITLES.get(name, name), name)

        self.epochs = QSpinBox(objectName="epochsField")
        self.epochs.setRange(1, 200)
        self.batch_size = QSpinBox(objectName="batchSizeField")
        self.batch_size.setRange(1, 4096)
        self.validation_split = QDoubleSpinBox(objectName="validationSplitField")
        self.validation_split.setRange(0.0, 0.5)
        self.validation_split.setDecimals(2)
        self.validation_split.setSingleStep(0.05)
        self.dropout = QDoubleSpinBox(objectName="dropoutField")
        self.dropout.setRange(0.0, 0.9)
        self.dropout.setDecimals(2)
        self.dropout.setSingleStep(0.05)
        self.augment = QCheckBox("random shifts, rotations, scaling, stroke width",
                                 objectName="augmentField")
        self.precision = QComboBox(objectName="precisionField")
        for name in PRECISIONS:
            self.precision.addItem(PRECISION_TITLES.get(name, name), name)
        self.precision.setToolTip("bfloat16 is about twice as fast on CPUs with AVX512-BF16/AMX "
                                  "and much slower elsewhere")
        self.seed = QSpinBox(objectName="seedField")
        self.seed.setRange(0, 2**31 - 1)

        self.data_folder = QLineEdit(objectName="dataFolderField")
        self.data_folder.setPlaceholderText(f"default: ${DATA_ENV_VAR}, then the Keras cache")
        self.data_folder.setToolTip("A folder holding mnist/ and fashion-mnist/ with the four "
                                    "IDX files each")
        self.browse = QPushButton("Browse…", objectName="browseDataFolder")

        self.summary = QPlainTextEdit(SUMMARY_PENDING, objectName="modelSummary")
        self.summary.setReadOnly(True)
        self.summary.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.summary.setFont(font)
        self.summary.setMinimumHeight(160)

        self._fields = (self.dataset, self.architecture, self.optimizer, self.learning_rate,
                        self.lr_schedule, self.epochs, self.batch_size, self.validation_split,
                        self.dropout, self.augment, self.precision, self.seed)
        for combo in (self.dataset, self.architecture, self.optimizer, self.lr_schedule,
                      self.precision):
            combo.currentIndexChanged.connect(self._on_form_changed)
        for spin in (self.learning_rate, self.epochs, self.batch_size, self.validation_split,
                     self.dropout, self.seed):
            spin.valueChanged.connect(self._on_form_changed)
        self.augment.toggled.connect(self._on_form_changed)
        self.architecture.currentIndexChanged.connect(self._request_summary)
        self.dropout.valueChanged.connect(self._request_summary)
        self.preset.activated.connect(self._on_preset_chosen)
        self.data_folder.editingFinished.connect(self._on_data_folder_changed)
        self.browse.clicked.connect(self._browse_data_folder)

    def _build_controls(self) -> None:
        self.start_button = QPushButton("Start", objectName="startTraining")
        self.stop_button = QPushButton("Stop", objectName="stopTraining")
        self.use_button = QPushButton("Use this model", objectName="useModel")
        self.save_button = QPushButton("Save model…", objectName="saveModel")
        self.start_button.setToolTip("Train a new model with these settings")
        self.stop_button.setToolTip("Stop after the current batch; the model so far is kept")
        self.use_button.setToolTip("Classify the canvas with the model just trained")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.request_stop)
        self.use_button.clicked.connect(self._use_model)
        self.save_button.clicked.connect(self._save_model)

        self.progress = QProgressBar(objectName="epochProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Not training")
        self.message = QLabel("Choose a preset or adjust the settings, then press Start.",
                              objectName="trainingMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.charts = TrainingCharts(self)
        self.results = ResultsView(self)
        self.results.sampleClicked.connect(self._on_sample_clicked)

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("Preset", self.preset)
        form.addRow("Dataset", self.dataset)
        form.addRow("Architecture", self.architecture)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Schedule", self.lr_schedule)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Validation split", self.validation_split)
        form.addRow("Dropout", self.dropout)
        form.addRow("Augmentation", self.augment)
        form.addRow("Precision", self.precision)
        form.addRow("Seed", self.seed)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.data_folder, 1)
        folder_row.addWidget(self.browse)
        form.addRow("Data folder", folder_row)

        settings_box = QWidget()
        left = QVBoxLayout(settings_box)
        left.addLayout(form)
        left.addWidget(QLabel("Model summary"))
        left.addWidget(self.summary, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(settings_box)

        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.use_button, self.save_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        # Settings, charts and results share one tab widget, so the panel fits a narrow dock;
        # Start switches to the charts, and the end of a run to the results.
        self.tabs = QTabWidget()
        self.tabs.addTab(scroll, "Settings")
        self.tabs.addTab(self.charts, "Loss && accuracy")
        self.tabs.addTab(self.results, "Test results")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)

    # ------------------------------------------------------------------ form <-> config
    def config(self) -> TrainingConfig:
        """The form's values as a TrainingConfig (widgets keep every value in range)."""
        folder = self.data_folder.text().strip()
        return TrainingConfig(
            dataset=self.dataset.currentData(), architecture=self.architecture.currentData(),
            optimizer=self.optimizer.currentData(), learning_rate=self.learning_rate.value(),
            lr_schedule=self.lr_schedule.currentData(), epochs=self.epochs.value(),
            batch_size=self.batch_size.value(), validation_split=self.validation_split.value(),
            dropout=self.dropout.value(), augment=self.augment.isChecked(),
            precision=self.precision.currentData(), seed=self.seed.value(),
            data_dir=folder or None)

    def set_config(self, values: dict) -> None:
        """Fill the form from (part of) a config dict; unknown names keep the current choice."""
        combos = {"dataset": self.dataset, "architecture": self.architecture,
                  "optimizer": self.optimizer, "lr_schedule": self.lr_schedule,
                  "precision": self.precision}
        spins = {"learning_rate": self.learning_rate, "epochs": self.epochs,
                 "batch_size": self.batch_size, "validation_split": self.validation_split,
                 "dropout": self.dropout, "seed": self.seed}
        loading, self._loading = self._loading, True  # one save at the end, not one per field
        try:
            for key, combo in combos.items():
                if key in values:
                    index = combo.findData(str(values[key]).replace("-", "_"))
                    if index >= 0:
                        combo.setCurrentIndex(index)
            for key, spin in spins.items():
                value = values.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    spin.setValue(value)  # out-of-range values are clamped by the widget
            if isinstance(values.get("augment"), bool):
                self.augment.setChecked(values["augment"])
        finally:
            self._loading = loading
        self._on_form_changed()

    def _restore(self) -> None:
        saved = self._settings.training_config()
        self.set_config(TrainingConfig().to_dict())  # fields no preset sets
        self.set_config(self._presets["Quick"])
        if saved:
            self.set_config(saved)
        self.data_folder.setText(self._settings.data_dir())

    @Slot()
    def _on_form_changed(self, *_args) -> None:
        if self._loading:
            return
        config = self.config().to_dict()
        config.pop("data_dir", None)  # the data folder has its own setting
        self._settings.set_training_config(config)
        self.preset.setCurrentText(self._matching_preset(config))

    def _matching_preset(self, config: dict) -> str:
        for name, values in self._presets.items():
            if all(_same(config[key], value) for key, value in values.items()):
                return name
        return CUSTOM

    @Slot(int)
    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset.itemText(index)
        if name in self._presets:
            self.set_config(self._presets[name])

    @Slot()
    def _on_data_folder_changed(self) -> None:
        folder = self.data_folder.text().strip()
        if folder != self._settings.data_dir():
            self._settings.set_data_dir(folder)
            self.dataFolderChanged.emit(folder)

    @Slot()
    def _browse_data_folder(self) -> None:
        start = self.data_folder.text().strip() or os.environ.get(DATA_ENV_VAR, "")
        folder = QFileDialog.getExistingDirectory(self, "Folder with mnist/ and fashion-mnist/",
                                                  start)
        if folder:
            self.data_folder.setText(folder)
            self._on_data_folder_changed()

    # ------------------------------------------------------------------ model summary
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            self._request_summary()

    def _summary_key(self) -> tuple:
        # Dropout only adds Dropout layers: its rate does not change the summary.
        return (self.architecture.currentData(), self.dropout.value() > 0)

    @Slot()
    def _request_summary(self, *_args) -> None:
        key = self._summary_key()
        if key in self._summary_cache:
            self.summary.setPlainText(self._summary_cache[key])
            return
        self.summary.setPlainText(SUMMARY_PENDING)
        # Not before the panel is first shown (keeps app start-up free of TensorFlow), not while
        # training (a model built in parallel would disturb the seeded run), one at a time.
        if not self._shown or self.is_training() or self._summary_thread is not None:
            return
        architecture, with_dropout = key
        worker = SummaryWorker(key, architecture, 0.5 if with_dropout else 0.0)
        worker.done.connect(self._on_summary_done)
        self._summary_worker = worker
        self._summary_thread = start_worker(worker, "model-summary")
        self._summary_thread.finished.connect(self._on_summary_thread_finished)
        QMetaObject.invokeMethod(worker, "run", Qt.ConnectionType.QueuedConnection)

    @Slot(object, str)
    def _on_summary_done(self, key, text: str) -> None:
        self._summary_cache[tuple(key)] = text
        if tuple(key) == self._summary_key():
            self.summary.setPlainText(text)

    @Slot()
    def _on_summary_thread_finished(self) -> None:
        if self._summary_thread is not None:
            self._summary_thread.wait()
        self._summary_thread = self._summary_worker = None
        if self._summary_key() not in self._summary_cache:
            self._request_summary()  # the architecture changed while the last one was built

    def summary_ready(self) -> bool:
        return self._summary_key() in self._summary_cache

    # ------------------------------------------------------------------ training
    def is_training(self) -> bool:
        return self._thread is not None

    def last_result(self):
        """The last TrainingResult of this session (None before any run ends)."""
        return self._result

    @Slot()
    def start(self) -> None:
        if self.is_training():
            return
        self._on_data_folder_changed()  # persist what was typed, even without Enter
        config = self.config()
        try:
            config.validate()
        except ConfigError as exc:  # cannot happen through the widgets; kept as a safety net
            self._show_message(str(exc), error=True)
            return
        worker = TrainingWorker(config)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._worker = worker
        self.charts.reset()
        self.tabs.setCurrentWidget(self.charts)
        self.progress.setRange(0, 0)  # busy until the first batch: data and TensorFlow load
        self.progress.setFormat("Preparing…")
        self._show_message("Loading the data and TensorFlow…")
        self._thread = start_worker(worker, "training")
        self._thread.finished.connect(self._on_thread_finished)
        QMetaObject.invokeMethod(worker, "run", Qt.ConnectionType.QueuedConnection)
        self._update_buttons()
        self.trainingStateChanged.emit(True)

    @Slot()
    def request_stop(self) -> None:
        if self._worker is None:
            return
        self._worker.request_stop()
        self._show_message("Stopping after the current batch…")
        self._update_buttons()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Stop training (skipping the final evaluation) and wait for the worker threads; True
        when none is left running. Never terminates a thread: a run that cannot stop in time
        keeps running and False is returned."""
        if self._worker is not None:
            self._worker.abort()
        ok = True
        for thread in (self._thread, self._summary_thread):
            if thread is not None:
                ok = thread.wait(timeout_ms) and ok
        if ok:
            self._thread = self._worker = None
            self._summary_thread = self._summary_worker = None
            self._update_buttons()
        return ok

    def confirm_close(self, timeout_ms: int = 2000) -> bool:
        """For the main window's closeEvent: True when the app may close now.

        While training runs, asks whether to stop; on yes the run is stopped without evaluating
        or saving anything, and the worker threads are waited for.
        """
        if self.is_training():
            answer = QMessageBox.question(
                self, "Training is running",
                "A model is being trained. Stop training and close? The model of this run will "
                "be lost; nothing is saved.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        if self.shutdown(timeout_ms):
            return True
        # Still importing TensorFlow or loading data (neither can be interrupted): the run ends
        # at its next check. Waiting beats letting Qt destroy a running thread.
        self._show_message("Waiting for training to stop…")
        return self.shutdown(30_000)

    @Slot(dict)
    def _on_progress(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "download":
            total = event["total"]
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(min(event["done"], total) if total else 0)
            size = f"{event['done'] / 1e6:.1f}" + (f" of {total / 1e6:.1f}" if total else "")
            self.progress.setFormat(f"Downloading {event['file']}: {size} MB")
            self._show_message("The dataset was not found locally: downloading it into the "
                               "Keras cache…")
        elif kind == "train_begin":
            self._show_message(f"Training on {event['train_samples']:,} pictures, validating on "
                               f"{event['val_samples']:,} (data: {event['source']})")
            self.progress.setRange(0, max(1, event["steps"]))
            self.progress.setValue(0)
            self.progress.setFormat(f"Epoch 1/{event['epochs']}: starting…")
        elif kind == "batch":
            self.progress.setRange(0, max(1, event["steps"]))
            self.progress.setValue(event["batch"])
            self.progress.setFormat(
                f"Epoch {event['epoch']}/{event['epochs']} · batch %v/%m · "
                f"ETA {_duration(event['eta_seconds'])} · loss {event['loss']:.4f} · "
                f"accuracy {event['accuracy']:.1%}")
            self.charts.show_running(event)
        elif kind == "epoch":
            self.progress.setValue(self.progress.maximum())  # the last batch event may be dropped
            self.charts.add_epoch(event)
            val = (f", validation accuracy {event['val_accuracy']:.2%}"
                   if "val_accuracy" in event else "")
            self._show_message(f"Epoch {event['epoch']}/{event['epochs']} done in "
                               f"{event['seconds']:.1f} s: accuracy {event['accuracy']:.2%}{val}")
        elif kind == "evaluate_begin":
            self.progress.setRange(0, 0)
            self.progress.setFormat("Evaluating…")
            self._show_message(f"Evaluating on {event['samples']:,} test pictures…")

    @Slot(object)
    def _on_finished(self, result) -> None:
        self._result = result
        extra = result.extra
        self._results_dataset = result.config.dataset
        self.tabs.setCurrentWidget(self.results)  # first: hidden charts are not redrawn now
        self.results.show_results(
            result.test_accuracy, result.test_loss, result.confusion, result.class_names,
            images=extra.get("misclassified_images"), true=extra.get("misclassified_true"),
            predicted=extra.get("misclassified_predicted"))
        self.charts.set_history(result.history)
        if result.stopped:
            text = (f"Stopped after {result.epochs_completed} whole epoch(s). The partial model "
                    f"scores {result.test_accuracy:.2%} on the test set.")
        else:
            text = (f"Finished {result.epochs_completed} epoch(s) in {result.train_seconds:.0f} s: "
                    f"test accuracy {result.test_accuracy:.2%}, loss {result.test_loss:.4f}.")
        self._show_message(text + " “Use this model” puts it on the canvas.")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._show_message(message, error=True)

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return  # already cleaned up by shutdown()
        self._thread.wait()  # finished is emitted just before the thread really ends
        self._thread = self._worker = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self._result is not None else 0)
        self.progress.setFormat("Done" if self._result is not None else "Not training")
        self._update_buttons()
        self.trainingStateChanged.emit(False)
        if self._shown and not self.summary_ready():
            self._request_summary()

    def _update_buttons(self) -> None:
        training = self.is_training()
        self.start_button.setEnabled(not training)
        self.stop_button.setEnabled(training and not self._worker.stop_requested())
        self.use_button.setEnabled(not training and self._result is not None)
        self.save_button.setEnabled(not training and self._result is not None)
        for widget in (*self._fields, self.preset, self.data_folder, self.browse):
            widget.setEnabled(not training)

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else "")

    # ------------------------------------------------------------------ results
    @Slot()
    def _use_model(self) -> None:
        if self._result is None:
            return
        self.modelReady.emit(self._result.model, self._result.metadata())
        self._show_message("The canvas now classifies with the model just trained.")

    @Slot()
    def _save_model(self) -> None:
        if self._result is None:
            return
        config = self._result.config
        suggested = f"{config.dataset}_{config.architecture}.keras"
        path, _ = QFileDialog.getSaveFileName(self, "Save model", suggested,
                                              "Keras models (*.keras)")
        if not path:
            return
        from training.store import save_model  # imports Keras, already loaded by training

        try:
            saved = save_model(self._result.model, path, self._result.metadata())
        except Exception as exc:  # noqa: BLE001 - disk full, permissions...: a message, not a crash
            log.error("saving the model failed", exc_info=exc)
            self._show_message(f"Could not save the model to {path}: {exc}", error=True)
            return
        self._show_message(f"Saved {saved} (and its metadata {saved.with_suffix('.json').name}).")

    def show_saved_model(self, metadata: dict) -> None:
        """Show a loaded model's saved history and test results (no gallery: the pictures are
        not saved). Ignored while training, so the live charts are not overwritten."""
        if self.is_training():
            return
        metadata = metadata or {}
        dataset = metadata.get("dataset") or "mnist"
        class_names = metadata.get("class_names") or list(
            DATASETS[dataset].class_names if dataset in DATASETS else [str(i) for i in range(10)])
        self._result = None  # the buttons act on a trained model, not on the loaded one
        self._results_dataset = dataset
        self.charts.set_history(metadata.get("history") or {})
        accuracy, loss = metadata.get("test_accuracy"), metadata.get("test_loss")
        if accuracy is None:
            self.results.clear()
        else:
            self.results.show_results(float(accuracy), float(loss if loss is not None else "nan"),
                                      metadata.get("confusion") or [], class_names,
                                      heading="Saved model: ")
        title = DATASETS[dataset].title if dataset in DATASETS else dataset
        self._show_message(f"Showing the saved training history and test results of the loaded "
                           f"{title} model.")
        self._update_buttons()

    @Slot(object)
    def _on_sample_clicked(self, image) -> None:
        self.sampleChosen.emit(image, self._results_dataset)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
