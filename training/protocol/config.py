"""What a training run is asked to do: :class:`TrainingConfig` and the names it may hold.

Each field is declared once, with a :class:`Setting` in its metadata: what people read (label,
help, tooltip), its kind and allowed values, its command-line flags and its place in the
window's form. ``validate()`` checks those ranges; the ``train`` command's options and the
arguments the window passes its training child (training/protocol/options.py) and the panel's
form (desktop_app/learning/config_form.py) are built from them. Adding a field is one edit here.

Nothing here imports TensorFlow or Keras (the builders behind the architecture names live in
training/learn/models.py).
"""

from __future__ import annotations

import math
import os
from dataclasses import Field, asdict, dataclass, field, fields

from training.core.datasets import DATA_ENV_VAR, DATASETS, normalize_name

# name -> what the form shows
OPTIMIZER_TITLES = {"adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD + momentum"}
SCHEDULE_TITLES = {"constant": "constant", "cosine": "warm-up + cosine decay",
                   "onecycle": "one cycle (up 25 %, down to 0)"}
PRECISION_TITLES = {"auto": "automatic (the faster here)", "float32": "float32",
                    "bfloat16": "bfloat16 (mixed)"}
JIT_TITLES = {"auto": "automatic", "on": "on", "off": "off"}
OPTIMIZERS = tuple(OPTIMIZER_TITLES)
LR_SCHEDULES = tuple(SCHEDULE_TITLES)
PRECISIONS = ("float32", "bfloat16")  # what a model computes in ("auto" picks one)
STRATEGIES = ("default", "mirrored", "multi-worker")

KINDS = ("choice", "int", "float", "bool", "path")


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
                     "Conv 16 (fixed, from the pictures) / 64 with 2×2 pooling → Dense 256 → "
                     "Dense 10"),
        Architecture("strided_cnn", "Strided CNN (fastest to train)",
                     "Conv 32 4×4 stride 2 (fixed, from the pictures) → 2×2 pooling → Conv 48 → "
                     "Dense 128 → Dense 10"),
        Architecture("wide_cnn", "Wide CNN (best)",
                     "Conv 32/64/128 with 2×2 pooling → Dense 128 → Dense 10"),
        Architecture("vgg_cnn", "VGG CNN (most accurate, slow)",
                     "2× Conv + batch norm per stage, 32/64/128, 2×2 pooling → Dense 128 → "
                     "Dense 10"),
    )
}


class ConfigError(ValueError):
    """A TrainingConfig value is out of range; the message names the field and the allowed range."""


@dataclass(frozen=True)
class Setting:
    """How one TrainingConfig field is checked, asked for on the command line and shown."""
    label: str                          # the form's row label
    kind: str                           # one of KINDS
    flags: tuple[str, ...]              # the train command's flags; the first is the one used
    help: str = ""                      # the command line's --help
    tip: str | None = None              # the form's tooltip (None: the help; "": none)
    choices: dict | None = None         # choice: name -> title, in the order offered
    choice_tips: dict | None = None     # choice: name -> tooltip of that item
    low: float | None = None            # numbers: the allowed range (ints: both ends in) ...
    high: float | None = None
    low_open: bool = False              # ... with its ends excluded or not
    high_open: bool = False
    off: float | None = None            # a value outside the range that means "off"
    note: str = ""                      # said after the range, e.g. "(0: automatic)"
    row: int | None = None              # place in the panel's form; None: not shown ...
    hidden_because: str = ""            # ... and why
    widget: str = ""                    # the form widget's objectName (outside checks use it)
    form_low: float | None = None       # the form offers a narrower range (default: low/high)
    form_high: float | None = None
    step: float | None = None           # a spin box's step, decimals, adaptive steps
    decimals: int | None = None
    adaptive: bool = False
    text: str = ""                      # a check box's own text
    placeholder: str = ""               # an empty line edit's hint

    def __post_init__(self):
        if self.kind not in KINDS:
            raise TypeError(f"unknown setting kind {self.kind!r}")
        if (self.row is None) == (not self.hidden_because) or (self.row is not None
                                                                and not self.widget):
            raise TypeError(f"{self.label}: a form row and widget name, or why it is not shown")
        if (self.kind == "choice" and not self.choices) or (
                self.kind in ("int", "float") and None in (self.low, self.high)):
            raise TypeError(f"{self.label}: a choice needs its choices, a number its range")

    def accepts(self, value) -> bool:
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "path":
            return value is None or isinstance(value, (str, os.PathLike))
        if not (_integer(value) if self.kind == "int" else _number(value)):
            return False
        if self.off is not None and value == self.off:
            return True
        return ((self.low is None or value > self.low or (value == self.low and not self.low_open))
                and (self.high is None or value < self.high
                     or (value == self.high and not self.high_open)))

    def allowed(self) -> str:
        """The allowed values in words, for error messages."""
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "path":
            return "a folder path or nothing"
        if self.kind == "int":
            text = f"an integer {self.low}..{self.high}"
        else:
            text = (f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                    f"{')' if self.high_open else ']'}")
        off = f"{self.off:g} (off) or " if self.off is not None else ""
        return off + text + (f" {self.note}" if self.note else "")

    def form_range(self) -> tuple[float, float]:
        """What the form's spin box offers: inside the allowed range."""
        low = self.low if self.form_low is None else self.form_low
        high = self.high if self.form_high is None else self.form_high
        return low, high


def setting(default, **declared) -> Field:
    """A TrainingConfig field with its :class:`Setting`."""
    return field(default=default, metadata={"setting": Setting(**declared)})


def settings_of(config_class=None) -> list[tuple[str, Setting]]:
    """(field name, Setting) of every field of ``config_class`` (TrainingConfig by default),
    in declaration order; a field without a Setting is a programming error."""
    found = []
    for item in fields(config_class or TrainingConfig):
        if "setting" not in item.metadata:
            raise TypeError(f"TrainingConfig field {item.name} declares no Setting")
        found.append((item.name, item.metadata["setting"]))
    return found


def form_settings(config_class=None) -> list[tuple[str, Setting]]:
    """The fields the panel's form shows, in its order."""
    return sorted(((name, s) for name, s in settings_of(config_class) if s.row is not None),
                  key=lambda pair: pair[1].row)


_CLI_ONLY = "an expert's option, rarely changed: the command line's {}"


@dataclass
class TrainingConfig:
    dataset: str = setting(
        "mnist", label="Dataset", kind="choice", flags=("--dataset",),
        choices={name: info.title for name, info in DATASETS.items()},
        row=1, widget="datasetField")
    architecture: str = setting(
        "compact_cnn", label="Architecture", kind="choice", flags=("--architecture",),
        choices={name: a.title for name, a in ARCHITECTURES.items()},
        choice_tips={name: a.description for name, a in ARCHITECTURES.items()},
        row=2, widget="architectureField")
    optimizer: str = setting(
        "adam", label="Optimizer", kind="choice", flags=("--optimizer",), choices=OPTIMIZER_TITLES,
        row=3, widget="optimizerField")
    learning_rate: float = setting(
        3e-3, label="Learning rate", kind="float", flags=("--lr", "--learning-rate"),
        low=0, low_open=True, high=1, form_low=1e-5, decimals=5, adaptive=True,
        row=4, widget="learningRateField")
    lr_schedule: str = setting(
        "cosine", label="Schedule", kind="choice", flags=("--lr-schedule",),
        choices=SCHEDULE_TITLES, row=5, widget="lrScheduleField")
    epochs: int = setting(
        2, label="Epochs", kind="int", flags=("--epochs",), low=1, high=1000, form_high=200,
        row=6, widget="epochsField")
    batch_size: int = setting(
        128, label="Batch size", kind="int", flags=("--batch-size",), low=1, high=8192,
        form_high=4096, help="images per step; with --strategy, the global batch, split "
                             "across the replicas", tip="",
        row=7, widget="batchSizeField")
    validation_split: float = setting(
        0.1, label="Validation split", kind="float", flags=("--validation-split",),
        low=0, high=0.5, decimals=2, step=0.05, row=8, widget="validationSplitField")
    dropout: float = setting(
        0.2, label="Dropout", kind="float", flags=("--dropout",), low=0, high=1, high_open=True,
        form_high=0.9, decimals=2, step=0.05, row=9, widget="dropoutField")
    augment: bool = setting(
        False, label="Augmentation", kind="bool", flags=("--augment",),
        help="random shifts, rotations, scaling and stroke widths", tip="",
        text="random shifts, rotations, scaling, stroke width", row=12, widget="augmentField")
    # "auto" and the other automatic settings below are measured on this CPU on the first run
    # of a model and cached (training/learn/tuning.py; python -m training tune)
    precision: str = setting(
        "auto", label="Precision", kind="choice", flags=("--precision",),
        choices=PRECISION_TITLES,
        help="auto (default): measured on this CPU, bfloat16 only where it is clearly faster "
             "(CPUs with AVX512-BF16/AMX: about twice); float32 or bfloat16: as given",
        tip="Automatic: the faster of the two on this computer, measured once (bfloat16 is "
            "about twice as fast on CPUs with AVX512-BF16 or AMX, much slower elsewhere)",
        row=13, widget="precisionField")
    seed: int = setting(
        0, label="Seed", kind="int", flags=("--seed",), low=0, high=2**31 - 1,
        row=14, widget="seedField")
    data_dir: str | None = setting(
        None, label="Data folder", kind="path", flags=("--data-dir",),
        help=f"folder with mnist/ and fashion-mnist/ IDX files (default: ${DATA_ENV_VAR}, then "
             "the Keras cache)",
        tip="A folder holding mnist/ and fashion-mnist/ with the four IDX files each",
        placeholder=f"default: ${DATA_ENV_VAR}, then the Keras cache",
        row=15, widget="dataFolderField")
    # train towards 1 - s + s/10 for the true class, s/10 elsewhere
    label_smoothing: float = setting(
        0.0, label="Label smoothing", kind="float", flags=("--label-smoothing",),
        low=0, high=1, high_open=True, form_high=0.5, decimals=2, step=0.05,
        help="e.g. 0.1 (default 0: off)",
        tip="Train towards about 90 % sure instead of 100 % (at 0.1): often a little more "
            "accurate on the test set", row=10, widget="labelSmoothingField")
    ema: float = setting(
        0.0, label="Weight averaging", kind="float", flags=("--ema",), off=0, low=0.5, high=1,
        high_open=True, help="weight averaging: momentum of the moving average, e.g. 0.99 "
                             "(default 0: off)",
        hidden_because=_CLI_ONLY.format("--ema"))
    weight_decay: float = setting(
        0.0, label="Weight decay", kind="float", flags=("--weight-decay",), low=0, high=1,
        high_open=True, form_high=0.5, decimals=3, step=0.01,
        help="decoupled weight decay (Adam becomes AdamW), e.g. 0.05 (default 0: off)",
        tip="Shrink every weight a little at each step (decoupled, as in AdamW), e.g. 0.05: a "
            "regulariser for longer runs (in 9-epoch Fashion-MNIST runs it was within the "
            "noise)", row=11, widget="weightDecayField")
    steps_per_execution: int = setting(
        0, label="Batches per call", kind="int", flags=("--steps-per-execution",), low=0,
        high=1000, note="(0: automatic)",
        help="batches per Keras call (default 0: automatic, measured on this CPU)",
        hidden_because="automatic (0) is measured on this CPU; "
                       + _CLI_ONLY.format("--steps-per-execution"))
    jit_compile: str = setting(
        "auto", label="XLA", kind="choice", flags=("--jit-compile",), choices=JIT_TITLES,
        help="compile each training step with XLA (default auto: measured on this CPU)",
        hidden_because="automatic is measured on this CPU; " + _CLI_ONLY.format("--jit-compile"))
    threads: int = setting(
        0, label="Threads", kind="int", flags=("--threads",), low=0, high=1024,
        note="(0: automatic)",
        help="TensorFlow's threads per operation (default 0: measured by 'python -m training "
             "tune', else TensorFlow's choice)",
        hidden_because="automatic is measured by the tune command; "
                       + _CLI_ONLY.format("--threads"))
    strategy: str = setting(
        "default", label="Distribution", kind="choice", flags=("--strategy",),
        choices={name: name for name in STRATEGIES},
        help="default: one device (as before); mirrored: every GPU of this machine (else its "
             "logical CPU devices); multi-worker: several machines, each named in $TF_CONFIG "
             "(see the README)",
        hidden_because="several GPUs or machines ($TF_CONFIG): a run started from the command "
                       "line")

    def validate(self) -> "TrainingConfig":
        if isinstance(self.dataset, str):
            self.dataset = normalize_name(self.dataset)
        for name, declared in settings_of(type(self)):
            check_value(declared.accepts(getattr(self, name)), name, declared.allowed())
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
