"""The commands that read a model: evaluate, summary, predict, explain, calibrate. They print
to stdout (predict and explain one JSON line per picture) and speak no protocol: the JsonLines
each is given, as every command is, stays None."""

from __future__ import annotations

import json
from pathlib import Path

from training.cli.plumbing import CliError, JsonLines, import_keras_quietly, model_argument
from training.core.atomic import WriteError
from training.core.datasets import DATASETS, normalize_name
from training.modelfile.sidecar import ModelLoadError
from training.protocol.wire import dumps, json_safe
from training.runtime.preprocess import (
    BlankPictureError,
    PictureError,
    on_canvas,
    open_picture,
    to_model_input,
)


def add_parsers(sub) -> None:
    """evaluate, summary, predict, explain, calibrate."""
    for name, run, text in (("evaluate", _evaluate, "accuracy on the official test set"),
                            ("summary", _summary, "layers, parameters and saved metadata")):
        cmd = sub.add_parser(name, help=text)
        model_argument(cmd)
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
    model_argument(predict)
    predict.add_argument("files", nargs="+", metavar="FILE")
    predict.set_defaults(run=_predict)

    explain = sub.add_parser("explain", help="where the model looks (signed occlusion "
                                             "saliency); one JSON line per picture")
    model_argument(explain)
    explain.add_argument("files", nargs="+", metavar="FILE")
    explain.add_argument("--out", help="folder for <name>.saliency.png overlays")
    explain.set_defaults(run=_explain)

    calibrate = sub.add_parser("calibrate", help="fit the temperature and the 'does not look "
                                                 "like a digit' check on held-out data; stored "
                                                 "in the sidecar")
    model_argument(calibrate)
    calibrate.add_argument("--data-dir")
    calibrate.add_argument("--no-ood", dest="ood", action="store_false",
                           help="the temperature only")
    calibrate.set_defaults(run=_calibrate)


def _load(args):
    from training.learn.saving import load_model

    import_keras_quietly()
    loaded = load_model(args.model)
    dataset = args.dataset or loaded.dataset
    if dataset is None:
        raise ModelLoadError(f"{loaded.path.name} has no metadata naming its dataset; "
                             "pass --dataset mnist or --dataset fashion_mnist")
    return loaded, dataset


def _evaluate(args, protocol: JsonLines | None) -> int:
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


def _summary(args, protocol: JsonLines | None) -> int:
    from training.learn.saving import load_model

    import_keras_quietly()
    loaded = load_model(args.model)
    loaded.model.summary(print_fn=lambda line, **_: print(line))
    meta = {k: v for k, v in loaded.metadata.items() if k not in ("history", "confusion")}
    print(json.dumps(json_safe(meta), indent=1, allow_nan=False) if meta
          else "(no metadata sidecar)")
    return 0


def _predict(args, protocol: JsonLines | None) -> int:
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
            image = on_canvas(open_picture(file))  # the pixels the window would show
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


def _explain(args, protocol: JsonLines | None) -> int:
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
            picture = to_model_input(on_canvas(open_picture(file)), dataset)  # as the window
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


def _calibrate(args, protocol: JsonLines | None) -> int:
    from training.learn.confidence import calibrate_saved_model
    from training.learn.saving import load_model

    import_keras_quietly()
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

