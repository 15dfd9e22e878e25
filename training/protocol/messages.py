"""Every line a ``python -m training ... --progress json`` child writes, as a typed message.

One codec for both ends: the commands (training/cli) write with :func:`encode`, the window and
the tests read with :func:`decode`. The JSON is exactly what it has always been (outside checks
parse it): the same ``"event"`` names, field names and values, in the same order. A field that
a line may leave out defaults to :data:`ABSENT` and is then left out again (``None`` is a real
``null`` on the wire: a teaching step of the final phase has ``"fold": null``). Fields a newer
child adds are kept in ``extra``, so nothing is lost on the way through.

Two event names carry more than one shape: ``batch`` (training, or teaching with ``phase``)
and ``result`` (one per command); :func:`decode` picks the first type whose required fields the
line has, most specific first.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from training.protocol.wire import dumps, loads

log = logging.getLogger(__name__)


class _Absent:
    """A field the line leaves out (not the same as null)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True, kw_only=True)
class Message:
    """One protocol line. Subclasses name their ``event`` and declare their fields in wire
    order."""

    event: ClassVar[str] = ""
    extra: dict = field(default_factory=dict, repr=False, compare=True)

    def to_dict(self) -> dict:
        record = {"event": self.event}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not ABSENT:
                record[f.name] = value
        record.update(self.extra)
        return record

    def get(self, name: str, default=None):
        """A field's value, or ``default`` when the line left it out."""
        value = getattr(self, name, ABSENT)
        if value is ABSENT:
            value = self.extra.get(name, ABSENT)
        return default if value is ABSENT else value

    @classmethod
    def from_dict(cls, record: dict) -> "Message | None":
        """This type from a decoded line, or None when a required field is missing."""
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        if not required <= record.keys():
            return None
        values = {k: v for k, v in record.items() if k in known}
        extra = {k: v for k, v in record.items() if k not in known and k != "event"}
        return cls(**values, extra=extra)


# ---------------------------------------------------------------- progress (any command)
@dataclass(frozen=True, kw_only=True)
class Download(Message):
    event: ClassVar[str] = "download"
    file: str
    done: int
    total: int


@dataclass(frozen=True, kw_only=True)
class WarningMessage(Message):
    event: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True, kw_only=True)
class Error(Message):
    """The command failed; nothing more follows (exit status 2)."""

    event: ClassVar[str] = "error"
    message: str


# ---------------------------------------------------------------- train
@dataclass(frozen=True, kw_only=True)
class TrainBegin(Message):
    event: ClassVar[str] = "train_begin"
    epochs: int
    steps: int
    train_samples: int
    val_samples: int
    source: str | None
    steps_per_execution: int = ABSENT
    strategy: str = ABSENT
    replicas: int = ABSENT
    devices: Any = ABSENT
    speed: Any = ABSENT          # the settings chosen for this CPU (training/learn/tuning.py)


def speed_text(speed: dict) -> str:
    """A train_begin's ``speed`` in words, for the CLI and the window, e.g. "float32, XLA off,
    4 batches per call, TensorFlow's threads, oneDNN (measured on this CPU)"."""
    try:
        steps = int(speed["steps_per_execution"])
        threads = (f"{speed['intra_threads']} threads" if speed.get("intra_threads")
                   else "TensorFlow's threads")
        where = {"measured": "measured on this CPU now", "cached": "measured on this CPU",
                 "given": "as set", "fallback": "estimated, not measured"}.get(
                     speed.get("source"), str(speed.get("source")))
        kernels = {True: ", oneDNN", False: ", TensorFlow's own kernels"}.get(speed.get("onednn"), "")
        return (f"{speed['precision']}, XLA {'on' if speed['jit_compile'] else 'off'}, "
                f"{steps} batch{'es' if steps > 1 else ''} per call, {threads}{kernels} ({where})")
    except (KeyError, TypeError, ValueError, AttributeError):
        return str(speed)


@dataclass(frozen=True, kw_only=True)
class Tuning(Message):
    """The first run of a model on this CPU: its speed settings are being measured (seconds)."""

    event: ClassVar[str] = "tuning"
    architecture: str
    batch_size: int


@dataclass(frozen=True, kw_only=True)
class Batch(Message):
    """A training batch (at most 10 lines a second, the last of each epoch always)."""

    event: ClassVar[str] = "batch"
    epoch: int
    epochs: int
    batch: int
    steps: int
    loss: float | None
    accuracy: float | None
    eta_seconds: float | None


@dataclass(frozen=True, kw_only=True)
class TeachBatch(Message):
    """A teaching step: ``phase`` cross_validation (with its ``fold``) or final (fold null);
    also the run's progress while it reads the pictures (``phase`` reading) and saves
    (saving). ``step`` of ``steps`` count the teaching steps; ``done`` of ``work`` and
    ``eta_seconds`` are the whole run's."""

    event: ClassVar[str] = "batch"
    phase: str
    fold: int | None
    step: int
    steps: int
    batch: int
    epoch: int
    epochs: int
    loss: float | None
    accuracy: float | None
    eta_seconds: float | None
    done: float = ABSENT
    work: float = ABSENT


@dataclass(frozen=True, kw_only=True)
class Epoch(Message):
    event: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    seconds: float
    loss: float = ABSENT
    accuracy: float = ABSENT
    val_loss: float = ABSENT
    val_accuracy: float = ABSENT


@dataclass(frozen=True, kw_only=True)
class Saved(Message):
    """The trained model is on disk, not yet measured: the window may offer it at once."""

    event: ClassVar[str] = "saved"
    status: str
    path: str
    epochs_completed: int
    train_seconds: float
    history: dict
    dataset: str
    architecture: str
    config: dict
    class_names: list
    metadata: dict
    saved_where_asked: bool = ABSENT   # False (with message) when kept in the recovery folder
    message: str = ABSENT


@dataclass(frozen=True, kw_only=True)
class EvaluateBegin(Message):
    event: ClassVar[str] = "evaluate_begin"
    model: str = ABSENT     # teaching: "base" or "taught"
    samples: int


@dataclass(frozen=True, kw_only=True)
class TrainEnd(Message):
    event: ClassVar[str] = "train_end"
    status: str
    test_accuracy: float | None
    test_loss: float | None
    epochs_completed: int
    train_seconds: float


@dataclass(frozen=True, kw_only=True)
class CalibrateBegin(Message):
    event: ClassVar[str] = "calibrate_begin"
    held_out: str
    images: int


@dataclass(frozen=True, kw_only=True)
class OodBegin(Message):
    event: ClassVar[str] = "ood_begin"


@dataclass(frozen=True, kw_only=True)
class CalibrateEnd(Message):
    event: ClassVar[str] = "calibrate_end"
    temperature: float | None
    ece_before: float | None
    ece_after: float | None


# ---------------------------------------------------------------- teach
@dataclass(frozen=True, kw_only=True)
class TeachBegin(Message):
    event: ClassVar[str] = "teach_begin"
    samples: int
    per_class: dict
    folds: int
    cv_steps: int
    steps: int
    final_steps: int
    skipped: int
    source: str | None
    base_model: str


@dataclass(frozen=True, kw_only=True)
class FoldEnd(Message):
    event: ClassVar[str] = "fold_end"
    fold: int
    folds: int
    held_out: int
    correct: int


@dataclass(frozen=True, kw_only=True)
class TeachEnd(Message):
    event: ClassVar[str] = "teach_end"
    status: str
    test_accuracy: float = ABSENT
    path: str = ABSENT


# ---------------------------------------------------------------- describe
@dataclass(frozen=True, kw_only=True)
class Summary(Message):
    """One architecture's layers and parameters (``describe --json``)."""

    event: ClassVar[str] = "summary"
    architecture: str
    dropout: float | None
    name: str
    layers: list
    parameters: int
    text: str


# ---------------------------------------------------------------- results (the last line)
class Result(Message):
    """Marks the ``result`` types: the last line of a command that succeeded."""

    event: ClassVar[str] = "result"


@dataclass(frozen=True, kw_only=True)
class TrainResult(Result):
    status: str
    epochs_completed: int
    train_seconds: float
    test_accuracy: float | None
    test_loss: float | None
    history: dict
    confusion: list
    class_names: list
    dataset: str
    architecture: str
    config: dict
    source: str | None
    path: str
    metadata: dict
    misclassified: list
    misclassified_predicted: list
    mistakes: int
    saved_where_asked: bool = ABSENT
    message: str = ABSENT


@dataclass(frozen=True, kw_only=True)
class TeachResult(Result):
    """A taught model (status finished) or a stop (status stopped: nothing saved, only
    ``seconds``)."""

    status: str
    dataset: str = ABSENT
    samples: int = ABSENT
    per_class: dict = ABSENT
    skipped: list = ABSENT
    test_images: int = ABSENT
    before: dict = ABSENT
    after: dict = ABSENT
    cross_validation: dict = ABSENT
    confused_classes: list = ABSENT
    settings: dict = ABSENT
    seed: int = ABSENT
    seconds: dict
    path: str = ABSENT
    calibration: dict | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class ClassesResult(Result):
    """A classifier of the user's own classes trained from a folder (``train --dataset
    FOLDER``; a stop is a TeachResult with status stopped). ``cross_validation`` holds the
    held-out ``accuracy``, ``confusion`` and ``temperature`` (or a ``reason`` there is none)."""

    status: str
    dataset: str
    class_names: list
    folder: str
    samples: int
    per_class: dict
    cross_validation: dict
    fit_accuracy: float
    settings: dict
    seed: int
    seconds: dict
    path: str
    check: dict | None = ABSENT   # the "none of my classes" check: its limit, junk refused


@dataclass(frozen=True, kw_only=True)
class DownloadResult(Result):
    dataset: str
    source: str | None
    train_images: int
    test_images: int


@dataclass(frozen=True, kw_only=True)
class TuneResult(Result):
    """``tune --json``: the CPU, the thread choice and each model's settings and trials."""

    cpu: str
    tensorflow: str
    threads: dict
    models: list


@dataclass(frozen=True, kw_only=True)
class DescribeResult(Result):
    count: int


@dataclass(frozen=True, kw_only=True)
class ExportResult(Result):
    """``export-all --progress json``: the files written."""

    files: list


@dataclass(frozen=True, kw_only=True)
class ConvertResult(Result):
    """``convert --progress json``: the ``.tflite`` written."""

    path: str


# Most specific first: decode takes the first whose required fields the line has.
_TYPES: dict[str, tuple[type[Message], ...]] = {}
for _type in (Download, WarningMessage, Error, Tuning, TrainBegin, TeachBatch, Batch, Epoch, Saved,
              EvaluateBegin, TrainEnd, CalibrateBegin, OodBegin, CalibrateEnd, TeachBegin,
              FoldEnd, TeachEnd, Summary, TrainResult, ClassesResult, TeachResult, DownloadResult,
              DescribeResult, ExportResult, ConvertResult, TuneResult):
    _TYPES[_type.event] = _TYPES.get(_type.event, ()) + (_type,)
MESSAGE_TYPES: tuple[type[Message], ...] = tuple(t for ts in _TYPES.values() for t in ts)


def encode(message: Message) -> str:
    """One protocol line (without the newline)."""
    return dumps(message.to_dict())


def from_record(record: dict) -> Message | None:
    """The typed message of a decoded line (a dict with ``"event"``), or None when no type
    fits (an unknown event, or a known one missing a field)."""
    for kind in _TYPES.get(record.get("event"), ()):
        message = kind.from_dict(record)
        if message is not None:
            return message
    return None


def decode(line: str | bytes) -> Message | None:
    """The message on one line; None for a stray line (not JSON, not an event, or an event
    this version does not know)."""
    record = loads(line)
    if record is None:
        return None
    message = from_record(record)
    if message is None:
        log.debug("not a protocol message: %.200s", record)
    return message
