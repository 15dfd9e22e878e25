"""Honest confidence, measured (issue #10, part 4): python -m bench.bench_calibration

For each shipped model, run the way the window runs it (LiteRT, the sidecar's temperature and
out-of-distribution check): the ECE on the official test set without / with the temperature,
the share of official test pictures rejected, the share of our scribbles, letters and noise
rejected for several seeds (``training.learn.ood_sets``, through the real preprocessing; a picture
the preprocessing finds blank counts as rejected), and the check's cost per picture.
Needs DRAW_CLASSIFY_DATA. Writes bench/results/calibration.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from training.core.datasets import load_dataset
from training.learn import ood_sets
from training.modelfile.sidecar import SHIPPED_MODELS, read_metadata, shipped_model_path
from training.runtime import answer_check, calibration
from training.runtime.lite import LiteModel

SEEDS = (1, 2, 3, 4, 5)
COUNT = 300
RESULTS = Path(__file__).resolve().parent / "results" / "calibration.json"


def run() -> dict:
    report = {}
    for name in SHIPPED_MODELS:
        path = shipped_model_path(name)
        metadata = read_metadata(path)
        check = answer_check.AnswerCheck.for_model(path, metadata)
        runner, detector = answer_check.load_checked(path, metadata["ood"])
        limit = metadata["ood"]["reject_above"]
        lite = LiteModel(path.with_suffix(".tflite"))
        data = load_dataset(name)
        raw = lite.predict_batch(data.x_test)
        scaled = calibration.apply_temperature(raw, metadata["temperature"])
        test_scores = detector.score(runner.run(data.x_test.astype(np.float32) / 255))
        entry = {
            "temperature": metadata["temperature"],
            "ece_test_before": calibration.expected_calibration_error(raw, data.y_test),
            "ece_test_after": calibration.expected_calibration_error(scaled, data.y_test),
            "test_rejected": float(np.mean(test_scores > limit)),
            "sets": {},
        }
        for kind in ood_sets.SETS:
            rates = []
            for seed in SEEDS:
                made = ood_sets.build(kind, name, COUNT, seed)
                scores = detector.score(runner.run(made.inputs))
                rates.append(float((np.sum(scores > limit) + made.blank) / made.total))
            entry["sets"][kind] = {"min": min(rates), "mean": float(np.mean(rates)),
                                   "max": max(rates), "seeds": list(SEEDS), "count": COUNT}
        picture = data.x_test[0].astype(np.float32) / 255
        times = []
        for _ in range(300):
            started = time.perf_counter()
            check.verdict(check.probabilities(lite.predict(picture)), check.score(picture))
            times.append(time.perf_counter() - started)
        entry["check_ms_p50"] = float(np.median(times) * 1000)
        report[name] = entry
        print(f"{name}: T {entry['temperature']:.3f}, ECE {entry['ece_test_before']:.4f} -> "
              f"{entry['ece_test_after']:.4f}; test rejected {entry['test_rejected']:.2%}; "
              + "; ".join(f"{k} {v['min']:.1%}-{v['max']:.1%}" for k, v in entry["sets"].items())
              + f"; predict + check p50 {entry['check_ms_p50']:.2f} ms", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    run()
