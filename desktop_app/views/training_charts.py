"""Loss and accuracy, train and validation: the lecture's two plots, drawn live.

The widget keeps plain data; ``draw_training_charts`` draws it into a matplotlib ``Figure`` in the
figure process (figure_renderer.py), so a redraw never stalls the GUI. Besides one point per
finished epoch, the running loss and accuracy of the batches draw a thin line, so a two-epoch run
shows a curve, not two dots. Accuracy is in %, as the rest of the app speaks.
"""

from __future__ import annotations

import time

from desktop_app.figures.figure_drawings import draw_training_charts
from desktop_app.figures.figure_renderer import FigureRenderer, RenderedFigure

RUNNING_INTERVAL = 0.5   # seconds between two points of the running (per-batch) curve: each
#                          point redraws the curves (~7 ms of CPU the training would otherwise
#                          have; ~60 ms when the axes change and the whole figure is drawn)
MAX_RUNNING_POINTS = 1500
SERIES = ("loss", "val_loss", "accuracy", "val_accuracy")


class TrainingCharts(RenderedFigure):
    def __init__(self, renderer: FigureRenderer, parent=None):
        super().__init__(renderer, draw_training_charts, parent)
        self.setObjectName("trainingCharts")
        self.setMinimumSize(320, 200)
        self._values = {name: [] for name in SERIES}
        self._running: list[tuple[float, float, float]] = []
        self._planned_epochs = 0  # of the run in progress: the x axis spans it from the start
        self._last_running = 0.0
        self.reset()

    # -- public API
    def reset(self) -> None:
        self._values = {name: [] for name in SERIES}
        self._running = []
        self._planned_epochs = 0
        self._update()

    def add_epoch(self, event: dict) -> None:
        """One finished epoch: an ``{"event": "epoch", ...}`` dict from the trainer."""
        for name in SERIES:
            if isinstance(event.get(name), (int, float)):
                self._values[name].append(float(event[name]))
        self._update()

    def show_running(self, event: dict) -> None:
        """A ``batch`` event: one point of the running curve, at most 2 a second."""
        if isinstance(event.get("epochs"), int):
            self._planned_epochs = event["epochs"]
        now = time.monotonic()
        if now - self._last_running < RUNNING_INTERVAL and event["batch"] < event["steps"]:
            return
        self._last_running = now
        x = event["epoch"] - 1 + event["batch"] / max(1, event["steps"])
        loss, accuracy = event.get("loss"), event.get("accuracy")
        if isinstance(loss, (int, float)) and isinstance(accuracy, (int, float)):
            self._running.append((x, float(loss), float(accuracy)))
            if len(self._running) > MAX_RUNNING_POINTS:
                self._running = self._running[::2]  # keep the shape, halve the points
            self._update()

    def set_history(self, history: dict, this_run: bool = False) -> None:
        """Show a whole history (``{"loss": [...], "val_loss": [...], ...}``). ``this_run``: the
        history of the run just drawn live, whose per-batch curve and axis stay (a saved
        model's history has no per-batch curve)."""
        self._values = {name: [float(v) for v in (history or {}).get(name, [])
                               if isinstance(v, (int, float))] for name in SERIES}
        if not this_run:
            self._running = []
            self._planned_epochs = 0
        self._update()

    def running_points(self) -> int:
        """How many points the per-batch curve has."""
        return len(self._running)

    def points(self) -> dict[str, list[float]]:
        """The per-epoch values drawn for each series (accuracy as a fraction)."""
        return {name: list(values) for name, values in self._values.items()}

    def _update(self) -> None:
        self.set_state(values=self._values, running=self._running, epochs=self._planned_epochs)
