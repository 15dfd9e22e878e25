"""A ``.keras`` made loadable by the window's LiteRT runtime: ``python -m training convert`` as a
child job (TensorFlow never loads in the window's process).

``ConversionWorker.convert(conversion)`` queues one conversion; they run one at a time (each is
a TensorFlow start-up: two at once would only share the two cores). A ``Conversion`` with
``layers`` makes the every-layer model (``--layers``) for the layers view instead. The answer is
the caller's own ``Conversion`` back: ``converted(conversion)`` once its ``.tflite`` is in the
conversion cache, or ``failed(conversion, message)``.
"""

from __future__ import annotations

import collections
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop_app.jobs.child import ChildJob
from desktop_app.jobs.registry import JobRegistry
from desktop_app.prediction.requests import Conversion
from training.protocol.messages import ConvertResult


def conversion_cache_path(keras_sha256: str, layers: bool = False) -> Path:
    """Where the app keeps the ``.tflite`` it made for a ``.keras`` (by content, so a changed
    model is converted again and the user's folders are never written to); with ``layers``,
    the every-layer twin the layers view runs."""
    from training.core.paths import user_home

    return user_home() / "cache" / f"{keras_sha256[:24]}{'.layers' if layers else ''}.tflite"


class ConversionWorker(QObject):
    """One conversion child at a time, the rest queued. Lives in whichever thread created it or
    it was moved to (its child job is driven by that thread's event loop)."""

    converted = Signal(object)     # the Conversion, now loadable
    failed = Signal(object, str)   # the Conversion, a message for the user

    def __init__(self, parent=None, jobs: JobRegistry | None = None):
        super().__init__(parent)
        self.jobs = jobs  # the window's registry, when this lives in the window's thread
        self._queue: collections.deque[Conversion] = collections.deque()
        self._job: ChildJob | None = None

    def is_running(self) -> bool:
        return self._job is not None

    def convert(self, request: Conversion) -> None:
        self._queue.append(request)
        if self._job is None:
            self._next()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Forget the queue and end the running child (terminate, kill after 1 s)."""
        self._queue.clear()
        if self._job is None:
            return True
        self._job.stop()
        return self._job.wait(timeout_ms / 1000)

    def _next(self) -> None:
        from training.modelfile.sidecar import file_sha256

        while self._queue:
            request = self._queue.popleft()
            keras = Path(request.keras)
            layers = request.layers
            try:
                target = conversion_cache_path(file_sha256(keras), layers)
            except OSError as exc:
                self.failed.emit(request, f"{keras.name} cannot be read: {exc}")
                continue
            args = ["--model", str(keras), "--out", str(target), "--progress", "json"]
            self._job = job = ChildJob("convert", args + (["--layers"] if layers else []),
                                       "conversion", self)
            job.finished.connect(lambda result, r=request, t=target: self._on_done(r, t, result))
            job.failed.connect(lambda message, r=request: self._on_failed(r, message))
            job.ended.connect(self._on_ended)
            job.start(self.jobs)
            return

    def _on_done(self, request: Conversion, target: Path, result: ConvertResult) -> None:
        if Path(result.path) == target and target.exists():
            self.converted.emit(request)
        else:
            self._on_failed(request, f"the converter wrote no {target.name}")

    def _on_failed(self, request: Conversion, message: str) -> None:
        if self._job is not None and self._job.cancelled():
            message = "the converter was stopped"
        self.failed.emit(request, f"{Path(request.keras).name} could not be prepared for live "
                                  f"use: {message}")

    def _on_ended(self) -> None:
        if self._job is not None:
            self._job.deleteLater()
        self._job = None
        self._next()
