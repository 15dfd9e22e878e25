"""Loss and accuracy per epoch, train and validation: the lecture's two plots, drawn live.

A matplotlib ``Figure`` on ``FigureCanvasQTAgg`` (never pyplot, which keeps global state). The
four lines are created once; new epochs only change their data, and the canvas redraws with
``draw_idle`` so Qt coalesces repaints.
"""

from __future__ import annotations

import time

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

RUNNING_INTERVAL = 0.25  # seconds between two redraws of the moving "current epoch" marker

SERIES = ("loss", "val_loss", "accuracy", "val_accuracy")


class TrainingCharts(FigureCanvasQTAgg):
    def __init__(self, parent=None):
        figure = Figure(figsize=(6, 2.8), layout="constrained")
        super().__init__(figure)
        self.setParent(parent)
        self.setObjectName("trainingCharts")
        self.setMinimumHeight(200)

        self._loss_ax = figure.add_subplot(1, 2, 1)
        self._acc_ax = figure.add_subplot(1, 2, 2)
        self._lines = {}
        for ax, metric, title in ((self._loss_ax, "loss", "Loss"),
                                  (self._acc_ax, "accuracy", "Accuracy")):
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
            self._lines[metric], = ax.plot([], [], "o-", color="tab:blue", label="train")
            self._lines[f"val_{metric}"], = ax.plot([], [], "o-", color="tab:orange",
                                                    label="validation")
            ax.legend(loc="best", fontsize="small")
        # The running (not yet finished) epoch: one hollow marker per axis.
        self._running = {
            "loss": self._loss_ax.plot([], [], "o", mfc="none", color="tab:blue", alpha=0.6)[0],
            "accuracy": self._acc_ax.plot([], [], "o", mfc="none", color="tab:blue",
                                          alpha=0.6)[0],
        }
        self._values = {name: [] for name in SERIES}
        self._last_running = 0.0
        self.reset()

    # -- public API
    def reset(self) -> None:
        for name in SERIES:
            self._values[name] = []
        self._refresh_lines()
        self._clear_running()
        self._rescale()
        self.draw_idle()

    def add_epoch(self, event: dict) -> None:
        """One finished epoch: an ``{"event": "epoch", ...}`` dict from the trainer."""
        for name in SERIES:
            if name in event:
                self._values[name].append(float(event[name]))
        self._refresh_lines()
        self._clear_running()
        self._rescale()
        self.draw_idle()

    def show_running(self, event: dict) -> None:
        """The current epoch's running loss/accuracy (a ``batch`` event); redraws at most
        4 times a second."""
        now = time.monotonic()
        if now - self._last_running < RUNNING_INTERVAL:
            return
        self._last_running = now
        x = event["epoch"] - 1 + event["batch"] / max(1, event["steps"])
        for metric, ax in (("loss", self._loss_ax), ("accuracy", self._acc_ax)):
            if metric in event:
                y = float(event[metric])
                self._running[metric].set_data([x], [y])
                low, high = ax.get_ylim()
                if not low <= y <= high:  # widen only when the marker would be off the chart
                    ax.set_ylim(min(low, y), max(high, y * 1.05))
        self.draw_idle()  # no rescale here: the axes move once per epoch, not per batch

    def set_history(self, history: dict) -> None:
        """Show a whole saved history (``{"loss": [...], "val_loss": [...], ...}``)."""
        for name in SERIES:
            self._values[name] = [float(v) for v in (history or {}).get(name, [])]
        self._refresh_lines()
        self._clear_running()
        self._rescale()
        self.draw_idle()

    def points(self) -> dict[str, list[float]]:
        """The y values drawn for each series (read back from the artists)."""
        return {name: [float(y) for y in self._lines[name].get_ydata()] for name in SERIES}

    # -- helpers
    def _refresh_lines(self) -> None:
        for name, values in self._values.items():
            self._lines[name].set_data(range(1, len(values) + 1), values)

    def _clear_running(self) -> None:
        for marker in self._running.values():
            marker.set_data([], [])

    def _rescale(self) -> None:
        epochs = max((len(v) for v in self._values.values()), default=0)
        for ax in (self._loss_ax, self._acc_ax):
            ax.relim()
            ax.autoscale_view()
            ax.set_xlim(0, epochs + 1.2)  # room for the running epoch to the right
        if not any(self._values.values()):
            self._loss_ax.set_ylim(0, 1)
            self._acc_ax.set_ylim(0, 1.02)
        else:  # accuracy never exceeds 1: keep a full marker visible at the top
            self._acc_ax.set_ylim(top=1.02)
        self._acc_ax.xaxis.get_major_locator().set_params(integer=True)
        self._loss_ax.xaxis.get_major_locator().set_params(integer=True)
