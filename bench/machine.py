"""The machine a figure was measured on, printed beside every figure of ``make bench`` (the
functions live in training/core/cpu.py: the tuned training settings are keyed by them too)."""

from __future__ import annotations

from training.core.cpu import cpu_info, cpu_line

__all__ = ["cpu_info", "cpu_line"]

if __name__ == "__main__":
    print(cpu_line())
