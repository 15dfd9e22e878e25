"""Model ▸ Export…: the model in use as .keras, .tflite and ONNX (+ a JSON describing its input).

The conversion needs TensorFlow, which never loads in the window's process: ``ModelExporter``
runs ``python -m training export-all --model M --out DIR --progress json`` as a child job (the
window's registry ends it when the window closes) and turns its result into
``exported(list of paths)`` or ``failed(message)``. One export at a time.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop_app.jobs.child import ChildJob
from desktop_app.jobs.registry import JobRegistry
from training.protocol.messages import ExportResult


class ModelExporter(QObject):
    exported = Signal(list)   # the written files, as strings
    failed = Signal(str)      # a message for the user

    def __init__(self, parent=None, jobs: JobRegistry | None = None):
        super().__init__(parent)
        self.jobs = jobs if jobs is not None else JobRegistry()
        self._job: ChildJob | None = None

    def is_running(self) -> bool:
        return self._job is not None

    def export(self, model: str, out: str, name: str = "") -> bool:
        """Start exporting ``model`` (a .keras file) into the folder ``out``; False when an
        export is already under way."""
        if self._job is not None:
            return False
        args = ["--model", str(model), "--out", str(out), "--progress", "json"]
        if name:
            args += ["--name", name]
        self._job = job = ChildJob("export-all", args, "export", self)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.ended.connect(self._on_ended)
        job.start(self.jobs)
        return True

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """End a running export (terminate, kill after 1 s); True when none is left."""
        if self._job is None:
            return True
        self._job.stop()
        return self._job.wait(timeout_ms / 1000)

    def _on_finished(self, result: ExportResult) -> None:
        files = [str(f) for f in result.get("files") or []]
        if files and all(Path(f).is_file() for f in files):
            self.exported.emit(files)
        else:
            self.failed.emit("The model could not be exported: the files were not written")

    def _on_failed(self, message: str) -> None:
        if self._job is not None and self._job.cancelled():
            message = "the export was stopped"
        self.failed.emit(f"The model could not be exported: {message}")

    def _on_ended(self) -> None:
        if self._job is not None:
            self._job.deleteLater()
        self._job = None
