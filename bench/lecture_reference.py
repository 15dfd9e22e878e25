"""The Keras lecture's own two training scripts, as plain code: the yardstick of every training
speed promise (issue #22). A speed only holds on the CPU it was measured on, so the presets'
budgets are ratios to these scripts run on the same machine in the same ``make bench``.

    python bench/lecture_reference.py dense --epochs 5    # Fashion-MNIST, the lecture's 88 %
    python bench/lecture_reference.py cnn --epochs 1      # MNIST, about 98.5 % after one epoch

prints one JSON line: {"model", "dataset", "epochs", "fit_seconds", "test_accuracy", "cpu"}.
The lecture's cells in Keras 3 spelling (tf.train.AdamOptimizer is "adam"); the pictures are
float32 in [0, 1] as its ``/ 255`` makes them (float64 there: Keras would convert every batch).
Only ``fit`` is timed, as ``train()`` reports its own ``train_seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script

DATASET = {"dense": "fashion_mnist", "cnn": "mnist"}


def lecture_script(model_name: str, images, labels, test_images, test_labels, epochs: int,
                   seed: int) -> tuple[float, float]:
    """(seconds of ``fit``, test accuracy) of the lecture's dense net or CNN."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    if model_name == "dense":
        model = keras.Sequential([keras.Input((28, 28)), layers.Flatten(),
                                  layers.Dense(128, activation="relu"),
                                  layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        fit = dict(x=images, y=labels)  # batch_size: Keras's default 32, as in the lecture
        test = dict(x=test_images, y=test_labels)
    else:
        model = keras.Sequential([keras.Input((28, 28, 1)),
                                  layers.Conv2D(32, (3, 3), activation="relu"),
                                  layers.Conv2D(64, (3, 3), activation="relu"),
                                  layers.MaxPooling2D((4, 4)),
                                  layers.Conv2D(64, (3, 3), activation="relu"),
                                  layers.Flatten(),
                                  layers.Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                      metrics=["accuracy"])
        fit = dict(x=images[..., None], y=keras.utils.to_categorical(labels), batch_size=64)
        test = dict(x=test_images[..., None], y=keras.utils.to_categorical(test_labels))
    started = time.perf_counter()
    model.fit(**fit, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - started
    _, accuracy = model.evaluate(**test, batch_size=1000, verbose=0)
    return seconds, float(accuracy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=list(DATASET))
    parser.add_argument("--epochs", type=int, default=None, help="default: dense 5, cnn 1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import numpy as np

    from training.core.cpu import cpu_line
    from training.core.datasets import load_dataset

    epochs = args.epochs or (5 if args.model == "dense" else 1)
    data = load_dataset(DATASET[args.model])
    seconds, accuracy = lecture_script(
        args.model, data.x_train.astype(np.float32) / 255.0, data.y_train,
        data.x_test.astype(np.float32) / 255.0, data.y_test, epochs, args.seed)
    print(json.dumps({"model": args.model, "dataset": data.name, "epochs": epochs,
                      "fit_seconds": round(seconds, 2), "test_accuracy": accuracy,
                      "cpu": cpu_line()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
