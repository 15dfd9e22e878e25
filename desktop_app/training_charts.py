"""Loss and accuracy per epoch, train and validation: the lecture's two plots, drawn live.

A matplotlib ``Figure`` on ``FigureCanvasQTAgg`` (never pyplot, which keeps global state). The
four lines are created once; a finished epoch only changes their data, rescales the axes and asks
for one ``draw_idle``. The running value of the current epoch is a marker drawn by blitting
(restore the saved background, draw the marker, blit the axes), a few milliseconds instead of a
full redraw: while training, every millisecond the UI thread holds the GIL is taken from the
training loop and from the live canvas.
"""

from __future__ import annotations

import time

from matplotlib.figure import Figure

from .figure_canvas import LazyFigureCanvas

RUNNING_INTERVAL = 0.25  # seconds between two updates of the moving "current epoch" marker

SERIES = ("loss", "val_loss", "accuracy", "val_accuracy")

# Margins in pixels, applied on resize instead of a layout engine (constrained layout doubles
# the cost of every draw: ~85 ms instead of ~45 ms here).
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_BOTTOM, MARGIN_TOP, GAP = 52, 12, 48, 26, 58


class TrainingCharts(LazyFigureCanvas):
    def __init__(self, parent=None):
        figure = Figure(figsize=(6, 2.8))
        super().__init__(figure)
        self.setParent(parent)
        self.setObjectName("trainingCharts")
        self.setMinimumSize(320, 200)

        self._loss_ax = figure.add_subplot(1, 2, 1)
        self._acc_ax = figure.add_subplot(1, 2, 2)
        self._lines = {}
        self._running = {}
        for ax, metric, title, corner in ((self._loss_ax, "loss", "Loss", "upper right"),
                                          (self._acc_ax, "accuracy", "Accuracy", "lower right")):
            ax.set_title(title, fontsize="medium")
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
            self._lines[metric], = ax.plot([], [], "o-", color="tab:blue", label="train")
            self._lines[f"val_{metric}"], = ax.plot([], [], "o-", color="tab:orange",
                                                    label="validation")
            ax.legend(loc=corner, fontsize="small")  # a fixed corner: "best" is costly
            # The running (unfinished) epoch: a hollow marker, animated = left out of full draws
            # and blitted on top of the saved background.
            self._running[metric], = ax.plot([], [], "o", mfc="none", color="tab:blue",
                                             alpha=0.7, animated=True)
        self._values = {name: [] for name in SERIES}
        self._backgrounds = None
        self._stale = False
        self._last_running = 0.0
        self.mpl_connect("draw_event", self._on_draw)
        self.reset()

    # -- public API
    def reset(self) -> None:
        for name in SERIES:
            self._values[name] = []
        self._update()

    def add_epoch(self, event: dict) -> None:
        """One finished epoch: an ``{"event": "epoch", ...}`` dict from the trainer."""
        for name in SERIES:
            if name in event:
                self._values[name].append(float(event[name]))
        self._update()

    def show_running(self, event: dict) -> None:
        """The current epoch's running loss/accuracy (a ``batch`` event dict); at most
        4 updates a second, blitted."""
        now = time.monotonic()
        if now - self._last_running < RUNNING_INTERVAL:
            return
        self._last_running = now
        x = event["epoch"] - 1 + event["batch"] / max(1, event["steps"])
        full_redraw = False
        for metric, ax in (("loss", self._loss_ax), ("accuracy", self._acc_ax)):
            if metric in event:
                y = float(event[metric])
                self._running[metric].set_data([x], [y])
                low, high = ax.get_ylim()
                if not low <= y <= high:  # widen only when the marker would be off the chart
                    pad = 0.05 * (high - low)
                    ax.set_ylim(min(low, y - pad), max(high, y + pad), auto=True)
                    full_redraw = True
        if full_redraw or self._backgrounds is None:
            self._redraw()
        elif self.isVisible():
            self._blit_running()

    def set_history(self, history: dict) -> None:
        """Show a whole saved history (``{"loss": [...], "val_loss": [...], ...}``)."""
        for name in SERIES:
            self._values[name] = [float(v) for v in (history or {}).get(name, [])]
        self._update()

    def points(self) -> dict[str, list[float]]:
        """The y values drawn for each series (read back from the artists)."""
        return {name: [float(y) for y in self._lines[name].get_ydata()] for name in SERIES}

    # -- drawing
    def _update(self) -> None:
        for name, values in self._values.items():
            self._lines[name].set_data(range(1, len(values) + 1), values)
        for marker in self._running.values():
            marker.set_data([], [])
        self._rescale()
        self._redraw()

    def _on_draw(self, _event) -> None:
        # After each full draw: keep the background for blitting, then paint the markers on it.
        self._backgrounds = [self.copy_from_bbox(ax.bbox) for ax in (self._loss_ax, self._acc_ax)]
        for metric, ax in (("loss", self._loss_ax), ("accuracy", self._acc_ax)):
            ax.draw_artist(self._running[metric])

    def _blit_running(self) -> None:
        for background, metric, ax in zip(self._backgrounds, ("loss", "accuracy"),
                                          (self._loss_ax, self._acc_ax)):
            self.restore_region(background)
            ax.draw_artist(self._running[metric])
            self.blit(ax.bbox)

    def _rescale(self) -> None:
        epochs = max((len(v) for v in self._values.values()), default=0)
        for ax in (self._loss_ax, self._acc_ax):
            ax.relim(visible_only=True)
            ax.autoscale_view()
            ax.set_xlim(0, epochs + 1.2)  # room for the running epoch to the right
            ax.xaxis.get_major_locator().set_params(integer=True)
        if not any(self._values.values()):
            self._loss_ax.set_ylim(0, 1, auto=True)  # auto: the next epoch rescales again
            self._acc_ax.set_ylim(0, 1.02, auto=True)
        else:  # accuracy never exceeds 1: keep a full marker visible at the top
            self._acc_ax.set_ylim(top=1.02, auto=True)

    def _place_axes(self) -> None:
        width, height = max(self.width(), 1), max(self.height(), 1)
        axes_w = max(10, (width - MARGIN_LEFT - MARGIN_RIGHT - GAP) / 2)
        axes_h = max(10, height - MARGIN_BOTTOM - MARGIN_TOP)
        for i, ax in enumerate((self._loss_ax, self._acc_ax)):
            left = MARGIN_LEFT + i * (axes_w + GAP)
            ax.set_position([left / width, MARGIN_BOTTOM / height, axes_w / width,
                             axes_h / height])

    # -- Qt events
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._backgrounds = None  # saved for the old size
        self._place_axes()

