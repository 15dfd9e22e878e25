"""MainWindow: the canvas, the live prediction, the sample browser and the training panel.

The window is put together from roles, each in its own module of desktop_app/window/: the
central layout, the actions and menus, the docks, pictures in and out, the model in use and the
dataset, the answers shown, teaching and exporting, and the status bar's messages. This module
makes the widgets, wires them to the prediction controller, and owns the window's lifetime
(first frame, background start, close, shutdown)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QComboBox, QLabel, QMainWindow

from desktop_app.jobs.registry import JobRegistry
from desktop_app.prediction.prediction_controller import PredictionController
from desktop_app.settings import AppSettings
from desktop_app.texts import BLANK, LOADING
from desktop_app.views.canvas_widget import DrawingCanvas
from desktop_app.views.model_input_view import ModelInputView
from desktop_app.window.actions import ActionsMixin
from desktop_app.window.answers import AnswersMixin
from desktop_app.window.docks import DocksMixin
from desktop_app.window.layout import LayoutMixin
from desktop_app.window.messages import ERROR_HOLD_S, MessagesMixin
from desktop_app.window.models import ModelsMixin
from desktop_app.window.classifiers import ClassifiersMixin
from desktop_app.window.pictures import PicturesMixin
from desktop_app.window.teach_export import TeachExportMixin
from training.core.datasets import dataset_info

log = logging.getLogger(__name__)

BUILT_AT_LATEST_MS = 3000  # the chart and the docks' panels, if the model load has not settled


def resource_path(*parts: str) -> Path:
    from training.core.paths import shipped_resources

    return shipped_resources().joinpath(*parts)


def class_names(dataset: str) -> list[str]:
    return list(dataset_info(dataset).class_names)


class MainWindow(AnswersMixin, PicturesMixin, ModelsMixin, ClassifiersMixin, TeachExportMixin,
                 DocksMixin,
                 ActionsMixin, LayoutMixin, MessagesMixin, QMainWindow):
    """The app's window; the methods of each role are in its mixin (desktop_app/window/)."""

    def __init__(self, settings: AppSettings | None = None):
        super().__init__()
        self.settings = settings or AppSettings()
        self.setWindowTitle("Draw & Classify")
        self.setWindowIcon(QIcon(str(resource_path("icons", "draw-classify.png"))))
        self._closing = False
        self.jobs = JobRegistry()  # every background job of the window: closing ends them all
        self._make_widgets()

        self._build_layout()
        self._build_actions()
        self._build_docks()

        self.controller = PredictionController(self._grab_picture, self.settings, self, self.jobs)
        self._connect_controller()
        self.saliency_action.setChecked(self.settings.show_saliency())
        self._start_picture_loader()
        self.dataset_selector.currentIndexChanged.connect(self._dataset_chosen)
        self._pinned = None  # another model's answer shown for the picture, until the user draws
        self._pin_request = 0
        self._trained_answers = None  # the model just trained answers in its thread (on demand)
        self.canvas.userEdited.connect(self._unpin)

        self._select_dataset_in_combo(self.settings.dataset())
        self._update_classifier_actions()
        self.statusBar().addPermanentWidget(self.model_status)
        self.model_status.setText(LOADING)
        self._restore_geometry()
        self._started = False           # the model load and the rest, from the first show
        self._background_done = False
        self._reported_problems: set[str] = set()
        self._report_settings_problems()

    def _make_widgets(self) -> None:
        self.canvas = DrawingCanvas(brush_size=self.settings.brush_size(),
                                    pen_style=self.settings.pen_style())
        # The first frame shows the canvas, the answer's place and the docks' tabs; the chart
        # and the docks' panels are built after it (_start_background_work), with their
        # imports (numpy, matplotlib's process, the views' own modules).
        self.chart = None
        self.training_panel = None
        self.samples = self.personal = self.layers_view = self.compare_view = None
        self._last_probabilities = None
        self._last_number = None  # several digits read side by side (see _show_number)
        self._last_input = None   # the 28x28 of the last answer (a number shows its digits')
        self._number_awaited = False  # the drawing shown may be a number: its reading follows
        self._error_shown_at = -ERROR_HOLD_S
        self._model_problem = ""  # the status bar's message of the last model that failed
        self._chart_placeholder = QLabel("…")
        self._chart_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label = QLabel(BLANK)
        self.prediction_label.setObjectName("predictedClass")
        self.model_input = ModelInputView()
        self.dataset_selector = QComboBox()
        self.dataset_selector.setObjectName("datasetSelector")
        self._fill_dataset_selector()
        self.model_status = QLabel()
        self.model_name = QLabel(LOADING)  # always the model in use, nothing else
        self.model_name.setObjectName("modelName")
        self.model_name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_name.setStyleSheet("color: palette(placeholder-text);")
        self._teach_dialog = None
        self._measured: set[str] = set()   # trained models whose checks came after they were kept
        self._exporter = None   # Model ▸ Export… (desktop_app/model_export.py), on first use

    def _connect_controller(self) -> None:
        self.canvas.changed.connect(self.controller.picture_changed)
        self.canvas.fileDropped.connect(self.open_image)
        self.canvas.imageDropped.connect(self._show_qimage)
        self.canvas.dropRefused.connect(self.show_message)
        self.controller.resultReady.connect(self._show_result)
        self.controller.modelReady.connect(self._show_model)
        self.controller.modelFailed.connect(self._model_failed)
        self.controller.modelWarning.connect(self.show_notice)
        self.controller.busy.connect(self._show_busy)
        self.controller.datasetChanged.connect(self._dataset_changed)
        self.controller.explained.connect(self._show_saliency)
        self.controller.numberRead.connect(self._show_number)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._start()

    def _start(self) -> None:
        """On the first show, the model starts loading in its thread (numpy, LiteRT, the model
        files: a few hundred ms) while the first frame paints. The chart and the docks' panels
        are built once the prediction has settled (the model loaded and a drawing made
        meanwhile answered, or the load failed, or it waits for a conversion): building them
        needs the GIL the loading needs."""
        if self._started:
            return
        self._started = True
        self.controller.settled.connect(self._prediction_settled,
                                        Qt.ConnectionType.SingleShotConnection)
        self.controller.start()
        QTimer.singleShot(BUILT_AT_LATEST_MS, self._start_background_work)  # a load that hangs

    def _prediction_settled(self) -> None:
        QTimer.singleShot(0, self._start_background_work)  # after the answer is painted

    def _start_background_work(self) -> None:
        if self._closing or self._background_done:
            return
        self._background_done = True
        self._build_chart()
        self._fill_docks()
        self._report_settings_problems()  # the panel and the models read settings too

    def ensure_ready(self) -> None:
        """Build what is normally built after the first frame now (scripts, tests)."""
        self._start()
        self._start_background_work()

    def closeEvent(self, event) -> None:
        panel = self.training_panel
        if panel is not None and not panel.is_training() and not self._keep_trained_model(
                "quit"):
            event.ignore()  # the user wants to save (and cancelled the dialog) or to stay
            return
        if panel is not None and not panel.confirm_close():
            event.ignore()  # the user chose to keep training
            return
        if self._teach_dialog is not None and not self._teach_dialog.confirm_close():
            event.ignore()  # the user chose to keep teaching, or to decide on its result
            return
        self._closing = True
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.sync()
        self.shutdown()
        event.accept()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """End every child process (terminate, kill after 1 s), then every worker thread; True
        when nothing is left running. The app's one owner of their lifetime."""
        ok = self.jobs.close_all(timeout_ms / 1000)
        if self.training_panel is not None:
            ok = self.training_panel.shutdown(timeout_ms) and ok
        for part in (self.samples, self._teach_dialog, self.layers_view, self.compare_view,
                     self.controller, self._exporter, self._classes):
            if part is not None:
                ok = part.shutdown(timeout_ms) and ok
        return ok
