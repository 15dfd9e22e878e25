"""Classifiers of your own classes from a folder (issue #23, item 2): the folder's checks
(training.runtime.picture_folders), ``python -m training train --dataset FOLDER`` and
``predict`` on what it made (training.learn.own_classes).

The drawings are letters drawn the way hands draw them (training.learn.drawn_sets, the "fit"
family of pens and sizes to train on, the "eval" family, other seeds, to score on).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli_runner import run_main
from training.core.classifiers import MAX_CLASSES
from training.learn.drawn_sets import FAMILIES, letter_drawing
from training.modelfile.sidecar import ModelLoadError, check_class_count
from training.runtime.picture_folders import FolderError, classifier_name, read, scan

ROOT = Path(__file__).resolve().parents[1]
LETTERS = "AEHKM"


def letters_folder(root: Path, per_class: int, family: str, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for letter in LETTERS:
        folder = root / letter
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(letter_drawing(letter, rng, FAMILIES[family])).save(folder / f"{i}.png")
    return root


def cli(*args):
    return subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


# ----------------------------------------------------------------------------- the folder

def test_a_folder_reads_as_sorted_classes_of_model_inputs(tmp_path):
    folder = letters_folder(tmp_path / "My Letters", 2, "fit", 0)
    (folder / ".trash").mkdir()                           # hidden: not a class
    (folder / "A" / "notes.txt").write_text("not a picture")  # not a picture: not read
    read_in = read(folder)
    assert read_in.class_names == tuple(LETTERS)
    assert read_in.name == "my_letters" == classifier_name(folder)
    assert read_in.images.shape == (10, 28, 28) and read_in.images.dtype == np.uint8
    assert read_in.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert read_in.per_class() == dict.fromkeys(LETTERS, 2)
    # the canvas's drawing layout: ink fitted in the middle 20x20, nothing at the border
    assert read_in.images[:, :3].max() == 0 and read_in.images.max() > 200


def test_a_folder_named_like_a_built_in_dataset_gets_another_name(tmp_path):
    assert classifier_name(tmp_path / "MNIST") == "mnist_classes"


@pytest.mark.parametrize("layout, expected", [
    ({"only": 1}, "at least 2 classes"),
    ({}, "no sub-folder"),
    ({"a": 1, "b": 0}, "class 'b' (b/) holds no pictures"),
])
def test_folders_that_cannot_make_a_classifier_say_why(tmp_path, layout, expected):
    png = letters_folder(tmp_path / "src", 1, "fit", 0) / "A" / "0.png"
    folder = tmp_path / "bad"
    folder.mkdir()
    for name, count in layout.items():
        (folder / name).mkdir()
        for i in range(count):
            (folder / name / f"{i}.png").write_bytes(png.read_bytes())
    with pytest.raises(FolderError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        scan(folder)


def test_too_many_classes_are_refused_before_any_picture_is_read(tmp_path):
    for i in range(MAX_CLASSES + 1):
        (tmp_path / f"c{i}").mkdir()
    with pytest.raises(FolderError, match=f"holds {MAX_CLASSES + 1} class folders"):
        scan(tmp_path)


def test_an_unreadable_or_blank_picture_is_named(tmp_path):
    folder = letters_folder(tmp_path / "letters", 1, "fit", 0)
    (folder / "E" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(FolderError, match="E/broken.png"):
        read(folder)
    (folder / "E" / "broken.png").unlink()
    Image.new("L", (50, 50), 255).save(folder / "H" / "white.png")
    with pytest.raises(FolderError, match="H/white.png is blank"):
        read(folder)


@pytest.mark.parametrize("case", ["one class", "an empty class", "10,000 classes", "no folder",
                                  "other options", "fine-tune out of range",
                                  "fine-tune of a built-in dataset"])
def test_the_cli_says_one_line_and_exits_2(tmp_path, case):
    """Before TensorFlow loads: a second or two, and the one line is the whole output."""
    folder = letters_folder(tmp_path / "letters", 1, "fit", 0)
    extra = []
    if case == "one class":
        for letter in LETTERS[1:]:
            for png in (folder / letter).iterdir():
                png.unlink()
            (folder / letter).rmdir()
    elif case == "an empty class":
        (folder / "E" / "0.png").unlink()
    elif case == "10,000 classes":
        for i in range(10_000):
            (folder / f"extra{i}").mkdir()
    elif case == "no folder":
        folder = tmp_path / "nowhere"
    elif case == "fine-tune out of range":
        extra = ["--fine-tune", "-5"]
    elif case == "fine-tune of a built-in dataset":
        folder, extra = "mnist", ["--fine-tune", "100"]
    else:
        extra = ["--epochs", "3", "--architecture", "wide_cnn"]
    done = cli("train", "--dataset", folder, "--out", tmp_path / "m.keras", *extra)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    if case == "other options":
        assert "--architecture, --epochs" in lines[0]
    if case.startswith("fine-tune"):
        assert "--fine-tune" in lines[0]
    assert not (tmp_path / "m.keras").exists()


# ----------------------------------------------------------------------------- the sidecar

def test_class_names_must_match_the_models_outputs():
    metadata = {"class_names": list("ABCDEFGHIJ"), "confusion": [[1] * 10] * 10}
    warnings: list[str] = []
    with pytest.raises(ModelLoadError, match="gives 5 class scores but .* names no classes"):
        check_class_count(5, metadata, warnings, "letters.keras")
    assert "class_names" not in metadata and len(warnings) == 2
    # ten outputs without names: MNIST's or Fashion-MNIST's, named by the dataset
    check_class_count(10, {}, [], "old.keras")


# ----------------------------------------------------------------------------- training

@pytest.mark.slow
def test_a_folder_of_letters_becomes_a_classifier_that_predict_reads(tmp_path):
    train = letters_folder(tmp_path / "letters", 8, "fit", 1)
    held = letters_folder(tmp_path / "held", 6, "eval", 2)
    out = tmp_path / "models" / "letters.keras"
    done = run_main("train", "--dataset", train, "--out", out, "--progress", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "teach_begin" and kinds[-1] == "result"
    assert kinds.count("fold_end") == 5
    result = events[-1]
    assert result["class_names"] == list(LETTERS) and result["samples"] == 40
    cv = result["cross_validation"]
    assert cv["accuracy"] >= 0.9 and np.array(cv["confusion"]).sum() == 40
    assert cv["temperature"] >= 1.0
    for suffix in (".keras", ".tflite", ".json", ".ood.tflite", ".ood.npz"):
        assert out.with_suffix(suffix).is_file()
    assert result["check"]["junk_rejected"] >= 0.8  # scribbles, digits, other letters
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["class_names"] == list(LETTERS) and sidecar["dataset"] == "letters"
    assert sidecar["lineage"]["kind"] == "own_classes"

    files = sorted(held.glob("*/*.png"))
    said = run_main("predict", "--model", out, *files)
    assert said.returncode == 0, said.stderr
    answers = [json.loads(line) for line in said.stdout.splitlines() if line.strip()]
    right = [a["class_name"] == Path(a["file"]).parent.name for a in answers]
    assert len(answers) == 30 and np.mean(right) >= 0.9, answers
    assert all(len(a["probabilities"]) == 5 for a in answers)
    assert sum(a["verdict"] == "not_in_domain" for a in answers) <= 1

    # "none of my classes": scribbles and digits drawn by hand are refused
    from training.learn.drawn_sets import pictures
    from training.learn.ood_sets import scribbles

    junk_folder = tmp_path / "junk"
    junk_folder.mkdir()
    rng = np.random.default_rng(5)
    junk = [p for _, p in scribbles(10, rng)] + [
        p for _, _, p in pictures("digits", 10, seed=77, family="eval")]
    for i, picture in enumerate(junk):
        Image.fromarray(picture).save(junk_folder / f"{i}.png")
    said = run_main("predict", "--model", out, *sorted(junk_folder.glob("*.png")))
    verdicts = [json.loads(line)["verdict"] for line in said.stdout.splitlines() if line.strip()]
    assert len(verdicts) == 20 and verdicts.count("not_in_domain") >= 16, verdicts


@pytest.mark.slow
def test_a_fine_tune_trains_the_bases_last_stage_and_the_check_sees_through_it(tmp_path,
                                                                              monkeypatch):
    """``--fine-tune``: after the head, the base's last convolutions learn the drawings too
    (the layers below and every batch norm stay the shipped model's), in every fold as in the
    final model, each starting again from the base's weights (one model serves every fold);
    the "none of my classes" check is fitted on what the tuned base sees, so it still accepts
    new drawings of the classes and refuses scribbles and digits."""
    import keras

    from training.learn import own_classes
    from training.learn.own_classes import ClassesSettings, train_classes
    from training.learn.saving import load_model

    # The convolutions' weights as each fine-tune begins (its features are the activations
    # below the last stage, 4-D; a head's are flat): every fold's and the final run's.
    starts, train_steps = [], own_classes._train_steps

    def watched(loop, *args):
        if np.ndim(args[-1]) == 4:
            starts.append([v.numpy().copy() for v in loop.variables if len(v.shape) == 4])
        return train_steps(loop, *args)

    monkeypatch.setattr(own_classes, "_train_steps", watched)
    train = letters_folder(tmp_path / "letters", 6, "fit", 1)
    held = letters_folder(tmp_path / "held", 6, "eval", 2)
    out = tmp_path / "letters.keras"
    events = []   # (train --fine-tune's steps reach here: the window's test of Train counts them)
    result = train_classes(train, out, progress=events.append, settings=ClassesSettings(
        cv_steps=150, steps=300, folds=2, fine_tune_steps=25))
    begin = events[0]
    assert begin["steps"] == 2 * (150 + 25) + 300 + 25 == begin["folds"] * (
        begin["cv_steps"] + 25) + begin["final_steps"]
    steps = [e["step"] for e in events if e["event"] == "batch" and e["step"]]
    assert steps[-1] == begin["steps"]
    assert result["cross_validation"]["fine_tune_steps"] == 25
    assert "fine-tuned" in json.loads(out.with_suffix(".json").read_text())["architecture"]

    base, tuned = load_model("mnist").model, keras.models.load_model(out, compile=False)
    kinds = [type(layer).__name__ for layer in base.layers]
    last_stage = [i for i, kind in enumerate(kinds) if kind == "MaxPooling2D"][-2] + 1
    for i, (a, b) in enumerate(zip(base.layers[:kinds.index("Flatten")], tuned.layers)):
        same = all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
        changes = kinds[i] == "Conv2D" and i >= last_stage
        assert same != changes, (i, kinds[i])
    base_kernels = [layer.kernel.numpy() for i, layer in enumerate(base.layers)
                    if i >= last_stage and kinds[i] == "Conv2D"]
    assert len(starts) == 3 and len(base_kernels) == 2  # two folds and the final model
    for kernels in starts:
        assert all(np.array_equal(a, b) for a, b in zip(kernels, base_kernels, strict=True))

    # the check's centroids lie among the drawings' features as the tuned base sees them
    from training.runtime.answer_check import Detector, centroid_distance

    centroids = Detector.from_file(out.with_suffix(".ood.npz")).centroids
    drawings = read(train).images[..., None].astype(np.float32) / 255.0

    def distance(model) -> float:
        flat = keras.Model(model.inputs[0], model.layers[kinds.index("Flatten")].output)
        return float(centroid_distance(np.asarray(flat(drawings)), centroids).mean())

    assert distance(tuned) < distance(base)

    said = run_main("predict", "--model", out, *sorted(held.glob("*/*.png")))
    answers = [json.loads(line) for line in said.stdout.splitlines() if line.strip()]
    assert np.mean([a["class_name"] == Path(a["file"]).parent.name for a in answers]) >= 0.9
    assert sum(a["verdict"] == "not_in_domain" for a in answers) <= 1, answers
    assert result["check"]["junk_rejected"] >= 0.8


@pytest.mark.slow
def test_a_stop_stops_within_a_step_and_saves_nothing(tmp_path):
    from training.learn.own_classes import ClassesSettings, train_classes

    folder = letters_folder(tmp_path / "letters", 3, "fit", 1)
    steps = []

    def progress(event):
        if event["event"] == "batch" and event["phase"] == "cross_validation":
            steps.append(event["step"])

    figures = train_classes(folder, tmp_path / "m.keras", progress=progress,
                            should_stop=lambda: len(steps) >= 20,
                            settings=ClassesSettings(cv_steps=100, steps=100))
    assert figures["status"] == "stopped"
    assert steps[-1] == 20  # the step that saw the request was the last
    assert not list(tmp_path.glob("m.*"))

    # before any step: the base's pass over the pictures (~8 s here) reads it after each batch
    events = []
    figures = train_classes(folder, tmp_path / "m.keras", progress=events.append,
                            should_stop=lambda: len(events) >= 4,  # begin, loaded, augmented
                            settings=ClassesSettings(cv_steps=100, steps=100))
    assert figures["status"] == "stopped"
    phases = [e.get("phase") for e in events if e["event"] == "batch"]
    assert phases == ["reading"] * 3 and events[-1] == {"event": "teach_end",
                                                       "status": "stopped"}
    assert not list(tmp_path.glob("m.*"))


@pytest.mark.slow
def test_few_drawings_get_a_check_set_on_other_copies_of_them(tmp_path):
    """Two drawings of each of two letters: four held out in all, too few to set the check's
    units and limits, so other augmented copies of the drawings set them (with ten or more
    held out those copies are not even made)."""
    from training.learn.own_classes import ClassesSettings, train_classes
    from training.runtime.answer_check import Detector

    folder = tmp_path / "letters"
    rng = np.random.default_rng(3)
    for letter in "AH":
        (folder / letter).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(letter_drawing(letter, rng, FAMILIES["fit"])).save(
                folder / letter / f"{i}.png")
    figures = train_classes(folder, tmp_path / "m.keras",
                            settings=ClassesSettings(cv_steps=20, steps=40))
    assert figures["cross_validation"]["held_out"] == 4
    block = json.loads((tmp_path / "m.json").read_text())["ood"]
    assert figures["check"]["reject_above"] > 0 and block["measured"]["images"] > 100
    detector = Detector.from_file(tmp_path / "m.ood.npz")
    assert np.all(detector.scale > 0) and np.all(np.isfinite(detector.centre))


@pytest.mark.slow
def test_an_unreadable_picture_stops_the_cli_with_its_name(tmp_path):
    folder = letters_folder(tmp_path / "letters", 2, "fit", 0)
    (folder / "K" / "half.png").write_bytes(
        (folder / "K" / "0.png").read_bytes()[:200])  # a download cut short
    done = run_main("train", "--dataset", folder, "--out", tmp_path / "m.keras")
    assert done.returncode == 2
    assert "K/half.png" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m.keras").exists()
    assert os.listdir(tmp_path) == ["letters"]


# ----------------------------------------------------------------------------- the registry

def test_class_names_are_parsed_sorted_and_checked():
    from training.core.classifiers import ClassifierError, parse_class_names

    assert parse_class_names("star, heart,house ;cat") == ("cat", "heart", "house", "star")
    assert parse_class_names("A-Z")[:3] == ("A", "B", "C") and len(parse_class_names("A–Z")) == 26
    assert parse_class_names("0-9, x") == tuple("0123456789") + ("x",)
    for text, said in (("cat", "1 class name given"), ("a, b, A", "A, a is given twice"),
                       ("a, b/c", "cannot name a class"), ("a, .hidden", "cannot name"),
                       (", ".join(f"c{i}" for i in range(37)), "37 class names given"),
                       ("a, " + "x" * 41, "too long")):
        with pytest.raises(ClassifierError, match=said):
            parse_class_names(text)


def test_a_classifier_is_made_found_and_never_made_twice(private_home):
    from training.core.classifiers import ClassifierError, all_classifiers, create, find
    from training.core.datasets import all_datasets, dataset_info, known_dataset

    made = create("My Shapes", "star, heart")
    assert made.name == "my_shapes" and made.class_names == ("heart", "star")
    assert sorted(p.name for p in made.samples.iterdir()) == ["heart", "star"]
    assert find("my_shapes") == made and all_classifiers() == [made]
    assert dataset_info("my_shapes").class_names == ("heart", "star")
    assert known_dataset("my_shapes") and not known_dataset("nothing")
    assert [d.name for d in all_datasets()] == ["mnist", "fashion_mnist", "my_shapes"]
    with pytest.raises(ClassifierError, match="exists already"):
        create("my shapes", "a, b")
    assert create("MNIST", "a, b").name == "mnist_classes"  # never a built-in's name


@pytest.mark.parametrize("stored", ['{"class_names": "ab"}', "[1, 2]", "not json", "",
                                    '{"class_names": ["a", "a"]}', '{"class_names": [1, 2]}'])
def test_a_damaged_definition_is_left_out_not_fatal(private_home, stored):
    from training.core.classifiers import all_classifiers, classifiers_dir, create, find

    create("Good", "a, b")
    bad = classifiers_dir() / "bad"
    bad.mkdir()
    (bad / "classifier.json").write_text(stored)
    assert find("bad") is None
    assert [c.name for c in all_classifiers()] == ["good"]


def test_folders_edited_by_hand_are_reconciled_and_nothing_is_lost(private_home):
    from training.core.classifiers import create, find, reconcile

    made = create("Shapes", "star, heart, house")
    (made.samples / "moon").mkdir()
    (made.samples / "moon" / "a.png").write_bytes(b"png")
    (made.samples / "house").rmdir()
    now, changes = reconcile(made)
    assert now.class_names == ("heart", "house", "moon", "star") == find("shapes").class_names
    assert any("moon" in c for c in changes) and any("house" in c for c in changes)
    assert (made.samples / "house").is_dir() and (made.samples / "moon" / "a.png").is_file()
    assert reconcile(now) == (now, [])  # nothing more to say


def test_a_classifier_that_cannot_be_written_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    from training.core.atomic import WriteError
    from training.core.classifiers import all_classifiers, create

    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DRAW_CLASSIFY_HOME", str(blocker))
    with pytest.raises(WriteError):
        create("Shapes", "star, heart")
    assert all_classifiers() == [] and blocker.read_text() == "not a folder"
