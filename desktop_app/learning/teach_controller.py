"""TeachController: "Teach it my handwriting" as a job, without widgets.

A teaching run is ``python -m training teach ... --progress json`` in a child process (a
``ChildJob``, as training): it fine-tunes the model in use on the personal samples with
a replay of the training set, measures before -> after (official test set; the samples held out
by cross-validation) and saves the taught model into the user's models folder. Until the user
keeps it, that model is a candidate: ``discard`` removes its files (``.keras``, ``.tflite``,
sidecar), and so does a run that is stopped, fails or is cut short by closing the window.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
from pathlib import Path

from desktop_app.jobs.child import OneChild
from desktop_app.jobs.registry import JobRegistry
from training.core.paths import models_dir
from training.modelfile.sidecar import sidecar_path, tflite_path
from training.protocol.messages import TeachResult

log = logging.getLogger(__name__)


def taught_model_path(dataset: str) -> Path:
    """``<home>/models/<dataset>-taught-<time>.keras``, a name no other model has."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = models_dir() / f"{dataset}-taught-{stamp}.keras", 1
    while path.exists():
        n += 1
        path = models_dir() / f"{dataset}-taught-{stamp}-{n}.keras"
    return path


def remove_model_files(path: str | Path) -> None:
    """A model's ``.keras``, its ``.tflite`` twin, its sidecar and its out-of-distribution
    check's two files (whichever exist)."""
    from training.modelfile.sidecar import features_path, stats_path

    path = Path(path)
    for file in (path, tflite_path(path), sidecar_path(path), features_path(path),
                 stats_path(path)):
        with contextlib.suppress(OSError):
            file.unlink()


class TeachController(OneChild):
    """One teaching child at a time; its result (``finished``: the TeachResult) is a candidate
    until kept or discarded."""

    def __init__(self, parent=None, jobs: JobRegistry | None = None):
        super().__init__(jobs, parent)
        self._out: Path | None = None
        self._candidate: TeachResult | None = None
        self.extra_args: list[str] = []   # more CLI options (e.g. --steps) for every run

    def candidate(self) -> TeachResult | None:
        """The last run's result while the user has neither kept nor discarded it."""
        return self._candidate

    def start(self, base_model: str, dataset: str, data_dir: str = "",
              samples: str | None = None) -> None:
        if self.is_running():
            return
        self.discard()  # an earlier candidate nobody kept
        self._out = taught_model_path(dataset)
        args = ["--model", str(base_model), "--dataset", dataset,
                "--out", str(self._out), "--progress", "json"]
        if data_dir:
            args += ["--data-dir", data_dir]
        if samples:
            args += ["--samples", samples]
        self._start_child("teach", args + self.extra_args, "teaching")

    def keep(self) -> str | None:
        """The user keeps the candidate: its path (it is no longer removed)."""
        candidate, self._candidate = self._candidate, None
        return candidate.get("path") if candidate else None

    def discard(self) -> None:
        candidate, self._candidate = self._candidate, None
        if candidate and candidate.get("path"):
            remove_model_files(candidate.path)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """End the child (terminate, kill after 1 s); an unkept model goes."""
        running = self.is_running()
        ok = self._stop_child(timeout_ms)
        self.discard()
        if running and self._out is not None:
            remove_model_files(self._out)  # cut short: whatever it saved is no one's model
        return ok

    def _on_finished(self, result: TeachResult) -> None:
        if result.status != "finished" or not result.get("path"):  # stopped: no model
            self._on_failed("stopped")
            return
        self._candidate = result
        self._out = None  # from now on the candidate owns the files
        self.finished.emit(result)

    def _on_failed(self, message: str) -> None:
        if self._out is not None:
            remove_model_files(self._out)
        self.failed.emit("Teaching stopped; the model in use is unchanged."
                         if self._stopped_by_user() else message)
