"""``python -m training teach``: teach a model your handwriting (the engine: training/learn/teach.py)."""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import sys
import time
from pathlib import Path

from training.cli.plumbing import (
    EXIT_INTERRUPTED,
    JsonLines,
    StopRequests,
    fail,
    take_stdout,
    unexpected,
)
from training.core.atomic import WriteError
from training.core.datasets import DATASETS, DatasetError, normalize_name
from training.core.paths import models_dir, samples_dir
from training.learn.teach import MAX_FOLDS, TeachError, TeachSettings, teach
from training.modelfile.sidecar import ModelLoadError, read_metadata, resolve_model_path
from training.protocol.messages import TeachResult


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m training teach",
                     description="Teach a model your handwriting: fine-tune it on your samples "
                                 "(with replay of its training set) and save the result.")
    parser.add_argument("--model", required=True, help="the model to teach (.keras, or 'mnist')")
    parser.add_argument("--samples", help="folder of <class>/<picture> samples "
                                          "(default: the app's samples of the dataset)")
    parser.add_argument("--dataset", help="mnist or fashion_mnist (default: the model's)")
    parser.add_argument("--out", help="where to save the taught .keras model "
                                      "(default: the app's models folder)")
    parser.add_argument("--data-dir", help="folder with the IDX files (for the replay and the "
                                           "test set; default: $DRAW_CLASSIFY_DATA)")
    parser.add_argument("--progress", choices=("json", "text"), default="text")
    parser.add_argument("--seed", type=int, default=0)
    defaults = TeachSettings()
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help=f"teaching steps of the final model (default {defaults.steps})")
    parser.add_argument("--cv-steps", type=int, default=defaults.cv_steps,
                        help="steps of each cross-validation fold; 0 skips cross-validation "
                             f"(default {defaults.cv_steps})")
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--progress=json" in argv or any(
        a == "--progress" and b == "json" for a, b in itertools.pairwise(argv))
    out = JsonLines(take_stdout()) if as_json else None
    stop = StopRequests(out)  # a stop line on stdin, or the window gone
    try:
        args = parser.parse_args(argv)
        if out is not None:
            stop.listen_on_stdin()
        base = resolve_model_path(args.model)
        dataset = args.dataset or read_metadata(base).get("dataset") or "mnist"
        if normalize_name(dataset) not in DATASETS:
            raise TeachError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
        dataset = normalize_name(dataset)
        samples = Path(args.samples) if args.samples else samples_dir(dataset)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = Path(args.out) if args.out else models_dir() / f"{dataset}-taught-{stamp}.keras"
        if not (1 <= args.steps <= 100_000 and 0 <= args.cv_steps <= 100_000
                and 0 <= args.seed < 2**31):
            raise TeachError("--steps must be 1..100000, --cv-steps 0..100000 and --seed "
                             "0..2^31-1")
        settings = TeachSettings(steps=args.steps, cv_steps=args.cv_steps,
                                 folds=MAX_FOLDS if args.cv_steps else 0)
        result = teach(base, samples, dataset, target, args.data_dir,
                       progress=out if out is not None else _print_progress,
                       should_stop=stop, seed=args.seed, settings=settings)
    except (TeachError, ModelLoadError, DatasetError, WriteError, ValueError, OSError) as exc:
        return fail(out, str(exc) or type(exc).__name__)
    except MemoryError:
        return fail(out, "out of memory")
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        return fail(out, unexpected(exc))
    if out is not None:
        out.write(TeachResult(**result))
    else:
        _print_summary(result)
    return EXIT_INTERRUPTED if result["status"] == "stopped" else 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # a usage mistake becomes a TeachError: JSON-friendly, exit 2
        raise TeachError(f"{message} (see python -m training teach --help)")


_last_print = 0.0


def _print_progress(event: dict) -> None:
    global _last_print
    kind = event["event"]
    if kind == "teach_begin":
        print(f"teaching {event['samples']} samples {event['per_class']}: "
              f"{event['folds']} cross-validation folds x {event['cv_steps']} steps, then "
              f"{event['final_steps']} steps", file=sys.stderr)
    elif kind == "batch" and (time.monotonic() - _last_print > 2 or event["phase"] == "saving"):
        _last_print = time.monotonic()
        eta = event.get("eta_seconds")
        left = f", {eta:.0f} s left" if eta is not None else ""
        if event["phase"] in ("reading", "saving"):
            print(f"  {event['phase']}{left}", file=sys.stderr)
        else:
            loss = event.get("loss")
            print(f"  step {event['step']}/{event['steps']} ({event['phase']}) loss "
                  f"{'n/a' if loss is None else f'{loss:.4f}'}{left}", file=sys.stderr)
    elif kind == "fold_end":
        print(f"  fold {event['fold']}/{event['folds']}: {event['correct']}/{event['held_out']} "
              "held-out samples right", file=sys.stderr)
    elif kind == "evaluate_begin":
        print(f"evaluating the {event['model']} model on {event['samples']} test images...",
              file=sys.stderr)
    elif kind == "warning":
        print(f"warning: {event['message']}", file=sys.stderr)


def _print_summary(result: dict) -> None:
    if result["status"] == "stopped":
        print("stopped: nothing was saved")
        return
    before, after, cv = result["before"], result["after"], result["cross_validation"]
    print(f"taught {result['samples']} samples {result['per_class']} -> {result['path']}")
    print(f"official test accuracy ({result['test_images']} images): "
          f"{before['test_accuracy']:.2%} -> {after['test_accuracy']:.2%}")
    if cv.get("folds"):
        print(f"your samples, held out ({cv['folds']}-fold cross-validation): "
              f"{before['samples_accuracy']:.0%} -> {after['samples_accuracy_cv']:.0%}")
    else:
        print(f"your samples: {before['samples_accuracy']:.0%} before; {cv['reason']}")
    seconds = result["seconds"]
    print(f"time: {seconds['total']:.0f} s (reading the pictures {seconds.get('read', 0):.0f} s, "
          f"cross-validation {seconds['cross_validation']:.0f} s, teaching "
          f"{seconds['train']:.0f} s, saving and checking {seconds.get('save_and_check', 0):.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
