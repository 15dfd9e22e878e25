"""Nothing is cut short at 1024×700 and 1400×900 (issue #20, item 8): dock tabs, the "This is…"
buttons, the compare view's boxes, the training form, the progress text, the answer line; and
the canvas keeps its size when the window is small (the docks give way first).

Offscreen, with the synthetic test sets of ``tiny_data`` (the sample grid shows the real class
names, Fashion's long ones included). Each check runs at both sizes, in MNIST and Fashion-MNIST
mode where the texts differ.
"""

from __future__ import annotations

import pytest
from conftest import TIMEOUT, open_window
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QLabel,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QTabBar,
)

from training.core.datasets import DATASETS

SIZES = ((1024, 700), (1400, 900))
DOCKS = ("samplesDock", "trainingDock", "personalSamples", "layersView", "compareView")
LONG_PROGRESS = "Epoch 12/30 · batch %v/%m · ETA 12:42 · loss 0.3123 · accuracy 91.2%"


@pytest.fixture
def window(qtbot, app_settings, tiny_data):
    app_settings.set_data_dir(str(tiny_data))
    win = open_window(qtbot, app_settings)
    win.ensure_ready()
    yield win
    win.shutdown()


def settle(qtbot, ms: int = 150) -> None:
    QApplication.processEvents()
    qtbot.wait(ms)


def use(qtbot, window, size, dataset="mnist") -> None:
    """The window at ``size`` in ``dataset`` mode, its layout settled."""
    if window.controller.dataset != dataset:
        window.dataset_selector.setCurrentIndex(window.dataset_selector.findData(dataset))
        qtbot.waitUntil(lambda: window.controller.model(dataset) is not None, timeout=TIMEOUT)
    window.resize(*size)
    settle(qtbot)


def raise_dock(qtbot, window, name: str) -> QDockWidget:
    dock = window.findChild(QDockWidget, name)
    window.show_dock(dock)
    settle(qtbot)
    return dock


def text_width(widget, text: str) -> int:
    return widget.fontMetrics().horizontalAdvance(text)


def dock_tab_bars(window) -> list[QTabBar]:
    return [bar for bar in window.findChildren(QTabBar)
            if bar.parent() is window and bar.isVisible() and bar.count() > 1]


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_the_window_keeps_its_size_and_the_canvas_its_room(qtbot, window, dataset):
    """At 1024×700 the window is not pushed wider by its docks, and the canvas stays at least
    340 px and no narrower than the docks (they give way first)."""
    use(qtbot, window, (1024, 700), dataset)
    for name in DOCKS:
        dock = raise_dock(qtbot, window, name)
        assert window.width() <= 1024 and window.height() <= 700, (name, window.size())
        side = window.canvas.picture_rect().width()
        assert side >= 340, (name, side)
        assert side >= dock.width() - 30, (name, side, dock.width())
    # The caption beside "what the model sees" shows all its lines.
    caption = next(label for label in window.centralWidget().findChildren(QLabel)
                   if label.text().startswith("<b>What the model sees"))
    assert caption.heightForWidth(caption.width()) <= caption.height(), caption.size()


def test_every_dock_tab_title_is_whole(qtbot, window):
    for size in SIZES:
        use(qtbot, window, size)
        bars = dock_tab_bars(window)
        titles = []
        for bar in bars:
            vertical = bar.shape() in (QTabBar.Shape.RoundedEast, QTabBar.Shape.RoundedWest,
                                       QTabBar.Shape.TriangularEast,
                                       QTabBar.Shape.TriangularWest)
            for i in range(bar.count()):
                rect, needed = bar.tabRect(i), bar.tabSizeHint(i)
                have = rect.height() if vertical else rect.width()
                want = needed.height() if vertical else needed.width()
                titles.append(bar.tabText(i))
                assert have >= want, (size, bar.tabText(i), have, want)
                assert have >= text_width(bar, bar.tabText(i)), (size, bar.tabText(i))
                assert bar.rect().contains(rect), (size, bar.tabText(i), "off the bar")
                assert window.rect().contains(bar.geometry()), (size, "bar off the window")
        assert sorted(titles) == sorted(window.findChild(QDockWidget, n).windowTitle()
                                        for n in DOCKS), titles


def test_this_is_buttons_show_whole_class_names(qtbot, window):
    for dataset in ("mnist", "fashion_mnist"):
        for size in SIZES:
            use(qtbot, window, size, dataset)
            buttons = window._this_is_buttons
            assert [b.text() for b in buttons] == list(DATASETS[dataset].class_names)
            for button in buttons:
                assert button.isVisible()
                room = button.contentsRect().width() - 8  # the frame's and text's margins
                assert text_width(button, button.text()) <= room, (size, button.text(), room)
            # The buttons sit inside the window, none over another.
            rects = [QRect(b.mapTo(window, QPoint(0, 0)), b.size()) for b in buttons]
            assert all(window.rect().contains(r) for r in rects), (dataset, size)
            assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])


def combo_text_room(combo: QComboBox) -> int:
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    return combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                        QStyle.SubControl.SC_ComboBoxEditField, combo).width()


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_compare_view_boxes_fit_every_model_title(qtbot, window, dataset):
    for size in SIZES:
        use(qtbot, window, size, dataset)
        raise_dock(qtbot, window, "compareView")
        for column in window.compare_view.columns:
            combo = column.choice
            assert combo.isVisible()
            room = combo_text_room(combo)
            for i in range(combo.count()):
                assert text_width(combo, combo.itemText(i)) <= room, (size, combo.itemText(i))
            if column.answer.isVisible() and column.answer.text():
                assert text_width(column.answer, column.answer.text()) <= \
                    column.answer.contentsRect().width()


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_the_training_form_fits_its_dock(qtbot, window, dataset):
    for size in SIZES:
        use(qtbot, window, size, dataset)
        raise_dock(qtbot, window, "trainingDock")
        panel = window.training_panel
        scroll = panel.tabs.widget(0)
        assert isinstance(scroll, QScrollArea)
        assert not scroll.horizontalScrollBar().isVisible(), size
        content = scroll.widget()
        assert content.width() <= scroll.viewport().width(), size
        for field in (panel.preset, panel.architecture, panel.lr_schedule, panel.augment,
                      panel.browse, panel.data_folder, panel.seed):
            assert field.isVisible()
            right = field.mapTo(content, field.rect().topRight()).x()
            assert right <= scroll.viewport().width(), (size, field.objectName())
        for combo in (panel.preset, panel.architecture, panel.lr_schedule, panel.optimizer,
                      panel.precision, panel.dataset):
            assert text_width(combo, combo.currentText()) <= combo_text_room(combo), \
                (size, combo.currentText())
        for button in (panel.start_button, panel.stop_button, panel.use_button,
                       panel.save_button):
            assert text_width(button, button.text()) <= button.contentsRect().width() - 8, \
                (size, button.text())


def test_the_progress_text_is_never_clipped(qtbot, window):
    for size in SIZES:
        use(qtbot, window, size)
        raise_dock(qtbot, window, "trainingDock")
        bar = window.training_panel.progress
        bar.setRange(0, 469)
        bar.setValue(120)
        bar.setFormat(LONG_PROGRESS)
        settle(qtbot)
        lines = bar.lines() if hasattr(bar, "lines") else [bar.text()]
        room = bar.contentsRect().width()
        for line in lines:
            assert text_width(bar, line) <= room, (size, line, room)
        assert " · ".join(lines) == bar.text(), (size, lines)  # all of it, nothing elided
        assert bar.height() >= len(lines) * bar.fontMetrics().height(), size


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_the_answer_line_keeps_one_height(qtbot, window, dataset):
    """A short and a long answer: the label and the chart below it do not move."""
    long_answer = "That doesn't look like a garment"
    for size in SIZES:
        use(qtbot, window, size, dataset)
        label = window.prediction_label
        heights, chart_tops = [], []
        for text in ("7 — 100%", long_answer, "Not sure: T-shirt/top or Pullover"):
            label.setText(text)
            settle(qtbot, 50)
            heights.append(label.height())
            chart_tops.append(window.chart.geometry().top())
        assert len(set(heights)) == 1, (size, heights)
        assert len(set(chart_tops)) == 1, (size, chart_tops)
        assert label.height() <= 2 * label.fontMetrics().height(), size  # one line
        if size == (1400, 900):  # room enough: the long answer is shown whole
            label.setText(long_answer)
            settle(qtbot, 50)
            shown = getattr(window, "_answer_line", None)
            assert shown is not None and not shown.is_elided(), size
