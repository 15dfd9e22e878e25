"""The window's memory stays flat over many train/stop cycles (issue #7: growth <= 50 MB in
total after the first run), and stays light while a child trains (issue #8: <= 350 MB).

Each cycle starts a real run through the ``TrainingController`` (a child process on a small
synthetic IDX dataset), stops it after its first batch, and waits for the results; the RSS of
this (the window's) process is read after each cycle.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

CYCLES = int(os.environ.get("BENCH_MEMORY_CYCLES", "50"))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(row for row in status if row.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def _tiny_dataset(folder: Path) -> None:
    import gzip
    import struct

    rng = np.random.default_rng(0)
    for stem, shape in (("train-images-idx3-ubyte", (600, 28, 28)),
                        ("train-labels-idx1-ubyte", (600,)),
                        ("t10k-images-idx3-ubyte", (200, 28, 28)),
                        ("t10k-labels-idx1-ubyte", (200,))):
        array = (rng.integers(0, 10, shape) if len(shape) == 1
                 else rng.integers(0, 255, shape)).astype(np.uint8)
        header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in shape)
        (folder / f"{stem}.gz").write_bytes(gzip.compress(header + array.tobytes()))


def run() -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from desktop_app.learning.training_controller import TrainingController
    from training.protocol.config import TrainingConfig

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    os.environ["DRAW_CLASSIFY_HOME"] = str(work / "home")
    data = work / "data" / "mnist"
    data.mkdir(parents=True)
    _tiny_dataset(data)
    controller = TrainingController()
    config = TrainingConfig(dataset="mnist", architecture="compact_cnn", epochs=50,
                            batch_size=8, data_dir=str(data.parent))

    def wait(condition, seconds=120):
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.005)

    after, peak_training = [], 0.0
    for cycle in range(CYCLES):
        batches = []
        controller.progress.connect(lambda e: e.get("event") == "batch" and batches.append(1))
        controller.start(config)
        wait(lambda: batches)
        peak_training = max(peak_training, rss_mb())
        controller.request_stop()
        wait(lambda: not controller.is_training())
        controller.progress.disconnect()
        for _ in range(20):
            app.processEvents()
        after.append(rss_mb())
        print(f"cycle {cycle + 1}/{CYCLES}: {after[-1]:.0f} MB", flush=True)
    controller.shutdown()
    growth = after[-1] - after[0]
    result = {"cycles": CYCLES, "rss_after_first_mb": after[0], "rss_after_last_mb": after[-1],
              "growth_after_first_mb": growth, "peak_while_training_mb": peak_training,
              "per_cycle_mb": after}
    print(f"{CYCLES} train/stop cycles: window RSS {after[0]:.0f} -> {after[-1]:.0f} MB "
          f"(growth {growth:+.0f} MB after the first run; goal <= 50 MB); "
          f"peak while a child trains {peak_training:.0f} MB (goal <= 350 MB)")
    return result
