"""TrainingController: the training panel's state and jobs, without widgets.

A run is ``python -m training train ... --progress json`` in a child process (see
``training_worker``), saving into a fresh run folder ``runs_dir()/<timestamp>/``. The result
line names that file; "Use this model" hands its path to the prediction side, "Save model…"
copies the ``.keras``, its ``.tflite`` and its sidecar elsewhere. Model summaries come from
``python -m training describe`` in a child too. This process never imports TensorFlow.

The misclassified test pictures are not sent through the pipe: the child reports their indices,
and the worker thread reads the test set here (numpy only) before the result reaches the UI.

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
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMetaObject, QObject, Qt, Signal, Slot

from desktop_app.jobs.child_process import ChildProcessWorker
from desktop_app.jobs.threads import start_worker
from training.core.atomic import WriteError, check_writable_target, write_bytes, write_text
from training.core.datasets import DatasetError, load_dataset
from training.core.paths import runs_dir
from training.modelfile.sidecar import sidecar_path, tflite_path
from training.protocol.config import TrainingConfig
from training.protocol.options import config_arguments

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


def attach_gallery(result: dict, data_dir: str | None) -> None:
    """Add the misclassified test pictures (by the indices the child sent) to ``result``.

    Runs in the worker thread. The test set is read locally, never downloaded; if it cannot be
    read, the gallery stays empty and ``gallery_error`` says why.
    """
    indices = np.asarray(result.get("misclassified") or [], np.int64)
    predicted = np.asarray(result.get("misclassified_predicted") or [], np.int64)
    try:
        data = load_dataset(result["dataset"], data_dir, allow_download=False)
    except (DatasetError, KeyError, ValueError) as exc:
        result["gallery_error"] = str(exc)
        return
    keep = (indices >= 0) & (indices < len(data.x_test))
    keep &= np.arange(len(indices)) < len(predicted)
    result["misclassified_images"] = data.x_test[indices[keep]].copy()
    result["misclassified_true"] = data.y_test[indices[keep]].astype(np.int64)
    result["misclassified_predicted"] = predicted[:len(indices)][keep]


class _RunRelay(QObject):
    """Lives in the UI thread and hands one run's worker signals to the controller with the
    run's number, so that an abandoned run's late signals are told apart (never by
    ``sender()``: the worker may already be deleted when its last queued signal arrives)."""

    def __init__(self, controller: "TrainingController", run: int):
        super().__init__(controller)
        self._controller, self._number = controller, run

    @Slot(dict)
    def on_progress(self, event: dict) -> None:
        self._controller._run_progress(self._number, event)

    @Slot(object)
    def on_finished(self, result) -> None:
        self._controller._run_finished(self._number, result)

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self._controller._run_failed(self._number, message)

    @Slot()
    def on_thread_finished(self) -> None:
        self._controller._run_thread_finished(self._number)
        self.deleteLater()  # its thread's signals were the last it relays


class TrainingController(QObject):
    """Start/stop one training child at a time; keep its result; describe architectures."""

    stateChanged = Signal(bool)        # True when a run starts, False when it has ended
    progress = Signal(dict)            # the child's events (batch at most 10 a second)
    kept = Signal(object)              # the ``saved`` event: the model is on disk, unmeasured
    finished = Signal(object)          # the result dict, with the gallery pictures
    failed = Signal(str)               # a message for the user
    summaryReady = Signal(object, str)  # (key, text) of a model summary

    def __init__(self, parent=None):
        super().__init__(parent)
        self._config: TrainingConfig | None = None
        self._worker: ChildProcessWorker | None = None
        self._thread = None
        self._result: dict | None = None
        self._kept: dict | None = None     # the running child's ``saved`` event
        self._retired: dict = {}           # run -> (worker, thread) of abandoned measuring
        self._run = 0                      # number of the current run (its relay's)
        self._run_path: Path | None = None
        self._summaries: dict[tuple, str] = {}
        self._summary_worker: ChildProcessWorker | None = None
        self._summary_thread = None
        self._summary_key: tuple | None = None
        self._summary_cancelled = False

    # ------------------------------------------------------------------ state
    def is_training(self) -> bool:
        """A run's child is alive (training, or measuring a kept model: see ``model_kept``)."""
        return self._thread is not None

    def model_kept(self) -> bool:
        """The running child has saved its model and only measures it now: a new run may
        start (it abandons the measuring)."""
        return self._thread is not None and self._kept is not None

    def stop_requested(self) -> bool:
        return self._worker is not None and self._worker.stop_requested()

    def last_result(self) -> dict | None:
        """The last run's result event (+ gallery pictures); its ``saved`` event while it is
        being measured (or when the measuring was abandoned); None before any model is kept."""
        return self._result

    def worker(self) -> ChildProcessWorker | None:
        """The running child's worker (tests and benchmarks watch its signals and pid)."""
        return self._worker

    # ------------------------------------------------------------------ training
    def start(self, config: TrainingConfig) -> None:
        """Start a run in a child process; raises ``ConfigError`` for an invalid config. While
        the previous run's kept model is being measured, that measuring is abandoned."""
        if self.is_training() and not self.model_kept():
            return
        config.validate()
        if self.is_training():
            self._abandon_measuring()
        if self._summary_worker is not None:
            # A model summary still starting (TensorFlow's import: seconds of both cores) would
            # slow the run's first epoch (GUI/CLI epoch 1.07-1.10); the panel asks again after.
            self._summary_cancelled = True
            self._summary_worker.cancel()
        self._config = config
        self._run_path = new_run_path(config)
        worker = ChildProcessWorker(train_arguments(config, self._run_path), "training",
                                    on_result=functools.partial(attach_gallery,
                                                                data_dir=config.data_dir))
        self._run += 1
        relay = _RunRelay(self, self._run)
        worker.progress.connect(relay.on_progress)
        worker.finished.connect(relay.on_finished)
        worker.failed.connect(relay.on_failed)
        self._worker = worker
        self._kept = None
        self._thread = start_worker(worker, "training")
        self._thread.finished.connect(relay.on_thread_finished)
        QMetaObject.invokeMethod(worker, "run", Qt.ConnectionType.QueuedConnection)
        self.stateChanged.emit(True)

    def request_stop(self) -> None:
        if self._worker is not None and not self.model_kept():
            self._worker.request_stop()

    def _abandon_measuring(self) -> None:
        """End the child measuring the kept model, without waiting (its thread reaps it and is
        forgotten when it ends); none of its signals reach the panel any more."""
        worker, thread = self._worker, self._thread
        self._retired[self._run] = (worker, thread)
        self._worker = self._thread = None
        self._kept = None
        worker.cancel()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """End the children (SIGTERM, then SIGKILL after 1 s) and wait for the threads; True
        when none is left. A run aborted while training saves nothing; one whose model was
        already kept keeps it (only its measuring is lost)."""
        retired = list(self._retired.values())
        for worker in (self._worker, self._summary_worker, *(w for w, _ in retired)):
            if worker is not None:
                worker.abort()
        ok = True
        for thread in (self._thread, self._summary_thread, *(t for _, t in retired)):
            if thread is not None:
                ok = thread.wait(timeout_ms) and ok
        if ok:
            was_training = self._thread is not None
            kept = self._kept is not None
            self._retired.clear()
            self._thread = self._worker = None
            self._kept = None
            self._summary_thread = self._summary_worker = None
            if was_training:
                if not kept:  # a kept model stays; a run that kept nothing leaves no folder
                    self._discard_run_folder()
                self.stateChanged.emit(False)
        return ok

    # The relay of run ``run`` calls these in the UI thread; an abandoned run's are ignored.
    def _run_progress(self, run: int, event: dict) -> None:
        if run != self._run or self._worker is None:
            return
        if event.get("event") == "saved" and isinstance(event.get("path"), str):
            self._kept = self._result = event
            self.progress.emit(event)
            self.kept.emit(event)
            return
        self.progress.emit(event)

    def _run_finished(self, run: int, result: dict) -> None:
        if run != self._run or self._worker is None:
            return
        self._result = result
        self.finished.emit(result)

    def _run_failed(self, run: int, message: str) -> None:
        if run != self._run or self._worker is None:
            return
        if self._kept is None:
            self._discard_run_folder()
        self.failed.emit(message)

    def _run_thread_finished(self, run: int) -> None:
        if run in self._retired:  # an abandoned measuring child has ended
            _, thread = self._retired.pop(run)
            thread.wait()
            return
        if run != self._run or self._thread is None:
            return  # already cleaned up by shutdown()
        self._thread.wait()  # finished is emitted just before the thread really ends
        self._thread = self._worker = None
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
        source = Path(self._result["path"])
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
        return self._summary_thread is not None

    def request_summary(self, architecture: str, dropout: float) -> None:
        """Describe every architecture (with or without dropout) in one child process: its
        TensorFlow start-up costs seconds, building the four models a fraction of one."""
        key = (architecture, dropout > 0)
        if key in self._summaries or self._summary_thread is not None:
            return
        self._summary_key = key
        worker = ChildProcessWorker(
            ["describe", "--architecture", "all", "--json",
             "--dropout", str(SUMMARY_DROPOUT if dropout > 0 else 0.0)], "model summary")
        worker.progress.connect(self._on_summary_event)
        worker.failed.connect(self._on_summary_failed)
        self._summary_worker = worker
        self._summary_thread = start_worker(worker, "model-summary")
        self._summary_thread.finished.connect(self._on_summary_thread_finished)
        QMetaObject.invokeMethod(worker, "run", Qt.ConnectionType.QueuedConnection)

    @Slot(dict)
    def _on_summary_event(self, event: dict) -> None:
        if event.get("event") != "summary":
            return
        key = (event["architecture"], bool(event.get("dropout")))
        self._summaries[key] = str(event.get("text", ""))
        self.summaryReady.emit(key, self._summaries[key])

    @Slot(str)
    def _on_summary_failed(self, message: str) -> None:
        if self._summary_cancelled:
            return  # not a failure: asked for again once the run is over
        if self._summary_key is not None and self._summary_key not in self._summaries:
            text = f"(no summary: {message})"
            self._summaries[self._summary_key] = text  # informative only: do not retry forever
            self.summaryReady.emit(self._summary_key, text)

    @Slot()
    def _on_summary_thread_finished(self) -> None:
        if self._summary_thread is not None:
            self._summary_thread.wait()
        self._summary_thread = self._summary_worker = None
        self._summary_cancelled = False
        self.summaryReady.emit(None, "")  # lets the panel ask for what is still missing
