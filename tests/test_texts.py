"""The words the window shows (desktop_app/texts.py): pure functions, tested without Qt."""

from __future__ import annotations

import math

import numpy as np

from desktop_app import texts
from training.runtime.answer_check import AnswerCheck
from training.runtime.numbers import Box, DigitReading, NumberReading

DIGITS = [str(i) for i in range(10)]
GARMENTS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
            "Bag", "Ankle boot"]


def probabilities(top: int, p: float, second: int | None = None) -> np.ndarray:
    out = np.full(10, (1 - p) / 9, np.float32)
    out[top] = p
    if second is not None:  # the runner-up: a close second
        out[:] = (1 - p - 0.8 * p) / 8
        out[top], out[second] = p, 0.8 * p
    return out


def test_a_sure_answer_names_the_class_and_its_probability():
    assert texts.answer_text(probabilities(7, 0.98), DIGITS, "ok", "mnist") == ("7 — 98%", "")


def test_an_unsure_answer_names_the_two_likeliest_classes():
    text, tip = texts.answer_text(probabilities(7, 0.45, second=1), DIGITS, "unsure", "mnist")
    assert text == "Not sure: 7 or 1"
    assert tip == ""


def test_a_rejected_picture_says_what_it_does_not_look_like_and_why_in_the_tip():
    text, tip = texts.answer_text(probabilities(3, 0.9), DIGITS, "reject", "mnist")
    assert text == "That doesn't look like a digit"
    assert "(3, 90%)" in tip and "unlike every picture" in tip
    text, _ = texts.answer_text(probabilities(8, 0.9), GARMENTS, "reject", "fashion_mnist")
    assert text == "That doesn't look like a garment"


def test_the_class_names_are_the_models_own():
    text, _ = texts.answer_text(probabilities(9, 0.4, second=7), GARMENTS, "unsure",
                                "fashion_mnist")
    assert text == "Not sure: Ankle boot or Sneaker"


def test_the_verdict_of_a_model_without_calibration_is_the_runtimes_cut():
    """The window keeps no threshold of its own: a reply without a verdict is judged by
    AnswerCheck, whose cut for an uncalibrated model is LEGACY_NOT_SURE_BELOW."""
    cut = AnswerCheck.LEGACY_NOT_SURE_BELOW
    below, above = probabilities(2, cut - 0.01), probabilities(2, cut + 0.01)
    assert AnswerCheck().verdict(below, None) == "unsure"
    assert AnswerCheck().verdict(above, None) == "ok"
    assert not hasattr(texts, "NOT_SURE_BELOW")


def test_a_number_reads_as_its_digits_and_the_chance_all_are_right():
    def digit(label: int, confidence: float) -> DigitReading:
        return DigitReading(label, list(probabilities(label, confidence)), Box(0, 0, 1, 1),
                            np.zeros((28, 28), np.float32))

    reading = NumberReading([digit(2, 0.97), digit(0, 1.0), digit(2, 0.97), digit(6, 1.0)])
    assert texts.number_text(reading) == "2026 — 94%"  # 0.97 * 0.97: both 2s right


def test_numbers_not_known_read_n_a():
    assert texts.percent(0.98765) == "98.77%"
    assert texts.percent(0.98765, 1) == "98.8%"
    assert texts.percent(None) == "n/a"
    assert texts.percent(math.nan) == "n/a"
    assert texts.number(0.123456) == "0.1235"
    assert texts.number(math.inf) == "n/a"
    assert texts.duration(75.9) == "1:15"
    assert texts.duration(None) == "0:00"
    assert texts.duration(-3) == "0:00"


def test_training_progress_names_the_epoch_time_left_loss_and_accuracy():
    event = {"event": "batch", "epoch": 2, "epochs": 5, "batch": 10, "steps": 469,
             "eta_seconds": 125, "loss": 0.2345678, "accuracy": 0.9312}
    assert texts.training_progress_text(event) == (
        "Epoch 2/5 · batch %v/%m · ETA 2:05 · loss 0.2346 · accuracy 93.1%")
    event.update(loss=math.nan, eta_seconds=None)
    assert "ETA 0:00 · loss n/a" in texts.training_progress_text(event)


def test_teaching_progress_names_the_phase_the_fold_and_the_seconds_left():
    assert texts.teach_progress_text({"phase": "final", "step": 40, "steps": 200,
                                      "eta_seconds": 12.4}) == (
        "Teaching: step 40 of 200 · 12 s left")
    assert texts.teach_progress_text({"phase": "cross_validation", "fold": 3, "step": 5,
                                      "steps": 9}) == (
        "Measuring on held-out samples 3: step 5 of 9")
    assert texts.teach_progress_text({"phase": "reading", "step": 0, "steps": 9,
                                      "eta_seconds": 30.2}) == (
        "Reading the pictures · 30 s left")
    assert texts.teach_progress_text({"phase": "saving", "step": 9, "steps": 9,
                                      "eta_seconds": 4}) == (
        "Saving and checking the taught model · 4 s left")


def test_a_download_shows_megabytes():
    assert texts.download_text("train.gz", 2_500_000, 9_900_000) == (
        "Downloading train.gz: 2.5 of 9.9 MB")
    assert texts.download_text("train.gz", 2_500_000, 0) == "Downloading train.gz: 2.5 MB"


def test_status_texts():
    assert texts.model_status_text("mnist_cnn", "mnist", 0.99123) == (
        "mnist_cnn (MNIST, 99.12% on the test set)")
    assert texts.model_status_text("mnist_cnn", "mnist", None) == "mnist_cnn (MNIST)"
    assert texts.settings_problems_text(["brush size", "pen"]) == (
        "Some saved settings were unusable and were reset to their defaults: brush size, pen.")
    assert texts.exported_text(["/out/m.keras", "/out/m.tflite"]) == (
        "Exported to /out: m.keras, m.tflite (the .json describes the input and the classes)")
    assert texts.lite_only_text("m.tflite", "teach") == (
        "m.tflite is a LiteRT file only; open its .keras to teach it.")
