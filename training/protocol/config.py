"""What a training run is asked to do: :class:`TrainingConfig` and the names it may hold.

The window's form, the command line and the child process the window starts all read this
module; nothing here imports TensorFlow or Keras (the builders behind the architecture names
live in training/learn/models.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from training.core.datasets import DATASETS, normalize_name

OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "cosine", "onecycle")
PRECISIONS = ("float32", "bfloat16")
STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclass(frozen=True)
class Architecture:
    """One architecture as people see it; training/learn/models.py builds it."""
    name: str
    title: str
    description: str


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a for a in (
        Architecture("lecture_dense", "Lecture dense net",
                     "Flatten → Dense 128 ReLU → Dense 10 softmax"),
        Architecture("lecture_cnn", "Lecture CNN",
                     "Conv 32 → Conv 64 → MaxPool 4 → Conv 64 → Dense 10"),
        Architecture("compact_cnn", "Compact CNN (fast)",
                     "Conv 16/32/64 with 2×2 pooling → Dense 10"),
        Architecture("mid_cnn", "Mid CNN (quick to train)",
                     "Conv 16/64 with 2×2 pooling → Dense 128 → Dense 10"),
        Architecture("wide_cnn", "Wide CNN (best)",
                     "Conv 32/64/128 with 2×2 pooling → Dense 128 → Dense 10"),
        Architecture("vgg_cnn", "VGG CNN (most accurate, slow)",
                     "2× Conv + batch norm per stage, 32/64/128, 2×2 pooling → Dense 128 → "
                     "Dense 10"),
    )
}


class ConfigError(ValueError):
    """A TrainingConfig value is out of range; the message names the field and the allowed range."""


@dataclass
class TrainingConfig:
    dataset: str = "mnist"
    architecture: str = "compact_cnn"
    optimizer: str = "adam"
    learning_rate: float = 3e-3
    lr_schedule: str = "cosine"    # warm-up then cosine decay; "constant" as in the lecture;
                                   # "onecycle": up for 25 % (linear), cosine down to 0
    epochs: int = 2
    batch_size: int = 128
    validation_split: float = 0.1
    dropout: float = 0.2
    augment: bool = False          # random shifts, rotations, scaling and stroke thickness
    precision: str = "float32"     # or "bfloat16" (mixed precision: ~2x faster on BF16 CPUs)
    seed: int = 0
    data_dir: str | None = None
    label_smoothing: float = 0.0   # train towards 1 - s + s/10 for the true class, s/10 elsewhere
    ema: float = 0.0               # weight averaging: momentum of the moving average (0: off)
    weight_decay: float = 0.0      # decoupled (AdamW-style): each step w -= lr * decay * w
    steps_per_execution: int = 0   # batches per Keras call; 0: automatic (many for small models)
    strategy: str = "default"      # tf.distribute: "mirrored" (GPUs), "multi-worker" (TF_CONFIG)

    def validate(self) -> "TrainingConfig":
        self.dataset = normalize_name(self.dataset)
        check_value(self.dataset in DATASETS, "dataset", f"one of {', '.join(DATASETS)}")
        check_value(self.architecture in ARCHITECTURES, "architecture",
               f"one of {', '.join(ARCHITECTURES)}")
        check_value(self.optimizer in OPTIMIZERS, "optimizer", f"one of {', '.join(OPTIMIZERS)}")
        check_value(self.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}")
        check_value(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"one of {', '.join(LR_SCHEDULES)}")
        check_value(_number(self.learning_rate) and 0 < self.learning_rate <= 1, "learning_rate",
               "a number in (0, 1]")
        check_value(_integer(self.epochs) and 1 <= self.epochs <= 1000, "epochs", "an integer 1..1000")
        check_value(_integer(self.batch_size) and 1 <= self.batch_size <= 8192, "batch_size",
               "an integer 1..8192")
        check_value(_number(self.validation_split) and 0 <= self.validation_split <= 0.5,
               "validation_split", "a number in [0, 0.5]")
        check_value(_number(self.dropout) and 0 <= self.dropout < 1, "dropout", "a number in [0, 1)")
        check_value(_integer(self.seed) and 0 <= self.seed < 2**31, "seed", "an integer 0..2^31-1")
        check_value(_number(self.label_smoothing) and 0 <= self.label_smoothing < 1,
               "label_smoothing", "a number in [0, 1)")
        check_value(_number(self.ema) and (self.ema == 0 or 0.5 <= self.ema < 1), "ema",
               "0 (off) or a momentum in [0.5, 1)")
        check_value(_number(self.weight_decay) and 0 <= self.weight_decay < 1, "weight_decay",
               "a number in [0, 1)")
        check_value(_integer(self.steps_per_execution) and 0 <= self.steps_per_execution <= 1000,
               "steps_per_execution", "an integer 0..1000 (0: automatic)")
        check_value(self.strategy in STRATEGIES, "strategy", f"one of {', '.join(STRATEGIES)}")
        # Keras 3 runs several steps per call in a tf.while_loop, which fails under a
        # tf.distribute strategy ("You must feed a value for placeholder tensor":
        # keras-team/keras#19246; seen with Keras 3.15, TensorFlow 2.21).
        check_value(self.strategy == "default" or self.steps_per_execution <= 1,
               "steps_per_execution", "0 (automatic) or 1 with a distribution strategy "
               "(Keras runs one batch per call there)")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def check_value(ok: bool, name: str, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"invalid {name}: expected {allowed}")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
