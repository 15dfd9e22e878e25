"""CompareView: "Models side by side", the same drawing through two to four models at once.

By default the lecture's dense net, the lecture's CNN and the shipped model of the dataset
(small trained copies of the lecture's two ship with the app, see ``model_choices``); a combo
above each column picks another one: the model in use on the canvas, any model file, or none.
Each column shows the model's answer, its probability bars beside the others' (one row per
class), its test accuracy, its number of weights and the size of the file it runs.

All models of a dataset take the same 28x28 input, so the drawing is prepared once (by the
canvas's inference thread, whose reply carries it) and the "compare" LatestJob runs every column
on it with LiteRT, only while the dock is visible: one request in flight, the newest next.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Slot
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.jobs.latest import LatestJob, Pace
from desktop_app.jobs.registry import JobRegistry
from desktop_app.prediction.inference_worker import load_model, load_reply
from desktop_app.prediction.model_choices import file_size_text, in_use_choice, standard_choices
from desktop_app.prediction.requests import (
    Conversion,
    LoadFailed,
    LoadRequest,
    ModelInfo,
    NeedsConversion,
)
from desktop_app.views.follow_input import FollowsModelInput
from training.runtime.calibration import apply_temperature
from training.runtime.model_cache import ModelCache

log = logging.getLogger(__name__)

COLUMNS = 4                # at most this many models side by side
MIN_INTERVAL_S = 0.03      # a new comparison starts at most ~33 times a second
NONE, OTHER = "none", "other"
LETTERS = "ABCD"           # a model's letter: beside its box, and over its bars


@dataclass(frozen=True)
class LoadColumn:
    column: int
    token: int
    path: str            # "" = the shipped model of ``dataset``
    dataset: str


@dataclass(frozen=True)
class ColumnLoad:
    column: int
    token: int
    reply: object        # ColumnLoaded, LoadFailed or NeedsConversion


@dataclass(frozen=True)
class ColumnLoaded:
    request: LoadRequest
    info: dict           # what the column shows (see ColumnRunner._load)


@dataclass(frozen=True)
class CompareRequest:
    input: np.ndarray    # the 28x28 model input
    columns: dict        # column -> token of the model it has


@dataclass(frozen=True)
class Comparison:
    results: dict        # column -> {"token", "probabilities" or "error"}


class ColumnRunner:
    """Loads one LiteRT model per column (the canvas's loading rules: shipped, sidecar-checked
    ``.tflite``, conversion cache) and runs them all on one model input, in the "compare"
    LatestJob's thread."""

    def __init__(self):
        self._models = ModelCache(size=COLUMNS + 2)
        self._columns: dict[int, tuple] = {}  # column -> (token, LiteModel, temperature)

    def compute(self, request):
        if isinstance(request, LoadColumn):
            self._columns.pop(request.column, None)
            load = LoadRequest(request.path, request.dataset)
            reply = load_reply(load, lambda: self._load(request, load))
            return ColumnLoad(request.column, request.token, reply)
        return self._compare(request)

    def _load(self, request: LoadColumn, load: LoadRequest) -> ColumnLoaded:
        info, model = load_model(load, self._models)
        metadata = info.metadata or {}
        # The model's calibration (its sidecar's temperature, checked when read), as the
        # canvas applies it: the columns then compare honest confidences.
        temperature = metadata.get("temperature")
        self._columns[request.column] = (request.token, model, temperature)
        parameters = metadata.get("parameters")
        info = {key: getattr(info, key) for key in ("name", "architecture", "test_accuracy",
                                                    "class_names", "path", "runnable", "dataset")}
        info["parameters"] = parameters if isinstance(parameters, int) else None
        info["size"] = _size(info["runnable"])
        info["temperature"] = temperature
        return ColumnLoaded(load, info)

    def _compare(self, request: CompareRequest) -> Comparison:
        results = {}
        for column, token in request.columns.items():
            held = self._columns.get(column)
            if held is None or held[0] != token:
                continue  # its model is (re)loading: the next comparison will have it
            try:
                probabilities = apply_temperature(held[1].predict(request.input), held[2])
            except Exception as exc:
                log.exception("a compared model could not classify")
                results[column] = {"token": token, "error": str(exc) or type(exc).__name__}
                continue
            if np.all(np.isfinite(probabilities)):
                results[column] = {"token": token, "probabilities": probabilities}
            else:
                results[column] = {"token": token, "error": "output is not a number"}
        return Comparison(results)


def _size(path) -> int | None:
    try:
        return os.path.getsize(path)
    except (OSError, TypeError):
        return None


class ClassNames(QWidget):
    """The class names, one per row, beside the bar columns."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names: list[str] = []
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def set_names(self, names: list[str]) -> None:
        self.names = list(names)
        width = max((self.fontMetrics().horizontalAdvance(n) for n in names), default=20)
        self.setFixedWidth(width + 8)
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        rows = max(1, len(self.names))
        step = self.height() / rows
        for i, name in enumerate(self.names):
            painter.drawText(QRectF(0, i * step, self.width() - 6, step),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
        painter.end()


class ProbabilityBars(QWidget):
    """One model's probabilities: a horizontal bar per class, the answer highlighted."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("compareBars")
        self.probabilities: np.ndarray | None = None
        self.setMinimumSize(60, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_probabilities(self, probabilities: np.ndarray | None) -> None:
        self.probabilities = None if probabilities is None else np.asarray(probabilities)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(80, 240)  # three models beside the class names in a narrow dock

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        rows = 10
        step = self.height() / rows
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        grid = palette.color(QPalette.ColorRole.Mid)
        grid.setAlpha(60)
        for i in range(rows + 1):
            painter.fillRect(QRectF(0, round(i * step), self.width(), 1), grid)
        values = self.probabilities
        if values is not None:
            top = int(np.argmax(values))
            accent = palette.color(QPalette.ColorRole.Highlight)
            other = QColor(150, 160, 175)
            text_colour = palette.color(QPalette.ColorRole.Text)
            metrics = self.fontMetrics()
            for i, value in enumerate(values[:rows]):
                value = float(value)
                bar = QRectF(0, i * step + step * 0.18, max(0.0, value) * self.width(),
                             step * 0.64)
                painter.fillRect(bar, accent if i == top else other)
                if value >= 0.005:
                    text = f"{value:.0%}"
                    inside = bar.width() > metrics.horizontalAdvance(text) + 6
                    painter.setPen(palette.color(QPalette.ColorRole.HighlightedText) if inside
                                   else text_colour)
                    area = (QRectF(2, i * step, bar.width() - 4, step) if inside
                            else QRectF(bar.width() + 3, i * step, self.width(), step))
                    align = Qt.AlignmentFlag.AlignVCenter | (
                        Qt.AlignmentFlag.AlignRight if inside else Qt.AlignmentFlag.AlignLeft)
                    painter.drawText(area, align, text)
        painter.end()


class ModelColumn:
    """A column's widgets and state: the model choice, the answer, the bars, the details.

    The choices are listed one per row above the bars (letter, box, then the answer and the
    details under it): each box has the dock's width for its whole title, and the bar
    columns below, headed by the same letters, only need room for their percentages.
    """

    def __init__(self, index: int):
        self.index = index
        self.token = 0
        self.info: dict | None = None        # the loaded model's plain description
        self.pending = None                  # the (key, path, dataset) being loaded
        self.last: dict | None = None        # the choice shown before "Other model file…"
        self.probabilities: np.ndarray | None = None
        self.letter = QLabel(f"<b>{LETTERS[index]}</b>")
        self.choice = QComboBox()
        self.choice.setObjectName(f"compareModel{index}")
        # As wide as its longest title (the popup's too): no title is ever cut short.
        self.choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.choice.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.answer = QLabel("")
        self.answer.setObjectName(f"compareAnswer{index}")
        self.answer.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        font = self.answer.font()
        font.setBold(True)
        self.answer.setFont(font)
        self.header = QLabel(f"<b>{LETTERS[index]}</b>")
        self.header.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bars = ProbabilityBars()
        self.details = QLabel("")
        self.details.setObjectName(f"compareDetails{index}")
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.details.setStyleSheet("color: palette(placeholder-text);")
        self.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def key(self) -> str:
        data = self.choice.currentData()
        return data["key"] if data else NONE

    def request(self) -> dict | None:
        data = self.choice.currentData()
        return None if not data or data["key"] in (NONE, OTHER) else data

    def widgets(self):
        return (self.letter, self.choice, self.answer, self.details, self.header, self.bars)

    def set_visible(self, visible: bool) -> None:
        for widget in self.widgets():
            widget.setVisible(visible)


class CompareView(FollowsModelInput, QWidget):
    """The dock's content: up to four ModelColumns side by side, class names on the left."""

    def __init__(self, controller, settings=None, jobs: JobRegistry | None = None,
                 parent=None):
        """``settings`` (AppSettings): where the columns' models are remembered per dataset;
        ``jobs``: the window's registry (a private one when built alone)."""
        super().__init__(parent)
        self.setObjectName("compareViewContent")
        self._controller = controller
        self._settings = settings
        self._dataset = controller.dataset
        self._input = None
        self._input_dataset = None
        self._job = LatestJob("compare", ColumnRunner().compute,
                              jobs if jobs is not None else JobRegistry(),
                              Pace(interval_s=MIN_INTERVAL_S), parent=self)
        self._job.done.connect(self._on_done)
        self._job.set_paused(True)  # until the dock is shown: no model loads before
        self._converting: dict[str, list[int]] = {}  # .keras -> columns waiting for it
        self._other_files: list[dict] = []           # model files the user picked
        self._shown = False                          # set by the dock (set_shown)
        self.comparisons = 0                         # comparisons painted (tests, benchmarks)
        self.names = ClassNames()
        self.columns = [ModelColumn(i) for i in range(COLUMNS)]
        self.status = QLabel("")
        self.status.setObjectName("compareStatus")
        self.status.setWordWrap(True)
        self._build_layout()
        self.names.set_names(self._class_names())
        self._fill_choices(defaults=True)
        controller.resultReady.connect(self._on_result)
        controller.modelReady.connect(self._on_model_ready)
        controller.datasetChanged.connect(self._on_dataset_changed)
        controller.conversionDone.connect(self._on_conversion_done)
        controller.conversionFailed.connect(self._on_conversion_failed)

    def _build_layout(self) -> None:
        # The models, one per row: letter, box; under the box the answer, then the details.
        models = QGridLayout()
        models.setHorizontalSpacing(6)
        models.setVerticalSpacing(2)
        for column in self.columns:
            row = 2 * column.index
            models.addWidget(column.letter, row, 0)
            models.addWidget(column.choice, row, 1, 1, 2, Qt.AlignmentFlag.AlignLeft)
            models.addWidget(column.answer, row + 1, 1)
            models.addWidget(column.details, row + 1, 2)
            column.choice.activated.connect(lambda _i, c=column: self._choice_made(c))
        models.setColumnStretch(2, 1)
        # Their bars side by side, under the same letters, the class names on the left.
        grid = self._grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.addWidget(self.names, 1, 0)
        for column in self.columns:
            grid.addWidget(column.header, 0, column.index + 1)
            grid.addWidget(column.bars, 1, column.index + 1)
            grid.setColumnStretch(column.index + 1, 1)
        grid.setRowStretch(1, 1)
        hint = QLabel("The same drawing through several models. Pick the models in the boxes; "
                      "accuracy is on the official test set, size is the file each one runs.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(models)
        layout.addLayout(grid, 1)
        layout.addWidget(self.status)

    # -- choices
    def _choices(self) -> list[dict]:
        choices = standard_choices(self._dataset)
        own = in_use_choice(self._controller.model(self._dataset))
        if own is not None:
            choices.append(own)
        choices += [c for c in self._other_files if c["dataset"] == self._dataset
                    and all(c["path"] != k["path"] for k in choices)]
        return choices

    def _fill_choices(self, defaults: bool = False) -> None:
        """(Re)fill every combo; a column keeps its model if the dataset still has it, else it
        gets the default: with ``defaults``, what the user last chose for this dataset (a
        model file only if it still exists), else the standard models in order, then none."""
        remembered = self._remembered() if defaults else []
        choices = self._choices()
        standard = [c["key"] for c in standard_choices(self._dataset)]
        for column in self.columns:
            previous = (remembered[column.index] if column.index < len(remembered) else None
                        ) if defaults else column.choice.currentData()
            column.choice.blockSignals(True)
            column.choice.clear()
            for choice in choices:
                column.choice.addItem(choice["title"], choice)
                column.choice.setItemData(column.choice.count() - 1, choice["path"] or
                                          "the model that comes with the app",
                                          Qt.ItemDataRole.ToolTipRole)
            column.choice.addItem("Other model file…", {"key": OTHER, "path": ""})
            column.choice.addItem("— none —", {"key": NONE, "path": ""})
            wanted = None
            if previous and previous["key"] != OTHER:  # the in-use model follows the canvas
                wanted = next((i for i in range(column.choice.count())
                               if column.choice.itemData(i)["key"] == previous["key"] and
                               (previous["key"] != "file" or
                                column.choice.itemData(i)["path"] == previous["path"])), None)
            if wanted is None:
                key = standard[column.index] if column.index < len(standard) else NONE
                wanted = next(i for i in range(column.choice.count())
                              if column.choice.itemData(i)["key"] == key)
            column.choice.setCurrentIndex(wanted)
            column.choice.blockSignals(False)
        for column in self.columns:
            self._load(column)

    def _choice_made(self, column: ModelColumn) -> None:
        if column.key() == OTHER:
            start = os.path.dirname((column.info or {}).get("path") or "") or str(Path.home())
            path, _ = QFileDialog.getOpenFileName(self, "Compare with a model", start,
                                                  "Models (*.keras *.tflite);;All files (*)")
            if not path:  # cancelled: back to what it was
                last = column.last or {"key": NONE, "path": ""}
                column.choice.setCurrentIndex(max(0, next(
                    (i for i in range(column.choice.count())
                     if column.choice.itemData(i)["key"] == last["key"]
                     and column.choice.itemData(i)["path"] == last["path"]), -1)))
                return
            self.add_model_file(path, column.index)
            return
        self._load(column)
        self._remember()

    def _remembered(self) -> list[dict]:
        """The columns last chosen for this dataset; their model files join the choices."""
        if self._settings is None:
            return []
        columns = self._settings.compare_columns(self._dataset)
        for choice in columns:
            path = choice["path"]
            if (choice["key"] == "file" and os.path.isfile(path)
                    and all(c["path"] != path for c in self._other_files)):
                self._other_files.append({"key": "file", "title": Path(path).name,
                                          "path": path, "dataset": self._dataset})
        return columns

    def _remember(self) -> None:
        if self._settings is None:
            return
        chosen = [column.choice.currentData() or {"key": NONE, "path": ""}
                  for column in self.columns]
        self._settings.set_compare_columns(self._dataset, [
            c if c["key"] != OTHER else {"key": NONE, "path": ""} for c in chosen])

    def add_model_file(self, path: str, column_index: int) -> None:
        """Put the model file ``path`` in column ``column_index`` (and in every combo)."""
        choice = {"key": "file", "title": Path(path).name, "path": str(path),
                  "dataset": self._dataset}
        if all(c["path"] != choice["path"] for c in self._other_files):
            self._other_files.append(choice)
        self._fill_choices()
        column = self.columns[column_index]
        for i in range(column.choice.count()):
            if column.choice.itemData(i)["path"] == choice["path"]:
                column.choice.setCurrentIndex(i)
        self._load(column)
        self._remember()

    def _load(self, column: ModelColumn) -> None:
        request = column.request()
        column.last = request
        key = None if request is None else (request["key"], request["path"], self._dataset)
        if key is not None and (column.pending == key or (
                column.info is not None and column.info.get("choice") == key)):
            return  # the same model, loaded or on its way
        column.token += 1
        column.pending = key
        column.info = None
        column.probabilities = None
        column.bars.set_probabilities(None)
        column.set_visible(True)
        self._show_agreement()  # the answer being replaced is no longer part of it
        # A column with no model is only its box: the models shown share the bars' width.
        self._grid.setColumnStretch(column.index + 1, 0 if request is None else 1)
        if request is None:
            column.answer.setText("")
            column.details.setText("")
            for widget in (column.answer, column.header, column.bars, column.details):
                widget.setVisible(False)
            return
        column.answer.setText("…")
        column.details.setText("Loading…")
        # Paused while the dock is hidden: a hidden dock starts no thread and loads nothing.
        _key, path, dataset = key
        self._job.submit(LoadColumn(column.index, column.token, path, dataset),
                         ("load", column.index))

    @Slot(object)
    def _on_done(self, result) -> None:
        if isinstance(result, Comparison):
            self._on_compared(result)
            return
        column = self.columns[result.column]
        if result.token != column.token:
            return
        if isinstance(result.reply, ColumnLoaded):
            self._on_column_loaded(column, dict(result.reply.info))
        elif isinstance(result.reply, LoadFailed):
            column.info = column.pending = None
            column.answer.setText("—")
            column.details.setText(result.reply.message)
            self._show_agreement()  # without the column that has no model now
        elif isinstance(result.reply, NeedsConversion):
            self._on_needs_conversion(column, result.reply.keras)

    def _on_column_loaded(self, column: ModelColumn, info: dict) -> None:
        info["choice"], column.pending = column.pending, None
        column.info = info
        column.details.setText(_details(info))
        column.details.setToolTip(f"{info.get('name')}\n{info.get('runnable')}")
        column.answer.setText("")
        self._refresh()

    def _on_needs_conversion(self, column: ModelColumn, keras: str) -> None:
        column.details.setText(f"Preparing {Path(keras).name} (converting it to LiteRT)…")
        waiting = self._converting.setdefault(keras, [])
        if not waiting:
            self._controller.convert(keras, "compare")
        waiting.append(column.index)

    def _on_conversion_done(self, conversion: Conversion) -> None:
        if conversion.asked_by == "compare":
            for index in self._converting.pop(conversion.keras, []):
                column = self.columns[index]
                column.info = column.pending = None
                self._load(column)

    def _on_conversion_failed(self, conversion: Conversion, message: str) -> None:
        if conversion.asked_by == "compare":
            for index in self._converting.pop(conversion.keras, []):
                self.columns[index].pending = None
                self.columns[index].answer.setText("—")
                self.columns[index].details.setText(message)
            self._show_agreement()

    # -- inputs from the controller
    @Slot(object)
    def _on_model_ready(self, info: ModelInfo) -> None:
        if info.dataset == self._dataset:
            self._fill_choices()  # "In use: …" follows the canvas's model

    @Slot(str)
    def _on_dataset_changed(self, dataset: str) -> None:
        self._dataset = dataset
        self._input = None
        self.names.set_names(self._class_names())
        self._fill_choices(defaults=True)  # what the user chose for this dataset, else defaults
        self._refresh()

    # -- comparing, only while visible
    def _refresh(self) -> None:
        self._job.submit(self._request, "compare")

    @Slot(bool)
    def set_shown(self, shown: bool) -> None:
        """The dock is on screen (its tab raised, or floating) or not: it works only while it
        is (a tabbed dock behind another stays "visible" to Qt, hence the dock's signal)."""
        self._shown = shown
        if shown:
            self._refresh()  # paused: starts below
        self._job.set_paused(not shown)

    def _request(self) -> CompareRequest | None:
        """The job's turn: the newest drawing through the loaded columns (None: nothing)."""
        if self._input is None or self._input_dataset != self._dataset:
            for column in self.columns:
                column.probabilities = None
                column.bars.set_probabilities(None)
                if column.info is not None:
                    column.answer.setText("")
            self.status.setText("Draw something to compare the models' answers.")
            return None
        ready = {c.index: c.token for c in self.columns if c.info is not None}
        return CompareRequest(self._input, ready) if ready else None

    def _on_compared(self, comparison: Comparison) -> None:
        names = self._class_names()
        for index, result in comparison.results.items():
            column = self.columns[index]
            if result["token"] != column.token:
                continue
            if "error" in result:
                column.probabilities = None
                column.answer.setText("—")
                column.answer.setToolTip(result["error"])
            else:
                probabilities = result["probabilities"]
                names = (column.info or {}).get("class_names") or names
                top = int(np.argmax(probabilities))
                column.probabilities = probabilities
                column.answer.setText(f"{names[top]} {probabilities[top]:.0%}")
                column.answer.setToolTip(f"{names[top]}: {probabilities[top]:.1%}")
            column.bars.set_probabilities(column.probabilities)
        self._show_agreement(names)
        self.comparisons += 1

    def _show_agreement(self, names: list[str] | None = None) -> None:
        self.status.setText(_agreement(self.columns, names or self._class_names()))

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        self._job.stop()
        return self._job.wait(timeout_ms / 1000)


def _details(info: dict) -> str:
    accuracy = info.get("test_accuracy")
    parts = [f"{accuracy:.2%} on the test set" if isinstance(accuracy, float)
             else "test accuracy unknown"]
    if info.get("parameters"):
        parts.append(f"{info['parameters']:,} weights")
    parts.append(f"{file_size_text(info.get('size'))} file")
    if info.get("temperature") is not None:
        parts.append("calibrated")
    return " · ".join(parts)


def _agreement(columns: list[ModelColumn], names: list[str]) -> str:
    answers = [int(np.argmax(c.probabilities)) for c in columns if c.probabilities is not None]
    if len(answers) < 2:
        return ""
    if len(set(answers)) == 1:
        return f"All {len(answers)} models answer {names[answers[0]]}."
    return "The models disagree: " + ", ".join(
        f"{c.choice.currentText()} → {names[int(np.argmax(c.probabilities))]}"
        for c in columns if c.probabilities is not None) + "."
