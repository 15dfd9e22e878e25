"""Write resources/models/<name>.tflite beside each shipped <name>.keras (run by `make models`).

The window runs these with LiteRT, without TensorFlow (issue #8). Usage:
    python scripts/export_shipped.py [mnist fashion_mnist]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

from training.atomic import write_text  # noqa: E402
from training.export import export_tflite, tflite_path  # noqa: E402
from training.store import (SHIPPED_MODELS, file_sha256, load_model,  # noqa: E402
                            shipped_model_path, sidecar_path)


def main(names: list[str]) -> int:
    for name in names or SHIPPED_MODELS:
        keras_path = shipped_model_path(name)
        out = export_tflite(load_model(keras_path).model, tflite_path(keras_path))
        # The sidecar vouches for the .tflite: the window trusts it only with this hash.
        side = sidecar_path(keras_path)
        info = json.loads(side.read_text(encoding="utf-8"))
        info["tflite_sha256"] = file_sha256(out)
        write_text(side, json.dumps(info, indent=1))
        print(f"{out}: {out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
