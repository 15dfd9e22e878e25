"""Benchmarks: python -m bench [NAME ...] (default: all of SUITES, in order).

Speed is reported as ratios against a baseline run in the same process, so a busy or slower
machine moves both sides together. Needs the real datasets (DRAW_CLASSIFY_DATA or Keras cache).
Results are printed and written to bench/results/<name>.json. With several names (or none),
each runs in a fresh process, and a failing one does not stop the others.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SUITES = ("predictor", "lite", "gui_latency", "lecture_speed", "budget", "gui_training", "memory", "paper",
          "fashion_drawings", "numbers", "teach", "explain", "calibration", "ood_drawings",
          "own_classes", "hands", "fine_tune")
RESULTS = Path(__file__).resolve().parent / "results"
# Suites that host the window in their own process: set up as the app sets up its process, before
# numpy loads (one OpenBLAS thread: with two, the window's numpy threads spin beside the live
# answer, and stroke -> paint p95 with every view open read 20-26 ms instead of 15-18 ms).
WINDOW_SUITES = ("gui_latency", "memory", "explain")


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    if len(names) == 1:
        return run_one(names[0])
    # Each suite in a process of its own: what one imports and holds (TensorFlow, datasets)
    # would otherwise count in the next one's figures (the window's memory, its start-up).
    failed = [name for name in names
              if subprocess.run([sys.executable, "-m", "bench", name]).returncode != 0]
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


def run_one(name: str) -> int:
    if name in WINDOW_SUITES:
        from desktop_app.app import configure_process

        configure_process()
    from training.core.cpu import cpu_line

    RESULTS.mkdir(exist_ok=True)
    module = importlib.import_module(f"bench.bench_{name}")
    print(f"== {name} == {cpu_line()}", flush=True)  # a speed holds only on its CPU
    result = module.run()
    if isinstance(result, dict):
        result.setdefault("cpu", cpu_line())
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
