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
but not saved where asked (kept in the recovery folder), 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
import traceback
from dataclasses import fields
from pathlib import Path

# TensorFlow prints CUDA probing noise on machines without a GPU; keep the terminal readable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from training.cli.plumbing import (  # noqa: E402
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_SAVED,
    JsonLines,
    StopRequests,
    fail,
    take_stdout,
    unexpected,
)
from training.core.atomic import WriteError, check_writable_target, end_cleanly_on_sigterm  # noqa: E402
from training.core.datasets import DATASETS, DatasetError, normalize_name  # noqa: E402
from training.learn.strategy import check_tf_config
from training.modelfile.sidecar import ModelLoadError  # noqa: E402
from training.protocol.config import ARCHITECTURES, ConfigError, TrainingConfig  # noqa: E402
from training.protocol.messages import (  # noqa: E402
    ConvertResult,
    DescribeResult,
    DownloadResult,
    ExportResult,
    Saved,
    Summary,
    TrainResult,
)
from training.protocol.options import add_config_options  # noqa: E402
from training.protocol.presets import PRESETS, preset_values  # noqa: E402
from training.protocol.wire import dumps, json_safe  # noqa: E402
from training.runtime.preprocess import (  # noqa: E402
    BlankPictureError,
    PictureError,
    open_picture,
    to_model_input,
)

GALLERY_LIMIT = 60          # misclassified test indices reported in the result event
DEBUG_ENV_VAR = "DRAW_CLASSIFY_DEBUG"

# Lines TensorFlow's C++ side writes to stderr while it loads, before TF_CPP_MIN_LOG_LEVEL
# applies (absl logging is initialised later): start-up information, not problems.
_TF_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IW]\d{4} "
                       r"\d\d:\d\d:\d\d|To enable the following instructions|E\d{4} .*cuda)")

_protocol: JsonLines | None = None  # set when this run speaks JSON lines on stdout


class CliError(Exception):
    """A user error found by the CLI itself (the message is printed, exit status 2)."""


def main(argv: list[str] | None = None) -> int:
    global _protocol
    args = _parser().parse_args(argv)
    end_cleanly_on_sigterm()  # the window ends us with SIGTERM: temporaries must not stay
    if getattr(args, "progress", None) == "json" or getattr(args, "json", False):
        _protocol = JsonLines(take_stdout())
    try:
        return args.run(args)
    except (DatasetError, ConfigError, ModelLoadError, WriteError, CliError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl+C: abort at once, quietly
        print("\naborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        return _fail("out of memory; try a smaller batch size or a smaller model")
    except Exception as exc:  # noqa: BLE001 - a user gets one line; the details go to stderr
        tf = sys.modules.get("tensorflow")  # loaded by the command that failed, if any
        if tf is not None and isinstance(exc, tf.errors.ResourceExhaustedError):
            return _fail("out of memory; try a smaller batch size or a smaller model")
        if _protocol is not None or os.environ.get(DEBUG_ENV_VAR):
            traceback.print_exc()  # stderr is the log when the window drives us
        debug = "" if os.environ.get(DEBUG_ENV_VAR) else f" (set {DEBUG_ENV_VAR}=1 for the details)"
        return _fail(unexpected(exc) + debug)


def _fail(message: str, status: int = EXIT_ERROR) -> int:
    return fail(_protocol, message, status)


def _parser(config_class=TrainingConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training",
                                     description="Train, evaluate and use MNIST / Fashion-MNIST "
                                                 "classifiers.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _train_parser(sub, config_class)
    _model_parsers(sub)
    _tool_parsers(sub)
    return parser


def _train_parser(sub, config_class) -> None:
    # No defaults here: an option given is told apart from one left out, so that it overrides
    # the preset's value; _train fills in TrainingConfig's defaults, then the preset, then these.
    train = sub.add_parser("train", help="train a model and save it",
                           argument_default=argparse.SUPPRESS)
    train.add_argument("--preset", choices=list(PRESETS),
                       help="a named recipe (the panel's presets); other options override it: "
                            + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
                            .replace("%", "%%"))  # argparse formats help with %
    add_config_options(train, config_class)  # one option per TrainingConfig field
    train.add_argument("--out", required=True, help="where to save the .keras model")
    train.add_argument("--ood", action=argparse.BooleanOptionalAction,
                       help="after saving, fit the check for pictures unlike the training data "
                            "on the validation split (default: on; about 10 s)")
    _progress_argument(train)
    train.set_defaults(run=_train)


def _model_parsers(sub) -> None:
    """The commands that read a model: evaluate, summary, predict, explain, calibrate,
    export-all, convert."""
    for name, run, text in (("evaluate", _evaluate, "accuracy on the official test set"),
                            ("summary", _summary, "layers, parameters and saved metadata")):
        cmd = sub.add_parser(name, help=text)
        _model_argument(cmd)
        if name == "evaluate":
            cmd.add_argument("--data-dir")
        cmd.set_defaults(run=run)

    predict = sub.add_parser(
        "predict", help="classify picture files; one JSON line each",
        description="Classify picture files, one JSON object per line: label, class_name, "
                    "probabilities (the model's raw output), calibrated_probabilities (with the "
                    "model's temperature, as the window shows them) and verdict, the window's "
                    "answer line: 'answer' (it shows the label), 'not_sure' (\"Not sure: A or "
                    "B\") or 'not_in_domain' (\"That doesn't look like a digit/garment\"); "
                    "digit models add number and digits.")
    _model_argument(predict)
    predict.add_argument("files", nargs="+", metavar="FILE")
    predict.set_defaults(run=_predict)

    explain = sub.add_parser("explain", help="where the model looks (signed occlusion "
                                             "saliency); one JSON line per picture")
    _model_argument(explain)
    explain.add_argument("files", nargs="+", metavar="FILE")
    explain.add_argument("--out", help="folder for <name>.saliency.png overlays")
    explain.set_defaults(run=_explain)

    calibrate = sub.add_parser("calibrate", help="fit the temperature and the 'does not look "
                                                 "like a digit' check on held-out data; stored "
                                                 "in the sidecar")
    _model_argument(calibrate)
    calibrate.add_argument("--data-dir")
    calibrate.add_argument("--no-ood", dest="ood", action="store_false",
                           help="the temperature only")
    calibrate.set_defaults(run=_calibrate)
    _export_parsers(sub)


def _export_parsers(sub) -> None:
    export_all = sub.add_parser("export-all", help="write a model as .keras, .tflite and ONNX "
                                                   "with a JSON describing its input")
    _model_argument(export_all)
    export_all.add_argument("--out", required=True, help="folder to write the files in")
    export_all.add_argument("--name", help="file name stem (default: the model's)")
    _progress_argument(export_all)
    export_all.set_defaults(run=_export_all)

    convert = sub.add_parser("convert", help="write a model's .tflite (or .layers.tflite) for "
                                             "the window's LiteRT runtime")
    _model_argument(convert)
    convert.add_argument("--out", help="the .tflite to write (default: beside the model)")
    convert.add_argument("--layers", action="store_true",
                         help="the model whose outputs are all layers' outputs "
                              "(default file: MODEL.layers.tflite)")
    _progress_argument(convert)
    convert.set_defaults(run=_convert)


def _tool_parsers(sub) -> None:
    """teach, download, describe."""
    # The whole "teach it my handwriting" command lives in training.learn.teach (its own options).
    teach = sub.add_parser("teach", add_help=False, prefix_chars="\0",
                           help="fine-tune a model on your own samples (see: teach --help)")
    teach.add_argument("options", nargs=argparse.REMAINDER)
    teach.set_defaults(run=lambda args: _teach_main(args.options))

    download = sub.add_parser("download", help="fetch a dataset into the Keras cache")
    download.add_argument("--dataset", default="mnist", choices=list(DATASETS))
    download.add_argument("--data-dir", help="look here first (nothing is downloaded if found)")
    _progress_argument(download)
    download.set_defaults(run=_download)

    describe = sub.add_parser("describe", help="layers and parameters of an architecture")
    describe.add_argument("--architecture", default=TrainingConfig().architecture,
                          choices=[*ARCHITECTURES, "all"])
    describe.add_argument("--dropout", type=float, default=None,
                          help="dropout rate (default: the architecture's own)")
    describe.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    describe.set_defaults(run=_describe)


def _progress_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--progress", choices=("bar", "json"), default="bar",
                     help="bar: a human progress line on stderr (default); json: one JSON "
                          "object per line on stdout, and 'stop' on stdin stops training")


def _model_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", default="mnist",
                     help="a .keras file or a shipped model name: mnist (default), fashion_mnist")
    cmd.add_argument("--dataset", choices=list(DATASETS),
                     help="dataset of a model without metadata (default: from its metadata)")


# ---------------------------------------------------------------------------------- train
def _train(args) -> int:
    """fit -> save at once (``saved``) -> LiteRT twin -> evaluate -> temperature and OOD check
    -> ``result``. Everything after ``saved`` only adds to a model that is already kept: a
    window that ends this process then (its user pressed Start again) loses only the figures."""
    from training.core.datasets import load_dataset
    from training.learn.trainer import evaluate, fit

    config = _train_config(args)
    if config.strategy == "multi-worker":
        check_tf_config()  # before loading the data
    try:  # before minutes of training, not after; the name as given first (a folder, a device)
        check_writable_target(args.out)
        target = check_writable_target(_keras_name(args.out))
    except WriteError as exc:
        raise CliError(f"cannot save the model there: {exc}") from None

    stop = StopRequests(_protocol)
    progress = _protocol or _ProgressBar()
    with stop:
        if _protocol is not None:
            stop.listen_on_stdin()
        data = load_dataset(config.dataset, config.data_dir, progress=progress)
        _import_keras_quietly()
        fitted = fit(config, progress=progress, should_stop=stop, dataset=data)
    if _protocol is not None and _protocol.broken:
        return EXIT_INTERRUPTED  # whoever read our output is gone: nobody wants this model
    if fitted.stopped and _protocol is None:
        result = evaluate(fitted, progress)
        print(f"stopped after {result.epochs_completed} whole epoch(s); nothing saved "
              f"(test accuracy of the partial model: {_percent(result.test_accuracy)})",
              file=sys.stderr)
        return EXIT_INTERRUPTED

    # Kept first (the .keras and its sidecar: a tenth of a second), measured after.
    path, problem = _keep(fitted.model, target, _finite_metadata(fitted.metadata()))
    status = 0 if problem is None else EXIT_NOT_SAVED
    if _protocol is not None:
        from training.modelfile.sidecar import read_metadata

        _protocol.write(_saved_event(fitted, path, read_metadata(path), problem))
    _add_twin(fitted.model, path, progress)
    result = evaluate(fitted, progress)
    _update_sidecar(path, _finite_metadata(_test_figures(result)))
    if getattr(args, "ood", True):
        _add_ood(result, path, data, progress)

    if _protocol is not None:
        from training.modelfile.sidecar import read_metadata

        _protocol.write(_result_event(result, path, read_metadata(path), problem))
    elif status == 0:
        print(f"test accuracy {_percent(result.test_accuracy)}, loss {result.test_loss:.4f}, "
              f"{result.train_seconds:.1f} s of training; saved {path}")
    return status


def _keep(model, target: Path, metadata: dict) -> tuple[Path, str | None]:
    """Save the model at ``target``, else in the recovery folder: (where it is, the problem
    with ``target`` or None). WriteError when neither could be written."""
    try:
        return _save(model, target, metadata), None
    except (WriteError, OSError) as exc:
        problem = f"could not save the model to {target}: {exc}"
    try:  # keep the work: a recovery folder we control is likely writable
        path = _save(model, _recovery_path(target), metadata)
    except (WriteError, OSError) as again:
        raise WriteError(f"{problem}; keeping it in the recovery folder failed too: "
                         f"{again}") from None
    problem += f" It was kept as {path}."
    print(f"error: {problem}", file=sys.stderr)
    return path, problem


def _saved_event(fitted, path: Path, metadata: dict, problem: str | None) -> Saved:
    """The model is on disk (no test figures yet): the window can offer it at once."""
    return Saved(status=fitted.status, path=str(path),
                 epochs_completed=fitted.epochs_completed, train_seconds=fitted.train_seconds,
                 history=fitted.history, dataset=fitted.config.dataset,
                 architecture=fitted.config.architecture, config=fitted.config.to_dict(),
                 class_names=list(fitted.data.class_names), metadata=metadata,
                 **_problem_fields(problem))


def _problem_fields(problem: str | None) -> dict:
    """Kept, but not where asked (the recovery folder): says so."""
    return {"saved_where_asked": False, "message": problem} if problem else {}


def _test_figures(result) -> dict:
    """The sidecar fields the evaluation adds (test figures, temperature)."""
    keep = ("test_accuracy", "test_loss", "confusion", "temperature", "calibration")
    return {key: value for key, value in result.metadata().items() if key in keep}


def _update_sidecar(path: Path, changes: dict) -> None:
    from training.learn.confidence import update_sidecar

    update_sidecar(path, changes)


def _add_twin(model, path: Path, progress) -> None:
    """The ``.tflite`` twin the window runs, written after the model is kept (about 2 s); its
    hash in the sidecar makes it trusted. A failure is a warning: the window converts the model
    itself when the twin is missing."""
    from training.learn.export import export_tflite
    from training.modelfile.sidecar import file_sha256, tflite_path

    tflite_path(path).unlink(missing_ok=True)  # an older model's twin: never trusted again
    try:
        lite = export_tflite(model, tflite_path(path))
        _update_sidecar(path, {"tflite_sha256": file_sha256(lite)})
    except Exception as exc:  # noqa: BLE001 - the model is saved and works without it
        if os.environ.get(DEBUG_ENV_VAR):
            traceback.print_exc()
        progress({"event": "warning", "message": "The LiteRT copy of the model could not be "
                  f"made ({type(exc).__name__}: {exc}); the window converts it when used."})


def _add_ood(result, path: Path, data, progress) -> None:
    """The "doesn't look like a digit" check of the model just saved (training.learn.confidence).
    A failure is a warning: the model is saved and works without it."""
    from training.learn.confidence import add_ood_after_training

    try:
        add_ood_after_training(result, path, data, progress)
    except Exception as exc:  # noqa: BLE001 - never lose a trained model over this extra
        if os.environ.get(DEBUG_ENV_VAR):
            traceback.print_exc()
        progress({"event": "warning", "message": "The check for pictures unlike the training "
                  f"data could not be made ({type(exc).__name__}: {exc}); the model works "
                  "without it."})


def _train_config(args, config_class=TrainingConfig) -> TrainingConfig:
    """TrainingConfig's defaults, then the preset's values, then the options given."""
    given = {f.name: getattr(args, f.name) for f in fields(config_class) if hasattr(args, f.name)}
    values = config_class().to_dict()
    if getattr(args, "preset", None):
        values.update(preset_values(args.preset, given.get("dataset", values["dataset"])))
    values.update(given)
    return config_class(**values).validate()


def _save(model, path: Path, metadata: dict) -> Path:
    """The .keras and its sidecar; the .tflite twin comes after (``_add_twin``)."""
    from training.learn.saving import save_model

    return save_model(model, path, metadata, with_tflite=False)


def _keras_name(out: str) -> Path:
    path = Path(out).expanduser()
    return path if path.suffix == ".keras" else path.with_name(path.name + ".keras")


def _recovery_path(target: Path) -> Path:
    from training.core.paths import recovery_dir

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return recovery_dir() / f"{target.stem}-{stamp}.keras"


def _result_event(result, path: Path, metadata: dict, problem: str | None) -> TrainResult:
    picked = result.misclassified[:GALLERY_LIMIT]
    return TrainResult(
        status=result.status,
        epochs_completed=result.epochs_completed, train_seconds=result.train_seconds,
        test_accuracy=result.test_accuracy, test_loss=result.test_loss,
        history=result.history, confusion=result.confusion,
        class_names=list(result.class_names), dataset=result.config.dataset,
        architecture=result.config.architecture, config=result.config.to_dict(),
        source=result.dataset_source, path=str(path), metadata=metadata,
        misclassified=picked, misclassified_predicted=result.test_predictions[picked],
        mistakes=len(result.misclassified), **_problem_fields(problem))


def _finite_metadata(metadata: dict) -> dict:
    """The sidecar is strict JSON: a NaN score (no test images, a diverged run) is left out."""
    return {key: value for key, value in json_safe(metadata).items() if value is not None}


# ---------------------------------------------------------------------------------- others
def _load(args):
    from training.learn.saving import load_model

    _import_keras_quietly()
    loaded = load_model(args.model)
    dataset = args.dataset or loaded.dataset
    if dataset is None:
        raise ModelLoadError(f"{loaded.path.name} has no metadata naming its dataset; "
                             "pass --dataset mnist or --dataset fashion_mnist")
    return loaded, dataset


def _evaluate(args) -> int:
    from training.core.datasets import load_dataset
    from training.learn.trainer import confusion_matrix, predict_probabilities

    loaded, dataset = _load(args)
    data = load_dataset(dataset, args.data_dir)
    if len(data.x_test) == 0:
        raise CliError(f"the {DATASETS[dataset].title} test set in {data.source} holds no "
                       "pictures: there is nothing to evaluate")
    probabilities = predict_probabilities(loaded.model, data.x_test)
    predictions = probabilities.argmax(axis=1)
    accuracy = float((predictions == data.y_test).mean())
    print(dumps({"model": str(loaded.path), "dataset": dataset,
                  "test_images": len(predictions), "test_accuracy": accuracy,
                  "confusion": confusion_matrix(data.y_test, predictions)}))
    return 0


def _summary(args) -> int:
    from training.learn.saving import load_model

    _import_keras_quietly()
    loaded = load_model(args.model)
    loaded.model.summary(print_fn=lambda line, **_: print(line))
    meta = {k: v for k, v in loaded.metadata.items() if k not in ("history", "confusion")}
    print(json.dumps(json_safe(meta), indent=1, allow_nan=False) if meta
          else "(no metadata sidecar)")
    return 0


def _predict(args) -> int:
    """One JSON line per file; "verdict" is the window's answer line (see the parser's
    description), computed by the same code (training.runtime.answer_check.AnswerCheck, verdict_name)."""
    import numpy as np

    from training.learn.predictor import Predictor
    from training.runtime.answer_check import verdict_name

    loaded, dataset = _load(args)
    names = loaded.metadata.get("class_names") or list(DATASETS[dataset].class_names)
    predictor = Predictor(loaded.model)
    check = _answer_check(loaded)
    digits = normalize_name(dataset) == "mnist"  # digits side by side are read as a number
    failures = 0
    for file in args.files:
        try:
            image = open_picture(file)
            picture = to_model_input(image, dataset)
        except BlankPictureError:
            record = {"file": file, "error": "blank picture: nothing to classify"}
        except PictureError as exc:
            record = {"file": file, "error": str(exc)}
        else:
            probabilities = predictor.predict(picture)
            if not np.all(np.isfinite(probabilities)):  # broken weights: NaN or inf out
                record = {"file": file, "error": "this model's output is not a number"}
            else:
                label = int(probabilities.argmax())
                found = check.answer(probabilities, picture)
                record = {"file": file, "label": label, "class_name": names[label],
                          "probabilities": [round(float(p), 6) for p in probabilities],
                          "calibrated_probabilities": [round(float(p), 6)
                                                       for p in found["probabilities"]],
                          "verdict": verdict_name(found["verdict"])}
                if digits:
                    record.update(_number_record(image, predictor,
                                                 loaded.metadata.get("temperature")))
        failures += "error" in record
        print(dumps(record), flush=True)
    return 1 if failures else 0


def _answer_check(loaded):
    """The window's answer check of a loaded model (training.runtime.answer_check.AnswerCheck): its temperature
    and its "doesn't look like a …" check when the sidecar's files match."""
    from training.runtime.answer_check import AnswerCheck

    try:
        return AnswerCheck.for_model(loaded.path, loaded.metadata)
    except Exception:  # noqa: BLE001 - a broken check file: the answers, as the window does
        return AnswerCheck(loaded.metadata.get("temperature"))


def _number_record(image, predictor, temperature=None) -> dict:
    """``"number"`` and ``"digits"`` (label, confidence, probabilities, box per digit, left to
    right) of a digit picture: one digit gives the record's own label, several a number."""
    import numpy as np

    from training.runtime.numbers import read_number

    try:
        from training.runtime.calibration import calibrated_predictions

        reading = read_number(image, calibrated_predictions(
            lambda xs: np.stack([predictor.predict(x) for x in xs]), temperature))
    except BlankPictureError:  # cannot happen after a single-digit reading; never a crash
        return {}
    return {"number": reading.number, "digits": [d.to_json() for d in reading.digits]}


def _explain(args) -> int:
    import numpy as np

    from training.runtime.explain import explain, overlay_png

    predict_batch, dataset, names = _batch_model(args)
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot write the overlays in {out}: {exc.strerror or exc}") from None
    failures = 0
    for file in args.files:
        try:
            picture = to_model_input(open_picture(file), dataset)
        except BlankPictureError:
            record = {"file": file, "error": "blank picture: nothing to explain"}
        except PictureError as exc:
            record = {"file": file, "error": str(exc)}
        else:
            found = explain(picture, predict_batch)
            if not np.all(np.isfinite(found.probabilities)):
                record = {"file": file, "error": "this model's output is not a number"}
            else:
                record = {"file": file, "label": found.label,
                          "class_name": names[found.label],
                          "probabilities": [round(float(p), 6) for p in found.probabilities],
                          "saliency": np.round(found.saliency.astype(float), 4).tolist()}
                if out is not None:
                    path = out / f"{Path(file).stem}.saliency.png"
                    try:
                        overlay_png(picture, found.saliency, path)
                        record["overlay"] = str(path)
                    except WriteError as exc:
                        record = {"file": file, "error": str(exc)}
        failures += "error" in record
        print(dumps(record), flush=True)
    return 1 if failures else 0


def _batch_model(args):
    """(predict_batch, dataset, class names): the ``.tflite`` beside the model when it holds
    the same weights (LiteRT: no TensorFlow, fast), else the Keras model."""
    import numpy as np

    from training.modelfile.sidecar import (
        check_model_file,
        file_sha256,
        read_metadata,
        resolve_model_path,
    )

    path = resolve_model_path(args.model)
    lite = None
    if path.suffix.lower() == ".tflite":
        lite, metadata = path, read_metadata(path.with_suffix(".keras"))
    else:
        path = check_model_file(path)
        metadata, beside = read_metadata(path), path.with_suffix(".tflite")
        if beside.is_file() and metadata.get("tflite_sha256") == file_sha256(beside):
            lite = beside
    if lite is None:
        loaded, dataset = _load(args)
        shape = tuple(loaded.model.inputs[0].shape)[1:]

        def predict_batch(images):
            x = np.asarray(images, np.float32).reshape(-1, *shape)
            out = np.asarray(loaded.model.predict_on_batch(x), np.float32)
            if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1, atol=1e-3):
                return out
            out = np.exp(out - out.max(axis=1, keepdims=True))  # a model ending in logits
            return out / out.sum(axis=1, keepdims=True)
    else:
        from training.runtime.lite import LiteModel

        dataset = args.dataset or metadata.get("dataset")
        if dataset is None:
            raise ModelLoadError(f"{lite.name} has no metadata naming its dataset; "
                                 "pass --dataset mnist or --dataset fashion_mnist")
        predict_batch = LiteModel(lite).predict_batch
        loaded = None
    names = ((loaded.metadata if loaded else metadata).get("class_names")
             or list(DATASETS[dataset].class_names))
    return predict_batch, dataset, names


def _calibrate(args) -> int:
    from training.learn.confidence import calibrate_saved_model
    from training.learn.saving import load_model

    _import_keras_quietly()
    loaded = load_model(args.model)
    if args.dataset:
        loaded.metadata.setdefault("dataset", args.dataset)
    found = calibrate_saved_model(loaded.path, args.data_dir, with_ood=args.ood, loaded=loaded)
    block = found["calibration"]
    print(f"temperature {block['temperature']:.3f}; ECE on the {block['evaluated_on']} "
          f"{block['ece_before']:.4f} -> {block['ece_after']:.4f}")
    if "ood" in found:
        measured = found["ood"]["measured"]
        print(f"out-of-distribution check: {measured['rejected']:.2%} of the "
              f"{measured['on']} rejected, {measured['unsure_or_rejected']:.2%} flagged")
    print(f"saved in {Path(found['path']).with_suffix('.json')}")
    return 0


def _export_all(args) -> int:
    from training.learn.export_all import export_all

    _import_keras_quietly()
    written = export_all(args.model, args.out, name=args.name, dataset=args.dataset)
    if _protocol is not None:
        _protocol.write(ExportResult(files=[str(path) for path in written]))
        return 0
    for path in written:
        print(path)
    return 0


def _teach_main(options: list[str]) -> int:
    from training.cli.teach import main as teach_main

    return teach_main(options)


def _download(args) -> int:
    from training.core.datasets import load_dataset

    data = load_dataset(args.dataset, args.data_dir, allow_download=True,
                        progress=_protocol or _ProgressBar())
    record = DownloadResult(dataset=data.name, source=data.source,
                            train_images=len(data.x_train), test_images=len(data.x_test))
    if _protocol is not None:
        _protocol.write(record)
    else:
        print(f"{DATASETS[data.name].title}: {record.train_images} training and "
              f"{record.test_images} test pictures in {data.source}")
    return 0


def _convert(args) -> int:
    """What the window runs for a model that has no .tflite (or .layers.tflite) yet."""
    from training.learn.export import export_layers_tflite, export_tflite
    from training.learn.saving import load_model
    from training.modelfile.sidecar import layers_tflite_path, tflite_path

    _import_keras_quietly()
    loaded = load_model(args.model)
    if args.layers:
        out = export_layers_tflite(loaded.model, args.out or layers_tflite_path(loaded.path))
    else:
        out = export_tflite(loaded.model, args.out or tflite_path(loaded.path))
    if _protocol is not None:
        _protocol.write(ConvertResult(path=str(out)))
    else:
        print(out)
    return 0


def _describe(args) -> int:
    from training.learn.models import describe

    _import_keras_quietly()
    names = list(ARCHITECTURES) if args.architecture == "all" else [args.architecture]
    for name in names:
        info = describe(name, args.dropout)
        if _protocol is not None:
            _protocol.write(Summary(**info))
        else:
            print(info["text"] + "\n")
    if _protocol is not None:
        _protocol.write(DescribeResult(count=len(names)))
    return 0


# ---------------------------------------------------------------------------------- helpers
def _import_keras_quietly() -> None:
    """Import Keras (and TensorFlow) with fd 2 captured, then pass on all but the start-up
    lines TensorFlow's C++ logging prints before TF_CPP_MIN_LOG_LEVEL takes effect."""
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not _TF_NOISE.match(line):
                    print(line, file=sys.stderr)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def _percent(value: float) -> str:
    return f"{value:.2%}" if math.isfinite(value) else "n/a (no test pictures)"


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
            if event.get("strategy", "default") != "default":
                print(f"strategy {event['strategy']}: {event['devices']}", file=self.stream)
        elif kind in ("batch", "download"):
            now = time.monotonic()
            if not self.tty and now - self._last_line < 10:
                return  # a log file gets a line every 10 s, not a flood
            self._last_line = now
            if kind == "download":
                total = f" of {event['total'] / 1e6:.1f}" if event["total"] else ""
                text = f"downloading {event['file']}: {event['done'] / 1e6:.1f}{total} MB"
            else:
                done = int(self.WIDTH * event["batch"] / event["steps"])
                text = (f"epoch {event['epoch']}/{event['epochs']} "
                        f"[{'=' * done:<{self.WIDTH}}] {event['batch']}/{event['steps']} "
                        f"loss {event['loss']:.4f} acc {event['accuracy']:.4f} "
                        f"ETA {_duration(event['eta_seconds'])}")
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
        elif kind == "warning":
            print(f"warning: {event['message']}", file=self.stream)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds)) if math.isfinite(seconds) else 0
    return f"{seconds // 60}:{seconds % 60:02d}"


if __name__ == "__main__":
    sys.exit(main())
