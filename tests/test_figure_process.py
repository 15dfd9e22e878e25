"""Charts are drawn in the figure process (no GIL shared with the window's event loop); a
killed or broken figure process costs no chart, and closing leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from desktop_app.figures import figure_renderer
from desktop_app.figures.figure_renderer import RendererThread
from desktop_app.jobs.threads import running_processes
from desktop_app.views.training_charts import TrainingCharts

TIMEOUT = 60_000  # a figure process starting on a busy machine


def _ink(chart) -> int:
    """How many pixels of the chart on screen are not white (the curves, axes and text)."""
    image = chart._image.convertToFormat(chart._image.Format.Format_RGBA8888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                                image.bytesPerLine())
    return int((pixels[:, : image.width() * 4] < 200).sum())


@pytest.fixture
def charts(qtbot):
    renderer = RendererThread()
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


def test_charts_are_drawn_by_the_figure_process(qtbot, charts):
    renderer, chart = charts
    _draw_epochs(qtbot, chart, 3)
    assert renderer.renderer.uses_process()
    child = renderer.renderer._child
    assert child.pid in running_processes()
    assert _ink(chart) > 500  # a real drawing came back, not an empty image
    renderer.shutdown()
    assert child.poll() is not None  # ended and reaped with its renderer


def test_a_killed_figure_process_is_replaced_and_the_chart_still_comes(qtbot, charts):
    renderer, chart = charts
    _draw_epochs(qtbot, chart, 2)
    first = renderer.renderer._child
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    _draw_epochs(qtbot, chart, 1)  # drawn in the thread this once, then by a new process
    _draw_epochs(qtbot, chart, 1)
    assert renderer.renderer.uses_process() and renderer.renderer._child is not first
    assert _ink(chart) > 500


def test_without_a_working_figure_process_the_thread_draws(qtbot, charts, monkeypatch):
    real_popen = subprocess.Popen

    def broken(args, **kwargs):  # a "figure process" that exits at once
        return real_popen([sys.executable, "-c", "pass"], **kwargs)

    monkeypatch.setattr(figure_renderer.subprocess, "Popen", broken)
    renderer, chart = charts
    for _ in range(figure_renderer.MAX_PROCESS_FAILURES + 1):
        _draw_epochs(qtbot, chart, 1)
        assert _ink(chart) > 500
    assert renderer.renderer._child_failures == figure_renderer.MAX_PROCESS_FAILURES
    assert not renderer.renderer.uses_process()


def test_a_drawing_that_fails_in_the_process_costs_nothing_else(qtbot, charts, caplog):
    renderer, chart = charts
    _draw_epochs(qtbot, chart, 1)
    child = renderer.renderer._child
    chart.set_state(values="not a dict")  # the drawing raises in the child
    qtbot.waitUntil(lambda: "rendering a chart failed" in caplog.text, timeout=TIMEOUT)
    chart.set_state(values={"loss": [0.5]})
    _draw_epochs(qtbot, chart, 1)
    assert renderer.renderer._child is child and child.poll() is None


def _running_state(points: int, epochs_planned: int = 5, peak_loss: float = 2.0) -> dict:
    running = [(i / 20, peak_loss / (1 + i / 10), 0.3 + 0.6 * i / points) for i in range(points)]
    return {"values": {"loss": [0.6], "accuracy": [0.8]}, "running": running,
            "epochs": epochs_planned}


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
