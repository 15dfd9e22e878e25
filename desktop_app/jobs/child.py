"""``python -m training <command> ... --progress json`` as a child process: the one way the window
runs TensorFlow work (training, teaching, model summaries, conversion, export).

A :class:`ChildJob` is a ``QProcess`` driven by the UI thread's event loop: no thread blocks in
a wait. The child speaks the protocol of training/protocol/messages.py, one JSON object per
line on stdout; every line is decoded into its typed message and sent on ``message``; the last
line is a result (``finished``) or an error (``failed`` with its text). A child that ends without
either (killed, out of memory, a segfault in TensorFlow) is a ``failed`` message built from its
exit and the last lines of its stderr, never a crash of the window.

Ending it: ``request_stop()`` writes ``stop`` on its stdin (training stops after the current
batch, still saves, then measures); ``stop()`` (the registry's, also "its work is no longer
wanted") sends SIGTERM, which every command handles by ending cleanly, and SIGKILL follows after
``TERMINATE_GRACE`` if it has not ended; ``wait()`` blocks until it has, killing it at the end of
the time given. Qt reaps the child: no zombie is left.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from desktop_app.jobs.registry import JobRegistry
from training.protocol.messages import Error, Result, decode

log = logging.getLogger(__name__)

STDERR_TAIL = 60            # lines of the child's stderr kept for the log and the message
TERMINATE_GRACE_MS = 1000   # between SIGTERM and SIGKILL
# The child runs at a lower CPU priority: it still gets every idle cycle, but when the window
# needs the CPU (a chart redraw, the live canvas) it gets it at once instead of sharing the
# 2 cores with TensorFlow's threads (measured: UI stalls of up to ~190 ms without it).
CHILD_NICENESS = 10
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # holds training/: the child runs the same code

UNAFFECTED = "The model in use and your drawing are unaffected."
# Set beside OPENBLAS_NUM_THREADS=1 when the window chose it (desktop_app/app.py): children
# (training, teaching: numpy on large arrays) get the user's own setting back.
WINDOW_BLAS_MARK = "DRAW_CLASSIFY_WINDOW_BLAS"


def child_environment() -> dict:
    """The window's environment (data folder, caches, user home, download mirror), TensorFlow's
    start-up logging silenced, and this checkout's ``training`` package first on the path."""
    env = dict(os.environ)
    if env.pop(WINDOW_BLAS_MARK, None):  # one BLAS thread is the window's choice, not theirs
        env.pop("OPENBLAS_NUM_THREADS", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      env.get("PYTHONPATH")]))
    return env


def unexpected_end_message(returncode: int | None, what: str = "training",
                           last_words: str = "") -> str:
    """Words for a child that ended without a result line (a negative code: killed by that
    signal); ``last_words``, the last line of its stderr, says why when it exited by itself."""
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
        if last_words:
            why += f": {last_words.removeprefix('error: ')[:300]}"
    return f"The {what} process ended unexpectedly ({why}). {UNAFFECTED}"


class ChildJob(QObject):
    """Runs ``python -m training <command> <args>`` once; a Job of the window's registry.

    ``message(Message)`` for every line but the last, ``finished(Result)`` for the result line,
    ``failed(str)`` with words for the user otherwise (an ``error`` line's text, a cancel, or an
    unexpected end with its stderr in the log), then ``ended()`` once the process is gone.
    """

    # How the child is started (after the Python interpreter): the project's command line.
    # The window tests put tests/recorded_child.py here (the same CLI, fitting replayed).
    ENTRY: tuple[str, ...] = ("-m", "training")

    started = Signal(int)       # the child's pid
    message = Signal(object)    # a training.protocol.messages.Message
    finished = Signal(object)   # the Result message
    failed = Signal(str)
    ended = Signal()

    def __init__(self, command: str, args: list, what: str = "training", parent=None):
        super().__init__(parent)
        self.name = what
        self.arguments = [*self.ENTRY, command, *map(str, args)]
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.pid: int | None = None
        self.result: Result | None = None
        self._error: str | None = None
        self._cancelled = self._stop_requested = self._done = False
        self._registry: JobRegistry | None = None
        self._stderr_rest = b""
        self._process = QProcess(self)
        self._process.setProgram(sys.executable)
        self._process.setArguments(self.arguments)
        environment = QProcessEnvironment()
        for key, value in child_environment().items():
            environment.insert(key, value)
        self._process.setProcessEnvironment(environment)
        if hasattr(self._process, "setUnixProcessParameters"):
            # Its own session: Ctrl+C in the window's terminal goes to the window, which then
            # ends the child itself. (Qt does this between fork and exec: no Python runs there.)
            self._process.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
        self._process.started.connect(self._on_started)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)
        self._kill_timer = QTimer(self, singleShot=True, interval=TERMINATE_GRACE_MS)
        self._kill_timer.timeout.connect(self.kill)

    # ------------------------------------------------------------------ control
    def start(self, registry: JobRegistry | None = None) -> "ChildJob":
        """Start the child; the registry (the window's) holds it until it has ended."""
        self._registry = registry
        if registry is not None:
            registry.add(self)
        self._process.start()
        return self

    def request_stop(self) -> None:
        """Ask the child to stop after the current batch: it still saves, then measures."""
        self._stop_requested = True
        if self.is_running():
            self._process.write(b"stop\n")

    def stop_requested(self) -> bool:
        return self._stop_requested

    def stop(self) -> None:
        """End the child now, its work no longer wanted (SIGTERM; SIGKILL after the grace
        period); ``failed`` says it was cancelled. Returns at once."""
        self._cancelled = True
        self.terminate()

    def terminate(self) -> None:
        if self.is_running():
            self._process.terminate()
            self._kill_timer.start()

    def kill(self) -> None:
        if self.is_running():
            self._process.kill()

    def wait(self, seconds: float) -> bool:
        """Block up to ``seconds`` for the child to end, then kill it; True when it has ended
        (its last signals have been sent by then)."""
        if self.is_running() and not self._process.waitForFinished(max(0, int(seconds * 1000))):
            self._process.kill()
            self._process.waitForFinished(TERMINATE_GRACE_MS)
        return not self.is_running()

    def is_running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def cancelled(self) -> bool:
        return self._cancelled

    # ------------------------------------------------------------------ the process's signals
    def _on_started(self) -> None:
        self.pid = int(self._process.processId())
        try:  # set before TensorFlow makes its threads (they inherit it)
            os.setpriority(os.PRIO_PROCESS, self.pid, CHILD_NICENESS)
        except (AttributeError, OSError):  # not on this platform, or it has just ended
            pass
        if self._stop_requested:
            self._process.write(b"stop\n")
        self.started.emit(self.pid)

    def _read_stdout(self) -> None:
        while self._process.canReadLine():
            self._take_line(bytes(self._process.readLine().data()))

    def _take_line(self, line: bytes) -> None:
        message = decode(line)
        if message is None:
            if line.strip():
                log.debug("%s child: %s", self.name, line.decode("utf-8", "replace").rstrip())
        elif isinstance(message, Result):
            self.result = message
        elif isinstance(message, Error):
            self._error = message.message or "unknown error"
        elif not self._cancelled:
            self.message.emit(message)

    def _read_stderr(self) -> None:
        text = self._stderr_rest + bytes(self._process.readAllStandardError().data())
        *lines, self._stderr_rest = text.split(b"\n")
        self.stderr_tail.extend(line.decode("utf-8", "replace").rstrip() for line in lines)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end(f"Could not run the {self.name} process: "
                      f"{self._process.errorString()}. {UNAFFECTED}")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        rest = bytes(self._process.readAllStandardOutput().data())
        if rest.strip():  # a last line without its newline
            self._take_line(rest)
        self._read_stderr()
        if self._stderr_rest:
            self.stderr_tail.append(self._stderr_rest.decode("utf-8", "replace").rstrip())
            self._stderr_rest = b""
        returncode = -code if status == QProcess.ExitStatus.CrashExit else code
        if self._cancelled:
            self._end(f"The {self.name} was cancelled.")
        elif self.result is not None:
            self._end(None)
        elif self._error is not None:
            self._end(self._error)
        else:
            log.error("%s child ended with status %s; its last output:\n%s", self.name,
                      returncode, "\n".join(self.stderr_tail))
            last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
            self._end(unexpected_end_message(returncode, self.name, last))

    def _end(self, failure: str | None) -> None:
        if self._done:
            return
        self._done = True
        if self._registry is not None:
            self._registry.discard(self)
        if failure is None:
            self.finished.emit(self.result)
        else:
            self.failed.emit(failure)
        self.ended.emit()


class OneChild(QObject):
    """A controller of one child at a time (teaching, training a classifier): starts it, relays
    its messages, and says when it has ended. Subclasses decide what a result or a failure
    means (``_on_finished``, ``_on_failed``)."""

    stateChanged = Signal(bool)   # True when a run starts, False when it has ended
    progress = Signal(object)     # the child's messages before its result
    finished = Signal(object)     # the Result
    failed = Signal(str)          # a message for the user (a stop is one too)

    def __init__(self, jobs: JobRegistry | None = None, parent=None):
        super().__init__(parent)
        self.jobs = jobs if jobs is not None else JobRegistry()  # the window gives its own
        self._job: ChildJob | None = None

    def is_running(self) -> bool:
        return self._job is not None

    def request_stop(self) -> None:
        if self._job is not None:
            self._job.request_stop()

    def _start_child(self, command: str, args: list, what: str) -> None:
        self._job = job = ChildJob(command, args, what, self)
        job.message.connect(self.progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.ended.connect(self._on_ended)
        job.start(self.jobs)
        self.stateChanged.emit(True)

    def _stop_child(self, timeout_ms: int) -> bool:
        """End the child (terminate, kill after 1 s); True when it has ended."""
        job = self._job
        if job is None:
            return True
        job.stop()
        return job.wait(timeout_ms / 1000)

    def _stopped_by_user(self) -> bool:
        return self._job is not None and self._job.stop_requested()

    def _on_finished(self, result) -> None:
        self.finished.emit(result)

    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)

    def _on_ended(self) -> None:
        if self._job is not None:
            self._job.deleteLater()
        self._job = None
        self.stateChanged.emit(False)
