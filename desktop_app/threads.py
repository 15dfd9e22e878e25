"""Worker threads with a known lifetime (the superqt/Orange3 pattern).

``start_worker(worker)`` moves a QObject worker into a new QThread and starts it. The thread is
registered so tests can fail when one is left running, and so the app can stop every thread on
exit: ask it to quit, ``wait()`` with a timeout, never ``terminate()``.
"""

from __future__ import annotations

import threading
import weakref

from PySide6.QtCore import QObject, QThread, Signal, Slot

_threads: "weakref.WeakSet[QThread]" = weakref.WeakSet()


def start_worker(worker: QObject, name: str) -> QThread:
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.finished.connect(worker.deleteLater)
    _threads.add(thread)
    thread.start()
    return thread


def stop_thread(thread: QThread | None, timeout_ms: int = 2000) -> bool:
    """Quit the thread's event loop and wait; True when it has ended."""
    if thread is None:
        return True
    try:
        if not thread.isRunning():
            return True
        thread.quit()
        return thread.wait(timeout_ms)
    except RuntimeError:  # the C++ object is already gone
        return True


def running_threads() -> list[str]:
    alive = []
    for thread in list(_threads):
        try:
            if thread.isRunning():
                alive.append(thread.objectName() or "QThread")
        except RuntimeError:
            continue
    return alive


class FunctionWorker(QObject):
    """Runs one plain function in its thread and reports its value or its error message."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, function, *args):
        super().__init__()
        self._function, self._args = function, args

    @Slot()
    def run(self) -> None:
        try:
            value = self._function(*self._args)
        except Exception as exc:  # reported to the UI as a message, never raised into Qt
            self.failed.emit(str(exc) or exc.__class__.__name__)
        else:
            self.done.emit(value)


def run_in_thread(function, *args, name: str, on_done=None, on_failed=None) -> QThread:
    """Run ``function(*args)`` in a new registered thread that quits when it is finished.

    ``on_done(value)`` / ``on_failed(message)`` are called in the caller's (UI) thread.
    """
    worker = FunctionWorker(function, *args)
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    if on_done:
        worker.done.connect(on_done)
    if on_failed:
        worker.failed.connect(on_failed)
    worker.done.connect(thread.quit)
    worker.failed.connect(thread.quit)
    thread.started.connect(worker.run)
    thread.finished.connect(worker.deleteLater)
    thread._worker = worker  # keep the worker alive as long as its thread
    _threads.add(thread)
    thread.start()
    return thread


_tensorflow_lock = threading.Lock()


def import_tensorflow() -> None:
    """Import TensorFlow and Keras once, from whichever worker thread needs them first.

    TensorFlow's package import is not safe to run in two threads at once (its circular imports
    deadlock), so every worker calls this before touching TF: the first one imports, the others
    wait for it.
    """
    with _tensorflow_lock:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
