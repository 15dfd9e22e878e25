"""What both commands (train & co. in training/cli/main.py, teach in training/cli/teach.py) need
to talk to a terminal or to the window: the JSON-lines writer, the stop requests, the error line.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time

from training.protocol.messages import (
    Batch,
    Download,
    Error,
    Message,
    TeachBatch,
    encode,
    from_record,
)

EXIT_ERROR = 2
EXIT_NOT_SAVED = 3
EXIT_INTERRUPTED = 130
BATCH_INTERVAL = 0.1        # seconds between two batch (or download) lines: <= 10 a second


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
