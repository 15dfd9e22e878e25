"""Test accuracy reached within a training budget, with the presets the CLI and the panel offer.

Goals (issue #11): MNIST >= 99.0 % within 10 s and >= 99.4 % within 45 s ("quick", "thorough");
Fashion-MNIST >= 91 % within 20 s and >= 93 % within 90 s. Seconds of training as reported by
``train()`` (``fit`` only: no data loading, no evaluation), accuracy on the official 10,000 test
images. Each recipe's epochs are fixed in advance: nothing is cut by a timer. Each repeat uses
its own seed; best and median of the repeats are printed (this machine is shared and noisy), with
the process's CPU seconds beside them (less sensitive to other processes than wall time).

Environment: BENCH_BUDGET_REPEATS (default 2), BENCH_BUDGET_PRESETS (default "quick,thorough").
"""

from __future__ import annotations

import os
import resource
import statistics

from training.core.datasets import load_dataset
from training.learn.trainer import train
from training.protocol.presets import PRESETS, preset_config


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run() -> dict:
    repeats = int(os.environ.get("BENCH_BUDGET_REPEATS", "2"))
    names = os.environ.get("BENCH_BUDGET_PRESETS", "quick,thorough").split(",")
    results, data = {}, {}
    for name in names:
        for dataset, (budget, goal) in PRESETS[name].budgets.items():
            data.setdefault(dataset, load_dataset(dataset))
            seconds, accuracy, cpu = [], [], []
            for seed in range(repeats):
                config = preset_config(name, dataset, seed=seed)
                before = _cpu_seconds()
                result = train(config, dataset=data[dataset])
                cpu.append(_cpu_seconds() - before)
                seconds.append(result.train_seconds)
                accuracy.append(result.test_accuracy)
                print(f"  {name}/{dataset} seed {seed}: {result.train_seconds:.1f} s "
                      f"(process CPU {cpu[-1]:.0f} s, load {os.getloadavg()[0]:.1f}), "
                      f"test {result.test_accuracy:.2%}", flush=True)
            median_s, median_acc = statistics.median(seconds), statistics.median(accuracy)
            runs_met = [a >= goal and s <= budget for s, a in zip(seconds, accuracy)]
            key = f"{name}/{dataset}"
            results[key] = {"config": preset_config(name, dataset).to_dict(), "budget_s": budget,
                            "goal": goal, "train_s": seconds, "test_accuracy": accuracy,
                            "cpu_s": cpu, "runs_met": runs_met,
                            "met_by_median": median_s <= budget and median_acc >= goal}
            print(f"{key:26s} {config.architecture} {config.epochs} epochs: "
                  f"{min(seconds):.1f} s best / {median_s:.1f} s median, test "
                  f"{max(accuracy):.2%} best / {median_acc:.2%} median (goal {goal:.1%} within "
                  f"{budget} s: {sum(runs_met)}/{len(runs_met)} runs met, median "
                  f"{'met' if results[key]['met_by_median'] else 'MISSED'})", flush=True)
    return results
