"""Superseded by bench_lecture_speed (issue #11): train() versus the lecture's own plain script,
with the lecture's presets. ``python -m bench training_speed`` still works and runs it."""

from __future__ import annotations

from .bench_lecture_speed import run  # noqa: F401
