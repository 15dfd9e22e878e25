"""The lecture's two nets: the lecture's own plain script versus this app's training with the
matching preset (same architecture, batch size, optimizer, epochs, data), each in a process of
its own and alternating, so both see the same machine state.

The script runs as a user runs it, in TensorFlow's own configuration; ours runs as the window's
child does (``python -m training train``), with the settings chosen for this CPU
(training/learn/tuning.py: precision, XLA, batches per call, threads, oneDNN's kernels).

Goal (issue #11, #22): the dense net <= 0.6x and the CNN <= 0.9x the lecture's epoch time, at
equal test accuracy (within 0.3 %, mean of the repeats; each repeat uses its own seed on both
sides). Epoch time = seconds of ``fit`` / epochs, tracing and compiling included on both sides.

Environment: BENCH_LECTURE_REPEATS (default 3 dense / 2 CNN), BENCH_LECTURE_CNN_EPOCHS (default 1;
the lecture ran 5, about 100 s each here).
"""

from __future__ import annotations

import os
import statistics
import tempfile

import numpy as np

from bench.bench_budget import lecture_run, preset_run
from training.protocol.presets import preset_config

ACCURACY_TOLERANCE = 0.003
CASES = (  # (preset, dataset as in the lecture, the script's model, epochs, repeats, goal ratio)
    ("lecture-dense", "fashion_mnist", "dense", 5, 3, 0.6),
    ("lecture-cnn", "mnist", "cnn", int(os.environ.get("BENCH_LECTURE_CNN_EPOCHS", "1")), 2, 0.9),
)


def ours(preset: str, dataset: str, epochs: int, seed: int, folder: str) -> tuple[float, float]:
    seconds, accuracy, _ = preset_run(preset, dataset, seed, folder, "--epochs", str(epochs),
                                      "--validation-split", "0")
    return seconds, accuracy


def _times(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def run() -> dict:
    results = {}
    repeats_env = os.environ.get("BENCH_LECTURE_REPEATS")
    for preset, dataset, script, epochs, repeats, goal in CASES:
        repeats = int(repeats_env or repeats)
        plain, mine = [], []
        for seed in range(repeats):
            plain.append(lecture_run(script, epochs, seed))
            with tempfile.TemporaryDirectory() as folder:
                mine.append(ours(preset, dataset, epochs, seed, folder))
        plain_epoch = [s / epochs for s, _ in plain]
        our_epoch = [s / epochs for s, _ in mine]
        best = min(our_epoch) / min(plain_epoch)
        median = statistics.median(our_epoch) / statistics.median(plain_epoch)
        plain_acc = float(np.mean([a for _, a in plain]))
        our_acc = float(np.mean([a for _, a in mine]))
        met = (best <= goal and median <= goal
               and our_acc >= plain_acc - ACCURACY_TOLERANCE)
        key = f"{preset}/{dataset}"
        results[key] = {
            "epochs": epochs, "config": preset_config(preset, dataset).to_dict(),
            "lecture_epoch_s": plain_epoch, "ours_epoch_s": our_epoch,
            "lecture_accuracy": [a for _, a in plain], "ours_accuracy": [a for _, a in mine],
            "ratio_of_best": best, "ratio_of_median": median, "goal_ratio": goal,
            "accuracy_difference": our_acc - plain_acc, "met": met,
        }
        print(f"{key:28s} {epochs} epoch(s) x {repeats}: epoch time lecture "
              f"{_times(plain_epoch)} s, ours {_times(our_epoch)} s -> ratio best {best:.2f}, "
              f"median {median:.2f} (goal <= {goal}); test accuracy lecture {plain_acc:.2%}, "
              f"ours {our_acc:.2%} ({our_acc - plain_acc:+.2%}; goal within "
              f"{ACCURACY_TOLERANCE:.1%} or better): {'met' if met else 'MISSED'}", flush=True)
    return results
