"""Command line: python -m training {train,evaluate,summary,predict,explain,download,describe}.

    python -m training train --dataset mnist --architecture compact_cnn --epochs 2 --out m.keras
    python -m training evaluate --model mnist
    python -m training summary --model fashion_mnist
    python -m training predict --model mnist digit.png other.jpg     # one JSON object per line
                                       # with "verdict": answer | not_sure | not_in_domain
    python -m training explain --model mnist digit.png --out overlays/  # + 28x28 saliency
    python -m training download --dataset fashion_mnist
    python -m training describe --architecture compact_cnn --dropout 0.2
    python -m training calibrate --model m.keras        # temperature + "not a digit" check
    python -m training export-all --model mnist --out phone/  # .keras .tflite .onnx .json
    python -m training tune          # the fastest training settings for this CPU, cached

``--progress json`` (train, download) and ``--json`` (describe) speak the protocol the window
uses to drive this CLI as a child process: one JSON object per line on stdout, each with an
``"event"`` (train_begin, batch, epoch, saved, evaluate_begin, train_end, ood_begin, warning,
download, summary), ending in ``{"event": "result", ...}`` or ``{"event": "error", "message":
...}``. A line ``stop`` on stdin (or SIGINT) stops training after the current batch; the partial
model is saved and reported.

``train`` keeps the model before measuring it: right after the last batch (or a stop) the
``.keras`` and its sidecar are written and ``{"event": "saved", "path", "status",
"epochs_completed", "train_seconds", "history", "dataset", "architecture", "config",
"class_names", "metadata"}`` (+ ``saved_where_asked: false, message`` when it went to the
recovery folder) says so. What follows only adds to that model, each step rewriting the sidecar
atomically: its ``.tflite`` twin, the evaluation on the test set (``evaluate_begin``,
``train_end``: test figures and temperature), the "doesn't look like" check (``ood_begin``),
then ``result``. A reader may end the process after ``saved`` (SIGTERM): the kept model is
complete and valid, only without the figures not yet measured.

Exit status: 0 done, 1 some pictures could not be classified, 2 error (nothing done), 3 trained
but not saved where asked (kept in the recovery folder), 130 interrupted, 143 ended by SIGTERM.

This module assembles the parser and maps errors to exit statuses; the commands live in
train_command.py (train), tune_command.py (tune), model_commands.py (evaluate, summary, predict, explain, calibrate),
file_commands.py (export-all, convert, download, describe) and teach.py, and what they share
(the JSON-lines writer, stop requests, progress bar, common options) in plumbing.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

# TensorFlow prints CUDA probing noise on machines without a GPU; keep the terminal readable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from training.cli import file_commands, model_commands, train_command, tune_command  # noqa: E402
from training.cli.plumbing import (  # noqa: E402
    DEBUG_ENV_VAR,
    EXIT_INTERRUPTED,
    CliError,
    JsonLines,
    fail,
    take_stdout,
    unexpected,
)
from training.core.atomic import WriteError, end_cleanly_on_sigterm  # noqa: E402
from training.core.datasets import DatasetError  # noqa: E402
from training.learn import tuning  # noqa: E402
from training.modelfile.sidecar import ModelLoadError  # noqa: E402
from training.protocol.config import ConfigError, TrainingConfig  # noqa: E402

OUT_OF_MEMORY = "out of memory; try a smaller batch size or a smaller model"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    end_cleanly_on_sigterm()  # the window ends us with SIGTERM: temporaries must not stay
    if not getattr(args, "measures_onednn", False):  # before any command loads TensorFlow
        tuning.apply_onednn(tuning.onednn_choice())
    protocol = None  # a JsonLines writer when this run speaks JSON lines on stdout
    if getattr(args, "progress", None) == "json" or getattr(args, "json", False):
        protocol = JsonLines(take_stdout())
    try:
        return args.run(args, protocol)
    except (DatasetError, ConfigError, ModelLoadError, WriteError, CliError) as exc:
        return fail(protocol, str(exc))
    except KeyboardInterrupt:  # a second Ctrl+C: abort at once, quietly
        print("\naborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        return fail(protocol, OUT_OF_MEMORY)
    except Exception as exc:  # noqa: BLE001 - a user gets one line; the details go to stderr
        tf = sys.modules.get("tensorflow")  # loaded by the command that failed, if any
        if tf is not None and isinstance(exc, tf.errors.ResourceExhaustedError):
            return fail(protocol, OUT_OF_MEMORY)
        if protocol is not None or os.environ.get(DEBUG_ENV_VAR):
            traceback.print_exc()  # stderr is the log when the window drives us
        debug = "" if os.environ.get(DEBUG_ENV_VAR) else f" (set {DEBUG_ENV_VAR}=1 for the details)"
        return fail(protocol, unexpected(exc) + debug)


def _parser(config_class=TrainingConfig) -> argparse.ArgumentParser:
    """Each command module adds its subparsers, in the order --help lists them; each sets
    ``run(args, protocol)``, the command, which returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m training",
                                     description="Train, evaluate and use MNIST / Fashion-MNIST "
                                                 "classifiers.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    train_command.add_parsers(sub, config_class)
    tune_command.add_parsers(sub)
    model_commands.add_parsers(sub)
    file_commands.add_export_parsers(sub)
    _teach_parser(sub)
    file_commands.add_data_parsers(sub)
    return parser


def _teach_parser(sub) -> None:
    # The whole "teach it my handwriting" command lives in training/cli/teach.py (its own
    # options, its own JSON lines); imported when run, so that --help stays quick.
    teach = sub.add_parser("teach", add_help=False, prefix_chars="\0",
                           help="fine-tune a model on your own samples (see: teach --help)")
    teach.add_argument("options", nargs=argparse.REMAINDER)
    teach.set_defaults(run=_teach_main)


def _teach_main(args, protocol: JsonLines | None) -> int:
    from training.cli.teach import main as teach_main

    return teach_main(args.options)


if __name__ == "__main__":
    sys.exit(main())
