"""What users draw, through the "That doesn't look like a …" check (issue #20):
python -m bench.bench_ood_drawings

For each shipped model, run the way the window runs it (LiteRT, the sidecar's temperature and
check, ``training.runtime.answer_check.AnswerCheck``), the share of pictures *refused* (verdict "reject": the
window says "That doesn't look like a digit / garment"; ``predict`` says "not_in_domain"):

* the model's own kind, drawn (``training.learn.drawn_sets``, the "eval" family: seeds and
  anti-aliasing the check was not fitted on; and the "canvas" family, issue #12's pen): garment
  outlines and filled shapes, garment photos, digits. Goal: at most 5 % refused;
* junk: scribbles, letters (fonts and strokes) and noise (``training.learn.ood_sets``, seeds 1-2),
  letters drawn with the canvas's pens, and for Fashion-MNIST the digits drawn in Fashion mode.
  A picture the preprocessing finds blank counts as refused. Goal: at least 90 % refused;
* the official test pictures: at most 1 % refused.

Also: the verdicts of ``predict`` on the official test pictures (answer / not_sure /
not_in_domain), and what happens to a "1" drawn with a flag and no base (issue #23's misread).
Needs DRAW_CLASSIFY_DATA. Writes bench/results/ood_drawings.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.core.datasets import load_dataset
from training.learn import drawn_sets, ood_sets
from training.modelfile.sidecar import SHIPPED_MODELS, read_metadata, shipped_model_path
from training.runtime import answer_check
from training.runtime.lite import LiteModel
from training.runtime.preprocess import to_model_input

COUNT = 400
JUNK_SEEDS = (1, 2)
RESULTS = Path(__file__).resolve().parent / "results" / "ood_drawings.json"


def verdicts(check: answer_check.AnswerCheck, lite: LiteModel, inputs: np.ndarray) -> np.ndarray:
    """The window's verdict of each model input ("ok", "unsure", "reject")."""
    if not len(inputs):
        return np.array([], str)
    return np.array(check.verdicts(lite.predict_batch(inputs), inputs))


def refused(found: np.ndarray, blank: int = 0) -> float:
    return float((np.sum(found == "reject") + blank) / max(1, len(found) + blank))


def own_sets(name: str) -> dict:
    """{row name: (inputs, versions)} of the model's own kind, drawn."""
    rows = {}
    if name == "fashion_mnist":
        for family in ("eval", "canvas"):
            made = drawn_sets.build("garments", name, COUNT, 0, family)
            versions = np.array(made.versions)
            for version in drawn_sets.VERSIONS:
                rows[f"garment {version}s ({family})"] = (made.inputs[versions == version],
                                                          made.blank)
        photos = drawn_sets.build("garment_photos", name, COUNT // 2, 0, "eval")
        rows["garment photos (eval)"] = (photos.inputs, photos.blank)
    else:
        for family in ("eval", "canvas"):
            made = drawn_sets.build("digits", name, COUNT, 0, family)
            rows[f"digits ({family})"] = (made.inputs, made.blank)
    return rows


def junk_sets(name: str) -> dict:
    rows = {}
    for kind in ood_sets.SETS:
        for seed in JUNK_SEEDS:
            made = ood_sets.build(kind, name, COUNT // 2, seed)
            rows[f"{kind} (seed {seed})"] = (made.inputs, made.blank)
    for family in ("eval", "canvas"):
        made = drawn_sets.build("letters", name, COUNT // 2, 0, family)
        rows[f"letters drawn ({family})"] = (made.inputs, made.blank)
    # A and H: the "4 — 100%" (an A is a closed 4, an H an open one)
    rng = np.random.default_rng(20)
    for letter in "AH":
        inputs = np.stack([to_model_input(drawn_sets.letter_drawing(
            letter, rng, drawn_sets.FAMILIES[family]), name)
            for family in ("eval", "canvas") for _ in range(COUNT // 8)])
        rows[f"letter {letter} drawn"] = (inputs, 0)
    if name == "fashion_mnist":
        made = drawn_sets.build("digits", name, COUNT // 2, 0, "eval")
        rows["digits drawn in Fashion mode"] = (made.inputs, made.blank)
    return rows


def flag_one(check, lite) -> dict:
    """A "1" with a flag and no base (issue #23): what the model and the check make of it."""
    rng = np.random.default_rng(23)
    strokes = drawn_sets.DIGIT_SHAPES[1][1]
    inputs = np.stack([to_model_input(
        drawn_sets.draw_strokes(strokes, 0.35, rng, drawn_sets.FAMILIES["canvas"]), "mnist")
        for _ in range(50)])
    labels = check.probabilities(lite.predict_batch(inputs)).argmax(axis=1)
    found = verdicts(check, lite, inputs)
    return {"pictures": len(inputs), "read_as": np.bincount(labels, minlength=10).tolist(),
            "verdicts": {v: int(np.sum(found == v)) for v in ("ok", "unsure", "reject")}}


def run() -> dict:
    report = {}
    for name in SHIPPED_MODELS:
        path = shipped_model_path(name)
        metadata = read_metadata(path)
        check = answer_check.AnswerCheck.for_model(path, metadata)
        lite = LiteModel(path.with_suffix(".tflite"))
        data = load_dataset(name)
        test = data.x_test.astype(np.float32) / 255
        test_found = verdicts(check, lite, test)
        entry = {"official_test": {answer_check.verdict_name(v): float(np.mean(test_found == v))
                                   for v in ("ok", "unsure", "reject")},
                 "own": {}, "junk": {}}
        print(f"{name}: official test {len(test)}: "
              + ", ".join(f"{k} {v:.2%}" for k, v in entry["official_test"].items()), flush=True)
        for group, rows in (("own", own_sets(name)), ("junk", junk_sets(name))):
            for row, (inputs, blank) in rows.items():
                rate = refused(verdicts(check, lite, inputs), blank)
                entry[group][row] = {"pictures": len(inputs) + blank, "refused": rate}
                print(f"  {group:4s} {row:34s} {len(inputs) + blank:4d} refused {rate:6.1%}",
                      flush=True)
        if name == "mnist":
            entry["one_with_a_flag"] = flag_one(check, lite)
            print(f"  '1' with a flag, no base: {entry['one_with_a_flag']}", flush=True)
        report[name] = entry
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    run()
