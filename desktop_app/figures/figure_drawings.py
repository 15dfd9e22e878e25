"""The drawings of the app's matplotlib charts: ``draw(figure, state) -> layout``.

Plain functions of plain data, with no Qt: they run in the figure process
(``figure_process.py``), a child of the window, so a chart being drawn never holds the window's
GIL (drawn in a thread of the window they stalled its event loop up to 90 ms while a model
trained). ``layout`` is what the widget needs back (e.g. where the cells are, for hover).
The figure process clears the figure before a drawing and renders it after, except for a
drawing marked ``renders_itself``, which keeps what it drew and redraws only what changed.
"""

from __future__ import annotations

import math

import numpy as np

BASE_DPI = 100


def draw_training_charts(figure, state: dict) -> dict:
    """Loss and accuracy per epoch, with the running curve of the batches.

    Draws itself (``renders_itself``): while a run trains, a new point of the running curve
    changes only the curves, so when the axes (limits, legend, size) stay as they were, the
    curves are drawn again onto the saved picture of the axes (a few ms) instead of drawing
    the whole figure again (~60 ms of a core the training would otherwise have).
    """
    frame = _training_frame(state, figure)
    live = getattr(figure, "_live_curves", None)
    if live is None or live["frame"] != frame:
        live = figure._live_curves = _draw_training_frame(figure, state, frame)
    else:
        figure.canvas.restore_region(live["background"])
    for metric, lines in live["lines"].items():
        for name, line in lines.items():
            line.set_data(*_curve(state, metric, name))
    for ax, lines, legend in live["axes"]:
        for line in lines:
            ax.draw_artist(line)
        if legend is not None:
            ax.draw_artist(legend)
    return {}


draw_training_charts.renders_itself = True


def _curve(state: dict, metric: str, name: str) -> tuple[list, list]:
    """x and y of one curve: ``name`` is "running" or a series of ``values``."""
    scale = 100 if metric == "accuracy" else 1
    if name == "running":
        column = 1 if metric == "loss" else 2
        running = state.get("running", [])
        return [point[0] for point in running], [point[column] * scale for point in running]
    ys = [v * scale for v in state.get("values", {}).get(name, [])]
    return list(range(1, len(ys) + 1)), ys


def _training_frame(state: dict, figure) -> tuple:
    """What the axes show besides the curves: when it changes, the whole figure is drawn."""
    values = state.get("values", {})
    running = state.get("running", [])
    epochs = max((len(v) for v in values.values()), default=0)
    last_x = max([epochs, state.get("epochs") or 0] + [x for x, _, _ in running])
    losses = [v for name in ("loss", "val_loss") for v in values.get(name, [])]
    accuracies = [v for name in ("accuracy", "val_accuracy") for v in values.get(name, [])]
    losses += [loss for _, loss, _ in running]
    accuracies += [accuracy for _, _, accuracy in running]
    losses = [v for v in losses if math.isfinite(v)]
    accuracies = [100 * v for v in accuracies if math.isfinite(v)]
    loss_top = _nice_ceiling(max(losses) * 1.05) if losses else 1.0
    accuracy_bottom = min(90.0, 10.0 * math.floor(min(accuracies) / 10)) if accuracies else 0.0
    shown = tuple(name for name in ("running", *SERIES_NAMES)
                  if (running if name == "running" else values.get(name)))
    return (max(1.0, last_x) + 0.2, loss_top, accuracy_bottom, shown,
            tuple(figure.bbox.size), figure.dpi)


SERIES_NAMES = ("loss", "val_loss", "accuracy", "val_accuracy")


LABEL_MARGIN_PX = 42  # left of the loss axis: room for its tick labels


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten >= ``value``:
    the loss axis grows in a few steps, not at every point."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def _draw_training_frame(figure, state: dict, frame: tuple) -> dict:
    """Draw the axes without the curves, keep that picture; the curves are drawn on it."""
    x_right, loss_top, accuracy_bottom, shown = frame[:4]
    figure.clear()
    loss_ax, acc_ax = figure.subplots(1, 2)
    # The loss axis' labels ("1.00") need ~40 px whatever the width: 9 % of the training dock's
    # 360 px cut them to ".00".
    left = min(0.3, max(0.09, LABEL_MARGIN_PX / (figure.get_figwidth() * figure.dpi)))
    figure.subplots_adjust(left=left, right=0.98, bottom=0.17, top=0.88, wspace=0.28)
    live = {"lines": {}, "axes": []}
    for ax, metric, title, limits, corner in (
            (loss_ax, "loss", "Loss", (0, loss_top), "upper right"),
            (acc_ax, "accuracy", "Accuracy (%)", (accuracy_bottom, 100.5), "lower right")):
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        lines = {}
        if "running" in shown:
            lines["running"], = ax.plot([], [], "-", color="tab:blue", alpha=0.35,
                                        linewidth=1, label="train (running)", animated=True)
        for name, colour, label in ((metric, "tab:blue", "train"),
                                    (f"val_{metric}", "tab:orange", "validation")):
            if name in shown:
                lines[name], = ax.plot([], [], "o-", color=colour, label=label, animated=True)
        ax.set_xlim(0, x_right)
        ax.set_ylim(*limits)
        ax.xaxis.get_major_locator().set_params(integer=True)
        legend = ax.legend(loc=corner, fontsize="small") if lines else None
        if legend is not None:
            legend.set_animated(True)  # drawn over the curves, after them
        live["lines"][metric] = lines
        live["axes"].append((ax, list(lines.values()), legend))
    figure.canvas.draw()  # everything but the animated curves and legends
    live["background"] = figure.canvas.copy_from_bbox(figure.bbox)
    live["frame"] = frame
    return live


def draw_confusion(figure, state: dict) -> dict:
    """The matrix as a heat map sized to its counts: the cell text shrinks to fit its cell, and
    shows counts or each row's percentages. Returns where the cells are, for hover look-ups."""
    matrix = np.asarray(state.get("matrix", np.zeros((0, 0))), np.int64)
    names = state.get("names", [])
    width_px, height_px = figure.get_size_inches() * BASE_DPI
    if matrix.size == 0:
        figure.text(0.5, 0.5, "No results yet", ha="center", va="center", color="gray")
        return {}
    n = len(matrix)
    longest = max(map(len, names), default=1)
    # Room for the labels (rotated when long), then the largest square that fits.
    left = 30 + min(longest, 12) * 6.5
    bottom = 30 + (min(longest, 12) * 4.6 if longest > 2 else 14)
    side = max(40.0, min(width_px - left - 12, height_px - bottom - 12))
    ax = figure.add_axes([left / width_px, bottom / height_px, side / width_px,
                          side / height_px])
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    label_size = max(6.0, min(10.0, side / n / 4))
    ax.set_xticks(range(n), names, rotation=40 if longest > 2 else 0,
                  ha="right" if longest > 2 else "center", fontsize=label_size)
    ax.set_yticks(range(n), names, fontsize=label_size)
    ax.set_xlabel("predicted", fontsize=label_size + 1)
    ax.set_ylabel("true", fontsize=label_size + 1)
    percent = state.get("percent", False)
    texts = {(r, c): (f"{shares[r, c]:.0%}" if percent else str(matrix[r, c]))
             for (r, c), count in np.ndenumerate(matrix) if count}
    chars = max((len(t) for t in texts.values()), default=1)
    cell_pt = side / n * 72 / BASE_DPI
    font = max(4.5, min(11.0, cell_pt * 0.85 / (0.62 * max(chars, 2))))
    for (r, c), text in texts.items():
        ax.text(c, r, text, ha="center", va="center", fontsize=font,
                color="white" if shares[r, c] > 0.5 else "black")
    return {"axes": (left, height_px - bottom - side, side, side), "n": n}


def draw_reliability(figure, state: dict) -> dict:
    block = state.get("calibration")
    if not block:
        figure.text(0.5, 0.5, state.get("empty", "No calibration for this model"),
                    ha="center", va="center", color="gray", wrap=True)
        return {}
    panels = figure.subplots(1, 2, sharey=True)
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.25, top=0.80, wspace=0.1)
    temperature = block.get("temperature")
    for ax, key, ece, title in (
            (panels[0], "reliability_before", block.get("ece_before"), "Before"),
            (panels[1], "reliability_after", block.get("ece_after"),
             f"After (T = {temperature:.2f})" if _finite(temperature) else "After")):
        table = block.get(key) or {}
        bins = int(table.get("bins") or 0)
        width = 1.0 / bins if bins else 0.0
        counts = [n or 0 for n in table.get("count", [])]
        most = math.log1p(max(counts, default=0)) or 1.0
        for i, (n, conf, acc) in enumerate(zip(counts, table.get("confidence", []),
                                               table.get("accuracy", []))):
            if not n or conf is None or acc is None:
                continue
            left = i * width
            weight = 0.2 + 0.8 * math.log1p(n) / most  # a bin of 3 pictures says little: faint
            ax.bar(left, acc, width=width, align="edge", color="tab:blue", alpha=0.85 * weight,
                   edgecolor="white", linewidth=0.5)
            low, high = sorted((acc, conf))
            ax.bar(left, high - low, bottom=low, width=width, align="edge", color="tab:red",
                   alpha=0.45 * weight, edgecolor="none")
        ax.plot([0, 1], [0, 1], "--", color="gray", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence", fontsize="small", labelpad=1)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "", "0.5", "", "1"])
        ax.tick_params(labelsize="small")
        ax.set_title(f"{title}\nECE {_percent(ece)}", fontsize="small")
        ax.grid(True, alpha=0.25)
    panels[0].set_ylabel("accuracy", fontsize="small")
    where = block.get("evaluated_on")
    fitted = block.get("fitted_on")
    figure.suptitle(f"Reliability on the {where}" if where else "Reliability", fontsize="small")
    if fitted:
        figure.text(0.5, 0.01, f"temperature fitted on the {fitted}\nred: the gap to the "
                    "mean confidence; faint: bins of few pictures", ha="center", va="bottom",
                    fontsize="x-small", color="dimgray", linespacing=1.1)
    return {}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _percent(value) -> str:
    return f"{value:.2%}" if _finite(value) else "n/a"


DRAWINGS = {draw.__name__: draw for draw in (draw_training_charts, draw_confusion,
                                             draw_reliability)}
