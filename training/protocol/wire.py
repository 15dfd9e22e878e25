"""The one wire format between a child process and the window: one JSON object per line.

Both commands (training/cli/main.py, training/cli/teach.py) write with :func:`dumps`; the window
and the tests read with :func:`loads`. NaN and infinities travel as null, numpy values as plain
numbers and lists, paths as text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def json_safe(value):
    """Plain JSON values: numpy to lists/numbers, NaN and infinities to None (null)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(record: dict) -> str:
    """One line of the protocol (without the newline)."""
    return json.dumps(json_safe(record), allow_nan=False)


def loads(line: str | bytes) -> dict | None:
    """The record on one line, or None for a line that is not a JSON object (a stray print)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("event"), str) else None
