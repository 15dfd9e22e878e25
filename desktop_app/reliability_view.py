"""The reliability diagram of a model, before and after temperature scaling (issue #10).

Each bar is one confidence bin (15 bins, as the ECE): its height is how often the answers given
with that confidence were right; the diagonal is where a calibrated model's bars end. The red
part of a bar is the gap to its mean confidence; bars of few pictures are faint (their height
means little). Above each panel: the expected calibration
error. The data is the sidecar's ``calibration`` block (``training.calibration.calibrate``);
drawn with matplotlib's Agg in the renderer thread, like the other charts of the panel.
"""

from __future__ import annotations

import math

from .figure_renderer import RenderedFigure, RendererThread


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


class ReliabilityView(RenderedFigure):
    """Before / after reliability diagrams with their ECE; ``set_calibration(None)`` says there
    is no calibration (a model saved before this existed, or trained without validation)."""

    def __init__(self, renderer: RendererThread, parent=None):
        super().__init__(renderer, draw_reliability, parent)
        self.setObjectName("reliabilityDiagram")
        self.setMinimumSize(260, 200)
        self._block: dict | None = None
        self.set_calibration(None)

    def set_calibration(self, block: dict | None, empty: str = "") -> None:
        self._block = dict(block) if block else None
        self.set_state(calibration=self._block,
                       empty=empty or "No calibration for this model: it was saved without a "
                                      "validation split or before calibration existed "
                                      "(python -m training calibrate --model M adds it).")
        self.setToolTip(describe(self._block))

    def calibration(self) -> dict | None:
        return self._block


def describe(block: dict | None) -> str:
    """One line for a summary or a tooltip: "ECE 0.29 % → 0.12 % (temperature 1.44)"."""
    if not block:
        return ""
    text = (f"Expected calibration error {_percent(block.get('ece_before'))} → "
            f"{_percent(block.get('ece_after'))}")
    if _finite(block.get("temperature")):
        text += f" (temperature {block['temperature']:.2f}"
        text += ", over-confident before)" if block["temperature"] > 1 else (
            ", under-confident before)" if block["temperature"] < 1 else ")")
    return text


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _percent(value) -> str:
    return f"{value:.2%}" if _finite(value) else "n/a"
