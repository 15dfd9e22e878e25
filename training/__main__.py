"""Command line: python -m training {train,evaluate,summary,predict}.

    python -m training train --dataset mnist --architecture compact_cnn --epochs 2 --out m.keras
    python -m training evaluate --model mnist
    python -m training summary --model fashion_mnist
    python -m training predict --model mnist digit.png other.jpg     # one JSON object per line
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import fields

# TensorFlow prints CUDA probing noise on machines without a GPU; keep the terminal readable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .datasets import DATASETS, DatasetError  # noqa: E402
from .models import ARCHITECTURES, PRECISIONS  # noqa: E402
from .preprocess import BlankPictureError, PictureError, open_picture, to_model_input  # noqa: E402
from .store import ModelLoadError  # noqa: E402
from .trainer import LR_SCHEDULES, OPTIMIZERS, ConfigError, TrainingConfig  # noqa: E402

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (DatasetError, ConfigError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training",
                                     description="Train, evaluate and use MNIST / Fashion-MNIST "
                                                 "classifiers.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    defaults = TrainingConfig()

    train = sub.add_parser("train", help="train a model and save it")
    train.add_argument("--dataset", default=defaults.dataset, choices=list(DATASETS))
    train.add_argument("--architecture", default=defaults.architecture, choices=list(ARCHITECTURES))
    train.add_argument("--optimizer", default=defaults.optimizer, choices=OPTIMIZERS)
    train.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float,
                       default=defaults.learning_rate)
    train.add_argument("--lr-schedule", default=defaults.lr_schedule, choices=LR_SCHEDULES)
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--validation-split", type=float, default=defaults.validation_split)
    train.add_argument("--dropout", type=float, default=defaults.dropout)
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=defaults.augment,
                       help="random shifts, rotations, scaling and stroke widths")
    train.add_argument("--precision", default=defaults.precision, choices=PRECISIONS)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/ IDX files "
                                          "(default: $DRAW_CLASSIFY_DATA, then the Keras cache)")
    train.add_argument("--out", required=True, help="where to save the .keras model")
    train.set_defaults(run=_train)

    for name, run, text in (("evaluate", _evaluate, "accuracy on the official test set"),
                            ("summary", _summary, "layers, parameters and saved metadata")):
        cmd = sub.add_parser(name, help=text)
        _model_argument(cmd)
        if name == "evaluate":
            cmd.add_argument("--data-dir")
        cmd.set_defaults(run=run)

    predict = sub.add_parser("predict", help="classify picture files; one JSON line each")
    _model_argument(predict)
    predict.add_argument("files", nargs="+", metavar="FILE")
    predict.set_defaults(run=_predict)
    return parser


def _model_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", default="mnist",
                     help="a .keras file or a shipped model name: mnist (default), fashion_mnist")
    cmd.add_argument("--dataset", choices=list(DATASETS),
                     help="dataset of a model without metadata (default: from its metadata)")


def _train(args) -> int:
    from .trainer import train

    config = TrainingConfig(**{f.name: getattr(args, f.name) for f in fields(TrainingConfig)})
    config.validate()
    stop = _StopOnInterrupt()
    bar = _ProgressBar()
    with stop:
        result = train(config, progress=bar, should_stop=stop)
    bar.close()
    if result.stopped:
        print(f"stopped after {result.epochs_completed} whole epoch(s); nothing saved "
              f"(test accuracy of the partial model: {result.test_accuracy:.2%})", file=sys.stderr)
        return EXIT_INTERRUPTED

    from .store import save_model

    path = save_model(result.model, args.out, result.metadata())
    print(f"test accuracy {result.test_accuracy:.2%}, loss {result.test_loss:.4f}, "
          f"{result.train_seconds:.1f} s of training; saved {path}")
    return 0


def _load(args):
    from .store import load_model

    loaded = load_model(args.model)
    dataset = args.dataset or loaded.dataset
    if dataset is None:
        raise ModelLoadError(f"{loaded.path.name} has no metadata naming its dataset; "
                             "pass --dataset mnist or --dataset fashion_mnist")
    return loaded, dataset


def _evaluate(args) -> int:
    from .datasets import load_dataset
    from .trainer import confusion_matrix, predict_probabilities

    loaded, dataset = _load(args)
    data = load_dataset(dataset, args.data_dir)
    probabilities = predict_probabilities(loaded.model, data.x_test)
    predictions = probabilities.argmax(axis=1)
    accuracy = float((predictions == data.y_test).mean())
    print(json.dumps({"model": str(loaded.path), "dataset": dataset, "test_images": len(predictions),
                      "test_accuracy": accuracy,
                      "confusion": confusion_matrix(data.y_test, predictions).tolist()}))
    return 0


def _summary(args) -> int:
    from .store import load_model

    loaded = load_model(args.model)
    loaded.model.summary(print_fn=lambda line, **_: print(line))
    meta = {k: v for k, v in loaded.metadata.items() if k not in ("history", "confusion")}
    print(json.dumps(meta, indent=1) if meta else "(no metadata sidecar)")
    return 0


def _predict(args) -> int:
    from .predictor import Predictor

    loaded, dataset = _load(args)
    names = loaded.metadata.get("class_names") or list(DATASETS[dataset].class_names)
    predictor = Predictor(loaded.model)
    failures = 0
    for file in args.files:
        try:
            picture = to_model_input(open_picture(file), dataset)
        except BlankPictureError:
            record = {"file": file, "error": "blank picture: nothing to classify"}
        except PictureError as exc:
            record = {"file": file, "error": str(exc)}
        else:
            probabilities = predictor.predict(picture)
            label = int(probabilities.argmax())
            record = {"file": file, "label": label, "class_name": names[label],
                      "probabilities": [round(float(p), 6) for p in probabilities]}
        failures += "error" in record
        print(json.dumps(record), flush=True)
    return 1 if failures else 0


class _StopOnInterrupt:
    """First Ctrl+C asks training to stop after the current batch; a second one aborts."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this batch (Ctrl+C again to abort)...", file=sys.stderr)


class _ProgressBar:
    """One line per epoch on stderr: a bar with batches, loss/accuracy and the ETA."""

    WIDTH = 30

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self._last_line = 0.0

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "train_begin":
            print(f"training on {event['train_samples']} images, validating on "
                  f"{event['val_samples']} ({event['source']})", file=self.stream)
        elif kind == "batch":
            now = time.monotonic()
            if not self.tty and now - self._last_line < 10:
                return  # a log file gets a line every 10 s, not a flood
            self._last_line = now
            done = int(self.WIDTH * event["batch"] / event["steps"])
            text = (f"epoch {event['epoch']}/{event['epochs']} [{'=' * done:<{self.WIDTH}}] "
                    f"{event['batch']}/{event['steps']} loss {event['loss']:.4f} "
                    f"acc {event['accuracy']:.4f} ETA {_duration(event['eta_seconds'])}")
            print(("\r" + text) if self.tty else text, end="" if self.tty else "\n",
                  file=self.stream, flush=True)
        elif kind == "epoch":
            val = (f" val_loss {event['val_loss']:.4f} val_acc {event['val_accuracy']:.4f}"
                   if "val_loss" in event else "")
            text = (f"epoch {event['epoch']}/{event['epochs']} {event['seconds']:.1f} s "
                    f"loss {event['loss']:.4f} acc {event['accuracy']:.4f}{val}")
            print(("\r\x1b[K" + text) if self.tty else text, file=self.stream, flush=True)
        elif kind == "evaluate_begin":
            print(f"evaluating on {event['samples']} test images...", file=self.stream)

    def close(self) -> None:
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


if __name__ == "__main__":
    sys.exit(main())
