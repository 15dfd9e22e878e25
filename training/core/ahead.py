"""Work on a file done ahead of need in another thread, handed to the one call that needs it.

The window's first model load hashes and unzips files (which release the GIL) after its thread
has imported numpy, Pillow and LiteRT (which hold it): done ahead, in a thread started before
those imports, the file work overlaps them on a second core (desktop_app/prediction/
load_ahead.py). Between ``begin()`` and ``end()``, ``compute_ahead(kind, path, compute)`` does
it early, and ``take(kind, path, compute)``, where the work would have been done, returns that
result (waiting for it if it is under way) when the file is still the same one (path, inode,
size, modification time); otherwise, and outside that time, ``take`` computes as always. Each
result is handed over once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_open = False
_ahead: dict[tuple, tuple[threading.Event, list]] = {}  # key -> (done, [result] or [])
_too_late: set[tuple] = set()  # wanted before its work ahead began: that work is skipped


def begin() -> None:
    """Work ahead may follow (until ``end``)."""
    global _open
    with _lock:
        _open = True


def end() -> None:
    """What was not taken is dropped; ``take`` computes everything from now on."""
    global _open
    with _lock:
        _open = False
        _ahead.clear()
        _too_late.clear()


def _key(kind: str, path: str | os.PathLike) -> tuple:
    st = os.stat(path)
    return kind, os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns


def compute_ahead(kind: str, path: str | os.PathLike, compute: Callable[[Any], Any]) -> Any:
    """``compute(path)`` now, kept for the next ``take`` of this file; also returned (None when
    it failed, or is not wanted: the taker then computes it itself)."""
    try:
        key = _key(kind, path)
    except OSError:
        return None
    done, box = threading.Event(), []
    with _lock:
        if not _open or key in _too_late or key in _ahead:
            return None
        _ahead[key] = (done, box)
    try:
        box.append(compute(path))
    except Exception:  # noqa: BLE001 - the taker computes it again and meets the error
        pass
    finally:
        done.set()
    return box[0] if box else None


def take(kind: str, path: str | os.PathLike, compute: Callable[[Any], Any]) -> Any:
    """``compute(path)``, or the same computed ahead for this very file."""
    try:
        key = _key(kind, path)
    except OSError:
        return compute(path)  # (raises as it always did)
    with _lock:
        entry = _ahead.pop(key, None)
        if entry is None and _open:
            _too_late.add(key)
    if entry is not None:
        done, box = entry
        done.wait()
        if box:
            return box[0]
    return compute(path)
