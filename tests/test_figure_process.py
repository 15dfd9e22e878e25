"""Charts are drawn in the figure process (no GIL shared with the window's event loop), by one
LatestJob of the window; a killed figure process costs one drawing (a message on its chart) and
the next one starts a new process; closing leaves no process and no thread behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from desktop_app.figures.figure_renderer import JOB_NAME, FigureRenderer
from desktop_app.jobs.registry import JobRegistry
from desktop_app.jobs.threads import running_processes, running_threads
from desktop_app.views.reliability_view import ReliabilityView
from desktop_app.views.results_view import ConfusionMatrixView
from desktop_app.views.training_charts import TrainingCharts

TIMEOUT = 60_000  # a figure process starting on a busy machine


def _ink(chart) -> int:
    """How many pixels of the chart on screen are not white (the curves, axes and text)."""
    image = chart._image.convertToFormat(chart._image.Format.Format_RGBA8888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                                image.bytesPerLine())
    return int((pixels[:, : image.width() * 4] < 200).sum())


def _dead(pid: int) -> bool:
    """Ended: a zombie not reaped yet, or gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _gone(pid: int) -> bool:
    """No process, not even a zombie."""
    return not os.path.exists(f"/proc/{pid}")


@pytest.fixture
def registry():
    return JobRegistry()


@pytest.fixture
def charts(qtbot, registry):
    renderer = FigureRenderer(registry)
    chart = TrainingCharts(renderer)
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    chart.show()
    yield renderer, chart
    assert renderer.shutdown()
    assert not running_processes()


def _draw_epochs(qtbot, chart, epochs: int) -> None:
    before = chart._image
    for epoch in range(epochs):
        chart.add_epoch({"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1),
                         "accuracy": 0.8 + 0.05 * epoch, "val_accuracy": 0.78 + 0.05 * epoch})
    qtbot.waitUntil(lambda: chart._image is not None and chart._image is not before,
                    timeout=TIMEOUT)


def test_charts_are_drawn_by_the_figure_process(qtbot, charts, registry):
    renderer, chart = charts
    _draw_epochs(qtbot, chart, 3)
    pid = renderer.child_pid()
    assert pid is not None and pid != os.getpid() and pid in running_processes()
    assert _ink(chart) > 500  # a real drawing came back, not an empty image
    assert chart.message() is None
    assert registry.running() == [JOB_NAME] and JOB_NAME in running_threads()


def test_a_killed_figure_process_shows_a_message_and_the_next_drawing_comes(qtbot, charts):
    renderer, chart = charts
    _draw_epochs(qtbot, chart, 2)
    first = renderer.child_pid()
    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: _dead(first), timeout=TIMEOUT)
    chart.add_epoch({"loss": 0.2, "accuracy": 0.9})  # its drawing finds the process dead
    qtbot.waitUntil(lambda: chart.message() is not None, timeout=TIMEOUT)
    assert "could not be drawn" in chart.message() and "SIGKILL" in chart.message()
    assert not renderer.is_busy()
    _draw_epochs(qtbot, chart, 1)  # the next update: a new process draws it
    assert chart.message() is None and _ink(chart) > 500
    assert renderer.child_pid() not in (None, first) and _gone(first)


def test_a_drawing_that_fails_in_the_process_says_so_and_costs_nothing_else(qtbot, charts):
    renderer, chart = charts
    _draw_epochs(qtbot, chart, 1)
    child = renderer.child_pid()
    chart.set_state(values="not a dict")  # the drawing raises in the child
    qtbot.waitUntil(lambda: chart.message() is not None, timeout=TIMEOUT)
    assert "could not be drawn" in chart.message()
    chart.set_state(values={"loss": [0.5]})
    _draw_epochs(qtbot, chart, 1)
    assert chart.message() is None
    assert renderer.child_pid() == child  # the same process drew on


def test_figures_do_not_supersede_one_another(qtbot, charts):
    """One job, one key per figure: a chart updated all the time does not starve the others."""
    renderer, chart = charts
    confusion, reliability = ConfusionMatrixView(renderer), ReliabilityView(renderer)
    for view in (confusion, reliability):
        qtbot.addWidget(view)
        view.resize(400, 300)
        view.show()
    for epoch in range(30):
        chart.add_epoch({"loss": 1.0 / (epoch + 1), "accuracy": 0.5 + epoch / 100})
    confusion.set_matrix(np.eye(3, dtype=int) * 5, ["a", "b", "c"])
    qtbot.waitUntil(lambda: all(v.rendered_once() for v in (chart, confusion, reliability)),
                    timeout=TIMEOUT)
    assert confusion.layout_info.get("n") == 3  # its own drawing's layout, not another's


def test_closing_ends_the_figure_process_and_the_thread_at_once(qtbot, registry):
    """As the window closes: the registry stops the job, whose stop kills the process, even
    one that does not answer (stopped here) while the thread waits for its drawing."""
    renderer = FigureRenderer(registry)
    chart = TrainingCharts(renderer)
    qtbot.addWidget(chart)
    chart.resize(600, 300)
    chart.show()
    _draw_epochs(qtbot, chart, 2)
    pid = renderer.child_pid()
    os.kill(pid, signal.SIGSTOP)  # it will never answer the next drawing
    chart.add_epoch({"loss": 0.1, "accuracy": 0.95})
    qtbot.waitUntil(renderer.is_drawing, timeout=TIMEOUT)
    assert registry.close_all(2.0)
    assert registry.running() == [] and JOB_NAME not in running_threads()
    assert _gone(pid) and running_processes() == []
    assert not renderer.running()
    chart.add_epoch({"loss": 0.05, "accuracy": 0.97})  # after the end: no new process
    qtbot.wait(100)
    assert renderer.child_pid() is None and running_processes() == []


def _running_state(points: int, epochs_planned: int = 5, peak_loss: float = 2.0) -> dict:
    running = [(i / 20, peak_loss / (1 + i / 10), 0.3 + 0.6 * i / points) for i in range(points)]
    return {"values": {"loss": [0.6], "accuracy": [0.8]}, "running": running,
            "epochs": epochs_planned}


@pytest.mark.parametrize("width", [300, 360, 600, 1200])
def test_the_loss_axis_labels_fit_at_any_width(width):
    """In the training dock (about 360 px at 1280x800) the loss labels read ".00" for "1.00"."""
    from desktop_app.figures.figure_drawings import draw_training_charts
    from desktop_app.figures.figure_process import Drawer

    drawer = Drawer()
    drawer.draw(1, draw_training_charts, _running_state(30, peak_loss=1.0), width, 300, 1.0)
    figure = drawer._figures[1]
    renderer = figure.canvas.get_renderer()
    lefts = [label.get_window_extent(renderer).x0 for label in figure.axes[0].get_yticklabels()
             if label.get_text()]
    assert lefts and min(lefts) >= 0


def test_a_new_running_point_redraws_only_the_curves_and_looks_the_same():
    """While a run trains, a new point of the running curve is drawn onto the kept picture of
    the axes; the result must be the picture a whole new drawing gives."""
    from desktop_app.figures.figure_drawings import draw_training_charts
    from desktop_app.figures.figure_process import Drawer

    kept, fresh = Drawer(), Drawer()
    kept.draw(1, draw_training_charts, _running_state(30), 600, 300, 1.0)
    background = kept._figures[1]._live_curves["background"]
    # 1.5 epochs into a run of 5: the epoch axis spans the whole run from its start
    assert [ax.get_xlim()[1] for ax in kept._figures[1].axes] == [pytest.approx(5.2)] * 2
    state = _running_state(31)
    updated = kept.draw(1, draw_training_charts, state, 600, 300, 1.0)
    assert kept._figures[1]._live_curves["background"] is background  # the axes not redrawn
    whole = fresh.draw(1, draw_training_charts, state, 600, 300, 1.0)
    assert updated[:2] == whole[:2]
    assert np.array_equal(np.frombuffer(updated[2], np.uint8), np.frombuffer(whole[2], np.uint8))
    before = np.frombuffer(kept.draw(1, draw_training_charts, _running_state(30), 600, 300,
                                     1.0)[2], np.uint8)
    assert not np.array_equal(before, np.frombuffer(updated[2], np.uint8))  # the point shows

    # A loss above the axis' top: the axes change, so the whole figure is drawn again.
    kept.draw(1, draw_training_charts, _running_state(31, peak_loss=9.0), 600, 300, 1.0)
    assert kept._figures[1]._live_curves["background"] is not background
