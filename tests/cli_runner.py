"""``python -m training ...`` run inside the test process, for slow tests whose subject is the
command, not the process: TensorFlow is loaded once per pytest worker instead of once per child
(~6-8 s each here). Tests of the process itself (stop on stdin, SIGTERM, no TensorFlow start-up
noise on stderr) and tests not marked slow (they must not load TensorFlow here) start real
children (test_cli.cli, test_cli.start_cli).

main() takes over the process: in JSON mode take_stdout() points fd 1 and sys.stdout at stderr,
train installs SIGINT and SIGTERM handlers and reads stdin. run_main captures fds 1 and 2 in
files, as a pipe to a child would, and puts all of that back afterwards.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import tempfile
from typing import NamedTuple


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run_main(*args, env: dict | None = None) -> Result:
    """``main(args)`` with stdout and stderr captured; ``env`` is added to the environment for
    the run (None: removed). Only from tests marked slow: most commands load TensorFlow."""
    from training.cli.main import main

    saved_env = dict(os.environ)
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for stream in saved_streams[1:]:
        stream.flush()
    saved_fds = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        # Python's streams on the captured fds (a child's would be its pipes); nothing arrives
        # on stdin, so a JSON-mode run is never asked to stop.
        captured = [open(fd, "w", encoding="utf-8", closefd=False, buffering=1) for fd in (1, 2)]
        sys.stdout, sys.stderr = captured
        sys.stdin = io.StringIO()
        try:
            for key, value in (env or {}).items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = str(value)
            returncode = main([str(arg) for arg in args])
        except SystemExit as exc:  # argparse: --help (0), a usage error (2)
            returncode = exc.code or 0
        finally:
            for stream in captured:
                stream.close()
            for fd, saved in saved_fds.items():
                os.dup2(saved, fd)
                os.close(saved)
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            for signum, handler in saved_handlers.items():
                signal.signal(signum, handler)
            for key in os.environ.keys() - saved_env.keys():
                del os.environ[key]
            os.environ.update(saved_env)
        out.seek(0)
        err.seek(0)
        return Result(returncode, out.read().decode("utf-8", "replace"),
                      err.read().decode("utf-8", "replace"))
