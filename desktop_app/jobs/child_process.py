"""Drive ``python -m training ... --progress json`` as a child process from a worker QThread.

The window never imports TensorFlow: training, model summaries and downloads run in a child
process (the same CLI users run), which speaks one JSON object per line on stdout. A
``ChildProcessWorker`` lives in a ``QThread`` (``threads.start_worker``), reads those lines and
turns them into plain-dict signals. A crash of the child (killed, out of memory, a segfault in
TensorFlow) is a message, never a crash of the window.

Stopping: ``request_stop()`` writes ``stop`` to the child's stdin (it stops after the current
batch, saves the model, says ``saved``, then measures it). ``cancel()`` ends a child whose work
is no longer wanted without blocking (e.g. the measuring of a kept model when a new run starts);
``abort()`` (the window is closing) terminates the child, waits 1 s, then kills it; the child is
always ``wait()``-ed, so no zombie is left behind.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from desktop_app.jobs.threads import end_process, track_process

log = logging.getLogger(__name__)

BATCH_INTERVAL = 0.1        # seconds between two batch signals: at most 10 UI updates a second
STDERR_TAIL = 60            # lines of the child's stderr kept for the log
TERMINATE_GRACE = 1.0       # seconds between SIGTERM and SIGKILL when aborting
# The child runs at a lower CPU priority: it still gets every idle cycle, but when the window
# needs the CPU (a chart redraw, the live canvas) it gets it at once instead of sharing the
# 2 cores with TensorFlow's threads (measured: UI stalls of up to ~190 ms without it).
CHILD_NICENESS = 10
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # holds training/: the child runs the same code

UNAFFECTED = "The model in use and your drawing are unaffected."


def child_environment() -> dict:
    """The window's environment (data folder, caches, user home, download mirror), TensorFlow's
    start-up logging silenced, and this checkout's ``training`` package first on the path."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    return env


def unexpected_end_message(returncode: int | None, what: str = "training") -> str:
    """Words for a child that ended without a result line."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = f"killed by signal {-returncode}"
        if -returncode == signal.SIGKILL:
            why += "; perhaps out of memory"
        elif name != f"signal {-returncode}":
            why += f", {name}"
    else:
        why = f"exit status {returncode}"
    return f"The {what} process ended unexpectedly ({why}). {UNAFFECTED}"


class ChildProcessWorker(QObject):
    """Runs ``python -m training <args>`` once and relays its JSON lines.

    ``progress(dict)`` for every event line (batch lines at most 10 a second),
    ``finished(dict)`` with the ``result`` line, or ``failed(str)`` with a message for the user.
    ``on_result``, if given, is called with the result dict in the worker thread before
    ``finished`` (slow follow-up work, e.g. reading pictures, stays off the UI thread).
    """

    started = Signal(int)           # the child's pid
    progress = Signal(dict)
    finished = Signal(object)       # the result dict (may hold numpy arrays: not a QVariantMap)
    failed = Signal(str)

    def __init__(self, args: list[str], what: str = "training", on_result=None):
        super().__init__()
        self._command = [sys.executable, "-m", "training", *map(str, args)]
        self._what = what
        self._on_result = on_result
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()     # guards _process against abort() from the UI thread
        self._aborted = False
        self._stop_requested = False
        self._last_batch = 0.0
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.pid: int | None = None

    # -- called from the UI thread (plain methods: run() keeps this object's thread busy)
    def request_stop(self) -> None:
        """Ask the child to stop after the current batch; it still saves, then evaluates."""
        with self._lock:
            self._stop_requested = True
            process = self._process
        if process is not None:
            try:
                process.stdin.write("stop\n")
                process.stdin.flush()
            except (OSError, ValueError):  # it has just ended: nothing to stop
                pass

    def stop_requested(self) -> bool:
        return self._stop_requested

    def cancel(self) -> None:
        """End the child without waiting (the worker thread reaps it): its work is no longer
        wanted. Unlike abort, the UI thread does not block for the child's grace period."""
        with self._lock:
            self._aborted = True
            process = self._process
        if process is not None:
            try:
                process.terminate()
            except OSError:
                pass

    def abort(self) -> None:
        """End the child now (the window is closing): SIGTERM, 1 s, then SIGKILL, and reap it."""
        with self._lock:
            self._aborted = True
            process = self._process
        if process is not None:
            end_process(process, TERMINATE_GRACE)

    # -- worker thread
    @Slot()
    def run(self) -> None:
        try:
            outcome = self._run_child()
        except Exception as exc:  # noqa: BLE001 - every failure reaches the user as a message
            log.exception("child process failed")
            outcome = (False, f"Could not run the {self._what} process: {exc}. {UNAFFECTED}")
        ok, value = outcome
        if ok:
            self.finished.emit(value)
        else:
            self.failed.emit(value)
        _quit_worker_thread()

    def _run_child(self):
        with self._lock:
            if self._aborted:
                return False, f"The {self._what} was cancelled."
            self._process = process = subprocess.Popen(
                self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                bufsize=1, env=child_environment(),  # the window's cwd: relative paths agree
                # its own session: Ctrl+C in the window's terminal goes to the window, which
                # then stops the child itself
                start_new_session=(os.name == "posix"))
            self.pid = process.pid
            _lower_priority(process.pid)
            track_process(process)  # the app ends every child on exit, whoever started it
            stop_already = self._stop_requested
        self.started.emit(process.pid)
        if stop_already:
            self.request_stop()
        errors = threading.Thread(target=self._read_stderr, args=(process,), daemon=True,
                                  name=f"{self._what}-stderr")
        errors.start()
        result = error = None
        try:
            for line in process.stdout:
                event = _parse(line)
                if event is None:
                    log.debug("%s child: %s", self._what, line.rstrip())
                elif event["event"] == "result":
                    result = event
                elif event["event"] == "error":
                    error = str(event.get("message") or "unknown error")
                elif self._should_pass(event):
                    self.progress.emit(event)
        finally:
            process.stdout.close()
            returncode = _reap(process)
            errors.join(timeout=5)
            with self._lock:
                self._process = None
        if self._aborted:
            return False, f"The {self._what} was cancelled."
        if result is not None:
            if self._on_result is not None:
                self._on_result(result)
            return True, result
        if error is not None:
            return False, error
        log.error("%s child ended with status %s; its last output:\n%s", self._what,
                  returncode, "\n".join(self.stderr_tail))
        return False, unexpected_end_message(returncode, self._what)

    def _should_pass(self, event: dict) -> bool:
        """At most 10 batch signals a second; the child already limits them, but lines read
        in a burst (after a busy moment) must not flood the UI thread."""
        if event["event"] != "batch":
            return True
        now = time.monotonic()
        if now - self._last_batch < BATCH_INTERVAL:
            return False
        self._last_batch = now
        return True

    def _read_stderr(self, process: subprocess.Popen) -> None:
        """Drain stderr (a full pipe would block the child) and keep its tail for the log."""
        for line in process.stderr:
            self.stderr_tail.append(line.rstrip())
        process.stderr.close()


def _parse(line: str) -> dict | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


def _lower_priority(pid: int) -> None:
    """Set right after the start, before TensorFlow makes its threads (they inherit it)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, CHILD_NICENESS)
    except (AttributeError, OSError):  # not on this platform, or the child has just ended
        pass


def _reap(process: subprocess.Popen) -> int | None:
    try:
        process.stdin.close()  # EOF for the child's stdin reader
    except OSError:
        pass
    try:
        return process.wait(timeout=30)  # stdout is closed: the child is ending or has ended
    except subprocess.TimeoutExpired:
        end_process(process, TERMINATE_GRACE)
        return process.returncode


def _quit_worker_thread() -> None:
    """End the event loop of the worker thread we run in (never the app's main thread, where
    run() is called directly by benchmarks or scripts)."""
    app = QCoreApplication.instance()
    thread = QThread.currentThread()
    if app is None or thread is not app.thread():
        thread.quit()
