"""The training panel: a form bound to ``training.TrainingConfig``, Start/Stop, live progress and
charts, and the test results of the run.

The panel holds only widgets. Its ``TrainingController`` runs the jobs: training (and the model
summary) in a child process, ``python -m training``, so this process never imports TensorFlow.
A run's model stays in its run folder; "Use this model" emits its path, "Save model…" copies it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.figures.figure_renderer import FigureRenderer
from desktop_app.learning.config_form import ConfigForm
from desktop_app.learning.training_controller import FinishedRun, TrainingController
from desktop_app.settings import AppSettings
from desktop_app.texts import download_text, estimate_text, training_progress_text
from desktop_app.texts import finite as _finite
from desktop_app.texts import number as _number
from desktop_app.texts import percent as _percent
from desktop_app.views.progress_bar import readable_progress_bar
from desktop_app.views.reliability_view import describe as describe_calibration
from desktop_app.views.reliability_view import describe_ood
from desktop_app.views.results_view import ResultsView
from desktop_app.views.training_charts import TrainingCharts
from training.core.atomic import WriteError
from training.core.datasets import DATA_ENV_VAR, DATASETS
from training.core.speed_cache import run_estimate
from training.protocol.config import ConfigError, TrainingConfig
from training.protocol.messages import (
    ABSENT,
    Batch,
    Download,
    Epoch,
    EvaluateBegin,
    Message,
    OodBegin,
    Saved,
    TrainBegin,
    TrainResult,
    Tuning,
    WarningMessage,
    speed_text,
)
from training.protocol.presets import PRESETS

log = logging.getLogger(__name__)

CUSTOM = "Custom"
SUMMARY_PENDING = "…"
SKIP_HINT = " Start a new run whenever you like: this measuring is then skipped."
ERROR_STYLE = "color: #b00020;"


def presets(dataset: str = "mnist") -> dict[str, dict]:
    """The named recipes of training.protocol.presets (the CLI's --preset), by title, for ``dataset``;
    each sets the model and optimisation, not dataset or seed."""
    return {p.title: p.config_values(dataset) for p in PRESETS.values()}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


@dataclass(frozen=True)
class TrainedModel:
    """The model just trained, as "Use this model" hands it to the canvas."""

    path: str           # its .keras
    metadata: dict      # its sidecar


class TrainingPanel(QWidget):
    config_class = TrainingConfig           # the form is built from its fields' declarations
    modelReady = Signal(object)             # a TrainedModel: "Use this model"
    sampleChosen = Signal(object, str)      # (uint8 28x28 picture, dataset) from the gallery
    trainingStateChanged = Signal(bool)     # True when a run starts, False when it has ended
    dataFolderChanged = Signal(str)         # the data-folder setting was edited
    datasetChosen = Signal(str)             # the user picked another dataset in the form
    modelMeasured = Signal(list)            # paths of a kept model (run folder, saved copy)
    modelDiscarded = Signal(str)            # the run's model the user discarded: drop it
    #                                         whose test figures and checks have just arrived

    def __init__(self, settings: AppSettings, parent=None, jobs=None):
        """``jobs``: the window's JobRegistry, if any (the charts' renderer joins it)."""
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self._settings = settings
        self._jobs = jobs
        self._presets = presets()
        # The run the buttons act on: its Saved message while it is measured, its TrainResult
        # once measured (both name its path, status, dataset, metadata...); None: nothing.
        self._result: Saved | TrainResult | None = None
        self._saved_to: str | None = None   # where the user saved this result (None: unsaved)
        self._discarded: str | None = None  # path of a kept model the user discarded
        self._warnings: list[str] = []      # the running run's warnings, kept on screen
        self._results_dataset = "mnist"     # dataset of the results on display
        self._shown = False
        self._shut_down = False
        self._loading = True                # no saving or preset matching while restoring
        self.controller = TrainingController(self, jobs)
        # The controller sends typed messages (training/protocol/messages.py); this panel reads
        # their fields by name.
        self.controller.progress.connect(self._on_progress)
        self.controller.finished.connect(self._on_finished)
        self.controller.kept.connect(self._on_kept)
        self.controller.failed.connect(self._on_failed)
        self.controller.stateChanged.connect(self._on_state_changed)
        self.controller.summaryReady.connect(self._on_summary_ready)

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

        # One widget per field TrainingConfig's declarations place in the form, kept as
        # self.<field name> (self.dataset, self.epochs, ...); the data folder is also
        # self.data_folder.
        self.form = ConfigForm(self.config_class)
        for name, widget in self.form.widgets.items():
            if hasattr(type(self), name):
                raise TypeError(f"config field {name} would hide TrainingPanel.{name}")
            setattr(self, name, widget)
        self._fields = tuple(self.form.widgets.values())
        self.data_folder = self.form.widgets["data_dir"]
        self.browse = QPushButton("Browse…", objectName="browseDataFolder")

        # How long the form's run would train on this CPU, from what was measured here
        self.estimate = QLabel(objectName="trainingEstimate")
        self.estimate.setWordWrap(True)
        self.estimate.setStyleSheet("color: palette(placeholder-text);")
        self.summary = QPlainTextEdit(SUMMARY_PENDING, objectName="modelSummary")
        self.summary.setReadOnly(True)
        self.summary.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.summary.setFont(font)
        self.summary.setMinimumHeight(160)

        self.form.connect(self._on_form_changed)
        self.architecture.currentIndexChanged.connect(self._request_summary)
        self.dropout.valueChanged.connect(self._request_summary)
        self.preset.activated.connect(self._on_preset_chosen)
        self.dataset.activated.connect(lambda _: self.datasetChosen.emit(self.dataset.currentData()))
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

        self.progress = readable_progress_bar("epochProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Not training")
        self.message = QLabel("Choose a preset or adjust the settings, then press Start.",
                              objectName="trainingMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # The charts are drawn in the figure process (no matplotlib stall on the GUI thread).
        self._renderer = FigureRenderer(self._jobs)
        self.charts = TrainingCharts(self._renderer, self)
        self.results = ResultsView(self._renderer, self)
        self.results.sampleClicked.connect(self._on_sample_clicked)

    def _build_layout(self) -> None:
        from PySide6.QtWidgets import QSizePolicy

        from desktop_app.views.fitting import ButtonGrid

        settings_box = QWidget()
        left = QVBoxLayout(settings_box)
        left.addLayout(self._form_layout())
        left.addWidget(QLabel("Model summary"))
        left.addWidget(self.summary, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(settings_box)
        # It scrolls up and down only: as wide as the form's widest row at least (a scroll
        # area does not pass its content's minimum width on to the dock by itself).
        scroll.setMinimumWidth(settings_box.minimumSizeHint().width() + 2 * scroll.frameWidth()
                               + scroll.verticalScrollBar().sizeHint().width())

        # One row when the dock is wide enough for the four, else two: no button clipped.
        buttons = ButtonGrid()
        buttons.setObjectName("trainingButtons")
        buttons.set_buttons([self.start_button, self.stop_button, self.use_button,
                             self.save_button])
        # Settings, charts and results share one tab widget, so the panel fits a narrow dock;
        # Start switches to the charts, and the end of a run to the results.
        self.tabs = QTabWidget()
        self.tabs.addTab(scroll, "Settings")
        self.tabs.addTab(self.charts, "Loss && accuracy")
        self.tabs.addTab(self.results, "Test results")
        # The charts and results take the width they get; they do not widen the dock (the
        # canvas beside it keeps its size; their minimum width still holds).
        self.tabs.setMinimumWidth(self.tabs.minimumSizeHint().width())
        self.tabs.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)

    def _form_layout(self) -> QFormLayout:
        from PySide6.QtWidgets import QSizePolicy

        form = QFormLayout()
        # A narrow dock: a field too wide beside its label goes under it (the long combo
        # texts stay whole), and no field asks for more than its content needs.
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Preset", self.preset)
        form.addRow(self.estimate)
        for name, label, widget in self.form.rows():
            if isinstance(widget, QComboBox):
                widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            if isinstance(widget, QLineEdit):
                # A path gets the whole width under its label (a path is long); the data
                # folder's Browse sits beside the label.
                if widget is self.data_folder:
                    form.addRow(label, self.browse)
                else:
                    form.addRow(QLabel(label))
                form.addRow(widget)
            else:
                form.addRow(label, widget)
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.browse.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        return form

    # ------------------------------------------------------------------ form <-> config
    def config(self) -> TrainingConfig:
        """The form's values as a TrainingConfig (widgets keep every value in range); the
        fields the form does not show (see their declarations) keep their defaults."""
        return self.config_class(**self.form.values())

    def set_config(self, values: dict) -> None:
        """Fill the form from (part of) a config dict; unknown names keep the current choice."""
        loading, self._loading = self._loading, True  # one save at the end, not one per field
        try:
            self.form.set_values(values)
        finally:
            self._loading = loading
        self._on_form_changed()

    def _restore(self) -> None:
        saved = self._settings.training_config()
        self.set_config(self.config_class().to_dict())  # fields no preset sets
        self.set_config(presets()["Quick"])
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
        self._update_estimate()

    def _update_estimate(self) -> None:
        """The time the form's run would train here (read once the panel is seen: the cache's
        key costs a look at the installed TensorFlow, not worth it at launch)."""
        if not self._shown:
            return
        config = self.config()
        self.estimate.setText(estimate_text(run_estimate(config), config.epochs))

    def _matching_preset(self, config: dict) -> str:
        for name, values in presets(config["dataset"]).items():
            if all(_same(config[key], value) for key, value in values.items()):
                return name
        return CUSTOM

    @Slot(int)
    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset.itemText(index)
        values = presets(self.dataset.currentData())
        if name in values:
            self.set_config(values[name])

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
        self._shut_down = False
        if not self._shown:
            # Once the layout has settled: a dock is shown for a moment while it is put in its
            # tab group, and a summary child (TensorFlow's import, seconds of CPU) must not
            # start at launch for a panel the user has not looked at.
            QTimer.singleShot(0, self.first_shown)

    def first_shown(self) -> None:
        """The first time the user can see the panel: ask for the model summary."""
        if not self._shown and self.isVisible() and not self.visibleRegion().isEmpty():
            self._shown = True
            self._request_summary()
            self._update_estimate()

    def _summary_args(self) -> tuple[str, float]:
        return self.architecture.currentData(), self.dropout.value()

    @Slot()
    def _request_summary(self, *_args) -> None:
        text = self.controller.summary(*self._summary_args())
        if text is not None:
            self.summary.setPlainText(text)
            return
        self.summary.setPlainText(SUMMARY_PENDING)
        # Not before the panel is first shown (nothing to see), not while training (its child
        # needs both cores); the controller runs one summary child at a time.
        if self._shown and not self.is_training() and not self._shut_down:
            self.controller.request_summary(*self._summary_args())

    @Slot(object, str)
    def _on_summary_ready(self, key, text: str) -> None:
        if key is None:  # a summary child ended: ask for what the form shows now, if missing
            if not self.summary_ready():
                self._request_summary()
            return
        architecture, dropout = self._summary_args()
        if tuple(key) == (architecture, dropout > 0):
            self.summary.setPlainText(text)

    def summary_ready(self) -> bool:
        return self.controller.summary(*self._summary_args()) is not None

    # ------------------------------------------------------------------ training
    def is_training(self) -> bool:
        """A model is being trained (Start is disabled). Once the run's model is kept (saved
        at the end or on Stop) it is no longer training, even while it is being measured on
        the test set in the background: ``is_busy``."""
        return self.controller.is_training() and not self.controller.model_kept()

    def is_busy(self) -> bool:
        """A run's child process is alive: training, or measuring the kept model."""
        return self.controller.is_training()

    def last_result(self) -> Saved | TrainResult | None:
        """This session's last run: its ``Saved`` message while it is being measured (or when
        the measuring was abandoned), its ``TrainResult`` once measured; None before any run
        keeps a model, or after it was discarded."""
        return self._result

    @Slot()
    def start(self) -> None:
        if self.is_training():
            return
        if not self.keep_or_discard("Start a new run"):
            return
        self._on_data_folder_changed()  # persist what was typed, even without Enter
        try:
            self.controller.start(self.config())
        except ConfigError as exc:  # cannot happen through the widgets; kept as a safety net
            self._show_message(str(exc), error=True)

    @Slot()
    def request_stop(self) -> None:
        if not self.is_training():
            return
        self.controller.request_stop()
        self._show_message("Stopping after the current batch; the model so far is kept…")
        self._update_buttons()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """End the training and summary child processes (nothing is saved) and wait for their
        threads; True when none is left running."""
        self._shut_down = True  # a summary child's late "ended" must not start another one
        ok = self.controller.shutdown(timeout_ms)
        ok = self._renderer.shutdown(timeout_ms) and ok
        self._update_buttons()
        return ok

    def closeEvent(self, event) -> None:
        """A panel closed on its own (tests, a floating dock) ends its threads too."""
        self.shutdown()
        super().closeEvent(event)

    def confirm_close(self, timeout_ms: int = 2000) -> bool:
        """For the main window's closeEvent: True when the app may close now.

        While training runs, asks whether to stop; on yes the child process is ended without
        evaluating or saving anything.
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
        self._show_message("Waiting for training to stop…")
        return self.shutdown(30_000)

    @Slot(bool)
    def _on_state_changed(self, training: bool) -> None:
        if training:
            self._warnings = []
            self.charts.reset()
            self.tabs.setCurrentWidget(self.charts)
            self.progress.setRange(0, 0)  # busy until the first batch: data and TensorFlow load
            self.progress.setFormat("Preparing…")
            self._show_message("Starting the training process (loading the data and "
                               "TensorFlow)…")
        else:
            done = self._result is not None
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if done else 0)
            self.progress.setFormat("Not training" if not done else
                                    "Stopped" if self._result.status == "stopped" else "Finished")
            self._update_estimate()  # the run kept what it trained at
            if self._shown and not self.summary_ready():
                self._request_summary()
        self._update_buttons()
        self.trainingStateChanged.emit(training)

    @Slot(object)
    def _on_progress(self, message: Message) -> None:
        """One of the child's progress messages, by its type (the charts and the progress text
        take the plain values of a batch or an epoch)."""
        if isinstance(message, Download):
            total = message.total
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(min(message.done, total) if total else 0)
            self.progress.setFormat(download_text(message.file, message.done, total))
            self._show_message("The dataset was not found locally: downloading it into the "
                               "Keras cache…")
        elif isinstance(message, Tuning):
            self.progress.setRange(0, 0)
            self.progress.setFormat("Measuring the fastest settings for this computer…")
            self._show_message("First run of this model on this computer: measuring which "
                               "settings train it fastest here (a few seconds, once).")
        elif isinstance(message, TrainBegin):
            speed = (f" Settings: {speed_text(message.speed)}."
                     if isinstance(message.speed, dict) else "")
            self._show_message(" ".join([f"Training on {message.train_samples:,} pictures, "
                                         f"validating on {message.val_samples:,} (data: "
                                         f"{message.source}).{speed}", *self._warnings]),
                               error=bool(self._warnings))
            self.progress.setRange(0, max(1, message.steps))
            self.progress.setValue(0)
            self.progress.setFormat(f"Epoch 1/{message.epochs}: starting…")
        elif isinstance(message, Batch):
            event = message.to_dict()
            self.progress.setRange(0, max(1, message.steps))
            self.progress.setValue(message.batch)
            self.progress.setFormat(training_progress_text(event))
            self.charts.show_running(event)
        elif isinstance(message, Epoch):
            self.progress.setValue(self.progress.maximum())  # the last batch event may be dropped
            self.charts.add_epoch(message.to_dict())
            val = (f", validation accuracy {_percent(message.val_accuracy)}"
                   if message.val_accuracy is not ABSENT else "")
            self._show_message(f"Epoch {message.epoch}/{message.epochs} done in "
                               f"{message.seconds:.1f} s: accuracy "
                               f"{_percent(message.get('accuracy'))}{val}")
        elif isinstance(message, OodBegin):  # after saving: the "doesn't look like a …" check
            self.progress.setRange(0, 0)
            self.progress.setFormat("Measuring what the model has not seen…")
            self._show_message(self._kept_text() + "Fitting its check for pictures unlike the "
                               "training data…" + SKIP_HINT)
        elif isinstance(message, WarningMessage):  # e.g. the training images hold one class
            self._warnings.append(str(message.message))
            self._show_message(" ".join(self._warnings), error=True)
        elif isinstance(message, EvaluateBegin):
            self.progress.setRange(0, 0)
            self.progress.setFormat("Evaluating…")
            self._show_message(self._kept_text() + f"Measuring it on {message.samples:,} test "
                               "pictures…" + (SKIP_HINT if self.controller.model_kept() else ""))

    def _kept_text(self) -> str:
        kept = self.controller.model_kept() and self._result is not None
        if not kept:
            return ""
        epochs = _epochs(self._result.epochs_completed)
        if self._result.status == "stopped":
            return f"Stopped after {epochs}: the model so far is kept. "
        return f"Finished {epochs}: the model is kept. "

    @Slot(object)
    def _on_kept(self, saved: Saved) -> None:
        """The run's model is saved (training ended or was stopped): offer it at once; its test
        figures, temperature and "doesn't look like" check come when measured."""
        self._result = saved
        self._saved_to = None
        self._discarded = None
        self._results_dataset = saved.dataset
        self.charts.set_history(saved.history or {}, this_run=True)
        self.results.clear()
        self.results.reliability.set_calibration(
            None, empty="Being measured on the test set… (the temperature and the check for "
                        "pictures unlike the training data are fitted on the held-out "
                        "pictures)")
        self.progress.setRange(0, 0)
        self.progress.setFormat("Measuring the kept model…")
        text = self._kept_text() + "“Use this model” and “Save model…” work now; it is being "\
            "measured on the test set in the background." + SKIP_HINT
        if saved.message:  # saved, but not where asked (kept in the recovery folder)
            text += " " + saved.message
        self._show_message(text, error=bool(saved.message))
        self._update_estimate()  # Start works again, and the run's speed was kept before its model
        self._update_buttons()

    @Slot(object)
    def _on_finished(self, run: FinishedRun) -> None:
        result = run.result
        if result.path and result.path == self._discarded:
            return  # measured after the user discarded it
        same = self._result is not None and self._result.path == result.path
        self._result = result
        if not same:
            self._saved_to = None
        self._results_dataset = result.dataset
        self.tabs.setCurrentWidget(self.results)  # first: hidden charts are not redrawn now
        self.results.show_results(
            result.test_accuracy, result.test_loss, result.confusion, result.class_names,
            images=run.images, true=run.true, predicted=run.predicted, mistakes=result.mistakes)
        self._show_confidence(result.metadata or {})
        self.charts.set_history(result.history or {}, this_run=True)
        accuracy = _percent(result.test_accuracy)
        if result.status == "stopped":
            text = (f"Stopped after {_epochs(result.epochs_completed)}. The partial "
                    f"model scores {accuracy} on the test set.")
        else:
            text = (f"Finished {_epochs(result.epochs_completed)} in "
                    f"{result.train_seconds:.0f} s: test accuracy {accuracy}, loss "
                    f"{_number(result.test_loss)}.")
        text += " “Use this model” puts it on the canvas."
        if result.message:  # saved, but not where asked (kept in the recovery folder)
            text += " " + result.message
        if self._warnings:
            text += " " + " ".join(self._warnings)
        if run.gallery_error:
            text += " The misclassified pictures cannot be shown: the test set is not readable."
        self._show_message(text, error=bool(result.message or self._warnings))
        if self._saved_to:
            self._resave_with_figures()
        if same:  # a model kept before it was measured: whoever uses it reloads its sidecar
            self.modelMeasured.emit([p for p in (result.path, self._saved_to) if p])

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        # CLI errors are lower case; a run the user stopped before it trained ends here too,
        # and that is no error.
        self._show_message(message[:1].upper() + message[1:],
                           error=not self.controller.stop_requested())

    def _show_confidence(self, metadata: dict) -> None:
        """The Confidence tab: the reliability diagram, and the "doesn't look like" check's
        measured rates in its tooltip."""
        self.results.show_calibration(metadata.get("calibration"))
        tip = "\n".join(filter(None, (describe_calibration(metadata.get("calibration")),
                                       describe_ood(metadata.get("ood")))))
        self.results.reliability.setToolTip(tip)

    def _resave_with_figures(self) -> None:
        """The kept model was saved by the user before it was measured: bring the copy's
        sidecar (and "doesn't look like" files) up to date."""
        try:
            self.controller.save_model_to(self._saved_to)
        except (WriteError, OSError) as exc:
            log.error("updating the saved model failed: %s", exc)
            self._show_message(f"The model saved as {self._saved_to} could not be updated with "
                               f"its test figures: {exc}", error=True)

    def _update_buttons(self) -> None:
        training = self.is_training()
        self.start_button.setEnabled(not training)
        self.stop_button.setEnabled(training and not self.controller.stop_requested())
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
        self.modelReady.emit(TrainedModel(self._result.path, dict(self._result.metadata or {})))
        self._show_message("The canvas now classifies with the model just trained.")

    @Slot()
    def _save_model(self) -> None:
        if self._result is None:
            return
        suggested = os.path.join(self._settings.models_folder(),
                                 f"{self._result.dataset}_{self._result.architecture}.keras")
        path, _ = QFileDialog.getSaveFileName(self, "Save model", suggested,
                                              "Keras models (*.keras)")
        if not path:
            return
        self._settings.set_model_folder(os.path.dirname(path))  # Load model… opens there
        try:
            saved = self.controller.save_model_to(path)
        except (WriteError, OSError) as exc:  # disk full, permissions...: a message, no crash
            log.error("saving the model failed: %s", exc)
            self._show_message(f"Could not save the model to {path}: {exc} The trained model "
                               "is still available.", error=True)
            return
        self._saved_to = str(saved)
        self._show_message(f"Saved {saved} (and its metadata {saved.with_suffix('.json').name}).")

    def has_unsaved_model(self) -> bool:
        return self._result is not None and self._saved_to is None

    def keep_or_discard(self, action: str) -> bool:
        """Before ``action`` would drop this session's unsaved trained model: ask Save /
        Discard / Cancel. True when the action may go ahead."""
        if not self.has_unsaved_model():
            return True
        answer = QMessageBox.question(
            self, "Unsaved trained model",
            f"The model trained in this session ({_score(self._result)}) is not saved. Save it "
            f"before you {action[:1].lower() + action[1:]}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            self._save_model()
            return self._saved_to is not None  # the save dialog may have been cancelled
        if answer == QMessageBox.StandardButton.Discard:
            self._discarded = self._result.path
            self.modelDiscarded.emit(self._result.path)  # the canvas lets go of it first
            self.controller.discard(self._result.path)
            self._result = None
            self.results.clear()
            self.charts.reset()
            self._update_buttons()
            self._show_message("The trained model was discarded.")
            return True
        return False

    def set_dataset(self, dataset: str) -> None:
        """The window's dataset is the form's: follow it (without echoing it back)."""
        if dataset not in DATASETS:
            self._show_message("A classifier of your own classes is trained in My samples "
                               "(its Train button); here you train MNIST or Fashion-MNIST "
                               "models.")
            return
        index = self.dataset.findData(dataset)
        if index >= 0 and index != self.dataset.currentIndex():
            self.dataset.blockSignals(True)
            self.dataset.setCurrentIndex(index)
            self.dataset.blockSignals(False)
            self._on_form_changed()

    def show_saved_model(self, metadata: dict) -> None:
        """Show a loaded model's saved history and test results (no gallery: the pictures are
        not saved). Ignored while training, so the live charts are not overwritten."""
        if self.is_training():
            return
        metadata = metadata or {}
        if self._result is not None:
            return  # this session's trained model keeps its results and stays saveable
        if metadata.get("dataset") not in DATASETS:
            return  # a classifier of the user's own classes: its figures are in My samples
        dataset = metadata["dataset"]
        class_names = metadata.get("class_names") or list(DATASETS[dataset].class_names)
        self._results_dataset = dataset
        self.charts.set_history(metadata.get("history") or {})
        accuracy = metadata.get("test_accuracy")
        if accuracy is None:
            self.results.clear()
        else:
            self.results.show_results(accuracy, metadata.get("test_loss"),
                                      metadata.get("confusion") or [], class_names,
                                      heading="Saved model: ")
            self._show_confidence(metadata)
        self._show_message(f"Showing the saved training history and test results of the loaded "
                           f"{DATASETS[dataset].title} model.")
        self._update_buttons()

    def _is_current_run(self, metadata: dict) -> bool:
        digest = metadata.get("model_sha256")
        return (self._result is not None and digest is not None
                and digest == (self._result.metadata or {}).get("model_sha256"))

    @Slot(object)
    def _on_sample_clicked(self, image) -> None:
        self.sampleChosen.emit(image, self._results_dataset)


def _score(result: Saved | TrainResult) -> str:
    accuracy = result.test_accuracy if isinstance(result, TrainResult) else None
    return (f"{_percent(accuracy)} on the test set" if _finite(accuracy)
            else "not measured on the test set yet")


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"
