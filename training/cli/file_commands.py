"""The commands that write or fetch files: export-all, convert (a model's other formats),
download (a dataset), describe (an architecture's layers, nothing to read)."""

from __future__ import annotations

from training.cli.plumbing import (
    JsonLines,
    ProgressBar,
    import_keras_quietly,
    model_argument,
    progress_argument,
)
from training.core.datasets import DATASETS
from training.protocol.config import ARCHITECTURES, TrainingConfig
from training.protocol.messages import (
    ConvertResult,
    DescribeResult,
    DownloadResult,
    ExportResult,
    Summary,
)


def add_export_parsers(sub) -> None:
    """export-all, convert."""
    export_all = sub.add_parser("export-all", help="write a model as .keras, .tflite and ONNX "
                                                   "with a JSON describing its input")
    model_argument(export_all)
    export_all.add_argument("--out", required=True, help="folder to write the files in")
    export_all.add_argument("--name", help="file name stem (default: the model's)")
    progress_argument(export_all)
    export_all.set_defaults(run=_export_all)

    convert = sub.add_parser("convert", help="write a model's .tflite (or .layers.tflite) for "
                                             "the window's LiteRT runtime")
    model_argument(convert)
    convert.add_argument("--out", help="the .tflite to write (default: beside the model)")
    convert.add_argument("--layers", action="store_true",
                         help="the model whose outputs are all layers' outputs "
                              "(default file: MODEL.layers.tflite)")
    progress_argument(convert)
    convert.set_defaults(run=_convert)


def add_data_parsers(sub) -> None:
    """download, describe (listed after teach in --help, hence apart from export-all, convert)."""
    download = sub.add_parser("download", help="fetch a dataset into the Keras cache")
    download.add_argument("--dataset", default="mnist", choices=list(DATASETS))
    download.add_argument("--data-dir", help="look here first (nothing is downloaded if found)")
    progress_argument(download)
    download.set_defaults(run=_download)

    describe = sub.add_parser("describe", help="layers and parameters of an architecture")
    describe.add_argument("--architecture", default=TrainingConfig().architecture,
                          choices=[*ARCHITECTURES, "all"])
    describe.add_argument("--dropout", type=float, default=None,
                          help="dropout rate (default: the architecture's own)")
    describe.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    describe.set_defaults(run=_describe)


def _export_all(args, protocol: JsonLines | None) -> int:
    from training.learn.export_all import export_all

    import_keras_quietly()
    written = export_all(args.model, args.out, name=args.name, dataset=args.dataset)
    if protocol is not None:
        protocol.write(ExportResult(files=[str(path) for path in written]))
        return 0
    for path in written:
        print(path)
    return 0


def _download(args, protocol: JsonLines | None) -> int:
    from training.core.datasets import load_dataset

    data = load_dataset(args.dataset, args.data_dir, allow_download=True,
                        progress=protocol or ProgressBar())
    record = DownloadResult(dataset=data.name, source=data.source,
                            train_images=len(data.x_train), test_images=len(data.x_test))
    if protocol is not None:
        protocol.write(record)
    else:
        print(f"{DATASETS[data.name].title}: {record.train_images} training and "
              f"{record.test_images} test pictures in {data.source}")
    return 0


def _convert(args, protocol: JsonLines | None) -> int:
    """What the window runs for a model that has no .tflite (or .layers.tflite) yet."""
    from training.learn.export import export_layers_tflite, export_tflite
    from training.learn.saving import load_model
    from training.modelfile.sidecar import layers_tflite_path, tflite_path

    import_keras_quietly()
    loaded = load_model(args.model)
    if args.layers:
        out = export_layers_tflite(loaded.model, args.out or layers_tflite_path(loaded.path))
    else:
        out = export_tflite(loaded.model, args.out or tflite_path(loaded.path))
    if protocol is not None:
        protocol.write(ConvertResult(path=str(out)))
    else:
        print(out)
    return 0


def _describe(args, protocol: JsonLines | None) -> int:
    from training.learn.models import describe

    import_keras_quietly()
    names = list(ARCHITECTURES) if args.architecture == "all" else [args.architecture]
    for name in names:
        info = describe(name, args.dropout)
        if protocol is not None:
            protocol.write(Summary(**info))
        else:
            print(info["text"] + "\n")
    if protocol is not None:
        protocol.write(DescribeResult(count=len(names)))
    return 0

