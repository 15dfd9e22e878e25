"""The window's central layout: the canvas and what the model sees on the left, the answer,
the model's name and the probability chart on the right, the "This is…" buttons below; and
the window's size and dock layout as the user left them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.settings import AppSettings
from desktop_app.views.class_keys import class_keys
from desktop_app.views.fitting import ButtonGrid, OneLineText
from training.core.datasets import dataset_info

CANVAS_MINIMUM = 340  # pixels: at 1024×700 the docks give way before the canvas


class LayoutMixin:
    """MainWindow's central widget (its canvas, labels, model input view and chart)."""

    def _build_layout(self) -> None:
        right = self._build_answer_column()
        columns = QHBoxLayout()
        columns.addLayout(self._build_canvas_column(), 3)
        columns.addLayout(right, 2)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(columns, 1)
        layout.addLayout(self._build_this_is())
        self.setCentralWidget(central)
        # The dock tabs run down the window's right edge: every title whole, however narrow
        # the docks are made.
        self.setTabPosition(Qt.DockWidgetArea.RightDockWidgetArea, QTabWidget.TabPosition.East)

    def _build_answer_column(self) -> QVBoxLayout:
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
        return right

    def _build_canvas_column(self) -> QVBoxLayout:
        frame = QFrame()
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.canvas)
        self.canvas.setMinimumSize(CANVAS_MINIMUM, CANVAS_MINIMUM)
        self.canvas_caption = caption = QLabel()  # its text: _fill_this_is (the E key's use)
        caption.setWordWrap(True)
        caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        eye = QHBoxLayout()
        eye.addWidget(self.model_input, 0, Qt.AlignmentFlag.AlignTop)
        caption.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        eye.addWidget(caption, 1)  # its height follows its width: every line shown
        left = QVBoxLayout()
        left.addWidget(frame, 1)
        left.addLayout(eye)
        return left

    def _build_this_is(self) -> QHBoxLayout:
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
        return self._this_is

    def _build_chart(self) -> None:
        from desktop_app.views.probability_chart import ProbabilityChart

        self.chart = ProbabilityChart(list(dataset_info(self.controller.dataset).class_names))
        self._right_column.replaceWidget(self._chart_placeholder, self.chart)
        self._chart_placeholder.deleteLater()
        if self._last_number is not None:
            self.chart.set_number([d.probabilities for d in self._last_number.digits],
                                  self._last_probabilities)
        elif self._last_probabilities is not None:
            self.chart.set_probabilities(self._last_probabilities)

    def _fill_this_is(self, dataset: str) -> None:
        """The dataset's "This is…" buttons, and its class keys on the canvas."""
        names = dataset_info(dataset).class_names
        self.canvas.class_keys = keys = class_keys(names)
        eraser = "E: eraser" if "E" not in keys else "E is a class key here: the toolbar's Eraser"
        self.canvas_caption.setText(
            "<b>What the model sees:</b> your picture as a 28×28 input, made like the training "
            "images.<br><br><span style='color: gray'>Left button draws, right button erases "
            f"({eraser}). Drop, paste or open (Ctrl+O) a picture to classify it.</span>")
        buttons = []
        for index, name in enumerate(names):
            button = QPushButton(name)  # the whole name: the grid makes room for it
            button.setObjectName(f"thisIs{index}")
            button.setToolTip(f"This is {name} (key {keys[index]} on the canvas): keep the "
                              "drawing as a personal sample")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, i=index: self.store_sample(i))
            buttons.append(button)
        self._this_is_grid.set_buttons(buttons)  # the old ones go at once, not at the next loop
        self._this_is_buttons = buttons

    def store_sample(self, label: int) -> None:
        """Store the drawing as a personal sample of class ``label`` and clear the canvas for
        the next one."""
        if self.canvas.is_empty():
            self.show_message("Draw something first, then type its class to keep it as a "
                              "sample.")
            return
        if label >= len(dataset_info(self.controller.dataset).class_names) or self.personal is None:
            return  # not a class, or the first frame is only just out
        if self.personal.add(label, self.canvas.grey_array()) is not None:
            self.canvas.clear()

    def _restore_geometry(self) -> None:
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            if geometry is not None:
                self.settings.report_unusable(AppSettings.GEOMETRY, "not a window geometry")
            self.resize(1280, 800)
        state = self.settings.window_state()
        if state is not None and not self.restoreState(state):
            self.settings.report_unusable(AppSettings.WINDOW_STATE, "not a window layout")
