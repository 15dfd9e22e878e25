"""LayersView: "What each layer sees", every layer's output for the drawing, live.

Convolution and pooling layers show their feature maps as small greyscale pictures in a grid
(bright = strong; one scale per layer so that maps compare), dense layers their values as bars,
the output its ten probabilities with the class names. It works for any model of the app (the
lecture's dense net, the lecture's CNN, ours, one the user trained) without TensorFlow: each
model has an every-layer LiteRT twin, ``<model>.layers.tflite`` (``training.learn.export
--layers``). The shipped models come with theirs; for another ``.keras`` the controller has it
made by the same child process that makes a model's ``.tflite`` (``PredictionController.
convert``) and keeps it in the conversion cache.

The outputs are computed and turned into pictures by the "layers" LatestJob, only while the dock
is visible: at most one request in flight, the newest drawing next, at most 25 a second. The
GUI thread only paints the QImages it gets (QImage, unlike QPixmap, may be made in any thread).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.jobs.latest import LatestJob, Pace
from desktop_app.jobs.registry import JobRegistry
from desktop_app.prediction.conversion import conversion_cache_path
from desktop_app.prediction.inference_worker import ConversionNeeded
from desktop_app.prediction.model_choices import IN_USE, standard_choices
from desktop_app.prediction.requests import Conversion, ModelInfo
from desktop_app.views.follow_input import FollowsModelInput
from training.modelfile.sidecar import ModelLoadError
from training.runtime.activations import feature_mosaic, vector_levels
from training.runtime.model_cache import ModelCache

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.04     # a new computation starts at most 25 times a second
WRAP = 64                 # a long vector (Flatten) is drawn as rows of this many cells
BAR_LIMIT = 160           # vectors up to this length are bars; longer ones a grid of cells
MAX_MODELS = 4            # LiteRT layer models kept by the worker


def find_layers_model(request: dict) -> Path:
    """The ``.layers.tflite`` of the model a request names ({"path": .keras or .tflite, "" for
    the shipped model of "dataset"}). Raises ConversionNeeded when it has to be made, and
    ModelLoadError when it cannot be (a ``.tflite`` with no ``.keras`` beside it)."""
    from training.modelfile.sidecar import (
        ModelLoadError,
        file_sha256,
        layers_tflite_path,
        read_metadata,
        SHIPPED_MODELS,
        default_model_path,
    )

    shipped = not request.get("path") and request["dataset"] in SHIPPED_MODELS
    path = (default_model_path(request["dataset"]) if not request.get("path")
            else Path(request["path"]))
    keras = path if path.suffix.lower() == ".keras" else path.with_suffix(".keras")
    if not keras.is_file():
        raise ModelLoadError(f"{path.name} is a LiteRT file only: the layer view needs its "
                             ".keras model (a .tflite keeps no layer outputs).")
    beside = layers_tflite_path(keras)
    try:
        if beside.is_file():
            expected = read_metadata(keras).get("layers_tflite_sha256")
            if shipped or (isinstance(expected, str) and expected == file_sha256(beside)):
                return beside
        cached = conversion_cache_path(file_sha256(keras), layers=True)
    except OSError as exc:
        raise ModelLoadError(f"{keras.name} cannot be read: {exc.strerror or exc}") from None
    if cached.is_file() and cached.stat().st_size > 0:
        return cached
    raise ConversionNeeded(keras)


@dataclass(frozen=True)
class LayersRequest:
    key: str                 # the chosen model's key
    path: str                # .keras or .tflite ("" = the shipped model of ``dataset``)
    dataset: str
    input: np.ndarray        # the 28x28 float model input
    class_names: tuple


@dataclass(frozen=True)
class LayerOutputs:
    key: str
    layers: list = field(default_factory=list)   # panel_data of each layer
    error: str | None = None                     # the user's message
    keras: str | None = None                     # a .keras whose layers model must be made


class LayerRunner:
    """Runs a model's every-layer twin on the model input and makes the pictures to paint,
    in the "layers" LatestJob's thread."""

    def __init__(self):
        self._models = ModelCache(_layer_model, MAX_MODELS)
        self._found: dict[tuple, tuple] = {}   # (path, dataset) -> (file stamp, found path)

    def compute(self, request: LayersRequest) -> LayerOutputs:
        try:
            model = self._models.get(self._find(request))
            outputs = model.run(request.input)
            return LayerOutputs(request.key, [panel_data(layer, out, request.class_names)
                                              for layer, out in zip(model.layers, outputs)])
        except ConversionNeeded as needed:
            return LayerOutputs(request.key, keras=str(needed.keras))
        except ModelLoadError as exc:  # the user's message
            return LayerOutputs(request.key, error=str(exc))
        except Exception as exc:  # a surprise: logged, and still a message
            log.exception("the layer outputs could not be computed")
            return LayerOutputs(request.key, error=str(exc) or type(exc).__name__)

    def _find(self, request: LayersRequest) -> str:
        """find_layers_model, remembered while the model file is unchanged (it hashes files:
        ~1 ms a drawing saved)."""
        key = (request.path or "", request.dataset)
        stamp = _stamp(key[0])
        known = self._found.get(key)
        if known is not None and stamp is not None and known[0] == stamp:
            return known[1]
        path = str(find_layers_model({"path": request.path, "dataset": request.dataset}))
        self._found[key] = (stamp, path)
        return path


def _layer_model(path: str):
    from training.runtime.activations import LayerModel  # LiteRT: in the job's thread

    return LayerModel(path)


def _stamp(path: str):
    """Size and modification time of a model file ("" = shipped: it does not change)."""
    if not path:
        return "shipped"
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def panel_data(layer, output: np.ndarray, class_names) -> dict:
    """What one panel paints: a QImage mosaic of feature maps, or bar levels in [0, 1]."""
    data = {"title": layer.title, "kind": layer.kind, "shape": layer.shape,
            "peak": float(np.nanmax(output)) if output.size else 0.0,
            "active": float(np.mean(output > 0)) if output.size else 0.0}
    if layer.is_maps:
        data["image"] = _rgb_qimage(feature_mosaic(output))
    else:
        values = output.ravel()
        is_output = layer.shape == (10,) and layer.activation in ("softmax", "none")
        data["levels"] = values.astype(np.float32) if is_output else vector_levels(values)
        if is_output:
            data["labels"] = list(class_names)
        elif values.size > BAR_LIMIT:  # a grid of cells: a picture, made here
            cells = np.zeros(-(-values.size // WRAP) * WRAP, np.uint8)
            cells[:values.size] = np.round(data["levels"] * 255)
            grey = np.repeat(cells.reshape(-1, WRAP)[:, :, None], 3, axis=2)
            data["image"] = _rgb_qimage(grey)
    return data


def _rgb_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, np.uint8)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class LayerPanel(QWidget):
    """One layer: its title, then its feature maps or its bars."""

    TITLE_HEIGHT = 18

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("layerPanel")
        self.data: dict = {}
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def set_data(self, data: dict) -> None:
        self.data = data
        self.setToolTip(_tooltip(data))
        self._fit_height()
        self.update()

    def title(self) -> str:
        return self.data.get("title", "")

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        image = self.data.get("image")
        if image is not None and not image.isNull():
            body = round(width * image.height() / max(1, image.width()))
            body = min(body, 3 * width)
        elif "labels" in self.data:
            body = 54 + self._label_height(width)
        else:
            body = 44
        return self.TITLE_HEIGHT + body + 8

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def _labels_fit(self, width: float) -> bool:
        """Whether every class name fits under its bar, written across (else: upright)."""
        labels = self.data.get("labels") or []
        step = width / max(1, len(self.data.get("levels", labels)) or 1)
        metrics = self.fontMetrics()
        return all(metrics.horizontalAdvance(name) + 2 <= step for name in labels)

    def _label_height(self, width: float) -> int:
        """The room under the output bars for the class names, whole: a line when they fit
        across, else the longest name written upright."""
        labels = self.data.get("labels") or []
        if not labels:
            return 0
        metrics = self.fontMetrics()
        if self._labels_fit(width):
            return metrics.height() + 2
        return max(metrics.horizontalAdvance(name) for name in labels) + 4

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """The height its width asks for, exactly (in a scroll area, heightForWidth alone is
        not honoured, and a stale height would leave gaps when another model is shown)."""
        wanted = self.heightForWidth(max(1, self.width()))
        if self.height() != wanted or self.minimumHeight() != wanted:
            self.setFixedHeight(wanted)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        painter.setPen(text)
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        width = self.width()
        painter.drawText(QRectF(0, 0, width, self.TITLE_HEIGHT),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self.title())
        painter.setFont(self.font())
        body = QRectF(0, self.TITLE_HEIGHT + 2, width, self.height() - self.TITLE_HEIGHT - 8)
        image = self.data.get("image")
        if image is not None and not image.isNull():
            scale = min(body.width() / image.width(), body.height() / image.height())
            target = QRectF(body.x(), body.y(), image.width() * scale, image.height() * scale)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(target, image)  # nearest neighbour: each activation a block
        elif "levels" in self.data:
            self._paint_bars(painter, body, palette)
        painter.end()

    def _paint_bars(self, painter: QPainter, body: QRectF, palette: QPalette) -> None:
        levels = np.asarray(self.data["levels"], np.float32)
        labels = self.data.get("labels")
        count = max(1, len(levels))
        label_height = self._label_height(body.width()) if labels else 0
        area = QRectF(body.x(), body.y(), body.width(), body.height() - label_height)
        painter.fillRect(area, QColor(28, 32, 42))
        step = area.width() / count
        accent = palette.color(QPalette.ColorRole.Highlight)
        top = int(np.argmax(levels)) if labels else -1
        for i, level in enumerate(levels):
            level = float(level) if np.isfinite(level) else 0.0
            height = max(0.0, min(1.0, level)) * (area.height() - 2)
            colour = accent if i == top else QColor(200, 205, 215)
            painter.fillRect(QRectF(area.x() + i * step + (1 if step >= 4 else 0),
                                    area.bottom() - height,
                                    max(1.0, step - (2 if step >= 4 else 0)), height), colour)
        if labels:
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            across = self._labels_fit(body.width())
            for i, name in enumerate(labels):
                if across:
                    painter.drawText(QRectF(area.x() + i * step, area.bottom() + 1, step,
                                            label_height),
                                     Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                                     name)
                    continue
                # Upright, read from the bottom up, its end under the bar: the whole name.
                painter.save()
                painter.translate(area.x() + i * step + step / 2, area.bottom() + 2)
                painter.rotate(-90)
                painter.drawText(QRectF(-label_height, -step / 2, label_height - 2, step),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 name)
                painter.restore()


def _tooltip(data: dict) -> str:
    shape = "×".join(str(d) for d in data.get("shape", ()))
    if "labels" in data:
        return f"{data.get('kind', '')} output {shape}: the probability of each class"
    return (f"{data.get('kind', '')} output {shape}; largest value {data.get('peak', 0):.3g}, "
            f"{data.get('active', 0):.0%} of the values above zero")


class LayersView(FollowsModelInput, QWidget):
    """The dock's content: a model choice and one LayerPanel per layer, in a scroll area."""

    HINT = ("Each layer's output for your drawing. Convolutions and pooling: one small picture "
            "per feature map (bright = strong). Dense layers: one bar per unit.")

    def __init__(self, controller, jobs: JobRegistry | None = None, parent=None):
        """``jobs``: the window's registry (a private one when built alone)."""
        super().__init__(parent)
        self.setObjectName("layersViewContent")
        self._controller = controller
        self._dataset = controller.dataset
        self._input = None            # the newest model input (28x28), None when blank
        self._input_dataset = None
        self._job = LatestJob("layers", LayerRunner().compute,
                              jobs if jobs is not None else JobRegistry(),
                              Pace(interval_s=MIN_INTERVAL_S), parent=self)
        self._job.done.connect(self._on_computed)
        self._job.set_paused(True)    # until the dock is shown
        self._converting: set[str] = set()
        self._failed: dict[str, str] = {}  # .keras -> why its layers model cannot be made
        self._shown = False           # set by the dock (set_shown)
        self.panels: list[LayerPanel] = []
        self.updates = 0              # layer sets painted (tests, benchmarks)

        self.model_choice = QComboBox()
        self.model_choice.setObjectName("layersModel")
        self.model_choice.setToolTip("Whose layers to show: the canvas's model or another one")
        # As wide as its longest title at least: "Shipped Fashion-MNIST model" is never cut.
        self.model_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_choice.currentIndexChanged.connect(self._choice_changed)
        self.status = QLabel("Draw something")
        self.status.setObjectName("layersStatus")
        self.status.setWordWrap(True)
        hint = QLabel(self.HINT)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")

        self._panel_box = QVBoxLayout()
        self._panel_box.setSpacing(6)
        self._panel_box.addStretch(1)
        inner = QWidget()
        inner.setLayout(self._panel_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_choice, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(hint)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)

        self._fill_choices()
        controller.resultReady.connect(self._on_result)
        controller.modelReady.connect(self._on_model_ready)
        controller.datasetChanged.connect(self._on_dataset_changed)
        controller.conversionDone.connect(self._on_conversion_done)
        controller.conversionFailed.connect(self._on_conversion_failed)

    # -- the model whose layers are shown
    def _fill_choices(self) -> None:
        current = self.model_choice.currentData()
        key = current["key"] if current else IN_USE
        self.model_choice.blockSignals(True)
        self.model_choice.clear()
        self.model_choice.addItem("The model in use", {"key": IN_USE})
        for choice in standard_choices(self._dataset):
            self.model_choice.addItem(choice["title"], choice)
        index = 0
        for i in range(self.model_choice.count()):
            if self.model_choice.itemData(i)["key"] == key:
                index = i
        self.model_choice.setCurrentIndex(index)
        self.model_choice.blockSignals(False)

    def _model_request(self) -> dict | None:
        """{"key", "path"} of the chosen model; None while the canvas's model is loading."""
        choice = self.model_choice.currentData() or {"key": IN_USE}
        if choice["key"] != IN_USE:
            return {"key": choice["key"], "path": choice["path"]}
        info = self._controller.model(self._dataset)
        if info is None:
            return None
        return {"key": str(info.path), "path": "" if info.shipped else str(info.path or "")}

    @Slot(int)
    def _choice_changed(self, _index: int) -> None:
        self._refresh()

    # -- inputs from the controller
    @Slot(object)
    def _on_model_ready(self, info: ModelInfo) -> None:
        if (self.model_choice.currentData() or {}).get("key") == IN_USE:
            self._refresh()

    @Slot(str)
    def _on_dataset_changed(self, dataset: str) -> None:
        self._dataset = dataset
        self._input = None  # the next result brings the picture prepared for this dataset
        self._fill_choices()
        self._refresh()

    def _on_conversion_done(self, conversion: Conversion) -> None:
        if conversion.asked_by == "layers":
            self._converting.discard(conversion.keras)
            self._refresh()

    def _on_conversion_failed(self, conversion: Conversion, message: str) -> None:
        if conversion.asked_by == "layers":
            self._converting.discard(conversion.keras)
            self._failed[conversion.keras] = message or "the conversion failed"
            self._refresh()

    # -- computing, only while visible
    def _refresh(self) -> None:
        self._job.submit(self._request)

    @Slot(bool)
    def set_shown(self, shown: bool) -> None:
        """The dock is on screen (its tab raised, or floating) or not: it works only while it
        is (a tabbed dock behind another stays "visible" to Qt, hence the dock's signal)."""
        self._shown = shown
        if shown and not self.panels:
            self._refresh()  # paused: starts below
        self._job.set_paused(not shown)

    def _request(self) -> LayersRequest | None:
        """The job's turn: the newest drawing through the chosen model (None: nothing to
        compute, said in the status line)."""
        if self._input is None or self._input_dataset != self._dataset:
            self._show_nothing("Draw something to see what each layer makes of it.")
            return None
        model = self._model_request()
        if model is None:
            self._show_nothing("Loading the model…")
            return None
        return LayersRequest(model["key"], model["path"], self._dataset, self._input,
                             tuple(self._class_names()))

    @Slot(object)
    def _on_computed(self, outputs: LayerOutputs) -> None:
        if outputs.keras is not None:
            self._needs_conversion(outputs.keras)
        elif outputs.error is not None:
            self._show_nothing(f"No layer view for this model: {outputs.error}")
        else:
            self._show_layers(outputs.layers)

    def _needs_conversion(self, keras: str) -> None:
        if keras in self._failed:
            self._show_nothing(f"No layer view for this model: {self._failed[keras]}")
        elif keras not in self._converting:
            self._converting.add(keras)
            self._controller.convert(keras, "layers", layers=True)
        if keras in self._converting:
            self._show_nothing(f"Preparing the layer view of {Path(keras).name} (a LiteRT "
                               "model of every layer's output, made in a child process)…")

    def _show_nothing(self, message: str) -> None:
        self.status.setText(message)
        self.status.show()
        for panel in self.panels:
            panel.hide()

    def _show_layers(self, layers: list[dict]) -> None:
        while len(self.panels) < len(layers):
            panel = LayerPanel()
            self._panel_box.insertWidget(len(self.panels), panel)
            self.panels.append(panel)
        while len(self.panels) > len(layers):
            panel = self.panels.pop()
            self._panel_box.removeWidget(panel)
            panel.deleteLater()
        for panel, data in zip(self.panels, layers):
            panel.set_data(data)
            panel.show()
        self.status.hide()
        self.updates += 1

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        self._job.stop()
        return self._job.wait(timeout_ms / 1000)
