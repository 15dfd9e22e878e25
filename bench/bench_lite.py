"""LiteRT (the window's runtime, issue #8) versus TensorFlow: per-picture latency on the shipped
MNIST model in the same process, import time and the memory of a fresh process that serves
both shipped models. Import times and memory are measured in fresh subprocesses (best of 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from training.learn.predictor import Predictor
from training.learn.saving import load_model
from training.modelfile.sidecar import SHIPPED_MODELS, shipped_model_path, tflite_path
from training.runtime.lite import LiteModel
from training.runtime.preprocess import to_model_input

CALLS = 2000
REPEATS = 3

IMPORT_TIME = """
import time
started = time.perf_counter()
import {module}
print(time.perf_counter() - started)
"""

# A fresh process doing what the window does at start-up; prints its resident memory in KiB.
SERVE_BOTH = """
import numpy as np
{setup}
for name in {names!r}:
    model = {load}
    model.predict(np.zeros((28, 28), np.float32))
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS:")))
"""
LITE = dict(setup="from training.runtime.lite import LiteModel\n"
                  "from training.modelfile.sidecar import shipped_model_path, tflite_path",
            load="LiteModel(tflite_path(shipped_model_path(name)))")
TF = dict(setup="from training.learn.predictor import Predictor\n"
                "from training.learn.saving import load_model",
          load="Predictor(load_model(name).model)")


def fresh_process(code: str) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True, timeout=300)
    return float(done.stdout.strip().splitlines()[-1])


def run() -> dict:
    picture = to_model_input(np.pad(np.eye(200, dtype=np.uint8) * 255, 40), "mnist")
    lite = LiteModel(tflite_path(shipped_model_path("mnist")))
    predictor = Predictor(load_model("mnist").model)
    for _ in range(50):  # warm both
        lite.predict(picture), predictor.predict(picture)
    times = {"litert": [], "tensorflow": []}
    for _ in range(CALLS):  # alternate, so a busy moment of the machine hits both alike
        for name, model in (("litert", lite), ("tensorflow", predictor)):
            started = time.perf_counter()
            model.predict(picture)
            times[name].append(time.perf_counter() - started)

    result = {}
    for name, t in times.items():
        t = np.array(t) * 1000
        result[f"latency_{name}"] = {"p50_ms": float(np.median(t)),
                                     "p95_ms": float(np.percentile(t, 95))}
    result["latency_speedup_p50"] = (result["latency_tensorflow"]["p50_ms"]
                                     / result["latency_litert"]["p50_ms"])
    for name, module in (("litert", "ai_edge_litert.interpreter"), ("tensorflow", "tensorflow")):
        result[f"import_s_{name}"] = min(fresh_process(IMPORT_TIME.format(module=module))
                                         for _ in range(REPEATS))
    for name, how in (("litert", LITE), ("tensorflow", TF)):
        code = SERVE_BOTH.format(names=SHIPPED_MODELS, **how)
        result[f"rss_mb_{name}"] = min(fresh_process(code) for _ in range(REPEATS)) / 1024

    print(f"{'':22s} {'LiteRT':>10s} {'TensorFlow':>11s}")
    for label, key, unit in (("predict p50", "latency_{}", "p50_ms"),
                             ("predict p95", "latency_{}", "p95_ms")):
        a, b = (result[key.format(n)][unit] for n in ("litert", "tensorflow"))
        print(f"{label:22s} {a:8.3f} ms {b:8.3f} ms")
    print(f"{'import':22s} {result['import_s_litert']:9.2f} s "
          f"{result['import_s_tensorflow']:9.2f} s")
    print(f"{'RSS, 2 models served':22s} {result['rss_mb_litert']:7.0f} MB "
          f"{result['rss_mb_tensorflow']:7.0f} MB")
    return json.loads(json.dumps(result))  # plain floats only
