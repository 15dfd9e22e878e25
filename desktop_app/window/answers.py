"""What the window shows for a picture: the answer line, the chart and the model input (one
digit, or a number read digit by digit), the saliency overlay, and the answer of the model just
trained pinned to one of its misclassified test pictures until the user draws."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.jobs.latest import LatestJob
from desktop_app.prediction.prediction_controller import Explanation
from desktop_app.prediction.requests import Classification, NumberReading
from desktop_app.texts import (
    BLANK,
    CANNOT_CLASSIFY,
    LOADING,
    NO_MODEL,
    NUMBER_TIP,
    answer_text,
    number_text,
    pinned_tip,
)
from training.core.datasets import dataset_info

if TYPE_CHECKING:
    import numpy as np

    from desktop_app.window.trained_answer import TrainedAnswer


class AnswersMixin:
    """MainWindow's answers (its prediction label, chart, model input view and ``_pinned``)."""

    def _show_sample_of(self, image: np.ndarray, dataset: str) -> None:
        """A misclassified test picture from the results: shown with the answer of the model
        that got it wrong (the trained one), until the user draws."""
        if dataset != self.controller.dataset:
            self._select_dataset_in_combo(dataset)
            self.controller.set_dataset(dataset)
        self._pinned = self._trained_model_answer(image)
        self._show_model_line()
        self._show_sample(image)
        if self._pinned is not None:
            self.show_info("Showing the answer of the model just trained, which got this "
                           "picture wrong; draw to see the model in use.")

    def _show_new_sample(self, image: np.ndarray) -> None:
        self._pinned = None
        self._show_model_line()
        self._show_sample(image)

    def _trained_model_answer(self, image: np.ndarray) -> dict | None:
        """Ask the model just trained about ``image`` (its answer follows from its thread);
        the pinned answer, still without probabilities, or None without such a model."""
        result = self.training_panel.last_result() if self.training_panel else None
        if result is None or not result.path:
            return None
        from desktop_app.window.trained_answer import TrainedAnswerer, TrainedAnswerRequest
        from training.modelfile.sidecar import tflite_path

        if self._trained_answers is None:  # most sessions never ask: made on first use
            self._trained_answers = LatestJob("trained-model-answer", TrainedAnswerer().compute,
                                              self.jobs, parent=self)
            self._trained_answers.done.connect(self._trained_model_answered)
        self._pin_request += 1
        self._trained_answers.submit(TrainedAnswerRequest(
            self._pin_request, str(tflite_path(result.path)), image))
        name = (result.metadata or {}).get("display_name") or Path(result.path).stem
        return {"id": self._pin_request, "probabilities": None, "verdict": None,
                "names": list(result.class_names), "who": "the model just trained",
                "model_line": f"Answer of the model just trained: {name}"}

    def _trained_model_answered(self, reply: TrainedAnswer) -> None:
        if self._pinned is None or self._pinned["id"] != reply.id:
            return
        if reply.probabilities is None:
            self._unpin()  # then the canvas's own model answers, as usual
            return
        self._pinned = {**self._pinned, "probabilities": reply.probabilities,
                        "verdict": reply.verdict}
        self.controller.picture_changed()  # shown as the canvas's answer would be

    def _unpin(self) -> None:
        if self._pinned is not None:
            self._pinned = None
            self._show_model_line()
            self.controller.picture_changed()

    def _show_result(self, reply: Classification) -> None:
        chart = self.chart  # None for the first few hundred ms: the label is shown regardless
        pinned = self._pinned
        if pinned is not None and not reply.blank:
            if pinned["probabilities"] is None:
                return  # the answer of the model just trained follows from its thread
            reply = reply._replace(probabilities=pinned["probabilities"])
        probabilities = reply.probabilities
        # Several digits side by side: their reading follows from its own thread (numberRead).
        # Meanwhile a number on display stays, so the chart does not flicker between modes
        # (a pinned answer is another model's for one picture: no number).
        self._number_awaited = reply.number_candidate and pinned is None
        self._last_probabilities = probabilities
        self._last_input = reply.input
        if self._number_awaited and self._last_number is not None and probabilities is not None:
            return  # the number's digits stay on view until its new reading arrives
        self._last_number = None
        if reply.blank:
            self.prediction_label.setText(BLANK)
            self.model_input.set_array(None)
            if chart is not None:
                chart.set_probabilities(None)
            return
        if reply.error is not None:
            self.show_message(reply.error)
        self.model_input.set_array(reply.input)
        if chart is not None:
            chart.set_probabilities(probabilities)
        if probabilities is None:
            self.prediction_label.setText(
                CANNOT_CLASSIFY if reply.error is not None
                else LOADING if self.controller.is_loading() else NO_MODEL)
            return
        info = self.controller.model()
        names = (pinned["names"] if pinned else (info.class_names if info else None)
                 or list(dataset_info(self.controller.dataset).class_names))
        # The worker's verdict: calibrated probabilities and the out-of-distribution check
        # (training.runtime.answer_check.AnswerCheck); a pinned answer has its own. A reply
        # without one (no check loaded) gets the cut of a model without calibration.
        verdict = reply.verdict if pinned is None else pinned["verdict"]
        if verdict is None:
            from training.runtime.answer_check import AnswerCheck  # loaded with the model

            verdict = AnswerCheck().verdict(probabilities, None)
        text, tip = answer_text(probabilities, names, verdict, self.controller.dataset)
        self.prediction_label.setText(text)
        self.prediction_label.setToolTip(pinned_tip(pinned["who"]) if pinned else tip)

    def _show_number(self, reply: NumberReading) -> None:
        """The reading of a drawing flagged as maybe several digits: a number ("2026 — 94%",
        the chance that every digit is right; one chart column per digit), or one digit after
        all (back to the bars)."""
        number = reply.number
        if not self._number_awaited or self._last_probabilities is None:
            return  # the drawing has changed into one that is not a number since
        if number is None:
            if self._last_number is not None:  # it was a number, now it reads as one digit
                self._last_number = None
                self._show_result(Classification(reply.seq, reply.dataset,
                                                 input=self._last_input,
                                                 probabilities=self._last_probabilities))
            return
        self._last_number = number
        # every digit, as the model saw it
        self.model_input.set_digits([d.model_input for d in number.digits])
        if self.chart is not None:
            self.chart.set_number([d.probabilities for d in number.digits],
                                  self._last_probabilities)
        self.prediction_label.setText(number_text(number))
        self.prediction_label.setToolTip(NUMBER_TIP)

    def _show_saliency(self, reply: Explanation) -> None:
        if self.saliency_action.isChecked():
            self.canvas.set_overlay(reply.overlay)
