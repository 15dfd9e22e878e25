"""The model summaries of the architecture catalogue, shipped in resources/architectures.jsonl.

A summary (layers, output shapes, parameters) depends only on the architecture and on whether
it has Dropout layers, so `make models` writes it once with `python -m training describe --json`
(both cases) and the window reads it here, without TensorFlow: the training panel shows it at
once instead of starting a TensorFlow child (6-8 s of CPU, ~600 MB) each time it opens. An
architecture the file lacks (a new one, or a damaged file) is described by that child as before.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from training.protocol.config import ARCHITECTURES
from training.protocol.messages import Summary, decode

SUMMARIES_FILE = "architectures.jsonl"


def summaries_path() -> Path:
    return Path(str(resources.files("resources"))) / SUMMARIES_FILE


def shipped_summaries(path: str | os.PathLike | None = None) -> dict[tuple[str, bool], str]:
    """{(architecture, has dropout): summary text} of the shipped file; {} when it cannot be
    read. Lines that are not a summary of a known architecture are left out."""
    try:
        lines = Path(path or summaries_path()).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    found = {}
    for line in lines:
        message = decode(line)
        if (isinstance(message, Summary) and message.architecture in ARCHITECTURES
                and isinstance(message.text, str)):
            found[(message.architecture, bool(message.dropout))] = message.text
    return found
