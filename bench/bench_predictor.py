"""Single-picture latency of Predictor versus model.predict, same model, same run.
Goal: Predictor p50 <= 1 ms for the shipped MNIST model."""

from __future__ import annotations

import time

import numpy as np

from training.learn.predictor import Predictor
from training.learn.saving import load_model
from training.runtime.preprocess import to_model_input


def timings(fn, repeats: int) -> np.ndarray:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return np.array(out) * 1000


def run() -> dict:
    model = load_model("mnist").model
    picture = to_model_input(np.pad(np.eye(200, dtype=np.uint8) * 255, 40), "mnist")
    predictor = Predictor(model)
    batch = picture[None, ..., None]
    model.predict(batch, verbose=0)  # warm both paths
    ours = timings(lambda: predictor.predict(picture), 500)
    keras_predict = timings(lambda: model.predict(batch, verbose=0), 50)
    preprocess = timings(lambda: to_model_input(np.pad(np.eye(200, dtype=np.uint8) * 255, 40),
                                                "mnist"), 200)
    result = {name: {"p50_ms": float(np.median(t)), "p95_ms": float(np.percentile(t, 95))}
              for name, t in (("predictor", ours), ("model.predict", keras_predict),
                              ("preprocess_280px", preprocess))}
    for name, stats in result.items():
        print(f"{name:18s} p50 {stats['p50_ms']:7.2f} ms   p95 {stats['p95_ms']:7.2f} ms")
    result["speedup_p50"] = result["model.predict"]["p50_ms"] / result["predictor"]["p50_ms"]
    print(f"Predictor is {result['speedup_p50']:.0f}x faster than model.predict (p50)")
    return result
