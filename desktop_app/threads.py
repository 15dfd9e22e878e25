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
