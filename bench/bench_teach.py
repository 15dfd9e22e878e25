"""Teach it my handwriting (issue #9, item 2): time and before -> after figures of training.learn.teach.

The personal samples are canvas-like drawings from scripts/make_flagged_ones.py: flagged "1"s of
style E, a flag half the stem long or more (which the shipped MNIST model reads as "7": it learned
the shorter flags, styles A-D, untaught), and for the larger sets crossed 7s too.
Measured, for 10 / 50 / 200 samples:
  * seconds: teaching the final model, the cross-validation folds, the evaluations, in all;
  * official test accuracy (all 10,000 images) of the shipped model and of the taught one;
  * held-out flagged 1s: new drawings of style E and the styles F, G (never taught; 100 each)
    before -> after, and the controls (plain 7, crossed 7, plain 1, short-hook 1) and the
    flags read untaught (A-D) after: they must keep their reading;
  * the cross-validated accuracy on the samples themselves.
For 10 samples also three seeds (the spread), and a model taught for CV_STEPS only, to check
that the cheaper folds estimate the final model fairly.

Issue #22's promise is a ratio: ten samples taught in at most 1.5x the time the quick preset
takes to train MNIST on the same machine. So a quick MNIST run is made before the first teaching
and after the last (the machine may be shared: both ends), and each teaching's time (the whole
``teach()`` call: loading, reading the pictures, cross-validation, teaching, saving, calibration
and the "doesn't look like" check) is printed beside their mean, with the ratio, the load
average and the phases.

Environment: BENCH_TEACH_SETS (default "10,50,200"), BENCH_TEACH_SEEDS (seeds for 10 samples,
default 3), BENCH_TEACH_SHORT (0: leave out the short run), BENCH_TEACH_QUICK (0: no quick
MNIST runs, no ratio).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from training.core.datasets import load_dataset
from training.learn.saving import load_model
from training.learn.teach import TeachSettings, predict, teach
from training.modelfile.sidecar import shipped_model_path
from training.runtime.preprocess import to_model_input

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_flagged_ones as flagged  # noqa: E402

SETS = {  # samples -> (style, count) written as personal samples
    10: ((flagged.TEACH_STYLE, 10),),
    50: ((flagged.TEACH_STYLE, 40), ("seven_crossed", 10)),
    200: ((flagged.TEACH_STYLE, 140), ("seven_crossed", 40), ("seven", 20)),
}
HELD_OUT = 100  # pictures of each held-out and control style


def inputs(style: str, count: int, seed: int) -> np.ndarray:
    pictures = flagged.make_set(style, count, seed, invert_every=3)
    return np.stack([np.round(to_model_input(p, "mnist") * 255).astype(np.uint8)
                     for p in pictures])


def readings(model, sets: dict) -> dict:
    return {style: round(float(np.mean(predict(model, x) == flagged.STYLES[style].digit)), 3)
            for style, x in sets.items()}


def one_run(base: Path, folder: Path, out: Path, sets: dict, seed: int = 0,
            settings: TeachSettings | None = None) -> dict:
    started = time.perf_counter()
    result = teach(base, folder, "mnist", out, seed=seed, settings=settings)
    wall = time.perf_counter() - started
    taught = load_model(result["path"]).model
    return {"seconds": result["seconds"], "wall_seconds": round(wall, 1),
            "load": round(os.getloadavg()[0], 1),
            "test_before": result["before"]["test_accuracy"],
            "test_after": result["after"]["test_accuracy"],
            "samples_before": result["before"]["samples_accuracy"],
            "samples_cv_after": result["after"]["samples_accuracy_cv"],
            "cross_validation": result["cross_validation"],
            "after": readings(taught, sets)}


def quick_mnist_seconds() -> float:
    """Seconds of training of the quick preset on MNIST, as ``train`` reports them."""
    from training.learn.trainer import train
    from training.protocol.presets import preset_config

    result = train(preset_config("quick", "mnist", seed=0), dataset=load_dataset("mnist"))
    print(f"quick preset, MNIST: {result.train_seconds:.1f} s of training, test "
          f"{result.test_accuracy:.2%} (load {os.getloadavg()[0]:.1f})", flush=True)
    return result.train_seconds


def run() -> dict:
    base = shipped_model_path("mnist")
    load_dataset("mnist")  # fail early, with the dataset's own message
    quick = os.environ.get("BENCH_TEACH_QUICK", "1") != "0"
    quick_before = quick_mnist_seconds() if quick else None
    sets = {style: inputs(style, HELD_OUT, seed=99)
            for style in flagged.HELD_OUT_STYLES + flagged.CONTROL_STYLES
            + flagged.UNTAUGHT_STYLES}
    base_readings = readings(load_model(base).model, sets)
    results = {"base": base_readings, "settings": TeachSettings().__dict__, "runs": {}}
    print(f"base model on held-out styles and controls: {base_readings}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n, parts in SETS.items():
            if str(n) not in os.environ.get("BENCH_TEACH_SETS", "10,50,200").split(","):
                continue
            folder = Path(tmp) / f"samples-{n}"
            for style, count in parts:
                flagged.write_set(folder, style, count, seed=n)
            seeds = (0, 1, 2) if n == 10 else (0,)
            seeds = seeds[:int(os.environ.get("BENCH_TEACH_SEEDS", "3"))]
            for seed in seeds:
                key = f"{n} samples, seed {seed}"
                run_result = one_run(base, folder, Path(tmp) / f"taught-{n}-{seed}.keras",
                                     sets, seed)
                results["runs"][key] = run_result
                _print(key, run_result, base_readings)
        if os.environ.get("BENCH_TEACH_SHORT", "1") != "0":
            _short_run(results, base, Path(tmp), sets, base_readings)
    if quick:
        results["quick_mnist_seconds"] = [quick_before, quick_mnist_seconds()]
        _print_ratios(results)
    return results


def _print_ratios(results: dict) -> None:
    quick = float(np.mean(results["quick_mnist_seconds"]))
    for key, r in results["runs"].items():
        r["ratio_to_quick_mnist"] = round(r["wall_seconds"] / quick, 2)
        print(f"{key:42s} {r['wall_seconds']:.1f} s / quick MNIST {quick:.1f} s = "
              f"{r['ratio_to_quick_mnist']:.2f}x (goal <= 1.5x; load {r['load']})", flush=True)


def _short_run(results: dict, base: Path, tmp: Path, sets: dict, base_readings: dict) -> None:
    if not (tmp / "samples-10").is_dir():
        return
    # The folds teach CV_STEPS, the final model STEPS: is the cheaper model as good?
    short = TeachSettings()
    short = replace(short, steps=short.cv_steps, folds=0)
    key = f"10 samples, {short.steps} steps (as a CV fold)"
    results["runs"][key] = one_run(base, tmp / "samples-10", tmp / "taught-short.keras", sets, 0,
                                   short)
    _print(key, results["runs"][key], base_readings)


def _print(key: str, r: dict, base: dict) -> None:
    held = [s for s in flagged.HELD_OUT_STYLES]
    before = np.mean([base[s] for s in held])
    after = np.mean([r["after"][s] for s in held])
    controls = min(r["after"][s] for s in flagged.CONTROL_STYLES + flagged.UNTAUGHT_STYLES)
    cv = r["cross_validation"]
    cv_text = (f"CV {cv['folds']}-fold {r['samples_before']:.0%} -> {r['samples_cv_after']:.0%}"
               if cv.get("folds") else "no CV")
    s = r["seconds"]
    print(f"{key:42s} official {r['test_before']:.2%} -> {r['test_after']:.2%} | held-out "
          f"1s {'/'.join(held)} {before:.0%} -> {after:.0%} {[r['after'][x] for x in held]} | controls "
          f"min {controls:.0%} | {cv_text} | read {s.get('read', 0):.1f} s (test set "
          f"included), CV {s['cross_validation']:.1f} s, teach {s['train']:.1f} s, save + check "
          f"{s.get('save_and_check', 0):.1f} s, total {s['total']:.1f} s (wall "
          f"{r['wall_seconds']:.1f} s, load {r['load']})", flush=True)


if __name__ == "__main__":
    run()
