"""The key that keeps a drawing as a sample of a class, typed on the canvas. When every class
is named by one letter or digit (a classifier of A–Z, of 0–9, of "x, o"), each class's key is
its own name: the key A keeps an A. Otherwise the classes take 0–9, then A–Z, in order (the
11th class is A), so each of a classifier's up to 36 classes has one. Here, below the canvas
and the panels that name the keys, so all of them read the same rule."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt

KEYS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"   # in order, when the names are not keys


def class_keys(names: Sequence[str]) -> str:
    """Each class's key, one character each (``""`` beyond the 36th class)."""
    own = [name.upper() for name in names]
    if all(len(key) == 1 and key in KEYS for key in own) and len(set(own)) == len(own):
        return "".join(own)
    return KEYS[:len(names)]


def key_class(key: int, keys: str) -> int | None:
    """The class a Qt key stands for among ``keys`` (``class_keys``), or None."""
    digit = Qt.Key.Key_0 <= key <= Qt.Key.Key_9
    if not (digit or Qt.Key.Key_A <= key <= Qt.Key.Key_Z):
        return None
    index = keys.find(chr(int(key)))   # Qt's keys 0-9 and A-Z are their characters' codes
    return index if index >= 0 else None


def keys_text(keys: str) -> str:
    """The keys as a hint says them: ``0–2``, ``0–9 and A–B``, ``A–Z``, ``O, X``."""
    parts = [part for part in ("".join(k for k in keys if k.isdigit()),
                               "".join(k for k in keys if k.isalpha())) if part]
    return " and ".join(_run_text(part) for part in parts)


def _run_text(keys: str) -> str:
    if len(keys) > 1 and keys in KEYS:   # a run: 0–9, A–Z
        return f"{keys[0]}–{keys[-1]}"
    return ", ".join(keys)
