"""Worker threads and child processes with a known lifetime (the superqt/Orange3 pattern).

``start_worker(worker)`` moves a QObject worker into a new QThread and starts it. The thread is
registered so tests can fail when one is left running, and so the app can stop every thread on
exit: ask it to quit, ``wait()`` with a timeout, never ``terminate()``. The ``python -m training``
children are ChildJobs of the window's registry (desktop_app/jobs/child.py); ``track_process`` is
left for the figure process (desktop_app/figures), which ends its own child when it shuts down.
"""

from __future__ import annotations

import threading
import weakref

from PySide6.QtCore import QCoreApplication, QObject, QThread

_threads: "weakref.WeakSet[QThread]" = weakref.WeakSet()


class WorkerThread(QThread):
    """A QThread whose event loop runs inside a Python call, so the thread keeps one Python
    thread state for its whole life instead of one per queued slot call (which once crashed
    native code that cached the thread state it first saw).

    When its loop ends, it hands its worker back to the GUI thread to be deleted there. Deleted
    in this thread, the worker's ~QObject asks PySide for the GIL while holding Qt's connection
    lock; a GUI thread connecting a signal at that moment holds the GIL and waits for that
    lock: both wait forever (seen as a window that froze while opening)."""

    def __init__(self, worker: QObject):
        super().__init__()
        self._worker = worker

    def run(self) -> None:
        self.exec()
        worker, self._worker = self._worker, None
        app = QCoreApplication.instance()
        if worker is not None and app is not None:  # (moved from its own thread only)
            worker.moveToThread(app.thread())
            worker.deleteLater()  # runs on the GUI thread's event loop


def start_worker(worker: QObject, name: str) -> QThread:
    thread = WorkerThread(worker)
    thread.setObjectName(name)
    worker.moveToThread(thread)
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


# -- the figure process's child (subprocess.Popen)

_processes: "weakref.WeakSet" = weakref.WeakSet()
_processes_lock = threading.Lock()
KILL_AFTER_S = 1.0


def track_process(process) -> None:
    """Register a ``subprocess.Popen`` child so the app can end it on exit, whoever started it."""
    with _processes_lock:
        _processes.add(process)


def end_process(process, grace_s: float = KILL_AFTER_S) -> None:
    """Terminate a child, kill it if it has not ended after ``grace_s``, and reap it (no zombie)."""
    import subprocess

    if process is None or process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except OSError:
        pass


def running_processes() -> list[int]:
    with _processes_lock:
        children = list(_processes)
    return [p.pid for p in children if p.poll() is None]
