"""The lecture's two nets: the lecture's own plain script versus this app's ``train()`` with the
matching preset, side by side in one process (same architecture, batch size, optimizer, epochs,
the same data in memory), alternating so both see the same machine state.

Goal (issue #11): the dense net <= 0.6x and the CNN <= 0.9x the lecture's epoch time, at equal
test accuracy (within 0.3 %, mean of the repeats; each repeat uses its own seed on both sides).
Epoch time = seconds of ``fit`` / epochs, tracing and compiling included on both sides.

What ``train()`` does that the script does not: several batches per Keras call and XLA for the
dense net (no per-step overhead), bfloat16 on CPUs that have it for the CNN (the "Lecture CNN"
preset; float32 elsewhere, where the CNN ratio is about 1.0).

Environment: BENCH_LECTURE_REPEATS (default 3 dense / 2 CNN), BENCH_LECTURE_CNN_EPOCHS (default 1;
the lecture ran 5, about 100 s each here).
"""

from __future__ import annotations

import os
import statistics

import numpy as np

from bench.lecture_reference import lecture_script
from training.core.datasets import load_dataset
from training.learn.trainer import train
from training.protocol.presets import preset_config

ACCURACY_TOLERANCE = 0.003
LECTURE_MODEL = {"lecture-dense": "dense", "lecture-cnn": "cnn"}
CASES = (  # (preset, dataset as in the lecture, epochs, repeats, goal ratio)
    ("lecture-dense", "fashion_mnist", 5, 3, 0.6),
    ("lecture-cnn", "mnist", int(os.environ.get("BENCH_LECTURE_CNN_EPOCHS", "1")), 2, 0.9),
)


def ours(preset: str, data, epochs: int, seed: int) -> tuple[float, float]:
    config = preset_config(preset, data.name, epochs=epochs, validation_split=0.0, seed=seed)
    result = train(config, dataset=data)
    return result.train_seconds, result.test_accuracy


def _times(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def run() -> dict:
    results = {}
    repeats_env = os.environ.get("BENCH_LECTURE_REPEATS")
    for preset, dataset, epochs, repeats, goal in CASES:
        repeats = int(repeats_env or repeats)
        data = load_dataset(dataset)
        x = (data.x_train.astype(np.float32) / 255.0)
        x_test = (data.x_test.astype(np.float32) / 255.0)
        plain, mine = [], []
        for seed in range(repeats):
            plain.append(lecture_script(LECTURE_MODEL[preset], x, data.y_train, x_test, data.y_test, epochs, seed))
            mine.append(ours(preset, data, epochs, seed))
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
