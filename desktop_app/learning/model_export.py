"""Model ▸ Export…: the model in use as .keras, .tflite and ONNX (+ a JSON describing its input).

The conversion needs TensorFlow, which never loads in the window's process: ``ExportWorker``
runs ``python -m training export-all --model M --out DIR`` in a child process (tracked, so a
closing window ends it) from its own thread; ``ModelExporter`` owns that thread and turns the
outcome into ``exported(list of paths)`` or ``failed(message)``. One export at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.jobs.threads import start_worker, stop_thread, track_process


class ExportWorker(QObject):
    finished = Signal(list)   # the written files, as strings
    failed = Signal(str)      # a message for the user

    @Slot(dict)
    def export(self, request: dict) -> None:
        """request: {"model": .keras path, "out": folder, "name": stem or ""}."""
        command = [sys.executable, "-m", "training", "export-all", "--model", request["model"],
                   "--out", request["out"]]
        if request.get("name"):
            command += ["--name", request["name"]]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        except OSError as exc:
            self.failed.emit(f"Could not start the export: {exc}")
            return
        track_process(child)
        out, errors = child.communicate()
        files = [line.strip() for line in out.splitlines() if line.strip()]
        if child.returncode == 0 and files and all(Path(f).is_file() for f in files):
            self.finished.emit(files)
            return
        lines = [line for line in errors.strip().splitlines() if line.strip()]
        reason = (lines[-1].removeprefix("error: ") if lines
                  else f"exit status {child.returncode}")
        if child.returncode is not None and child.returncode < 0:
            reason = "the export was stopped"
        self.failed.emit(f"The model could not be exported: {reason}")


class ModelExporter(QObject):
    exported = Signal(list)
    failed = Signal(str)
    _export = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._worker = None
        self._thread = None
        self._running = False

    def is_running(self) -> bool:
        return self._running

    def export(self, model: str, out: str, name: str = "") -> bool:
        """Start exporting ``model`` (a .keras file) into the folder ``out``; False when an
        export is already under way."""
        if self._running:
            return False
        if self._thread is None:
            self._worker = ExportWorker()
            self._export.connect(self._worker.export)
            self._worker.finished.connect(self._on_finished)
            self._worker.failed.connect(self._on_failed)
            self._thread = start_worker(self._worker, "exporter")
        self._running = True
        self._export.emit({"model": str(model), "out": str(out), "name": name})
        return True

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """The child is ended by the window (end_all_processes); this ends the thread."""
        thread, self._thread = self._thread, None
        return stop_thread(thread, timeout_ms)

    @Slot(list)
    def _on_finished(self, files: list) -> None:
        self._running = False
        self.exported.emit(files)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._running = False
        self.failed.emit(message)
