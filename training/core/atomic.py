"""One atomic-write path for every file the app and the CLI write (models, sidecars, drawings,
samples, exports, downloads).

The pattern of Qt's ``QSaveFile`` and SQLite's commit: write a temporary file in the target's
folder, check every step, flush and fsync it, then rename it over the target. A failure at any
step leaves the previous file untouched and no temporary file behind, and raises
:class:`WriteError` with a message meant for the user. Success is never reported before the
rename.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

FILE_MODE = 0o644  # an ordinary, shareable file


class WriteError(OSError):
    """A file could not be written; the message says which and why, in plain words."""


def check_writable_target(path: str | os.PathLike) -> Path:
    """Fail early (before hours of training) when ``path`` cannot become a regular file.

    Refuses a folder, a device or other special file, a missing or read-only parent folder.
    Returns the path, user-expanded.
    """
    path = Path(path).expanduser()
    name = str(path)
    if path.is_dir():
        raise WriteError(f"{name} is a folder; give a file name.")
    if path.exists() and not path.is_file():
        raise WriteError(f"{name} is not a regular file (a device or a pipe); give a file name.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(f"cannot create the folder {folder}: {_reason(exc)}.") from None
    if not folder.is_dir():
        raise WriteError(f"{folder} is not a folder.")
    try:  # the only reliable test: create (and remove) a file there
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise WriteError(f"cannot write in {folder}: {_reason(exc)}.") from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on a clean exit it replaces ``path``.

    For writers that want a file name (``model.save``, ``QImage.save``): they write the
    temporary path, and the context checks it is non-empty, fsyncs it and renames it. Any
    exception (or an empty file) removes the temporary and leaves ``path`` as it was.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise WriteError(f"{path} is a folder; give a file name.")
    if path.exists() and not path.is_file():
        raise WriteError(f"{path} is not a regular file (a device or a pipe).")
    temp = _temp_file(path, suffix if suffix is not None else path.suffix)
    try:
        yield temp
        if temp.stat().st_size == 0:
            raise WriteError(f"could not write {path.name}: nothing was written "
                             "(the disk may be full).")
        _fsync_file(temp)
        try:
            os.replace(temp, path)
        except OSError as exc:
            raise WriteError(f"could not write {path}: {_reason(exc)}.") from None
        _fsync_folder(path.parent)
    except OSError as exc:
        if isinstance(exc, WriteError):
            raise
        raise WriteError(f"could not write {path}: {_reason(exc)}.") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
        _in_flight.discard(temp)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_with(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_with(path: str | os.PathLike, writer: Callable, suffix: str | None = None) -> Path:
    """Call ``writer(binary_file)`` on a temporary file, then move it over ``path`` atomically."""
    path = Path(path).expanduser()
    with atomic_path(path, suffix) as temp:
        try:
            with open(temp, "wb") as f:
                writer(f)
                f.flush()
        except OSError as exc:
            raise WriteError(f"could not write {path}: {_reason(exc)}.") from None
    return path


def end_cleanly_on_sigterm() -> None:
    """Make SIGTERM (how the window ends a child process) remove the temporaries being written
    and end the process at once. Main thread only.

    Not by raising SystemExit: a signal's handler runs wherever the main thread is, and an
    exception raised inside a ``__del__`` or a weakref callback (TensorFlow runs many while it
    converts a model) is printed and dropped. Ended that way, one run went on to finish its
    whole evaluation; another left its LiteRT twin's temporary beside the model."""
    import signal
    import threading

    def _end(signum, frame):
        _remove_in_flight()
        os._exit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _end)


def remove_stale_temps(target: str | os.PathLike, older_than_s: float = 3600) -> None:
    """Remove the temporaries a killed writer of ``target`` left (kill -9 skips every cleanup);
    recent ones may belong to a writer still at work, so they stay."""
    target = Path(target)
    cutoff = time.time() - older_than_s
    for temp in target.parent.glob(f".{target.stem}-*.partial*"):
        with contextlib.suppress(OSError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()


# The temporaries being written now: a SIGTERM removes them before it ends the process (one
# was left when the signal came while a LiteRT converter was writing its file).
_in_flight: set[Path] = set()


def _remove_in_flight() -> None:
    for temp in list(_in_flight):
        with contextlib.suppress(OSError):
            temp.unlink()
        _in_flight.discard(temp)


def _temp_file(target: Path, suffix: str) -> Path:
    """A new empty file beside ``target``, registered as in flight before it exists, so a
    SIGTERM at any moment finds it."""
    folder = target.parent if str(target.parent) else Path(".")
    temp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        while True:
            # (os.urandom, not secrets: that loads OpenSSL, ~6 ms of the window's start-up)
            temp = folder / f".{target.stem}-{os.urandom(4).hex()}.partial{suffix}"
            _in_flight.add(temp)
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
                break
            except FileExistsError:
                _in_flight.discard(temp)
        os.close(fd)
        os.chmod(temp, FILE_MODE)  # whatever the umask: an ordinary, shareable file
    except OSError as exc:
        if temp is not None:
            _in_flight.discard(temp)
            with contextlib.suppress(OSError):
                temp.unlink()
        raise WriteError(f"cannot write in {folder}: {_reason(exc)}.") from None
    return temp


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the disk is read-only"
    if exc.errno == errno.EISDIR:
        return "it is a folder"
    return exc.strerror or str(exc)

