"""The key that keeps a drawing as a sample of class i, typed on the canvas: classes 0–9 have
the digit keys, classes 10–35 the letters A–Z in order (the 11th class is A), so each of a
classifier's up to 36 classes has one. Here, below the canvas and the panels that name the
keys, so all of them read the same rule."""

from __future__ import annotations

from PySide6.QtCore import Qt

KEYS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"   # class i's key is KEYS[i]


def class_key(index: int) -> str:
    """``"0"``… ``"9"``, ``"A"``… ``"Z"``; ``""`` for a class beyond the 36th."""
    return KEYS[index] if 0 <= index < len(KEYS) else ""


def key_class(key: int) -> int | None:
    """The class a Qt key stands for (``Key_A`` -> 10), or None for any other key."""
    if Qt.Key.Key_0 <= key <= Qt.Key.Key_9:
        return int(key) - int(Qt.Key.Key_0)
    if Qt.Key.Key_A <= key <= Qt.Key.Key_Z:
        return 10 + int(key) - int(Qt.Key.Key_A)
    return None


def keys_text(count: int) -> str:
    """The keys of ``count`` classes, as a hint says them: ``0–2``, ``0–9``, ``0–9 and A–Z``."""
    last = class_key(min(count, len(KEYS)) - 1)
    if count <= 10:
        return f"0–{last}"
    return "0–9 and A" if count == 11 else f"0–9 and A–{last}"
