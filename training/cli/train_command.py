"""``python -m training train``: fit, keep the model at once, then measure it.

fit -> save (``saved``) -> LiteRT twin -> evaluate -> temperature and OOD check -> ``result``
(the story of a run and its events: the docstring of training/cli/main.py).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import sys
import traceback
from dataclasses import fields
from pathlib import Path

from training.cli.plumbing import (
    DEBUG_ENV_VAR,
    EXIT_INTERRUPTED,
    EXIT_NOT_SAVED,
    CliError,
    JsonLines,
    ProgressBar,
    StopRequests,
    fail,
    import_keras_quietly,
    progress_argument,
)
from training.core.atomic import WriteError, check_writable_target
from training.learn.strategy import check_tf_config
from training.protocol.config import TrainingConfig
from training.protocol.messages import Saved, TrainResult
from training.protocol.options import add_config_options
from training.protocol.presets import PRESETS, preset_values
from training.protocol.wire import json_safe

NOTHING_TRAINED = ("stopped before the first batch was trained: there is no model to keep, and "
                   "nothing was saved")
GALLERY_LIMIT = 60          # misclassified test indices reported in the result event
MAX_FINE_TUNE_STEPS = 2000  # train --fine-tune: a short fine-tune, not a training run


def add_parsers(sub, config_class=TrainingConfig) -> None:
    """The ``train`` subparser; its options are config_class's fields (the tests extend it)."""
    # No defaults here: an option given is told apart from one left out, so that it overrides
    # the preset's value; _train fills in TrainingConfig's defaults, then the preset, then these.
    train = sub.add_parser("train", help="train a model and save it",
                           argument_default=argparse.SUPPRESS)
    train.add_argument("--preset", choices=list(PRESETS),
                       help="a named recipe (the panel's presets); other options override it: "
                            + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
                            .replace("%", "%%"))  # argparse formats help with %
    add_config_options(train, config_class)  # one option per TrainingConfig field
    _accept_folders(train)
    train.add_argument("--fine-tune", type=int, metavar="STEPS",
                       help="a folder of your own classes only: after the new head, train the "
                            "base's last stage of convolutions too, STEPS steps (200: 4-5x the "
                            "time; 0 to 2000)")
    train.add_argument("--out", required=True, help="where to save the .keras model")
    train.add_argument("--ood", action=argparse.BooleanOptionalAction,
                       help="after saving, fit the check for pictures unlike the training data "
                            "on the validation split (default: on; about 10 s)")
    progress_argument(train)
    train.set_defaults(run=_train)


def _accept_folders(train: argparse.ArgumentParser) -> None:
    """``--dataset`` names a built-in dataset or a folder of one sub-folder per class."""
    action = next(a for a in train._actions if a.dest == "dataset")
    names = ", ".join(action.choices)
    action.choices = None
    action.metavar = "{" + names.replace(", ", ",") + "} or FOLDER"
    action.help = (f"{names}, or a folder with one sub-folder of pictures per class (a "
                   "classifier of your own classes, learned on the shipped digit model's "
                   "features; see the README)")


def _train(args, protocol: JsonLines | None) -> int:
    """fit -> save at once (``saved``) -> LiteRT twin -> evaluate -> temperature and OOD check
    -> ``result``. Everything after ``saved`` only adds to a model that is already kept: a
    window that ends this process then (its user pressed Start again) loses only the figures."""
    if _is_folder(getattr(args, "dataset", None)):
        return _train_classes(args, protocol)
    _check_dataset(getattr(args, "dataset", None))
    if hasattr(args, "fine_tune"):
        raise CliError("--fine-tune is for a folder of your own classes (--dataset FOLDER); a "
                       "built-in dataset's model is trained whole.")
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

    stop = StopRequests(protocol)
    progress = protocol or ProgressBar()
    with stop:
        if protocol is not None:
            stop.listen_on_stdin()
        data = load_dataset(config.dataset, config.data_dir, progress=progress)
        import_keras_quietly()
        fitted = fit(config, progress=progress, should_stop=stop, dataset=data)
    ended = _ended_unkept(fitted, protocol, progress)
    if ended is not None:
        return ended

    # Kept first (the .keras and its sidecar: a tenth of a second), measured after.
    path, problem = _keep(fitted.model, target, _finite_metadata(fitted.metadata()))
    status = 0 if problem is None else EXIT_NOT_SAVED
    if protocol is not None:
        from training.modelfile.sidecar import read_metadata

        protocol.write(_saved_event(fitted, path, read_metadata(path), problem))
    _add_twin(fitted.model, path, progress)
    result = evaluate(fitted, progress)
    _update_sidecar(path, _finite_metadata(_test_figures(result)))
    if getattr(args, "ood", True):
        _add_ood(result, path, data, progress)

    if protocol is not None:
        from training.modelfile.sidecar import read_metadata

        protocol.write(_result_event(result, path, read_metadata(path), problem))
    elif status == 0:
        print(f"test accuracy {_percent(result.test_accuracy)}, loss {result.test_loss:.4f}, "
              f"{result.train_seconds:.1f} s of training; saved {path}")
    return status


def _is_folder(dataset) -> bool:
    from training.core.datasets import DATASETS, normalize_name
    from training.runtime.picture_folders import is_picture_folder

    return (isinstance(dataset, str) and normalize_name(dataset) not in DATASETS
            and is_picture_folder(dataset))


def _check_dataset(dataset) -> None:
    from training.core.datasets import DATASETS, normalize_name

    if isinstance(dataset, str) and normalize_name(dataset) not in DATASETS:
        raise CliError(f"--dataset {dataset}: not {' or '.join(DATASETS)}, and no folder of "
                       f"that name (a folder with one sub-folder of pictures per class) exists.")


def _ended_unkept(fitted, protocol: JsonLines | None, progress) -> int | None:
    """The exit status of a run whose model is not kept (None: keep it): nobody reads our
    output any more, the stop came before the first batch (an untrained model is no model), or
    a stop on the command line (the partial model's figure is printed, nothing saved)."""
    from training.learn.trainer import evaluate

    if protocol is not None and protocol.broken:
        return EXIT_INTERRUPTED  # whoever read our output is gone: nobody wants this model
    if fitted.stopped and fitted.batches_trained == 0:
        return fail(protocol, NOTHING_TRAINED, EXIT_INTERRUPTED)
    if fitted.stopped and protocol is None:
        result = evaluate(fitted, progress)
        print(f"stopped after {result.epochs_completed} whole epoch(s); nothing saved "
              f"(test accuracy of the partial model: {_percent(result.test_accuracy)})",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return None


def _train_classes(args, protocol: JsonLines | None) -> int:
    """``--dataset FOLDER``: a classifier of the folder's classes, learned on the shipped
    digit model's features (training/learn/own_classes.py). The training options of a built-in
    dataset's run (architecture, epochs...) do not apply and are refused by name."""
    from training.protocol.messages import ClassesResult, TeachResult
    from training.runtime.picture_folders import FolderError, scan

    try:
        scan(args.dataset)  # its classes said wrong at once, before TensorFlow loads
    except FolderError as exc:
        raise CliError(str(exc)) from None
    ignored = sorted({"preset", *(f.name for f in fields(TrainingConfig))}
                     - {"dataset", "seed", "data_dir"} & set(vars(args)))
    if ignored:
        raise CliError("a folder of your own classes is learned one way (a new head on the "
                       "shipped digit model's features); these options do not apply: "
                       + ", ".join("--" + name.replace("_", "-") for name in ignored))
    tune = getattr(args, "fine_tune", 0)
    if not 0 <= tune <= MAX_FINE_TUNE_STEPS:
        raise CliError(f"--fine-tune {tune}: give 0 to {MAX_FINE_TUNE_STEPS} steps (200 is "
                       "the window's choice).")
    try:
        target = check_writable_target(_keras_name(args.out))
    except WriteError as exc:
        raise CliError(f"cannot save the model there: {exc}") from None
    stop = StopRequests(protocol)
    with stop:
        if protocol is not None:
            stop.listen_on_stdin()
        import_keras_quietly()
        from training.cli.teach import _print_progress
        from training.learn.own_classes import ClassesSettings, train_classes

        try:
            figures = train_classes(args.dataset, target, seed=getattr(args, "seed", 0),
                                    progress=protocol or _print_progress, should_stop=stop,
                                    settings=ClassesSettings(fine_tune_steps=tune))
        except FolderError as exc:
            raise CliError(str(exc)) from None
    if figures["status"] == "stopped":
        if protocol is not None:
            protocol.write(TeachResult(status="stopped", seconds=figures["seconds"]))
        else:
            print("stopped: nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    if protocol is not None:
        protocol.write(ClassesResult(**figures))
        return 0
    cv = figures["cross_validation"]
    held = (f"{cv['accuracy']:.1%} of {cv['held_out']} drawings right when held out "
            f"({cv['folds']}-fold cross-validation)" if "accuracy" in cv else cv["reason"])
    tuned = f", base fine-tuned {tune} steps" if tune else ""
    print(f"{len(figures['class_names'])} classes ({', '.join(figures['class_names'])}), "
          f"{figures['samples']} drawings: {held}{tuned}; {figures['seconds']['total']:.1f} s; "
          f"saved {figures['path']}")
    return 0


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



def _percent(value: float) -> str:
    return f"{value:.2%}" if math.isfinite(value) else "n/a (no test pictures)"

