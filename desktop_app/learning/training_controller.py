"""TrainingController: the training panel's state and jobs, without widgets.

A run is ``python -m training train ... --progress json`` in a child process (a ChildJob of the
window's registry), saving into a fresh run folder ``runs_dir()/<timestamp>/``. The result
line names that file; "Use this model" hands its path to the prediction side, "Save model…"
copies the ``.keras``, its ``.tflite`` and its sidecar elsewhere. Model summaries come from
``resources/architectures.jsonl`` (written by ``python -m training describe``), or from that
command in a child for an architecture the file lacks. This process never imports TensorFlow.

The misclassified test pictures are not sent through the pipe: the child reports their indices,
and the test set is read here (numpy only, a few tens of ms) before the result reaches the UI.

A run's model is kept as soon as its training ends or is stopped: the child saves it and says
``saved`` (``kept`` here) before it measures it on the test set and fits its temperature and
"doesn't look like" check. From then on ``model_kept()`` is True and ``start`` may be called
again: the measuring child is then ended (SIGTERM: its files are written atomically, so the kept
model stays complete and valid) and forgotten, and the new run starts at once.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from desktop_app.jobs.child import ChildJob
from desktop_app.jobs.registry import JobRegistry
from training.core.atomic import WriteError, check_writable_target, write_bytes, write_text
from training.core.datasets import DatasetError, load_dataset
from training.core.paths import runs_dir
from training.modelfile.sidecar import sidecar_path, tflite_path
from training.protocol.config import TrainingConfig
from training.protocol.messages import Message, Saved, Summary, TrainResult
from training.protocol.options import config_arguments
from training.protocol.summaries import shipped_summaries

log = logging.getLogger(__name__)

SUMMARY_DROPOUT = 0.5  # any rate > 0: only whether Dropout layers exist changes the summary


def train_arguments(config: TrainingConfig, out: Path) -> list[str]:
    """The CLI arguments that train ``config`` exactly into ``out``, speaking JSON lines."""
    return ["train", *config_arguments(config), "--out", str(out), "--progress", "json"]


def new_run_path(config: TrainingConfig) -> Path:
    """``runs/<timestamp>/<dataset>_<architecture>.keras``, in a folder no other run uses."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder, n = runs_dir() / stamp, 1
    while folder.exists():
        n += 1
        folder = runs_dir() / f"{stamp}-{n}"
    return folder / f"{config.dataset}_{config.architecture}.keras"


def _delete_run_folder(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:  # a file still open elsewhere: it stays, and so is only clutter
        log.warning("could not delete the discarded run %s: %s", folder, exc)


@dataclass(frozen=True)
class FinishedRun:
    """A run's result line and the misclassified test pictures it names (read here: the
    pictures never go through the pipe)."""

    result: TrainResult
    images: np.ndarray | None = None
    true: np.ndarray | None = None
    predicted: np.ndarray | None = None
    gallery_error: str | None = None


def read_gallery(result: TrainResult, data_dir: str | None) -> FinishedRun:
    """The misclassified test pictures, by the indices the child sent. The test set is read
    locally, never downloaded; if it cannot be read, ``gallery_error`` says why."""
    indices = np.asarray(result.misclassified or [], np.int64)
    predicted = np.asarray(result.misclassified_predicted or [], np.int64)
    try:
        data = load_dataset(result.dataset, data_dir, allow_download=False, test_only=True)
    except (DatasetError, KeyError, ValueError) as exc:
        return FinishedRun(result, gallery_error=str(exc))
    keep = (indices >= 0) & (indices < len(data.x_test))
    keep &= np.arange(len(indices)) < len(predicted)
    return FinishedRun(result, images=data.x_test[indices[keep]].copy(),
                       true=data.y_test[indices[keep]].astype(np.int64),
                       predicted=predicted[:len(indices)][keep])


class TrainingController(QObject):
    """Start/stop one training child at a time; keep its result; describe architectures."""

    stateChanged = Signal(bool)        # True when a run starts, False when it has ended
    progress = Signal(object)          # the child's messages (training.protocol.messages)
    kept = Signal(object)              # the ``Saved`` message: the model is on disk, unmeasured
    finished = Signal(object)          # a FinishedRun: the result and the gallery pictures
    failed = Signal(str)               # a message for the user
    summaryReady = Signal(object, str)  # (key, text) of a model summary

    def __init__(self, parent=None, jobs: JobRegistry | None = None):
        super().__init__(parent)
        self.jobs = jobs if jobs is not None else JobRegistry()  # the window gives its own
        self._config: TrainingConfig | None = None
        self._job: ChildJob | None = None
        self._result: FinishedRun | Saved | None = None
        self._kept: Saved | None = None    # the running child's ``saved`` message
        self._retired: dict[int, ChildJob] = {}  # run -> its abandoned measuring child
        self._run = 0                      # number of the current run
        self._run_path: Path | None = None
        self._doomed: set[Path] = set()    # discarded run folders, deleted again at a child's end
        self._summaries: dict[tuple, str] = shipped_summaries()  # no TensorFlow child needed
        self._summary_job: ChildJob | None = None
        self._summary_key: tuple | None = None

    # ------------------------------------------------------------------ state
    def is_training(self) -> bool:
        """A run's child is alive (training, or measuring a kept model: see ``model_kept``)."""
        return self._job is not None

    def model_kept(self) -> bool:
        """The running child has saved its model and only measures it now: a new run may
        start (it abandons the measuring)."""
        return self._job is not None and self._kept is not None

    def stop_requested(self) -> bool:
        return self._job is not None and self._job.stop_requested()

    def last_result(self) -> FinishedRun | Saved | None:
        """The last run's FinishedRun; its ``Saved`` message while it is being measured (or
        when the measuring was abandoned); None before any model is kept."""
        return self._result

    def job(self) -> ChildJob | None:
        """The running child (tests and benchmarks watch its signals and pid)."""
        return self._job

    # ------------------------------------------------------------------ training
    def start(self, config: TrainingConfig) -> None:
        """Start a run in a child process; raises ``ConfigError`` for an invalid config. While
        the previous run's kept model is being measured, that measuring is abandoned."""
        if self.is_training() and not self.model_kept():
            return
        config.validate()
        if self.is_training():
            self._abandon_measuring()
        if self._summary_job is not None:
            # A model summary still starting (TensorFlow's import: seconds of both cores) would
            # slow the run's first epoch (GUI/CLI epoch 1.07-1.10); the panel asks again after.
            self._summary_job.stop()
        self._config = config
        self._run_path = new_run_path(config)
        command, *args = train_arguments(config, self._run_path)
        job = ChildJob(command, args, "training", self)
        self._run += 1
        run = self._run
        # Each run's signals carry its number: an abandoned run's late ones are ignored.
        job.message.connect(functools.partial(self._run_progress, run))
        job.finished.connect(functools.partial(self._run_finished, run))
        job.failed.connect(functools.partial(self._run_failed, run))
        job.ended.connect(functools.partial(self._run_ended, run))
        self._job = job
        self._kept = None
        job.start(self.jobs)
        self.stateChanged.emit(True)

    def request_stop(self) -> None:
        if self._job is not None and not self.model_kept():
            self._job.request_stop()

    def discard(self, path: str) -> None:
        """The user discarded the run's model at ``path``: a child still measuring it is ended,
        and its run folder deleted (``runs/`` holds models not yet saved or discarded). A
        measuring child ended now may still write its last file: the folder is deleted again
        when that child has ended."""
        folder = Path(path).parent
        if folder.parent != runs_dir():
            return  # not a run folder of this app: never delete anything else
        if self.model_kept() and self._kept.path == path:
            self._abandon_measuring()
        self._doomed.add(folder)
        _delete_run_folder(folder)

    def _abandon_measuring(self) -> None:
        """End the child measuring the kept model, without waiting (it is forgotten when it
        ends); none of its signals reach the panel any more."""
        job = self._job
        self._retired[self._run] = job
        self._job = None
        self._kept = None
        job.stop()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """End the children (SIGTERM, then SIGKILL after 1 s) and wait for them; True when none
        is left. A run aborted while training saves nothing; one whose model was already kept
        keeps it (only its measuring is lost)."""
        jobs = [job for job in (self._job, self._summary_job, *self._retired.values())
                if job is not None]
        for job in jobs:
            job.stop()
        ok = all([job.wait(timeout_ms / 1000) for job in jobs])
        for folder in self._doomed:  # what an ended measuring child wrote last goes too
            _delete_run_folder(folder)
        return ok and self._job is None and self._summary_job is None

    # Run ``run``'s signals; an abandoned run's are ignored.
    def _run_progress(self, run: int, message: Message) -> None:
        if run != self._run or self._job is None:
            return
        self.progress.emit(message)
        if isinstance(message, Saved):
            self._kept = self._result = message
            self.kept.emit(message)

    def _run_finished(self, run: int, result: TrainResult) -> None:
        if run != self._run or self._job is None:
            return
        finished = read_gallery(result, self._config.data_dir if self._config else None)
        self._result = finished
        self.finished.emit(finished)

    def _run_failed(self, run: int, message: str) -> None:
        if run != self._run or self._job is None:
            return
        if self._kept is None:
            self._discard_run_folder()
        self.failed.emit(message)

    def _run_ended(self, run: int) -> None:
        retired = self._retired.pop(run, None)
        if retired is not None:  # an abandoned measuring child has ended
            retired.deleteLater()
            for folder in self._doomed:
                _delete_run_folder(folder)
            return
        if run != self._run or self._job is None:
            return
        self._job.deleteLater()
        self._job = None
        self._kept = None
        self.stateChanged.emit(False)

    def _discard_run_folder(self) -> None:
        """A run that saved nothing leaves no empty folder behind."""
        if self._run_path is not None:
            try:
                self._run_path.parent.rmdir()  # only succeeds when empty
            except OSError:
                pass

    # ------------------------------------------------------------------ saving
    def save_model_to(self, target: str | Path) -> Path:
        """Copy the last run's ``.keras``, ``.tflite`` (if any) and sidecar to ``target``
        atomically, the sidecar naming its new model file. Raises ``WriteError`` (nothing is
        lost: the run's files stay where they are)."""
        if self._result is None:
            raise WriteError("there is no trained model to save")
        source = Path(self._result.result.path if isinstance(self._result, FinishedRun)
                      else self._result.path)
        target = Path(target).expanduser()
        if target.suffix != ".keras":
            target = target.with_name(target.name + ".keras")
        check_writable_target(target)
        try:
            model = source.read_bytes()
            lite = tflite_path(source).read_bytes() if tflite_path(source).is_file() else None
            sidecar = json.loads(sidecar_path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WriteError(f"the trained model's files in {source.parent} cannot be read "
                             f"({exc})") from None
        sidecar["model_file"] = target.name
        # Model first, sidecar last (as store.save_model): a failure in between leaves a sidecar
        # whose hash no longer matches, which loading detects and ignores.
        write_bytes(target, model)
        if lite is not None:
            write_bytes(tflite_path(target), lite)
        else:
            tflite_path(target).unlink(missing_ok=True)  # an old twin would not match
        if isinstance(sidecar.get("ood"), dict):  # the "doesn't look like" check goes along
            from training.runtime.answer_check import copy_files

            copied = copy_files(source, target, sidecar["ood"])
            if copied is None:
                sidecar.pop("ood")
            else:
                sidecar["ood"] = copied
        write_text(sidecar_path(target), json.dumps(sidecar, indent=1, allow_nan=False))
        return target

    # ------------------------------------------------------------------ model summaries
    def summary(self, architecture: str, dropout: float) -> str | None:
        """The cached summary text, or None (then ``request_summary`` fetches it)."""
        return self._summaries.get((architecture, dropout > 0))

    def summary_running(self) -> bool:
        return self._summary_job is not None

    def request_summary(self, architecture: str, dropout: float) -> None:
        """Describe every architecture (with or without dropout) in one child process: its
        TensorFlow start-up costs seconds, building the four models a fraction of one."""
        key = (architecture, dropout > 0)
        if key in self._summaries or self._summary_job is not None:
            return
        self._summary_key = key
        job = ChildJob("describe", ["--architecture", "all", "--json", "--dropout",
                                    str(SUMMARY_DROPOUT if dropout > 0 else 0.0)],
                       "model summary", self)
        job.message.connect(self._on_summary_message)
        job.failed.connect(self._on_summary_failed)
        job.ended.connect(self._on_summary_ended)
        self._summary_job = job
        job.start(self.jobs)

    def _on_summary_message(self, message: Message) -> None:
        if not isinstance(message, Summary):
            return
        key = (message.architecture, bool(message.dropout))
        self._summaries[key] = message.text
        self.summaryReady.emit(key, message.text)

    def _on_summary_failed(self, message: str) -> None:
        if self._summary_job is not None and self._summary_job.cancelled():
            return  # not a failure: asked for again once the run is over
        if self._summary_key is not None and self._summary_key not in self._summaries:
            text = f"(no summary: {message})"
            self._summaries[self._summary_key] = text  # informative only: do not retry forever
            self.summaryReady.emit(self._summary_key, text)

    def _on_summary_ended(self) -> None:
        if self._summary_job is not None:
            self._summary_job.deleteLater()
        self._summary_job = None
        self.summaryReady.emit(None, "")  # lets the panel ask for what is still missing
