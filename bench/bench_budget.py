"""The presets' budgets as ratios (issue #22): test accuracy reached within a multiple of the
time the Keras lecture's own script takes, both run on this machine in this command.

For each preset and dataset: the lecture's script (bench/lecture_reference.py, a plain Python
process) and ``python -m training train --preset NAME`` (a process too, as the window runs it)
alternate, REPEATS times each; seconds of ``fit`` on both sides (the CLI's ``train_seconds``:
no data loading, no evaluation), accuracy on the official 10,000 test images. The ratio is of
the medians. The speed settings are the ones measured for this CPU (training/learn/tuning.py);
a first run measures them before ``fit`` starts, outside its seconds (printed: it happens once
per CPU, model and TensorFlow version).

Goals (training/protocol/presets.py): quick MNIST >= 99.0 % in <= 1.0x the lecture CNN's one
epoch; quick Fashion-MNIST >= 91 % in <= 1.5x the lecture dense net's 5 epochs; thorough
MNIST >= 99.4 % and Fashion-MNIST >= 93 % in <= 4x the same references.

Environment: BENCH_BUDGET_REPEATS (default 2), BENCH_BUDGET_PRESETS (default "quick,thorough"),
BENCH_BUDGET_DATASETS (default both).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from training.core.cpu import cpu_line
from training.protocol.messages import TrainBegin, TrainResult, Tuning, decode, speed_text
from training.core.speed_cache import run_estimate
from training.protocol.presets import PRESETS, REFERENCES, preset_config

ROOT = Path(__file__).resolve().parents[1]


def reference_run(reference: str, seed: int) -> tuple[float, float]:
    """(fit seconds, test accuracy) of the lecture's script, in its own process."""
    _, model, epochs = REFERENCES[reference]
    return lecture_run(model, epochs, seed)


def lecture_run(model: str, epochs: int, seed: int) -> tuple[float, float]:
    """(fit seconds, test accuracy) of the lecture's dense net or CNN as a plain script: in
    TensorFlow's own configuration, as a user runs it."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "lecture_reference.py"), model,
                           "--epochs", str(epochs), "--seed", str(seed)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    line = json.loads(done.stdout.strip().splitlines()[-1])
    return line["fit_seconds"], line["test_accuracy"]


def preset_run(preset: str, dataset: str, seed: int, folder: str,
               *options: str) -> tuple[float, float, dict]:
    """(fit seconds, test accuracy, the speed settings) of the preset through the CLI (with
    more ``options``, e.g. "--epochs", "1"), as the window's child runs it; the settings also
    hold what the training panel would have said the run takes (``estimate``)."""
    before = run_estimate(preset_config(preset, dataset))
    done = subprocess.run([sys.executable, "-m", "training", "train", "--preset", preset,
                           "--dataset", dataset, "--seed", str(seed), "--no-ood", *options,
                           "--progress", "json", "--out", os.path.join(folder, "m.keras")],
                          capture_output=True, text=True, cwd=ROOT)
    messages = [m for m in map(decode, done.stdout.splitlines()) if m is not None]
    result = next((m for m in messages if isinstance(m, TrainResult)), None)
    if done.returncode != 0 or result is None:
        raise RuntimeError(f"{preset}/{dataset} failed: {done.stderr[-500:]}")
    begin = next(m for m in messages if isinstance(m, TrainBegin))
    speed = dict(begin.speed or {}, tuned_now=any(isinstance(m, Tuning) for m in messages),
                 estimate=before and {"seconds": round(before.seconds, 1), "basis": before.basis})
    return result.train_seconds, result.test_accuracy, speed


def _estimate_text(speed: dict, seconds: float) -> str:
    guess = speed.get("estimate")
    if not guess:
        return "the panel had no estimate"
    return (f"the panel said {guess['seconds']:.0f} s ({guess['basis']}), "
            f"{guess['seconds'] / seconds - 1:+.0%}")


def run() -> dict:
    repeats = int(os.environ.get("BENCH_BUDGET_REPEATS", "2"))
    names = os.environ.get("BENCH_BUDGET_PRESETS", "quick,thorough").split(",")
    datasets = os.environ.get("BENCH_BUDGET_DATASETS", "mnist,fashion_mnist").split(",")
    results = {"cpu": cpu_line()}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            for dataset, budget in PRESETS[name].budgets.items():
                if dataset in datasets:
                    results[f"{name}/{dataset}"] = _one(name, dataset, budget, repeats, folder)
    return results


def _one(name: str, dataset: str, budget, repeats: int, folder: str) -> dict:
    ours, lecture, speeds = [], [], []
    for seed in range(repeats):
        lecture.append(reference_run(budget.reference, seed))
        *run, speed = preset_run(name, dataset, seed, folder)
        ours.append(tuple(run))
        speeds.append(speed)
        print(f"  {name}/{dataset} seed {seed}: lecture {lecture[-1][0]:.1f} s "
              f"({lecture[-1][1]:.2%}), ours {ours[-1][0]:.1f} s ({ours[-1][1]:.2%}), load "
              f"{os.getloadavg()[0]:.1f}; {speed_text(speed)}"
              f"{' (measured in this run)' if speed['tuned_now'] else ''}; "
              f"{_estimate_text(speed, ours[-1][0])}", flush=True)
    ratio = statistics.median(s for s, _ in ours) / statistics.median(s for s, _ in lecture)
    accuracy = statistics.median(a for _, a in ours)
    met = ratio <= budget.ratio and accuracy >= budget.goal
    print(f"{name}/{dataset}: {ratio:.2f}x {budget.reference} (goal <= {budget.ratio:g}x), "
          f"test {accuracy:.2%} (goal >= {budget.goal:.1%}): {'met' if met else 'MISSED'}",
          flush=True)
    return {"goal": budget.goal, "goal_ratio": budget.ratio, "reference": budget.reference,
            "ours": ours, "lecture": lecture, "ratio": ratio, "test_accuracy": accuracy,
            "speed": speeds, "met": met}
