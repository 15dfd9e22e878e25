"""Named training recipes, shared by the CLI (``train --preset NAME``) and the training panel.

A preset sets the model and how it is trained, never the dataset, the seed or the data folder:
``preset_values(name, dataset)`` gives the TrainingConfig fields for one dataset (a recipe may
differ per dataset, e.g. more epochs for Fashion-MNIST). Explicit options override them.

Light on purpose: the window imports this module, so no TensorFlow here.

The budget recipes ("quick", "thorough") promise an accuracy on the official 10,000 test images
within a *ratio* of the time the Keras lecture's own script takes on the same machine (a speed
holds only on the CPU it was measured on; bench/bench_budget.py runs both, alternated, and
bench/lecture_reference.py is the lecture's script). Their epochs were chosen by measuring.

Every preset keeps a validation split (issue #20): its pictures fit the model's temperature and
its "doesn't look like a digit" check, so a model trained with any preset answers as honestly as
the shipped ones. (A run with no split at all is still checked, on half of the test set: see
``trainer._calibration`` and ``confidence.add_ood_after_training``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from training.core.datasets import DATASETS, normalize_name
from training.protocol.config import ConfigError, TrainingConfig


# The yardsticks (bench/lecture_reference.py): the lecture's script, its model and epochs.
REFERENCES = {
    "lecture-cnn-1": ("the lecture's CNN script, one epoch of MNIST (about 98.5 %)", "cnn", 1),
    "lecture-dense-5": ("the lecture's dense-net script, 5 epochs of Fashion-MNIST (about 88 %)",
                        "dense", 5),
}


@dataclass(frozen=True)
class Budget:
    """At least ``goal`` test accuracy within ``ratio`` x the time of ``reference``."""

    goal: float
    ratio: float
    reference: str                   # a key of REFERENCES

    def text(self) -> str:
        return f">= {self.goal:.1%} in <= {self.ratio:g}x {REFERENCES[self.reference][0]}"


@dataclass(frozen=True)
class Preset:
    name: str                        # for the CLI: lower case, no spaces
    title: str                       # for the panel
    description: str
    values: dict                     # TrainingConfig fields, for every dataset
    per_dataset: dict = field(default_factory=dict)   # dataset -> fields that differ
    budgets: dict = field(default_factory=dict)       # dataset -> Budget

    def config_values(self, dataset: str) -> dict:
        values = dict(self.values)
        values.update(self.per_dataset.get(normalize_name(dataset), {}))
        return values


# Fields a preset may set (all of TrainingConfig but these).
NOT_IN_PRESETS = ("dataset", "seed", "data_dir")

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("lecture-dense", "Lecture dense net",
           "The lecture's dense net and its training: Adam, batch 32, 5 epochs.",
           dict(architecture="lecture_dense", optimizer="adam", learning_rate=1e-3,
                lr_schedule="constant", epochs=5, batch_size=32, validation_split=0.1,
                dropout=0.0, augment=False,
                precision="float32", label_smoothing=0.0, ema=0.0,
                weight_decay=0.0)),
    Preset("lecture-cnn", "Lecture CNN",
           "The lecture's CNN and its training: RMSprop, batch 64, 5 epochs (in bfloat16 where "
           "that is measured faster: twice as fast on some CPUs, same accuracy).",
           dict(architecture="lecture_cnn", optimizer="rmsprop", learning_rate=1e-3,
                lr_schedule="constant", epochs=5, batch_size=64, validation_split=0.1,
                dropout=0.0, augment=False,
                precision="auto", label_smoothing=0.0, ema=0.0,
                weight_decay=0.0)),
    Preset("quick", "Quick",
           "A good model in seconds: MNIST >= 99.0 % in the time the lecture's CNN trains "
           "one epoch, Fashion-MNIST >= 91 % in 1.5x the lecture's dense net's 5 epochs.",
           dict(architecture="compact_cnn", optimizer="adam", learning_rate=5e-3,
                lr_schedule="onecycle", epochs=2, batch_size=128, validation_split=0.05,
                dropout=0.2, augment=False, precision="auto", label_smoothing=0.1, ema=0.0,
                weight_decay=0.0),
           # Fashion: strided_cnn (half mid_cnn's multiply-adds, nothing at full resolution),
           # its first convolution set from the pictures and frozen (models.whiten_first_conv:
           # ~20 % less CPU a run, and it learns faster), 3 epochs, no dropout: 91.45 / 91.50 /
           # 91.63 % (seeds 0-2; 4 epochs: 91.97 / 91.71 / 91.64 %). Session 17, AMD EPYC, 2
           # cores, AVX2, no BF16: 15.4 s of fit against the lecture dense net's 24.0 s beside
           # it. Before (learned first convolution, 4 epochs): 91.25-91.70 % at 1.15-1.76x.
           per_dataset={"fashion_mnist": dict(architecture="strided_cnn", epochs=3, dropout=0.0)},
           budgets={"mnist": Budget(0.990, 1.0, "lecture-cnn-1"),
                    "fashion_mnist": Budget(0.91, 1.5, "lecture-dense-5")}),
    Preset("thorough", "Thorough",
           "Near the best: MNIST >= 99.4 % in 4x the time the lecture's CNN trains one "
           "epoch, Fashion-MNIST >= 93 % in 4x the lecture's dense net's 5 epochs.",
           dict(architecture="wide_cnn", optimizer="adam", learning_rate=4e-3,
                lr_schedule="onecycle", epochs=4, batch_size=128, validation_split=0.05,
                dropout=0.3, augment=False, precision="auto", label_smoothing=0.1, ema=0.0,
                weight_decay=0.0),
           # Fashion: mid_cnn with its first convolution set from the pictures and frozen
           # (models.whiten_first_conv: the 28x28 stage then runs forward only, and the net
           # learns faster), 6 epochs, one-cycle 5e-3, no dropout. Session 28 (AMD EPYC Zen 2,
           # 2 cores, AVX2 only, oneDNN): 93.45 / 93.43 / 93.34 % (seeds 0-2) in 50-53 s of fit
           # (the lecture dense net's 5 epochs: 18-21 s here; make bench: 2.81x). With Dense
           # 128 it sat at 92.90 / 93.10 / 93.07 % however long it trained (8 epochs, seed 0:
           # 92.98 %), and weight decay, EMA, batch 64, other rates moved seed 0 by -0.1 ..
           # +0.1 %. Before: wide_cnn, 9 epochs, 93.01 % at 15.2x (docs/benchmarks.md).
           per_dataset={"fashion_mnist": dict(architecture="mid_cnn", epochs=6, learning_rate=5e-3,
                                              lr_schedule="onecycle", dropout=0.0)},
           budgets={"mnist": Budget(0.994, 4.0, "lecture-cnn-1"),
                    "fashion_mnist": Budget(0.93, 4.0, "lecture-dense-5")}),
    Preset("best", "Best",
           "The shipped models' recipe: VGG-style CNN with batch norm, augmentation, label "
           "smoothing; 20 epochs for MNIST, 40 for Fashion-MNIST (tens of minutes on a "
           "laptop CPU).",
           dict(architecture="vgg_cnn", optimizer="adam", learning_rate=2e-3,
                lr_schedule="cosine", epochs=20, batch_size=128, validation_split=0.05,
                dropout=0.3, augment=True, precision="float32", label_smoothing=0.1, ema=0.0,
                weight_decay=0.0),
           per_dataset={"fashion_mnist": dict(epochs=40)}),
)}


def find_preset(name: str) -> Preset:
    """A preset by CLI name or panel title (case and ``_``/``-``/space insensitive)."""
    key = _key(name)
    for preset in PRESETS.values():
        if key in (_key(preset.name), _key(preset.title)):
            return preset
    raise ConfigError(f"invalid preset: expected one of {', '.join(PRESETS)}")


def preset_values(name: str, dataset: str) -> dict:
    """The TrainingConfig fields preset ``name`` sets for ``dataset``."""
    return find_preset(name).config_values(dataset)


def preset_config(name: str, dataset: str, **overrides) -> TrainingConfig:
    """A validated TrainingConfig: the defaults, then the preset, then ``overrides``."""
    values = {**TrainingConfig(dataset=dataset).to_dict(), **preset_values(name, dataset),
              **overrides}
    return TrainingConfig.from_dict(values).validate()


def validate_presets() -> None:
    """Every preset, for every dataset, is a valid config that sets no forbidden field."""
    for preset in PRESETS.values():
        for dataset in DATASETS:
            values = preset.config_values(dataset)
            forbidden = set(values) & set(NOT_IN_PRESETS)
            unknown = set(values) - set(TrainingConfig().to_dict())
            if forbidden or unknown:
                raise ConfigError(f"preset {preset.name} sets {sorted(forbidden | unknown)}")
            preset_config(preset.name, dataset)


def _key(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())
