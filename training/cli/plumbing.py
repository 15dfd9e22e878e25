"""What the commands (train_command, model_commands, file_commands and teach, under main.py)
share to talk to a terminal or to the window: the JSON-lines writer, the stop requests, the error
line, the progress bar, the common options, and a quiet import of Keras.
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time

from training.core.datasets import DATASETS
from training.protocol.messages import (
    Batch,
    Download,
    Error,
    Message,
    TeachBatch,
    encode,
    from_record,
    speed_text,
)

EXIT_ERROR = 2
EXIT_NOT_SAVED = 3
EXIT_INTERRUPTED = 130
BATCH_INTERVAL = 0.1        # seconds between two batch (or download) lines: <= 10 a second
DEBUG_ENV_VAR = "DRAW_CLASSIFY_DEBUG"

# Lines TensorFlow's C++ side writes to stderr while it loads, before TF_CPP_MIN_LOG_LEVEL
# applies (absl logging is initialised later): start-up information, not problems.
_TF_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IW]\d{4} "
                       r"\d\d:\d\d:\d\d|To enable the following instructions|E\d{4} .*cuda)")


class CliError(Exception):
    """A user error found by the CLI itself (the message is printed, exit status 2)."""


def take_stdout() -> io.TextIOBase:
    """Keep the real stdout for the JSON lines and point fd 1 (and sys.stdout) at stderr, so a
    stray print from a library, Python or C++, can never corrupt the protocol."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return io.open(protocol_fd, "w", encoding="utf-8", newline="\n", buffering=1)


class JsonLines:
    """The protocol writer, also a progress callback: batch and download lines at most 10 a
    second (the last batch of an epoch or a phase and the end of a file always go out)."""

    def __init__(self, stream):
        self.stream = stream
        self.broken = False  # the reader went away (the window closed or crashed)
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: Message | dict) -> None:
        """The progress callback of the training code (its events come as dicts)."""
        message = self._typed(event)
        if message is None:
            return
        if isinstance(message, (Batch, TeachBatch, Download)):
            if isinstance(message, Download):
                last = message.done == message.total
            else:  # training counts batches, teaching steps, both of "steps"
                last = message.batch >= message.steps
            now = time.monotonic()
            if now - self._last < BATCH_INTERVAL and not last:
                return
            self._last = now
        self.write(message)

    def write(self, message: Message | dict) -> None:
        message = self._typed(message)
        if message is None:
            return
        text = encode(message)
        with self._lock:
            if self.broken:
                return
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # EPIPE: stop the work, nobody is listening
                self.broken = True

    @staticmethod
    def _typed(event: Message | dict) -> Message | None:
        """Every line goes through the one codec (training/protocol/messages.py); an event it
        does not know is a bug of ours: said on stderr, never a line the reader cannot read."""
        if isinstance(event, Message):
            return event
        message = from_record(event)
        if message is None:
            print(f"protocol: no message type fits {str(event)[:200]}", file=sys.stderr)
        return message


class StopRequests:
    """Stop after the current batch on the first Ctrl+C or a ``stop`` line on stdin (JSON mode);
    a second Ctrl+C aborts. Also stops when the JSON reader has gone away."""

    def __init__(self, protocol: JsonLines | None = None):
        self.requested = False
        self.protocol = protocol
        self._previous = None

    def __call__(self) -> bool:
        return self.requested or (self.protocol is not None and self.protocol.broken)

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)

    def listen_on_stdin(self) -> None:
        """Read ``stop`` lines from stdin in a daemon thread (the window's way to stop us)."""
        threading.Thread(target=self._read_stdin, name="stdin-stop", daemon=True).start()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            if line.strip().lower() == "stop":
                self.request("stop requested on stdin")

    def request(self, why: str) -> None:
        if not self.requested:
            self.requested = True
            print(f"\n{why}: stopping after this batch...", file=sys.stderr, flush=True)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.request("Ctrl+C (again to abort)")


def fail(protocol: JsonLines | None, message: str, status: int = EXIT_ERROR) -> int:
    """The one error line on stderr (and an ``error`` record for the window); the exit status."""
    print(f"error: {message}", file=sys.stderr)
    if protocol is not None:
        protocol.write(Error(message=message))
    return status


def unexpected(exc: BaseException) -> str:
    """One line for an error nobody foresaw: its type and the first line of its text."""
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"unexpected {type(exc).__name__}" + (f": {detail}" if detail else "")


def progress_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--progress", choices=("bar", "json"), default="bar",
                     help="bar: a human progress line on stderr (default); json: one JSON "
                          "object per line on stdout, and 'stop' on stdin stops training")


def model_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", default="mnist",
                     help="a .keras file or a shipped model name: mnist (default), fashion_mnist")
    cmd.add_argument("--dataset", choices=list(DATASETS),
                     help="dataset of a model without metadata (default: from its metadata)")


def import_keras_quietly() -> None:
    """Import Keras (and TensorFlow) with fd 2 captured, then pass on all but the start-up
    lines TensorFlow's C++ logging prints before TF_CPP_MIN_LOG_LEVEL takes effect."""
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    # Keras imports matplotlib's pyplot for two gallery-plotting helpers we never call: ~0.9 s
    # of every child's start here. Seen as missing while Keras loads, it is left out; a later
    # import of matplotlib works as usual.
    hide_matplotlib = "matplotlib" not in sys.modules
    if hide_matplotlib:
        sys.modules["matplotlib"] = None
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            if hide_matplotlib and sys.modules.get("matplotlib", ...) is None:
                del sys.modules["matplotlib"]
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not _TF_NOISE.match(line):
                    print(line, file=sys.stderr)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


class ProgressBar:
    """One line per epoch on stderr: a bar with batches, loss/accuracy and the ETA."""

    WIDTH = 30

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # the stderr of now, not the one at import
        self.tty = self.stream.isatty()
        self._last_line = 0.0

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "train_begin":
            print(f"training on {event['train_samples']} images, validating on "
                  f"{event['val_samples']} ({event['source']})", file=self.stream)
            if event.get("strategy", "default") != "default":
                print(f"strategy {event['strategy']}: {event['devices']}", file=self.stream)
            if isinstance(event.get("speed"), dict):
                print(f"settings: {speed_text(event['speed'])}", file=self.stream)
        elif kind == "tuning":
            print(f"measuring the fastest settings for {event['architecture']} on this CPU "
                  "(once; a few seconds)...", file=self.stream, flush=True)
        elif kind in ("batch", "download"):
            now = time.monotonic()
            if not self.tty and now - self._last_line < 10:
                return  # a log file gets a line every 10 s, not a flood
            self._last_line = now
            if kind == "download":
                total = f" of {event['total'] / 1e6:.1f}" if event["total"] else ""
                text = f"downloading {event['file']}: {event['done'] / 1e6:.1f}{total} MB"
            else:
                done = int(self.WIDTH * event["batch"] / event["steps"])
                text = (f"epoch {event['epoch']}/{event['epochs']} "
                        f"[{'=' * done:<{self.WIDTH}}] {event['batch']}/{event['steps']} "
                        f"loss {event['loss']:.4f} acc {event['accuracy']:.4f} "
                        f"ETA {_duration(event['eta_seconds'])}")
            print(("\r" + text) if self.tty else text, end="" if self.tty else "\n",
                  file=self.stream, flush=True)
        elif kind == "epoch":
            val = (f" val_loss {event['val_loss']:.4f} val_acc {event['val_accuracy']:.4f}"
                   if "val_loss" in event else "")
            text = (f"epoch {event['epoch']}/{event['epochs']} {event['seconds']:.1f} s "
                    f"loss {event['loss']:.4f} acc {event['accuracy']:.4f}{val}")
            print(("\r\x1b[K" + text) if self.tty else text, file=self.stream, flush=True)
        elif kind == "evaluate_begin":
            print(f"evaluating on {event['samples']} test images...", file=self.stream)
        elif kind == "warning":
            print(f"warning: {event['message']}", file=self.stream)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds)) if math.isfinite(seconds) else 0
    return f"{seconds // 60}:{seconds % 60:02d}"
