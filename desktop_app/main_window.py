"""MainWindow: the canvas, the live prediction, the sample browser and the training panel."""

from __future__ import annotations

import logging
import os
import tempfile
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSize, Qt, QTimer, Slot, qVersion
from PySide6.QtGui import QAction, QActionGroup, QFont, QGuiApplication, QIcon, QImage, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel,
                               QMainWindow, QMessageBox, QSlider, QSpinBox, QToolBar, QVBoxLayout,
                               QWidget)

from training.preprocess import PictureError, open_picture, to_grey

from .canvas_widget import DrawingCanvas, qimage_to_array
from .model_input_view import ModelInputView
from .prediction_controller import PredictionController
from .sample_browser import SampleBrowser
from .settings import AppSettings

log = logging.getLogger(__name__)

DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}
NOT_SURE_BELOW = 0.6  # top probability under this reads "Not sure"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
MESSAGE_MS = 8000
FIRST_FRAME_MS = 50  # delay between showing the window and starting the model loading


def resource_path(*parts: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("resources").joinpath(*parts)))


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
        self._chart_placeholder = QLabel("…")
        self._chart_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label = QLabel("Draw something")
        self.prediction_label.setObjectName("predictedClass")
        self.model_input = ModelInputView()
        self.dataset_selector = QComboBox()
        self.dataset_selector.setObjectName("datasetSelector")
        for key, title in DATASET_TITLES.items():
            self.dataset_selector.addItem(title, key)
        self.samples = SampleBrowser()
        self.model_status = QLabel()

        self._build_layout()
        self._build_actions()
        self._build_docks()

        self.controller = PredictionController(self._grab_picture, self.settings, self)
        self.canvas.changed.connect(self.controller.picture_changed)
        self.canvas.fileDropped.connect(self.open_image)
        self.canvas.imageDropped.connect(self._show_qimage)
        self.canvas.dropRefused.connect(self.show_message)
        self.controller.resultReady.connect(self._show_result)
        self.controller.modelReady.connect(self._show_model)
        self.controller.modelFailed.connect(self._model_failed)
        self.controller.datasetChanged.connect(self._dataset_changed)
        self.dataset_selector.currentIndexChanged.connect(self._dataset_chosen)
        self.samples.sampleChosen.connect(self._show_sample)

        self._select_dataset_in_combo(self.settings.dataset())
        self.statusBar().addPermanentWidget(self.model_status)
        self.statusBar().showMessage("Loading model…")
        self.model_status.setText("Loading model…")
        self._restore_geometry()
        self._background_started = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._background_started:
            # Let the first frame paint before worker threads start: importing TensorFlow holds
            # the GIL for seconds and would otherwise delay the window itself.
            self._background_started = True
            QTimer.singleShot(FIRST_FRAME_MS, self._start_background_work)

    def _start_background_work(self) -> None:
        if self._closing:
            return
        self._build_matplotlib_parts()
        self.controller.start()
        self.samples.show_dataset(self.controller.dataset, self.settings.data_dir() or None)

    def _build_matplotlib_parts(self) -> None:
        from .probability_chart import ProbabilityChart
        from .training_panel import TrainingPanel

        self.chart = ProbabilityChart(CLASS_NAMES[self.controller.dataset])
        self._right_column.replaceWidget(self._chart_placeholder, self.chart)
        self._chart_placeholder.deleteLater()
        self.training_panel = TrainingPanel(self.settings)
        self.training_panel.modelReady.connect(self._use_trained_model)
        self.training_panel.sampleChosen.connect(self._show_sample_of)
        self.training_panel.dataFolderChanged.connect(
            lambda folder: self.samples.show_dataset(self.controller.dataset, folder or None))
        self.training_dock.setWidget(self.training_panel)

    def ensure_ready(self) -> None:
        """Build what is normally built after the first frame now (scripts, tests)."""
        if not self._background_started:
            self._background_started = True
            self._start_background_work()

    # -- layout
    def _build_layout(self) -> None:
        font = QFont(self.prediction_label.font())
        font.setPointSize(max(20, font.pointSize() * 2))
        font.setBold(True)
        self.prediction_label.setFont(font)
        self.prediction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label.setMinimumWidth(300)

        right = QVBoxLayout()
        right.addWidget(self.prediction_label)
        right.addWidget(self._chart_placeholder, 1)
        self._right_column = right

        frame = QFrame()
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.canvas)
        caption = QLabel("<b>What the model sees</b><br>your picture as a 28×28 input, made "
                         "the way the training images were made.<br><br>"
                         "<span style='color: gray'>Left button draws, right button erases "
                         "(E toggles the eraser).<br>Drop, paste (Ctrl+V) or open (Ctrl+O) a "
                         "picture to classify it.</span>")
        caption.setWordWrap(True)
        eye = QHBoxLayout()
        eye.addWidget(self.model_input, 0, Qt.AlignmentFlag.AlignTop)
        eye.addWidget(caption, 1, Qt.AlignmentFlag.AlignTop)
        left = QVBoxLayout()
        left.addWidget(frame, 0, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        left.addLayout(eye)
        left.addStretch(1)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addLayout(left, 0)
        layout.addLayout(right, 1)
        self.setCentralWidget(central)

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
        self.quit_action = action("&Quit", self.close, ["Ctrl+Q"])
        self.undo_action = action("&Undo", self.canvas.undo, ["Ctrl+Z"], "undo")
        self.redo_action = action("&Redo", self.canvas.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "redo")
        self.clear_action = action("&Clear", self.canvas.clear, ["Delete", "Esc"], "clear",
                                   "Clear the canvas (Delete / Esc)")
        self.about_action = action("&About Draw & Classify", self.show_about)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        self.canvas.undoAvailable.connect(self.undo_action.setEnabled)
        self.canvas.redoAvailable.connect(self.redo_action.setEnabled)

        self.eraser_action = QAction("&Eraser", self, checkable=True)
        self.eraser_action.setShortcut("E")
        self.eraser_action.toggled.connect(lambda on: setattr(self.canvas, "eraser", on))
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
                    self.eraser_action, None, self.white_pen_action, self.black_pen_action):
            edit.addSeparator() if act is None else edit.addAction(act)
        self.view_menu = menu.addMenu("&View")
        self.model_menu = menu.addMenu("&Model")
        menu.addMenu("&Help").addAction(self.about_action)

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
        self.tabifyDockWidget(self.samples_dock, self.training_dock)
        self.samples_dock.raise_()
        samples_action = self.samples_dock.toggleViewAction()
        samples_action.setShortcut("Ctrl+1")
        training_action = self.training_dock.toggleViewAction()
        training_action.setShortcut("Ctrl+2")
        self.view_menu.addAction(samples_action)
        self.view_menu.addAction(training_action)
        show_training = QAction("&Train a model…", self)
        show_training.setShortcut("Ctrl+T")
        show_training.triggered.connect(self.show_training_panel)
        self.addAction(show_training)
        self.train_menu_action = show_training
        self.model_menu.addAction(show_training)
        self.model_menu.addAction(self.load_model_action)

    def show_training_panel(self) -> None:
        self.training_dock.show()
        self.training_dock.raise_()

    def _restore_geometry(self) -> None:
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)

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
    def open_image(self, path: str) -> bool:
        try:
            picture = open_picture(path)
            grey = to_grey(picture)
        except PictureError as exc:
            self.show_message(str(exc))
            return False
        except MemoryError:
            self.show_message(f"{os.path.basename(path)} is too large to open.")
            return False
        if grey.size == 0:
            self.show_message(f"{os.path.basename(path)} holds no pixels.")
            return False
        self.show_picture(np.round(grey * 255).astype(np.uint8))
        self.statusBar().showMessage(f"Opened {os.path.basename(path)}", MESSAGE_MS)
        return True

    @Slot(QImage)
    def _show_qimage(self, image: QImage) -> bool:
        if image.isNull() or image.width() == 0 or image.height() == 0:
            self.show_message("The picture is empty.")
            return False
        grey = to_grey(qimage_to_array(image, QImage.Format.Format_RGBA8888))
        self.show_picture(np.round(grey * 255).astype(np.uint8))
        return True

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
        """Write atomically: a temporary file in the same folder, then a rename."""
        if not path.lower().endswith(".png"):
            path += ".png"
        folder = os.path.dirname(os.path.abspath(path))
        try:
            fd, temp = tempfile.mkstemp(prefix=".drawing-", suffix=".png", dir=folder)
            os.close(fd)
            ok = self.canvas.image().save(temp, "PNG")
            if ok:
                os.replace(temp, path)
            else:
                os.unlink(temp)
        except OSError as exc:
            self.show_message(f"Could not save {os.path.basename(path)}: {exc.strerror or exc}")
            return False
        if not ok:
            self.show_message(f"Could not save {os.path.basename(path)}.")
            return False
        self.statusBar().showMessage(f"Saved {path}", MESSAGE_MS)
        return True

    # -- models
    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "",
                                              "Keras models (*.keras);;All files (*)")
        if path:
            self.load_model(path)

    def load_model(self, path: str) -> None:
        self.statusBar().showMessage(f"Loading {os.path.basename(path)}…")
        self.controller.load_model_file(path)

    def model_ready(self) -> bool:
        return self.controller.model() is not None

    @Slot(dict)
    def _show_model(self, info: dict) -> None:
        accuracy = info.get("test_accuracy")
        text = f"{info['name']} ({DATASET_TITLES[info['dataset']]}"
        text += f", {accuracy:.2%} on the test set)" if isinstance(accuracy, float) else ")"
        self.model_status.setText(text)
        self.statusBar().showMessage(f"Model ready: {text}", MESSAGE_MS)
        if info["dataset"] == self.controller.dataset:
            self._set_class_names(info["class_names"])
        metadata = info.get("metadata") or {}
        user_loaded = not info["shipped"] and info["path"]
        panel = self.training_panel
        if panel and metadata.get("history") and (user_loaded or panel.last_result() is None):
            panel.show_saved_model(metadata)

    def _use_trained_model(self, model, metadata: dict) -> None:
        """"Use this model" in the training panel: the canvas switches to it (and its dataset)."""
        self.statusBar().showMessage("Switching the canvas to the trained model…", MESSAGE_MS)
        self.controller.adopt_model(model, metadata)

    def _show_sample_of(self, image: np.ndarray, dataset: str) -> None:
        if dataset != self.controller.dataset:
            self._select_dataset_in_combo(dataset)
            self.controller.set_dataset(dataset)
        self._show_sample(image)

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
        self.controller.set_dataset(self.dataset_selector.itemData(index))

    @Slot(str)
    def _dataset_changed(self, dataset: str) -> None:
        self._select_dataset_in_combo(dataset)
        info = self.controller.model(dataset)
        self._set_class_names(info["class_names"] if info else CLASS_NAMES[dataset])
        if info is None:
            self.model_status.setText("Loading model…")
        self.samples.show_dataset(dataset, self.settings.data_dir() or None)

    def _set_class_names(self, names: list[str]) -> None:
        if self.chart is not None and names != self.chart.class_names():
            self.chart.set_class_names(names)

    # -- results
    @Slot(dict)
    def _show_result(self, reply: dict) -> None:
        if self.chart is None:
            return  # not built yet; the controller classifies again once a model is ready
        if reply.get("blank"):
            self.prediction_label.setText("Draw something")
            self.chart.set_probabilities(None)
            self.model_input.set_array(None)
            return
        if "error" in reply:
            self.show_message(reply["error"])
        self.model_input.set_array(reply.get("input"))
        probabilities = reply.get("probabilities")
        if probabilities is None:
            self.prediction_label.setText("Loading model…")
            self.chart.set_probabilities(None)
            return
        self.chart.set_probabilities(probabilities)
        names = self.chart.class_names()
        order = np.argsort(probabilities)[::-1]
        first, second = int(order[0]), int(order[1])
        if probabilities[first] >= NOT_SURE_BELOW:
            self.prediction_label.setText(f"{names[first]} — {probabilities[first]:.0%}")
        else:
            self.prediction_label.setText(f"Not sure: {names[first]} or {names[second]}")

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
        """Non-modal: the status bar shows it; the canvas and model are left as they were."""
        log.info("%s", message)
        self.statusBar().showMessage(message, MESSAGE_MS * 2)

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
        if self.training_panel is not None and not self.training_panel.confirm_close():
            event.ignore()  # the user chose to keep training
            return
        self._closing = True
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.sync()
        self.samples.shutdown()
        self.controller.shutdown()
        event.accept()
