"""The reliability diagram of a model, before and after temperature scaling (issue #10).

Each bar is one confidence bin (15 bins, as the ECE): its height is how often the answers given
with that confidence were right; the diagonal is where a calibrated model's bars end. The red
part of a bar is the gap to its mean confidence; bars of few pictures are faint (their height
means little). Above each panel: the expected calibration
error. The data is the sidecar's ``calibration`` block (``training.runtime.calibration.calibrate``);
drawn with matplotlib's Agg in the figure process, like the other charts of the panel.
"""

from __future__ import annotations

from desktop_app.figures.figure_drawings import _finite, _percent, draw_reliability
from desktop_app.figures.figure_renderer import FigureRenderer, RenderedFigure


class ReliabilityView(RenderedFigure):
    """Before / after reliability diagrams with their ECE; ``set_calibration(None)`` says there
    is no calibration (a model saved before this existed, or trained without validation)."""

    def __init__(self, renderer: FigureRenderer, parent=None):
        super().__init__(renderer, draw_reliability, parent)
        self.setObjectName("reliabilityDiagram")
        self.setMinimumSize(260, 200)
        self._block: dict | None = None
        self.set_calibration(None)

    def set_calibration(self, block: dict | None, empty: str = "",
                        ood: dict | None = None) -> None:
        """``block``: the sidecar's ``calibration``; ``ood``: its ``ood`` block, whose measured
        rates go in the tooltip. Every model trained here has both (issue #20): without
        ``block`` the model predates calibration, or its measuring was skipped."""
        self._block = dict(block) if block else None
        self.set_state(calibration=self._block,
                       empty=empty or "No calibration for this model: it was saved before "
                                      "calibration existed, or a new run started before it "
                                      "was measured.")
        self.setToolTip("\n".join(filter(None, (describe(self._block), describe_ood(ood)))))

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


def describe_ood(block: dict | None) -> str:
    """One line on the "doesn't look like" check: where it was fitted and what it measured."""
    if not isinstance(block, dict):
        return ""
    measured = block.get("measured") if isinstance(block.get("measured"), dict) else {}
    text = "Check for pictures unlike the training data"
    if isinstance(block.get("held_out"), str):
        text += f" (fitted on the {block['held_out']})"
    if _finite(measured.get("rejected")):
        text += (f": rejects {_percent(measured['rejected'])} of the {measured.get('on', 'test')}"
                 f" pictures, flags {_percent(measured.get('unsure_or_rejected'))} as unusual")
    return text
