"""Worker threads with a known lifetime (the superqt/Orange3 pattern).

``start_worker(worker)`` moves a QObject worker into a new QThread and starts it. The thread is
registered so tests can fail when one is left running, and so the app can stop every thread on
exit: ask it to quit, ``wait()`` with a timeout, never ``terminate()``.
"""

from __future__ import annotations

import threading
import weakref

from PySide6.QtCore import QObject, QThread

_threads: "weakref.WeakSet[QThread]" = weakref.WeakSet()


class WorkerThread(QThread):
    """A QThread whose event loop runs inside a Python call.

    Without this, PySide creates and destroys a Python thread state around every queued slot
    call, and TensorFlow's pybind11 code, which caches the thread state it first saw, later
    re-acquires the GIL with a dead one: a segfault seen here in ``PyGraph::version_def`` when
    the inference thread traced a second model. Running ``exec()`` from Python keeps one
    thread state alive for the thread's whole life.
    """

    def run(self) -> None:
        self.exec()


def start_worker(worker: QObject, name: str) -> QThread:
    thread = WorkerThread()
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


_tensorflow_lock = threading.Lock()

# TensorFlow does not promise that two threads may build graphs (trace a tf.function, create a
# model's variables) at the same time. Every worker holds this lock while it builds, loads or
# traces a model; running an already traced model needs none, so training steps and live
# predictions still overlap.
tf_graph_lock = threading.RLock()


def import_tensorflow() -> None:
    """Import TensorFlow and Keras once, from whichever worker thread needs them first.

    TensorFlow's package import is not safe to run in two threads at once (its circular imports
    deadlock), so every worker calls this before touching TF: the first one imports, the others
    wait for it.
    """
    with _tensorflow_lock:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
