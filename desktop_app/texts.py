"""The words the window shows, as pure functions (no Qt): the answer, the progress of a training
or a teaching run, and the status bar's messages. The widgets only put these strings on screen,
so what the user reads is tested without a window (tests/test_texts.py)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from training.core.datasets import dataset_title

if TYPE_CHECKING:  # for the annotation only
    from training.runtime.numbers import NumberReading

BLANK = "Draw something"
LOADING = "Loading model…"
NO_MODEL = "No model to read it yet"  # the status bar says why (e.g. a classifier not trained)
CANNOT_CLASSIFY = "Cannot classify"
UNLIKE = {"mnist": "a digit", "fashion_mnist": "a garment"}  # "That doesn't look like …"
NUMBER_TIP = "A number: each digit's probabilities are in the chart; the % is the chance all " \
             "digits are right"


# ------------------------------------------------------------------------------ numbers
def finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def percent(value, digits: int = 2) -> str:
    """A share as a percentage; "n/a" for null (NaN in the child: e.g. no test pictures)."""
    return f"{value:.{digits}%}" if finite(value) else "n/a"


def number(value) -> str:
    return f"{value:.4f}" if finite(value) else "n/a"


def duration(seconds) -> str:
    """m:ss; 0:00 for a time not known."""
    seconds = max(0, int(seconds)) if finite(seconds) else 0
    return f"{seconds // 60}:{seconds % 60:02d}"


# ------------------------------------------------------------------------------ the answer
def answer_text(probabilities: Sequence[float], names: Sequence[str], verdict: str,
                dataset: str) -> tuple[str, str]:
    """(the answer line, its tooltip) for one picture's probabilities and the verdict of
    training.runtime.answer_check ("ok", "unsure" or "reject")."""
    order = sorted(range(len(probabilities)), key=lambda i: probabilities[i], reverse=True)
    first = order[0]
    if verdict == "reject":
        return (f"That doesn't look like {UNLIKE.get(dataset, 'any of my classes')}",
                f"The picture is unlike every picture the model learned from, so its answer "
                f"({names[first]}, {probabilities[first]:.0%}) means little.")
    if verdict == "ok" or len(order) < 2:
        return f"{names[first]} — {probabilities[first]:.0%}", ""
    return f"Not sure: {names[first]} or {names[order[1]]}", ""


def number_text(reading: NumberReading) -> str:
    """A drawing read as several digits: "2026 — 94%" (the chance that every digit is right)."""
    return f"{reading.number} — {reading.confidence:.0%}"


def pinned_tip(who: str) -> str:
    return f"The answer of {who}; draw to see the model in use"


# ------------------------------------------------------------------------------ progress
def download_text(file: str, done: int, total: int) -> str:
    size = f"{done / 1e6:.1f}" + (f" of {total / 1e6:.1f}" if total else "")
    return f"Downloading {file}: {size} MB"


def training_progress_text(event: dict) -> str:
    """A training batch event on the bar (%v/%m: the bar's own batch and batch count)."""
    return (f"Epoch {event['epoch']}/{event['epochs']} · batch %v/%m · "
            f"ETA {duration(event.get('eta_seconds'))} · loss {number(event.get('loss'))} · "
            f"accuracy {percent(event.get('accuracy'), 1)}")


TEACH_PHASES = {"reading": "reading the pictures", "cross_validation": "measuring on held-out samples",
                "final": "teaching", "saving": "saving and checking the taught model"}


def teach_progress_text(event: dict) -> str:
    """A teaching event on the bar, which is the whole run: "Teaching: step 40 of 200 · 12 s
    left" (the seconds left are the whole run's)."""
    phase = TEACH_PHASES.get(event.get("phase"), "teaching")
    fold = f" {event['fold']}" if event.get("fold") else ""
    steps = (f": step {event['step']} of {event['steps']}"
             if event.get("phase") in ("cross_validation", "final") and event.get("steps")
             else "")
    eta = event.get("eta_seconds")
    left = f" · {eta:.0f} s left" if finite(eta) else ""
    return f"{phase.capitalize()}{fold}{steps}{left}"


def estimate_text(estimate, epochs: int) -> str:
    """The training panel's line on how long a run's training will take on this CPU
    (``estimate``: a training.core.speed_cache.Estimate, or None when nothing was measured)."""
    from training.core.speed_cache import spoken_duration  # (not on the way to the first frame)

    if estimate is None:
        return ("Time on this CPU: not measured yet for this model. Its first run measures "
                "the speed here for a few seconds, then shows the time left.")
    source = ("as its last run here" if estimate.basis == "run"
              else "from a short speed test here; its first run will tell better")
    return (f"About {spoken_duration(estimate.seconds)} of training on this CPU: {epochs} "
            f"epoch{'s' if epochs != 1 else ''} at {estimate.images_per_second:,.0f} pictures "
            f"a second, {source}.")


# ------------------------------------------------------------------------------ status bar
def model_status_text(name: str, dataset: str, accuracy: float | None) -> str:
    """The model in use, its dataset and its test accuracy when it was measured."""
    text = f"{name} ({dataset_title(dataset)}"
    return text + (f", {accuracy:.2%} on the test set)" if finite(accuracy) else ")")


def settings_problems_text(problems: Sequence[str]) -> str:
    return (f"Some saved settings were unusable and were reset to their defaults: "
            f"{', '.join(problems)}.")


def exported_text(files: Sequence[str]) -> str:
    folder = os.path.dirname(files[0])
    return (f"Exported to {folder}: " + ", ".join(os.path.basename(f) for f in files)
            + " (the .json describes the input and the classes)")


def lite_only_text(name: str, verb: str) -> str:
    """A LiteRT file cannot be taught or exported: its .keras can."""
    return f"{name} is a LiteRT file only; open its .keras to {verb} it."
