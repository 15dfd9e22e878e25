"""Teach it my handwriting (issue #9, item 2): training.learn.teach.

Fast tests write tiny samples and run the CLI on the tiny synthetic dataset with a few steps; the
real test teaches the shipped MNIST model ten flagged "1"s and measures it on flagged 1s of other
styles it never saw, and on part of the official test set (needs DRAW_CLASSIFY_DATA); the same
figures at full size (all 10,000 test images, 100 held-out pictures a style) are in
bench/bench_teach.py.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from training.learn.teach import folds_for, load_samples
from training.runtime.preprocess import to_model_input

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_flagged_ones  # noqa: E402

SHIPPED = ROOT / "resources" / "models" / "mnist.keras"


def stroke_png(path: Path, points, size=120, white_on_black=True) -> Path:
    ink, paper = (255, 0) if white_on_black else (0, 255)
    image = Image.new("L", (size, size), paper)
    ImageDraw.Draw(image).line(points, fill=ink, width=size // 12, joint="curve")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def one(path, **kw):
    return stroke_png(path, [(60, 15), (60, 105)], **kw)


def seven(path, **kw):
    return stroke_png(path, [(25, 15), (95, 15), (50, 105)], **kw)


def run_cli(*args, stdin=None, env=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "training", "teach", *map(str, args)], check=False,
                          cwd=ROOT, capture_output=True, text=True, input=stdin,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


# ----------------------------------------------------------------------------- load_samples

def test_load_samples_reads_the_layout_and_skips_what_it_cannot_use(tmp_path):
    folder = tmp_path / "samples"
    one(folder / "1" / "a.png")
    one(folder / "1" / "b.png", white_on_black=False)  # black on white: same input
    seven(folder / "7" / "c.png")
    Image.new("L", (50, 50), 0).save(folder / "7" / "blank.png")
    (folder / "7" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "7" / ".hidden.png").write_bytes(b"")
    (folder / "7" / "notes.txt").write_text("not a picture")
    one(folder / "cats" / "d.png")                 # not a class of MNIST
    one(folder / ".trash" / "1" / "e.png")         # deleted samples are not read

    skipped = []
    images, labels, paths = load_samples(folder, "mnist", skipped)
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [1, 1, 7]
    assert [p.name for p in paths] == ["a.png", "b.png", "c.png"]
    assert np.abs(images[0].astype(int) - images[1]).max() <= 2  # polarity does not matter
    expected = np.round(to_model_input(Image.open(paths[2]), "mnist") * 255)
    assert np.array_equal(images[2], expected.astype(np.uint8))
    text = "\n".join(skipped)
    assert "blank.png: blank" in text and "broken.png" in text and "cats/" in text
    assert len(skipped) == 3


def test_load_samples_fashion_class_folders_and_empty_folder(tmp_path):
    folder = tmp_path / "fashion"
    stroke_png(folder / "T-shirt-top" / "a.png", [(20, 30), (100, 30), (100, 100), (20, 100)])
    stroke_png(folder / "ankle boot" / "b.png", [(30, 20), (30, 100), (100, 100)])  # any case
    _, labels, _ = load_samples(folder, "fashion_mnist")
    assert labels.tolist() == [0, 9]
    images, labels, paths = load_samples(tmp_path / "nothing-here", "mnist")
    assert images.shape == (0, 28, 28) and len(labels) == 0 and paths == []


def test_folds_spread_every_class():
    labels = np.array([1] * 7 + [7] * 3)
    folds = folds_for(labels, 5)
    assert sorted(np.bincount(folds).tolist()) == [2, 2, 2, 2, 2]
    assert len(set(folds[labels == 7].tolist())) == 3  # the three 7s are in different folds


def test_a_taught_models_check_takes_its_bases_centroids(tmp_path, monkeypatch):
    """Teaching leaves the convolutions as they are, so the taught model's ``flat`` features
    are its base's: its check takes the centroids the base's check found (k-means took 7.5 s
    of a 66 s teaching on real MNIST here). A base without a usable check gets k-means."""
    import shutil

    from training.learn import ood_fit
    from training.learn.saving import LoadedModel
    from training.learn.teach import _base_centroids
    from training.modelfile.sidecar import read_metadata
    from training.runtime.answer_check import Detector

    shipped = LoadedModel(model=None, path=SHIPPED, metadata=read_metadata(SHIPPED))
    found = _base_centroids(shipped)
    assert np.array_equal(found, Detector.from_file(SHIPPED.with_suffix(".ood.npz")).centroids)
    assert _base_centroids(LoadedModel(None, tmp_path / "m.keras", {})) == ood_fit.CENTROIDS
    for suffix in (".keras", ".json", ".ood.tflite", ".ood.npz"):   # a check gone stale
        shutil.copy(SHIPPED.with_suffix(suffix), tmp_path / f"m{suffix}")
    with open(tmp_path / "m.ood.npz", "ab") as stats:
        stats.write(b"changed")
    stale = LoadedModel(None, tmp_path / "m.keras", read_metadata(tmp_path / "m.keras"))
    assert _base_centroids(stale) == ood_fit.CENTROIDS

    def no_kmeans(*args, **kwargs):
        raise AssertionError("k-means ran")

    monkeypatch.setattr(ood_fit, "_kmeans", no_kmeans)   # given centroids are used as they are
    rng = np.random.default_rng(0)
    width = found.shape[1]
    train = {"flat": rng.random((300, width), np.float32),
             "penult": rng.random((300, 16), np.float32)}
    held = {key: value[:100] for key, value in train.items()}
    detector = ood_fit.fit_detector(train, rng.integers(0, 10, 300), held,
                                    rng.random((16, 10), np.float32), np.zeros(10, np.float32),
                                    centroids=found)
    assert np.array_equal(detector.centroids, found)


# ----------------------------------------------------------------------------- CLI, fast

@pytest.fixture
def few_samples(tmp_path):
    folder = tmp_path / "samples"
    for i in range(3):
        one(folder / "1" / f"{i}.png")
        seven(folder / "7" / f"{i}.png")
    return folder


@pytest.mark.slow
def test_cli_json_lines_parse_and_end_in_result_and_only_the_head_is_taught(tiny_data,
                                                                           few_samples,
                                                                           tmp_path):
    """The CLI's JSON lines, and what it taught: the shipped model (vgg_cnn, with batch norm)
    keeps its convolutional base as it was, normalisation included (updated on a few personal
    drawings, its statistics would drift and every other picture would suffer); only the head
    after the Flatten is taught."""
    out = tmp_path / "taught.keras"
    done = run_cli("--model", SHIPPED, "--samples", few_samples, "--dataset", "mnist",
                   "--out", out, "--data-dir", tiny_data, "--progress", "json",
                   "--steps", 6, "--cv-steps", 2)
    assert done.returncode == 0, done.stderr[-2000:]
    events = json_lines(done.stdout)  # every line is JSON: nothing else reached stdout
    kinds = [e["event"] for e in events]
    assert kinds[0] == "teach_begin" and kinds[-1] == "result"
    assert "evaluate_begin" in kinds and "fold_end" in kinds
    batches = [e for e in events if e["event"] == "batch"]
    teaching = [e for e in batches if e["phase"] in ("cross_validation", "final")]
    assert teaching[-1]["step"] == teaching[-1]["steps"] == 5 * 2 + 6
    # The bar and the seconds left are the whole run's: reading the pictures, teaching, saving.
    phases = [e["phase"] for e in batches]
    assert phases[0] == "reading" and phases[-1] == "saving" and "final" in phases
    assert all(e["eta_seconds"] is not None and e["eta_seconds"] >= 0 for e in batches[1:])
    done = [e["done"] for e in batches]
    assert done == sorted(done) and 0 < done[-1] < batches[-1]["work"]
    result = events[-1]
    assert result["status"] == "finished" and result["samples"] == 6
    assert result["per_class"] == {"1": 3, "7": 3}
    assert result["cross_validation"]["folds"] == 5 and result["test_images"] == 100
    assert Path(result["path"]) == out and out.is_file() and out.with_suffix(".tflite").is_file()

    from training.learn.saving import load_model
    loaded = load_model(out)
    lineage = loaded.metadata["lineage"]
    assert loaded.metadata["display_name"] == "MNIST · taught with 6 samples"
    assert loaded.metadata["test_accuracy"] == result["after"]["test_accuracy"]
    assert lineage["samples"] == 6 and lineage["base_model"] == str(SHIPPED)
    assert len(lineage["base_sha256"]) == 64 and lineage["before"] == result["before"]

    def weights(m, kind):
        return [w for layer in m.layers if type(layer).__name__ == kind
                for w in layer.get_weights()]

    base = load_model(SHIPPED).model
    assert weights(base, "BatchNormalization")  # the subject: a base with batch norm
    for kind in ("BatchNormalization", "Conv2D"):  # the base is not taught: only its head is
        for a, b in zip(weights(loaded.model, kind), weights(base, kind), strict=True):
            np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(weights(loaded.model, "Dense"),
                                                        weights(base, "Dense")))


@pytest.mark.slow
def test_stop_on_stdin_stops_and_saves_nothing(tiny_data, few_samples, tmp_path):
    out = tmp_path / "never.keras"
    process = subprocess.Popen(
        [sys.executable, "-m", "training", "teach", "--model", str(SHIPPED), "--samples",
         str(few_samples), "--out", str(out), "--data-dir", str(tiny_data), "--progress", "json",
         "--steps", "100000", "--cv-steps", "0"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    try:
        events = []
        for line in process.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "batch":
                process.stdin.write("stop\n")
                process.stdin.flush()
                break
        events += json_lines(process.stdout.read())
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
    assert events[-1] == {"event": "result", "status": "stopped",
                          "seconds": events[-1]["seconds"]}
    stopped_at = max(e["step"] for e in events if e["event"] == "batch")
    assert stopped_at < 1000  # within a step of the request, not at the end of 100000
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize("case, expected", [
    ("no_folder", "no samples folder"),
    ("empty_folder", "no usable samples"),
    ("bad_model", "no such file"),
    ("not_a_model", "not a Keras model"),
    ("bad_dataset", "unknown dataset"),
    ("bad_option", "unrecognized arguments"),
    ("no_data", "MNIST was not found"),  # said before TensorFlow loads
])
def test_bad_inputs_give_a_message_not_a_traceback(case, expected, tmp_path, few_samples,
                                                   isolated_cache):
    args = {"--model": SHIPPED, "--samples": few_samples, "--out": tmp_path / "o.keras"}
    extra = []
    if case == "no_folder":
        args["--samples"] = tmp_path / "missing"
    elif case == "empty_folder":
        (tmp_path / "empty" / "1").mkdir(parents=True)
        args["--samples"] = tmp_path / "empty"
    elif case == "bad_model":
        args["--model"] = tmp_path / "nope.keras"
    elif case == "not_a_model":
        (tmp_path / "junk.keras").write_text("junk")
        args["--model"] = tmp_path / "junk.keras"
    elif case == "bad_dataset":
        extra = ["--dataset", "cifar"]
    elif case == "bad_option":
        extra = ["--epochs", "3"]
    argv = [str(v) for pair in args.items() for v in pair] + extra + ["--progress", "json"]
    done = run_cli(*argv)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    events = json_lines(done.stdout)
    assert events[-1]["event"] == "error" and expected in events[-1]["message"]
    assert not (tmp_path / "o.keras").exists()

    plain = run_cli(*argv[:-2])  # without --progress json: the message on stderr
    assert plain.returncode == 2 and expected in plain.stderr and "Traceback" not in plain.stderr


# ----------------------------------------------------------------------------- real teaching

def model_inputs(pictures) -> np.ndarray:
    return np.stack([to_model_input(p, "mnist") for p in pictures])[..., None]


@pytest.fixture(scope="session")
def part_of_mnist(shared_data, tmp_path_factory) -> Path:
    """6,000 training pictures to replay and 2,000 official test pictures to measure: real
    MNIST at a fraction of the time of the whole sets."""
    from conftest import part_of_real_data

    return part_of_real_data(shared_data, "mnist", tmp_path_factory.mktemp("mnist-part"),
                             6000, 2000)


@pytest.mark.slow
@pytest.mark.long  # the head of a vgg_cnn taught, and its check fitted: ~1 min here; make bench
def test_teaching_flagged_ones_fixes_other_styles_and_keeps_mnist(part_of_mnist, tmp_path):
    from training.learn.saving import load_model
    from training.learn.teach import TeachSettings, teach

    samples = tmp_path / "samples"
    make_flagged_ones.write_set(samples, make_flagged_ones.TEACH_STYLE, 10, seed=0)
    events = []
    started = time.perf_counter()
    result = teach(SHIPPED, samples, "mnist", tmp_path / "taught.keras", part_of_mnist,
                   progress=events.append, settings=TeachSettings(folds=0, cv_steps=0))
    # No cross-validation here (make test's budget): bench/bench_teach.py measures it.
    seconds = time.perf_counter() - started

    held_out = {style: model_inputs(make_flagged_ones.make_set(
        style, 100 if style == make_flagged_ones.TEACH_STYLE else 30, seed=5, invert_every=3))
        for style in make_flagged_ones.HELD_OUT_STYLES}
    controls = {style: model_inputs(make_flagged_ones.make_set(style, 20, seed=5))
                for style in make_flagged_ones.CONTROL_STYLES}
    untaught = {style: model_inputs(make_flagged_ones.make_set(style, 30, seed=5))
                for style in make_flagged_ones.UNTAUGHT_STYLES}  # shorter flags: read already

    def read(model, sets):
        return {s: float(np.mean(model.predict_on_batch(x).argmax(1)
                                 == make_flagged_ones.STYLES[s].digit)) for s, x in sets.items()}

    base, taught = load_model(SHIPPED).model, load_model(result["path"]).model
    before, after = read(base, held_out), read(taught, held_out)
    print(f"\nheld-out flagged 1s {before} -> {after}; official "
          f"{result['before']['test_accuracy']:.4f} -> {result['after']['test_accuracy']:.4f}; "
          f"samples before {result['before']['samples_accuracy']:.2f}; {seconds:.0f} s "
          f"{result['seconds']}")

    assert result["test_images"] == 2000
    assert result["after"]["test_accuracy"] >= result["before"]["test_accuracy"] - 0.005
    assert np.mean(list(after.values())) >= np.mean(list(before.values())) + 0.3
    assert after[make_flagged_ones.TEACH_STYLE] >= 0.98  # new drawings of the hand taught
    kindred = [v for s, v in after.items() if s != make_flagged_ones.TEACH_STYLE]
    assert np.mean(kindred) >= 0.6                        # kindred hands, never taught
    assert min(read(taught, controls).values()) >= 0.95  # 7s, crossed 7s, plain 1s keep theirs
    assert np.mean(list(read(taught, untaught).values())) >= np.mean(
        list(read(base, untaught).values())) - 0.05
    assert result["before"]["samples_accuracy"] <= 0.3  # the base reads most of them as 7
    assert result["confused_classes"] == ["7"]
    assert any(e["event"] == "batch" for e in events)


@pytest.mark.slow
def test_one_sample_is_taught_without_cross_validation(tiny_data, tmp_path):
    one(tmp_path / "samples" / "1" / "only.png")
    done = run_cli("--model", SHIPPED, "--samples", tmp_path / "samples", "--out",
                   tmp_path / "t.keras", "--data-dir", tiny_data, "--steps", 3)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cross-validation needs at least 2 samples" in done.stdout
    assert "official test accuracy (100 images)" in done.stdout
    assert (tmp_path / "t.keras").is_file()


@pytest.mark.slow
def test_the_loop_of_steps_is_traced_once_for_every_run():
    """Teaching's folds and a classifier's folds reuse one compiled loop (HeadSteps): runs of
    other row counts and step counts (a last call shorter than the others) must not trace it
    again (three traces cost more than a fold's steps), and a run gives what a new loop gives."""
    import keras

    from training.learn.teach_head import HeadSteps

    def head():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(3, activation="softmax")])

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    features = (rng.normal(size=(90, 6)) + labels[:, None]).astype(np.float32)
    targets = np.eye(3, dtype=np.float32)[labels]

    def run(loop, rows, steps):
        losses = []
        loop.run(features[:rows], targets[:rows], labels[:rows],
                 rng.integers(0, rows, (steps, 16)), np.full(steps, 1e-2, np.float32),
                 lambda i, loss, accuracy: losses.append(loss))
        return losses

    model = head()
    loop = HeadSteps(model.layers, 1e-2)
    for rows, steps in ((90, 45), (60, 25), (75, 7)):
        assert len(run(loop, rows, steps)) == steps
    assert loop._steps.experimental_get_tracing_count() == 1

    weights = [w.copy() for w in model.get_weights()]
    picks_state = rng.bit_generator.state
    again = run(loop, 90, 30)
    fresh_model = head()
    fresh_model.set_weights(weights)
    rng.bit_generator.state = picks_state
    assert np.allclose(again, run(HeadSteps(fresh_model.layers, 1e-2), 90, 30), atol=1e-6)
