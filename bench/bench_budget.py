"""Test accuracy reached within a training budget (seconds of training on this machine).

Goals: MNIST >= 99.0 % within 15 s and >= 99.4 % within 60 s; Fashion-MNIST >= 91 % within 20 s
and >= 93 % within 90 s. Each run's epochs are fixed in advance (from measured epoch times) and
its measured training time is reported beside the budget: nothing is cut by a timer.
"""

from __future__ import annotations

from training.datasets import load_dataset
from training.models import cpu_supports_bfloat16
from training.trainer import TrainingConfig, train

PRECISION = "bfloat16" if cpu_supports_bfloat16() else "float32"
RUNS = (  # (dataset, budget s, goal, config)
    ("mnist", 15, 0.990, dict(architecture="compact_cnn", epochs=2, batch_size=128,
                              learning_rate=3e-3)),
    ("mnist", 60, 0.994, dict(architecture="compact_cnn", epochs=6, batch_size=128,
                              learning_rate=3e-3, augment=True)),
    ("fashion_mnist", 20, 0.91, dict(architecture="compact_cnn", epochs=3, batch_size=128,
                                     learning_rate=3e-3)),
    ("fashion_mnist", 90, 0.93, dict(architecture="wide_cnn", epochs=5, batch_size=128,
                                     learning_rate=2e-3)),
)


def run() -> dict:
    results = {}
    data = {}
    for dataset, budget, goal, settings in RUNS:
        data.setdefault(dataset, load_dataset(dataset))
        config = TrainingConfig(dataset=dataset, validation_split=0.0, precision=PRECISION,
                                **settings)
        result = train(config, dataset=data[dataset])
        key = f"{dataset}/{budget}s"
        results[key] = {"config": config.to_dict(), "train_s": result.train_seconds,
                        "test_accuracy": result.test_accuracy, "goal": goal,
                        "within_budget": result.train_seconds <= budget,
                        "met": result.test_accuracy >= goal and result.train_seconds <= budget}
        print(f"{key:20s} {settings['architecture']:12s} {settings['epochs']} epochs "
              f"{result.train_seconds:6.1f} s  test {result.test_accuracy:.2%} "
              f"(goal {goal:.1%} in {budget} s: {'met' if results[key]['met'] else 'MISSED'})",
              flush=True)
    return results
