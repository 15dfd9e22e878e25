"""The first model load's file work, begun in a thread of its own before the inference's imports.

The inference thread's first request imports numpy, Pillow and LiteRT (~120 ms holding the GIL)
before it loads the model. Hashing the model and its answer check's files (~9 MB for the
shipped MNIST model) and unzipping the check's statistics mostly release the GIL: done
meanwhile on the other core, they leave the load little to do (in a launch's timeline here the
answer check took 7 ms of the first load instead of 42, the sidecar's check 5 ms less). The
check's LiteRT interpreter is made here too, once the statistics are read. The
load takes the results through training.core.ahead (or does the work itself, if a file changed
or this failed): what it checks and how are unchanged. This module imports no numpy: it starts
before numpy is there.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def start(request) -> None:
    """Hash and read ahead what loading ``request`` (a LoadRequest) will; the load ends it
    (``training.core.ahead.end``)."""
    from training.core import ahead

    ahead.begin()
    threading.Thread(target=_read_ahead, args=(request,), name="load-ahead", daemon=True).start()


def _read_ahead(request) -> None:
    try:
        _hash_and_read(request)
    except Exception:  # noqa: BLE001 - only a head start: the load meets any problem itself
        log.debug("reading ahead for %s stopped", request, exc_info=True)


def _hash_and_read(request) -> None:
    from training.core.ahead import compute_ahead
    from training.modelfile.blocks import validate_ood
    from training.modelfile.sidecar import (
        MAX_SIDECAR_BYTES,
        default_model_path,
        sha256_now,
        sidecar_path,
    )

    # The same files as inference_worker.load_model and answer_check.load_checked.
    path = Path(request.path).expanduser() if request.path else default_model_path(
        request.dataset)
    keras = path.with_suffix(".keras")
    side = sidecar_path(keras)
    if side.stat().st_size > MAX_SIDECAR_BYTES:
        return
    info = json.loads(side.read_text(encoding="utf-8"))
    if compute_ahead("sha256", keras, sha256_now) != info.get("model_sha256"):
        return  # no sidecar of this model: its check will not be loaded
    block = validate_ood(info.get("ood"))
    features, stats = keras.with_name(block["features_file"]), keras.with_name(block["stats_file"])
    if (compute_ahead("sha256", features, sha256_now) == block["features_sha256"]
            and compute_ahead("sha256", stats, sha256_now) == block["stats_sha256"]):
        # (numpy: once the other thread has imported it)
        from training.runtime.answer_check import Detector, FeatureRunner

        compute_ahead("ood-stats", stats, Detector.from_file)
        compute_ahead("ood-features", features, FeatureRunner)
