"""MainWindow: the canvas, the live prediction, the sample browser and the training panel."""

from __future__ import annotations

import logging
import os
import time
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSize, Qt, QTimer, Slot, qVersion
from PySide6.QtGui import QAction, QActionGroup, QFont, QGuiApplication, QIcon, QImage, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app.jobs.latest import LatestJob
from desktop_app.jobs.registry import JobRegistry
from desktop_app.jobs.threads import end_all_processes
from desktop_app.prediction.picture_loader import (
    PictureFailed,
    PictureFile,
    PictureLoaded,
    PicturePixels,
    load_picture,
)
from desktop_app.prediction.prediction_controller import PredictionController
from desktop_app.settings import AppSettings
from desktop_app.views.canvas_widget import DrawingCanvas, qimage_to_array
from desktop_app.views.model_input_view import ModelInputView
from desktop_app.views.sample_browser import SampleBrowser
from training.core.atomic import WriteError, atomic_path
from training.core.datasets import DATASETS
from training.runtime.samples import taught_before

log = logging.getLogger(__name__)

NOT_SURE_BELOW = 0.6  # without a calibrated model: top probability under this reads "Not sure"
UNLIKE = {"mnist": "a digit", "fashion_mnist": "a garment"}  # "That doesn't look like …"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
MESSAGE_MS = 8000
NOTICE_MS = 20_000  # a problem already put right: long enough to read, then it goes
ERROR_HOLD_S = 15  # a problem's message is not pushed away by routine messages this soon
MAX_PASTE_SIDE = 2048  # pasted pixels are scaled down to this before leaving the GUI thread
FIRST_FRAME_MS = 50  # delay between showing the window and starting the model loading
SALIENCY_TIP = ("Where it looks (S): orange strokes pushed the model towards its answer, blue "
                "ones against it (occlusion: what erasing each part of the ink changes)")


def resource_path(*parts: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("resources").joinpath(*parts)))


def class_names(dataset: str) -> list[str]:
    return list(DATASETS[dataset].class_names)


class MainWindow(QMainWindow):

    def __init__(self, settings: AppSettings | None = None):
        super().__init__()
        self.settings = settings or AppSettings()
        self.setWindowTitle("Draw & Classify")
        self.setWindowIcon(QIcon(str(resource_path("icons", "draw-classify.png"))))
        self._closing = False

        self.canvas = DrawingCanvas(brush_size=self.settings.brush_size(),
                                    pen_style=self.settings.pen_style())
        # The matplotlib parts (probability chart, training panel) are built right after the
        # first frame: importing matplotlib alone takes ~0.4 s, the window should not wait.
        self.chart = None
        self.training_panel = None
        self._last_probabilities = None
        self._last_number = None  # several digits read side by side (see _show_number)
        self._last_input = None   # the 28x28 of the last answer (a number shows its digits')
        self._number_awaited = False  # the drawing shown may be a number: its reading follows
        self._error_shown_at = -ERROR_HOLD_S
        self._chart_placeholder = QLabel("…")
        self._chart_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label = QLabel("Draw something")
        self.prediction_label.setObjectName("predictedClass")
        self.model_input = ModelInputView()
        self.dataset_selector = QComboBox()
        self.dataset_selector.setObjectName("datasetSelector")
        for key, info in DATASETS.items():
            self.dataset_selector.addItem(info.title, key)
        self.jobs = JobRegistry()  # every background job of the window: closing ends them all
        self.samples = SampleBrowser(self.jobs)
        self.model_status = QLabel()
        self.model_name = QLabel("Loading model…")  # always the model in use, nothing else
        self.model_name.setObjectName("modelName")
        self.model_name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.model_name.setStyleSheet("color: palette(placeholder-text);")
        self._teach_dialog = None
        self._measured: set[str] = set()   # trained models whose checks came after they were kept
        self._exporter = None   # Model ▸ Export… (desktop_app/model_export.py), on first use

        self._build_layout()
        self._build_actions()
        self._build_docks()

        self.controller = PredictionController(self._grab_picture, self.settings, self, self.jobs)
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
        self._fill_view_docks()
        self.saliency_action.setChecked(self.settings.show_saliency())

        # Pictures are decoded in their own thread: a huge or hostile file never blocks drawing.
        self._pictures = LatestJob("picture-loader", load_picture, self.jobs, parent=self)
        self._pictures.done.connect(self._picture_done)
        self.dataset_selector.currentIndexChanged.connect(self._dataset_chosen)
        self.samples.sampleChosen.connect(lambda image, label: self._show_new_sample(image))
        self.samples.dataFolderChosen.connect(self._data_folder_chosen)
        self._pinned = None  # another model's answer shown for the picture, until the user draws
        self.canvas.userEdited.connect(self._unpin)

        self._select_dataset_in_combo(self.settings.dataset())
        self.statusBar().addPermanentWidget(self.model_status)
        self.model_status.setText("Loading model…")
        self._restore_geometry()
        self._background_started = False   # scheduled after the first frame
        self._background_done = False
        self._reported_problems: set[str] = set()
        self._report_settings_problems()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._background_started:
            # Let the first frame paint before worker threads start: importing TensorFlow holds
            # the GIL for seconds and would otherwise delay the window itself.
            self._background_started = True
            QTimer.singleShot(FIRST_FRAME_MS, self._start_background_work)

    def _start_background_work(self) -> None:
        if self._closing or self._background_done:
            return
        self._background_done = True
        self.controller.start()  # the model loads in its thread while matplotlib imports here
        self.samples.show_dataset(self.controller.dataset, self.settings.data_dir() or None)
        self._build_chart()
        self._build_training_panel()
        self._report_settings_problems()  # the panel and the models read settings too

    def _report_settings_problems(self) -> None:
        problems = [p for p in self.settings.problems() if p not in self._reported_problems]
        if problems:
            self._reported_problems.update(problems)
            self.show_notice(f"Some saved settings were unusable and were reset to their "
                             f"defaults: {', '.join(problems)}.")

    def _build_chart(self) -> None:
        from desktop_app.views.probability_chart import ProbabilityChart

        self.chart = ProbabilityChart(class_names(self.controller.dataset))
        self._right_column.replaceWidget(self._chart_placeholder, self.chart)
        self._chart_placeholder.deleteLater()
        if self._last_number is not None:
            self.chart.set_number(self._last_number["digits"], self._last_probabilities)
        elif self._last_probabilities is not None:
            self.chart.set_probabilities(self._last_probabilities)

    def _build_training_panel(self) -> None:
        try:
            from desktop_app.learning.training_panel import TrainingPanel

            self.training_panel = TrainingPanel(self.settings, jobs=self.jobs)
        except Exception as exc:  # noqa: BLE001 - drawing and classifying must work regardless
            log.exception("the training panel could not be built")
            self.training_dock.setWidget(QLabel(f"The training panel is unavailable: {exc}"))
            self.show_message(f"The training panel is unavailable: {exc}")
            return
        self.training_panel.modelReady.connect(self._use_trained_model)
        self.training_panel.modelMeasured.connect(self._reload_if_in_use)
        self.training_panel.sampleChosen.connect(self._show_sample_of)
        self.training_panel.dataFolderChanged.connect(
            lambda folder: self.samples.show_dataset(self.controller.dataset, folder or None))
        # One active dataset: the training form shows the window's and changes it.
        self.training_panel.set_dataset(self.controller.dataset)
        self.training_panel.datasetChosen.connect(self._dataset_chosen_in_form)
        self.training_dock.setWidget(self.training_panel)
        # Its model summary is made when the user first looks at the panel (a tab raised).
        self.training_dock.visibilityChanged.connect(
            lambda visible: visible and QTimer.singleShot(0, self.training_panel.first_shown))

    def ensure_ready(self) -> None:
        """Build what is normally built after the first frame now (scripts, tests)."""
        self._background_started = True
        self._start_background_work()

    # -- layout
    def _build_layout(self) -> None:
        from PySide6.QtWidgets import QTabWidget

        from desktop_app.views.fitting import ButtonGrid, OneLineText

        canvas_minimum = 340  # pixels: at 1024×700 the docks give way before the canvas
        font = QFont(self.prediction_label.font())
        font.setPointSize(max(20, font.pointSize() * 2))
        font.setBold(True)
        self.prediction_label.setFont(font)
        self.prediction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # One line, always the same height (a long answer never pushes the chart down): a
        # long text is drawn smaller, elided only if it still does not fit (whole in the tip).
        self._answer_line = OneLineText(self.prediction_label, smallest=0.45)
        self._model_line = OneLineText(self.model_name)  # a long file name: elided, tooltip

        right = QVBoxLayout()
        right.addWidget(self.prediction_label)
        right.addWidget(self.model_name)
        right.addWidget(self._chart_placeholder, 1)
        self._right_column = right

        frame = QFrame()
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.canvas)
        self.canvas.setMinimumSize(canvas_minimum, canvas_minimum)
        caption = QLabel("<b>What the model sees:</b> your picture as a 28×28 input, made "
                         "like the training images.<br><br><span style='color: gray'>Left "
                         "button draws, right button erases (E: eraser). Drop, paste or open "
                         "(Ctrl+O) a picture to classify it.</span>")
        caption.setWordWrap(True)
        caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        eye = QHBoxLayout()
        eye.addWidget(self.model_input, 0, Qt.AlignmentFlag.AlignTop)
        caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        eye.addWidget(caption, 1)  # its height follows its width: every line shown
        left = QVBoxLayout()
        left.addWidget(frame, 1)
        left.addLayout(eye)

        # "This is…": store the drawing as a personal sample of a class, with the mouse. It
        # spans the canvas and the chart: every class name whole, in one row when the window
        # is wide, in two (or more) balanced rows when it is narrow.
        self._this_is = QHBoxLayout()
        this_is_label = QLabel("This is…")
        this_is_label.setFixedHeight(QPushButton("0").sizeHint().height())  # on the first row
        self._this_is.addWidget(this_is_label, 0, Qt.AlignmentFlag.AlignTop)
        self._this_is_grid = ButtonGrid()
        self._this_is_grid.setObjectName("thisIsButtons")
        self._this_is.addWidget(self._this_is_grid, 1)
        self._this_is_buttons: list = []

        columns = QHBoxLayout()
        columns.addLayout(left, 3)
        columns.addLayout(right, 2)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(columns, 1)
        layout.addLayout(self._this_is)
        self.setCentralWidget(central)
        # The dock tabs run down the window's right edge: every title whole, however narrow
        # the docks are made.
        self.setTabPosition(Qt.DockWidgetArea.RightDockWidgetArea, QTabWidget.TabPosition.East)

    def _build_actions(self) -> None:
        def action(text, slot, shortcuts=(), name=None, tip=None):
            act = QAction(text, self)
            act.triggered.connect(slot)
            if shortcuts:
                act.setShortcuts([QKeySequence(s) for s in shortcuts])
            if name:
                act.setObjectName(name)
            if tip:
                act.setToolTip(tip)
            self.addAction(act)  # shortcuts work even when the menu bar is hidden
            return act

        self.open_action = action("&Open image…", self.choose_image, [QKeySequence.StandardKey.Open])
        self.paste_action = action("&Paste", self.paste, [QKeySequence.StandardKey.Paste])
        self.save_action = action("&Save drawing as PNG…", self.save_drawing,
                                  [QKeySequence.StandardKey.Save])
        self.load_model_action = action("&Load model…", self.choose_model, ["Ctrl+L"])
        self.quit_action = action("&Quit", self.close, ["Ctrl+Q"], "quit")
        # Ctrl+Q quits from any of the app's windows (the teach dialog has the focus while
        # it runs), as in every desktop app.
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.undo_action = action("&Undo", self.canvas.undo, ["Ctrl+Z"], "undo")
        self.redo_action = action("&Redo", self.canvas.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo")
        self.clear_action = action("&Clear", self.canvas.clear, ["Delete", "Esc"], "clear",
                                   "Clear the canvas (Delete / Esc)")
        self.shipped_action = action("Use the &shipped model", self.use_shipped_model,
                                     name="useShippedModel",
                                     tip="Go back to the model that comes with the app")
        self.about_action = action("&About Draw && Classify", self.show_about)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        self.canvas.undoAvailable.connect(self.undo_action.setEnabled)
        self.canvas.redoAvailable.connect(self.redo_action.setEnabled)

        # Tools: pen (none checked), eraser or fill; at most one at a time.
        self.eraser_action = QAction("&Eraser", self, checkable=True)
        self.eraser_action.setShortcut("E")
        self.eraser_action.setObjectName("eraserTool")
        self.eraser_action.setToolTip("Eraser for the left button (E); the right button always "
                                      "erases")
        self.eraser_action.toggled.connect(lambda on: setattr(self.canvas, "eraser", on))
        self.fill_action = QAction("&Fill", self, checkable=True)
        self.fill_action.setShortcut("F")
        self.fill_action.setObjectName("fillTool")
        self.fill_action.setToolTip("Fill an enclosed area with ink (F): clothes are drawn as "
                                    "filled shapes")
        self.fill_action.toggled.connect(lambda on: setattr(self.canvas, "fill_tool", on))
        tool_group = QActionGroup(self)
        tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        for act in (self.eraser_action, self.fill_action):
            tool_group.addAction(act)
            self.addAction(act)
        pens = QActionGroup(self)
        self.white_pen_action = QAction("White on black", pens, checkable=True)
        self.black_pen_action = QAction("Black on white", pens, checkable=True)
        current = self.canvas.pen_style
        (self.white_pen_action if current == "white_on_black" else self.black_pen_action
         ).setChecked(True)
        self.white_pen_action.triggered.connect(lambda: self._set_pen_style("white_on_black"))
        self.black_pen_action.triggered.connect(lambda: self._set_pen_style("black_on_white"))

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for act in (self.open_action, self.paste_action, self.save_action, None,
                    self.load_model_action, None, self.quit_action):
            file_menu.addSeparator() if act is None else file_menu.addAction(act)
        edit = menu.addMenu("&Edit")
        for act in (self.undo_action, self.redo_action, self.clear_action, None,
                    self.eraser_action, self.fill_action, None, self.white_pen_action,
                    self.black_pen_action):
            edit.addSeparator() if act is None else edit.addAction(act)
        self.view_menu = menu.addMenu("&View")
        self.saliency_action = QAction("Show &where it looks", self, checkable=True)
        self.saliency_action.setShortcut("S")
        self.saliency_action.setObjectName("showSaliency")
        self.saliency_action.setToolTip(SALIENCY_TIP)
        self.saliency_action.toggled.connect(self._toggle_saliency)
        self.addAction(self.saliency_action)
        self.view_menu.addAction(self.saliency_action)
        self.view_menu.addSeparator()
        self.model_menu = menu.addMenu("&Model")
        self.shortcuts_action = action("&Keyboard shortcuts", self.show_shortcuts,
                                       [QKeySequence.StandardKey.HelpContents, "Ctrl+/"],
                                       "keyboardShortcuts")
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

        self.brush = QSpinBox()
        self.brush.setObjectName("brushSize")
        self.brush.setRange(*AppSettings.BRUSH_RANGE)
        self.brush.setSuffix(" px")
        self.brush.setValue(self.canvas.brush_size)
        self.brush.setToolTip("Brush size")
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(*AppSettings.BRUSH_RANGE)
        slider.setValue(self.canvas.brush_size)
        slider.setMaximumWidth(120)
        slider.valueChanged.connect(self.brush.setValue)
        self.brush.valueChanged.connect(slider.setValue)
        self.brush.valueChanged.connect(self._set_brush)
        # After typing a size, the keys belong to the canvas again (Delete clears the drawing,
        # not the spin box's text).
        self.brush.editingFinished.connect(self.canvas.setFocus)
        slider.sliderReleased.connect(self.canvas.setFocus)

        tools = QToolBar("Tools")
        tools.setObjectName("toolsToolbar")
        tools.setIconSize(QSize(18, 18))
        tools.addWidget(QLabel(" Dataset "))
        tools.addWidget(self.dataset_selector)
        tools.addSeparator()
        tools.addWidget(QLabel(" Brush "))
        tools.addWidget(slider)
        tools.addWidget(self.brush)
        tools.addAction(self.eraser_action)
        tools.addAction(self.fill_action)
        tools.addSeparator()
        for act in (self.undo_action, self.redo_action, self.clear_action):
            tools.addAction(act)
        tools.addSeparator()
        tools.addAction(self.open_action)
        self.addToolBar(tools)

    def _build_docks(self) -> None:
        self.samples_dock = QDockWidget("Test samples", self)
        self.samples_dock.setObjectName("samplesDock")
        self.samples_dock.setWidget(self.samples)
        self.training_dock = QDockWidget("Training", self)
        self.training_dock.setObjectName("trainingDock")
        self.training_dock.setWidget(QLabel("…"))
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.samples_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.training_dock)
        from desktop_app.views.personal_samples import PersonalSamplesPanel

        self.personal = PersonalSamplesPanel(self.settings.dataset())
        self.personal.sampleChosen.connect(self._show_new_sample)
        self.personal.message.connect(self.show_info)
        self.personal_dock = QDockWidget("My samples", self)
        self.personal_dock.setObjectName("personalSamples")
        self.personal_dock.setWidget(self.personal)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.personal_dock)
        # "What each layer sees" and "Models side by side" (issue #10): their content needs the
        # controller, made after the docks (_fill_view_docks); they compute only when shown.
        self.layers_dock = QDockWidget("What each layer sees", self)
        self.layers_dock.setObjectName("layersView")
        self.compare_dock = QDockWidget("Models side by side", self)
        self.compare_dock.setObjectName("compareView")
        for dock in (self.layers_dock, self.compare_dock):
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(self.samples_dock, self.training_dock)
        self.tabifyDockWidget(self.training_dock, self.personal_dock)
        self.tabifyDockWidget(self.personal_dock, self.layers_dock)
        self.tabifyDockWidget(self.layers_dock, self.compare_dock)
        self.samples_dock.raise_()
        self.canvas.classKeyPressed.connect(self.store_sample)
        self._fill_this_is(self.settings.dataset())
        # Ctrl+1 / Ctrl+2 show and raise their dock (a dock's own toggle action would hide one
        # that is merely tabbed behind another); the View menu keeps the show/hide toggles.
        for dock, key, name in ((self.samples_dock, "Ctrl+1", "showSamples"),
                                (self.training_dock, "Ctrl+2", "showTraining"),
                                (self.personal_dock, "Ctrl+3", "showPersonalSamples"),
                                (self.layers_dock, "Ctrl+4", "showLayers"),
                                (self.compare_dock, "Ctrl+5", "showCompare")):
            show = QAction(f"Show {dock.windowTitle()}", self)
            show.setObjectName(name)
            show.setShortcut(key)
            show.triggered.connect(lambda _=False, d=dock: self.show_dock(d))
            self.addAction(show)
            self.view_menu.addAction(show)
        self.view_menu.addSeparator()
        for dock in (self.samples_dock, self.training_dock, self.personal_dock,
                     self.layers_dock, self.compare_dock):
            self.view_menu.addAction(dock.toggleViewAction())
        show_training = QAction("&Train a model…", self)
        show_training.setShortcut("Ctrl+T")
        show_training.triggered.connect(self.show_training_panel)
        self.addAction(show_training)
        self.train_menu_action = show_training
        self.model_menu.addAction(show_training)
        self.teach_action = QAction("T&each it my handwriting…", self)
        self.teach_action.setObjectName("teachModel")
        self.teach_action.setShortcut("Ctrl+Shift+T")
        self.teach_action.setToolTip("Fine-tune the model in use on your samples (My samples), "
                                     "then compare before → after and keep it or not")
        self.teach_action.triggered.connect(self.teach_model)
        self.addAction(self.teach_action)
        self.model_menu.addAction(self.teach_action)
        self.model_menu.addAction(self.load_model_action)
        self.model_menu.addAction(self.shipped_action)
        self.export_action = QAction("E&xport…", self)
        self.export_action.setObjectName("exportModel")
        self.export_action.setToolTip("Write the model in use as .keras, .tflite and ONNX, with "
                                      "a JSON describing its input, for a phone or a web page")
        self.export_action.triggered.connect(self.export_model)
        self.addAction(self.export_action)
        self.model_menu.addSeparator()
        self.model_menu.addAction(self.export_action)

    def _fill_view_docks(self) -> None:
        from desktop_app.views.compare_view import CompareView
        from desktop_app.views.layers_view import LayersView

        self.layers_view = LayersView(self.controller, self.jobs)
        self.layers_dock.setWidget(self.layers_view)
        self.compare_view = CompareView(self.controller, self.settings, self.jobs)
        self.compare_dock.setWidget(self.compare_view)
        self.layers_dock.visibilityChanged.connect(self.layers_view.set_shown)
        self.compare_dock.visibilityChanged.connect(self.compare_view.set_shown)

    @Slot(int)
    def store_sample(self, label: int) -> None:
        """Store the drawing as a personal sample of class ``label`` and clear the canvas for
        the next one."""
        if self.canvas.is_empty():
            self.show_message("Draw something first, then type its class to keep it as a "
                              "sample.")
            return
        if label >= len(DATASETS[self.controller.dataset].class_names):
            return
        if self.personal.add(label, self.canvas.grey_array()) is not None:
            self.canvas.clear()

    def _fill_this_is(self, dataset: str) -> None:
        buttons = []
        for index, name in enumerate(DATASETS[dataset].class_names):
            button = QPushButton(name)  # the whole name: the grid makes room for it
            button.setObjectName(f"thisIs{index}")
            button.setToolTip(f"This is {name} (key {index} on the canvas): keep the drawing "
                              "as a personal sample")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, i=index: self.store_sample(i))
            buttons.append(button)
        self._this_is_grid.set_buttons(buttons)  # the old ones go at once, not at the next loop
        self._this_is_buttons = buttons

    @Slot(str)
    def _data_folder_chosen(self, folder: str) -> None:
        """The data folder picked in the samples dock is the app's data folder setting."""
        self.settings.set_data_dir(folder)
        if self.training_panel is not None:
            self.training_panel.data_folder.setText(folder)

    def show_training_panel(self) -> None:
        self.show_dock(self.training_dock)

    def show_dock(self, dock: QDockWidget) -> None:
        dock.show()
        dock.raise_()

    def show_shortcuts(self) -> None:
        """Every action with a shortcut, as the menus name them."""
        rows = []
        for act in self.findChildren(QAction):
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts()]
            keys = [k for k in keys if k]
            if keys and act.text():
                rows.append((act.text().replace("&&", "\0").replace("&", "")
                             .replace("\0", "&"), " or ".join(dict.fromkeys(keys))))
        rows.append(("Draw / erase", "left / right mouse button"))
        # The class keys are read by the canvas itself, not by actions: listed here by hand.
        last = len(DATASETS[self.controller.dataset].class_names) - 1
        rows.append(("Keep the drawing as a sample of class N (My samples)",
                     f"0–{last} on the canvas"))
        table = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>"
                        for name, keys in sorted(set(rows)))
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{table}</table>")

    def _restore_geometry(self) -> None:
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            if geometry is not None:
                self.settings.report_unusable(AppSettings.GEOMETRY, "not a window geometry")
            self.resize(1280, 800)
        state = self.settings.window_state()
        if state is not None and not self.restoreState(state):
            self.settings.report_unusable(AppSettings.WINDOW_STATE, "not a window layout")

    # -- picture in
    def _grab_picture(self) -> np.ndarray | None:
        return None if self.canvas.is_empty() else self.canvas.grey_array()

    def show_picture(self, grey: np.ndarray) -> None:
        """Put a uint8 grey picture on the canvas (one undo step); it gets classified."""
        self.canvas.set_picture(grey)

    def _show_sample(self, image: np.ndarray, label: int = -1) -> None:
        """A dataset image (bright on black) shown in the user's pen colours."""
        self.show_picture(image if self.canvas.pen_style == "white_on_black" else 255 - image)

    @Slot(str)
    def open_image(self, path: str) -> None:
        """Decode ``path`` in the picture thread; it replaces the canvas when it arrives (a
        failure is a message and leaves the canvas as it was)."""
        self.show_info(f"Opening {os.path.basename(path)}…")
        self._pictures.submit(PictureFile(path))

    @Slot(QImage)
    def _show_qimage(self, image: QImage) -> bool:
        if image.isNull() or image.width() == 0 or image.height() == 0:
            self.show_message("The picture is empty.")
            return False
        if max(image.width(), image.height()) > MAX_PASTE_SIDE:  # a fast C++ scale, then off
            image = image.scaled(MAX_PASTE_SIDE, MAX_PASTE_SIDE,
                                 Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        self._pictures.submit(PicturePixels(qimage_to_array(image,
                                                            QImage.Format.Format_RGBA8888)))
        return True

    @Slot(object)
    def _picture_done(self, result: PictureLoaded | PictureFailed) -> None:
        if isinstance(result, PictureFailed):
            self.show_message(result.message)
            return
        if self._closing:
            return
        self._pinned = None
        self._show_model_line()
        self.show_picture(result.grey)
        if result.name:
            self.show_info(f"Opened {result.name}")

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    def paste(self) -> None:
        data = QGuiApplication.clipboard().mimeData()
        if data is not None and data.hasImage():
            self._show_qimage(QImage(data.imageData()))
        elif data is not None and data.hasUrls() and data.urls()[0].isLocalFile():
            self.open_image(data.urls()[0].toLocalFile())
        else:
            self.show_message("The clipboard holds no picture to paste.")

    def save_drawing(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save drawing as PNG", "drawing.png",
                                              "PNG image (*.png)")
        if path:
            self.save_drawing_to(path)

    def save_drawing_to(self, path: str) -> bool:
        """Write atomically (training.core.atomic): the old file stays whole if anything fails."""
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            with atomic_path(path, ".png") as temp:
                if not self.canvas.image().save(str(temp), "PNG"):
                    raise WriteError(f"could not write {os.path.basename(path)} "
                                     "(the disk may be full).")
        except WriteError as exc:
            self.show_message(f"Could not save the drawing: {exc}")
            return False
        self.show_info(f"Saved {path}")
        return True

    # -- models
    def choose_model(self) -> None:
        from desktop_app.prediction.model_choices import MODEL_FILTER, model_behind

        if not self._keep_trained_model("load another model"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load model", self.settings.models_folder(),
                                              MODEL_FILTER)
        if not path:
            return
        model = model_behind(path)
        if model is None:
            self.show_message(f"{os.path.basename(path)} is not a model but a file the app keeps "
                              "beside one (its check, layers or description); open the .keras "
                              "file of the same name.")
            return
        self.settings.set_model_folder(os.path.dirname(model))
        self.load_model(model)

    def load_model(self, path: str) -> None:
        self.show_info(f"Loading {os.path.basename(path)}…")
        self.controller.load_model_file(path)

    def model_ready(self) -> bool:
        return self.controller.model() is not None

    @Slot(dict)
    def _show_model(self, info: dict) -> None:
        accuracy = info.get("test_accuracy")
        text = f"{info['name']} ({DATASETS[info['dataset']].title}"
        text += f", {accuracy:.2%} on the test set)" if isinstance(accuracy, float) else ")"
        self.model_status.setText(text)
        self._show_model_line()
        if info.get("path") in self._measured and not info.get("calibrated"):
            self._measured.discard(info["path"])   # its sidecar was read before it was measured
            self.controller.load_model_file(info["path"])
        if info["dataset"] == self.controller.dataset:
            self._set_class_names(info["class_names"])
        metadata = info.get("metadata") or {}
        user_loaded = not info["shipped"] and info["path"]
        panel = self.training_panel
        if panel and metadata.get("history") and (user_loaded or panel.last_result() is None):
            panel.show_saved_model(metadata)

    @Slot(list)
    def _reload_if_in_use(self, paths: list) -> None:
        """A model used before it was measured now has its temperature and "doesn't look
        like" check in its sidecar: load it again so the canvas answers with them (now, or
        when a load of it that started earlier ends without them)."""
        self._measured.update(paths)
        info = self.controller.model()
        if info is not None and info.get("path") in paths and not info.get("calibrated"):
            self.controller.load_model_file(info["path"])
            self.show_info(f"{info['name']} is measured: its answers are now calibrated and "
                           "checked.")

    def _show_model_line(self) -> None:
        """The line under the answer names the model that gave it: the model in use, or the
        model just trained while one of its misclassified test pictures is shown."""
        pinned, info = self._pinned, self.controller.model()
        if pinned is not None:
            self.model_name.setText(pinned["model_line"])
            self.model_name.setToolTip("Draw to see the answer of the model in use again")
        elif info is not None:
            self.model_name.setText(info["name"])
            self.model_name.setToolTip(self.model_status.text())

    def _use_trained_model(self, path: str, metadata: dict) -> None:
        """"Use this model" in the training panel: the canvas switches to it (and its dataset)."""
        self.show_info("Switching the canvas to the trained model…")
        self.controller.load_model_file(path)

    def teach_model(self) -> None:
        """Model ▸ Teach it my handwriting: fine-tune the model in use on the personal samples
        of its dataset, in a child process, in a dialog that ends with Keep or Discard."""
        info = self.controller.model()
        dataset = self.controller.dataset
        if info is None:
            self.show_message("Wait for the model to load, then teach it.")
            return
        if not str(info.get("path", "")).lower().endswith(".keras"):
            self.show_message(f"{info['name']} is a LiteRT file only; open its .keras to "
                              "teach it.")
            return
        count = sum(self.personal.store.counts())
        if count == 0:
            self.show_dock(self.personal_dock)
            self.show_message("No samples to teach yet: draw something the model gets wrong, "
                              "then press its key (0–9) or a \"This is…\" button. A handful "
                              "of examples of your style is enough.")
            return
        dialog = self.teach_dialog()
        if dialog.controller.is_running():
            dialog.show()
            dialog.raise_()
            return
        path, name = info["path"], info["name"]
        history = taught_before((info.get("metadata") or {}).get("lineage"),
                                self.personal.store.samples())
        if history is not None:
            if history.nothing_new and QMessageBox.question(
                    self, "Teach it again?",
                    f"{name} was already taught these {count} samples ({history.when}); "
                    "nothing was added or changed since. Teach again anyway?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
                self.show_info("Nothing taught: add samples of what it gets wrong, then teach.")
                return
            if history.original is not None:
                # Teaching the original on all samples instead of the taught copy on the same
                # ones again: the earlier samples are not learned twice.
                path, name = str(history.original), history.describe(name)
        dialog.start(path, name, dataset, count, self.settings.data_dir())

    def teach_dialog(self):
        from desktop_app.learning.teach_dialog import TeachDialog

        if self._teach_dialog is None:
            self._teach_dialog = TeachDialog(self)
            self._teach_dialog.kept.connect(self._use_taught_model)
        return self._teach_dialog

    def _use_taught_model(self, path: str) -> None:
        self.show_info("Switching the canvas to the taught model…")
        # Remembered now, not when it has loaded: a model kept as the window closes is the
        # one the next launch opens.
        self.settings.set_model_path(self.controller.dataset, path)
        self.controller.load_model_file(path)

    def export_model(self) -> None:
        """Model ▸ Export…: asks for a folder, then exports the model in use into it. (No
        optional argument: ``triggered`` would pass its ``checked`` flag into it.)"""
        if self._export_refused():
            return
        start = self.settings.export_folder() or os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self, "Export the model into a folder", start)
        if folder:
            self.settings.set_export_folder(folder)
            self.export_model_to(folder)

    def _export_refused(self) -> bool:
        """True (with the reason on the status bar) when the model in use cannot be exported
        now."""
        info = self.controller.model()
        if info is None:
            self.show_message("Wait for the model to load, then export it.")
            return True
        if not str(info.get("path", "")).lower().endswith(".keras"):
            self.show_message(f"{info['name']} is a LiteRT file only; open its .keras to "
                              "export it.")
            return True
        if self._exporter is not None and self._exporter.is_running():
            self.show_message("An export is already under way.")
            return True
        return False

    def export_model_to(self, folder: str) -> None:
        """The model in use as .keras, .tflite, ONNX and a JSON, into ``folder``, by a child
        process; the status bar names the folder and the files when they are written."""
        if self._export_refused():
            return
        info = self.controller.model()
        if self._exporter is None:
            from desktop_app.learning.model_export import ModelExporter

            self._exporter = ModelExporter(self)
            self._exporter.exported.connect(self._model_exported)
            self._exporter.failed.connect(self.show_message)
        name = "" if not info.get("shipped") else Path(info["path"]).stem
        self._exporter.export(info["path"], folder, name)
        self.show_info(f"Exporting {info['name']} as .keras, .tflite and ONNX into {folder}…")

    @Slot(list)
    def _model_exported(self, files: list) -> None:
        folder = os.path.dirname(files[0])
        self.show_info(f"Exported to {folder}: "
                       + ", ".join(os.path.basename(f) for f in files)
                       + " (the .json describes the input and the classes)")

    def use_shipped_model(self) -> None:
        self.show_info("Going back to the shipped model…")
        self.controller.use_shipped_model()

    @Slot(str)
    def _show_busy(self, message: str) -> None:
        if message:
            self.show_info(message)
            self.model_status.setText(message)

    def _show_sample_of(self, image: np.ndarray, dataset: str) -> None:
        """A misclassified test picture from the results: shown with the answer of the model
        that got it wrong (the trained one), until the user draws."""
        if dataset != self.controller.dataset:
            self._select_dataset_in_combo(dataset)
            self.controller.set_dataset(dataset)
        self._pinned = self._trained_model_answer(image)
        self._show_model_line()
        self._show_sample(image)
        if self._pinned is not None:
            self.show_info("Showing the answer of the model just trained, which got this "
                           "picture wrong; draw to see the model in use.")

    def _show_new_sample(self, image: np.ndarray) -> None:
        self._pinned = None
        self._show_model_line()
        self._show_sample(image)

    def _trained_model_answer(self, image: np.ndarray) -> dict | None:
        result = self.training_panel.last_result() if self.training_panel else None
        if not result or not result.get("path"):
            return None
        from training.modelfile.sidecar import tflite_path
        from training.runtime.lite import LiteModel

        try:
            model = LiteModel(tflite_path(result["path"]))
            probabilities = model.predict(np.asarray(image, np.float32) / 255)
        except Exception:  # noqa: BLE001 - then the canvas's own model answers, as usual
            log.exception("the trained model could not classify the picture")
            return None
        name = ((result.get("metadata") or {}).get("display_name")
                or Path(result["path"]).stem)
        return {"probabilities": probabilities, "names": list(result["class_names"]),
                "who": "the model just trained",
                "model_line": f"Answer of the model just trained: {name}"}

    @Slot(str)
    def _model_failed(self, message: str) -> None:
        self.show_message(message)
        if self.controller.model() is None and not self.controller.is_loading():
            self.model_status.setText("No model")

    # -- datasets
    def _select_dataset_in_combo(self, dataset: str) -> None:
        index = self.dataset_selector.findData(dataset)
        if index >= 0 and index != self.dataset_selector.currentIndex():
            self.dataset_selector.blockSignals(True)
            self.dataset_selector.setCurrentIndex(index)
            self.dataset_selector.blockSignals(False)

    @Slot(int)
    def _dataset_chosen(self, index: int) -> None:
        dataset = self.dataset_selector.itemData(index)
        if dataset != self.controller.dataset and not self._keep_trained_model(
                f"switch to {DATASETS[dataset].title}"):
            self._select_dataset_in_combo(self.controller.dataset)  # cancelled: stay
            return
        self.controller.set_dataset(dataset)

    @Slot(str)
    def _dataset_chosen_in_form(self, dataset: str) -> None:
        if dataset != self.controller.dataset and not self._keep_trained_model(
                f"switch to {DATASETS[dataset].title}"):
            self.training_panel.set_dataset(self.controller.dataset)
            return
        self.controller.set_dataset(dataset)

    def _keep_trained_model(self, action: str) -> bool:
        """Save / Discard / Cancel before an action that would leave an unsaved trained model
        behind; True when the action may go ahead."""
        panel = self.training_panel
        return panel is None or panel.keep_or_discard(action)

    @Slot(str)
    def _dataset_changed(self, dataset: str) -> None:
        self._select_dataset_in_combo(dataset)
        if self.training_panel is not None:
            self.training_panel.set_dataset(dataset)
        self.personal.set_dataset(dataset)
        self._fill_this_is(dataset)
        info = self.controller.model(dataset)
        self._set_class_names(info["class_names"] if info else class_names(dataset))
        if info is None:
            self.model_status.setText("Loading model…")
        self.samples.show_dataset(dataset, self.settings.data_dir() or None)

    def _set_class_names(self, names: list[str]) -> None:
        if self.chart is not None and names != self.chart.class_names():
            self.chart.set_class_names(names)

    # -- results
    @Slot()
    def _unpin(self) -> None:
        if self._pinned is not None:
            self._pinned = None
            self._show_model_line()
            self.controller.picture_changed()

    @Slot(dict)
    def _show_result(self, reply: dict) -> None:
        chart = self.chart  # None for the first few hundred ms: the label is shown regardless
        pinned = self._pinned
        if pinned is not None and not reply.get("blank"):
            reply = {**reply, "probabilities": pinned["probabilities"]}
        probabilities = reply.get("probabilities")
        # Several digits side by side: their reading follows from its own thread (numberRead).
        # Meanwhile a number on display stays, so the chart does not flicker between modes
        # (a pinned answer is another model's for one picture: no number).
        self._number_awaited = bool(reply.get("number_candidate")) and pinned is None
        self._last_probabilities = probabilities
        self._last_input = reply.get("input")
        if self._number_awaited and self._last_number is not None and probabilities is not None:
            return  # the number's digits stay on view until its new reading arrives
        self._last_number = None
        if reply.get("blank"):
            self.prediction_label.setText("Draw something")
            self.model_input.set_array(None)
            if chart is not None:
                chart.set_probabilities(None)
            return
        if "error" in reply:
            self.show_message(reply["error"])
        self.model_input.set_array(reply.get("input"))
        if chart is not None:
            chart.set_probabilities(probabilities)
        if probabilities is None:
            self.prediction_label.setText("Cannot classify" if "error" in reply
                                          else "Loading model…")
            return
        info = self.controller.model() or {}
        names = info.get("class_names") or class_names(self.controller.dataset)
        order = np.argsort(probabilities)[::-1]
        first, second = int(order[0]), int(order[1])
        # The worker's verdict: calibrated probabilities and the out-of-distribution check
        # (training.runtime.answer_check.AnswerCheck); a pinned answer is another model's: the old fixed cut.
        verdict = reply.get("verdict") if pinned is None else None
        if verdict is None:
            verdict = "ok" if probabilities[first] >= NOT_SURE_BELOW else "unsure"
        tip = ""
        if verdict == "reject":
            text = f"That doesn't look like {UNLIKE.get(self.controller.dataset, 'anything')}"
            tip = (f"The picture is unlike every picture the model learned from, so its answer "
                   f"({names[first]}, {probabilities[first]:.0%}) means little.")
        elif verdict == "ok":
            text = f"{names[first]} — {probabilities[first]:.0%}"
        else:
            text = f"Not sure: {names[first]} or {names[second]}"
        self.prediction_label.setText(text)
        self.prediction_label.setToolTip(f"The answer of {pinned['who']}; draw to see the "
                                         "model in use" if pinned else tip)

    @Slot(dict)
    def _show_number(self, reply: dict) -> None:
        """The reading of a drawing flagged as maybe several digits: a number ("2026 — 94%",
        the chance that every digit is right; one chart column per digit), or one digit after
        all (back to the bars)."""
        number = reply.get("number")
        if not self._number_awaited or self._last_probabilities is None:
            return  # the drawing has changed into one that is not a number since
        if number is None:
            if self._last_number is not None:  # it was a number, now it reads as one digit
                self._last_number = None
                self._show_result({"seq": reply["seq"], "dataset": reply["dataset"],
                                   "probabilities": self._last_probabilities,
                                   "input": self._last_input})
            return
        self._last_number = number
        if number.get("inputs"):
            self.model_input.set_digits(number["inputs"])   # every digit, as the model saw it
        if self.chart is not None:
            self.chart.set_number(number["digits"], self._last_probabilities)
        self.prediction_label.setText(f"{number['text']} — {number['confidence']:.0%}")
        self.prediction_label.setToolTip("A number: each digit's probabilities are in the "
                                         "chart; the % is the chance all digits are right")

    @Slot(bool)
    def _toggle_saliency(self, on: bool) -> None:
        self.controller.set_explaining(on)
        self.settings.set_show_saliency(on)
        if on:
            self.show_info(SALIENCY_TIP)
        else:
            self.canvas.set_overlay(None)

    @Slot(dict)
    def _show_saliency(self, reply: dict) -> None:
        if self.saliency_action.isChecked():
            self.canvas.set_overlay(reply.get("overlay"))

    # -- canvas settings
    def _set_brush(self, size: int) -> None:
        self.canvas.brush_size = size
        self.settings.set_brush_size(size)

    def _set_pen_style(self, style: str) -> None:
        self.canvas.set_pen_style(style)
        self.settings.set_pen_style(style)

    # -- messages, about, close
    @Slot(str)
    def show_message(self, message: str) -> None:
        """A problem: stays in the status bar (no timeout) until another message replaces it,
        and routine messages do not replace it for ERROR_HOLD_S. The canvas and the model are
        left as they were."""
        log.info("%s", message)
        self._error_shown_at = time.monotonic()
        self.statusBar().showMessage(message)

    @Slot(str)
    def show_notice(self, message: str) -> None:
        """Something went wrong and was already put right (a reset setting, a remembered model
        replaced by the shipped one): shown like a problem, but it passes after NOTICE_MS."""
        log.info("%s", message)
        self._error_shown_at = time.monotonic()
        self.statusBar().showMessage(message, NOTICE_MS)

    def show_info(self, message: str) -> None:
        """A routine message: shown for a few seconds, unless a recent problem is on display."""
        if time.monotonic() - self._error_shown_at >= ERROR_HOLD_S:
            self.statusBar().showMessage(message, MESSAGE_MS)

    def show_about(self) -> None:
        def version(name: str) -> str:
            try:
                return package_metadata.version(name)
            except package_metadata.PackageNotFoundError:
                return "not installed"

        QMessageBox.about(self, "About Draw & Classify", (
            "<h3>Draw & Classify</h3>"
            f"<p>Version {version('draw-classify')}</p>"
            "<p>Draw digits or clothes and watch Keras classifiers recognise them.</p>"
            f"<p>TensorFlow {version('tensorflow')} · Keras {version('keras')}<br>"
            f"Qt {qVersion()} · PySide6 {pyside_version}</p>"))

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
        end_all_processes()
        ok = self.jobs.close_all(timeout_ms / 1000)
        if self.training_panel is not None:
            ok = self.training_panel.shutdown(timeout_ms) and ok
        ok = self.samples.shutdown(timeout_ms) and ok
        if self._teach_dialog is not None:
            ok = self._teach_dialog.shutdown(timeout_ms) and ok
        ok = self.layers_view.shutdown(timeout_ms) and ok
        ok = self.compare_view.shutdown(timeout_ms) and ok
        ok = self.controller.shutdown(timeout_ms) and ok
        if self._exporter is not None:
            ok = self._exporter.shutdown(timeout_ms) and ok
        return ok
