"""Write resources/models/<name>.tflite beside each shipped <name>.keras (run by `make models`),
and <name>.layers.tflite, every layer's output, for the window's "What each layer sees".

The window runs these with LiteRT, without TensorFlow (issue #8). The lecture's two models
(lecture_dense_<dataset>, lecture_cnn_<dataset>) are shipped too, for "Models side by side".
Usage:
    python scripts/export_shipped.py [--layers-only] [mnist fashion_mnist lecture_cnn_mnist ...]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

from training.core.atomic import write_text  # noqa: E402
from training.learn.export import export_layers_tflite, export_tflite
from training.learn.saving import load_model
from training.modelfile.sidecar import (
    SHIPPED_MODELS,
    file_sha256,
    layers_tflite_path,
    shipped_model_path,
    sidecar_path,
    tflite_path,
)

LECTURE_MODELS = tuple(f"{architecture}_{dataset}" for architecture in ("lecture_dense",
                                                                        "lecture_cnn")
                       for dataset in SHIPPED_MODELS)


def main(names: list[str], layers_only: bool = False) -> int:
    for name in names or (*SHIPPED_MODELS, *LECTURE_MODELS):
        keras_path = (shipped_model_path(name) if name in SHIPPED_MODELS
                      else shipped_model_path(SHIPPED_MODELS[0]).with_name(f"{name}.keras"))
        model = load_model(keras_path).model
        # The sidecar vouches for the .tflite files: the window trusts them only with these.
        side = sidecar_path(keras_path)
        info = json.loads(side.read_text(encoding="utf-8"))
        outs = [] if layers_only else [("tflite_sha256", export_tflite(model,
                                                                      tflite_path(keras_path)))]
        outs.append(("layers_tflite_sha256",
                     export_layers_tflite(model, layers_tflite_path(keras_path))))
        for key, out in outs:
            info[key] = file_sha256(out)
            print(f"{out}: {out.stat().st_size / 1024:.0f} KiB")
        write_text(side, json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main([a for a in args if not a.startswith("--")], "--layers-only" in args))
