"""Where the model looks (issue #10): signed occlusion saliency, its faithfulness on the shipped
models, the picture -> model-input placement, and `python -m training explain`."""

import json

import numpy as np
import pytest
from conftest import REPO
from PIL import Image
from test_cli import cli, run_ok

from training.runtime.explain import deletion_check, explain, overlay_png, saliency
from training.runtime.preprocess import place_model_input, to_model_input

MODELS = REPO / "resources" / "models"
# The first 50 official test images: 0.17-0.27 s each (one LiteRT batch of up to 170) on the
# 2-core Zen 1; the margins stay wide (MNIST 8.5x, answers changed 18 % vs 4 %; Fashion-MNIST
# 5.1x, 52 % vs 10 %; the 2x asked; 100 images gave 5.6x and 3.5x, 1,000 give 11.6x and 3.1x:
# `python -m bench explain`), and the random map still fails (1.4x).
FAITHFUL_IMAGES = 50


@pytest.fixture(scope="module")
def lite_models():
    from training.runtime.lite import LiteModel

    return {name: LiteModel(MODELS / f"{name}.tflite") for name in ("mnist", "fashion_mnist")}


def halves_model(images):
    """A fake classifier: class 0 grows with the ink on the left half, class 1 on the right."""
    x = np.asarray(images, np.float64).reshape(-1, 28, 28)
    logits = np.zeros((len(x), 10))
    logits[:, 0], logits[:, 1] = x[:, :, :14].sum((1, 2)) / 10, x[:, :, 14:].sum((1, 2)) / 10
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (probabilities / probabilities.sum(axis=1, keepdims=True)).astype(np.float32)


def test_signs_say_which_ink_supports_and_which_argues_against():
    picture = np.zeros((28, 28), np.float32)
    picture[8:20, 3:8] = 1      # left: evidence for class 0
    picture[8:20, 22:25] = 1    # right: evidence for class 1
    found = explain(picture, halves_model)
    assert found.label == 0 and found.probabilities.argmax() == 0
    assert (found.saliency[8:20, 3:8] > 0).all() and (found.saliency[8:20, 22:25] < 0).all()
    assert (found.saliency[picture == 0] == 0).all()  # no ink, no attribution
    against = saliency(picture, halves_model, label=1)  # the other class: the signs swap
    assert (against[8:20, 3:8] < 0).all() and (against[8:20, 22:25] > 0).all()


def test_cost_is_one_batch_of_at_most_256():
    calls = []

    def counting(images):
        calls.append(len(images))
        return halves_model(images)

    saliency(np.eye(28, dtype=np.float32), counting)
    assert len(calls) == 1 and 1 < calls[0] <= 170  # the picture + the inked 4x4 patches


def test_blank_and_broken_pictures_give_zero_saliency():
    blank = explain(np.zeros((28, 28), np.float32), halves_model)
    assert blank.saliency.shape == (28, 28) and not blank.saliency.any()
    nan_model = explain(np.eye(28, dtype=np.float32),
                        lambda x: np.full((len(x), 10), np.nan, np.float32))
    assert np.isfinite(nan_model.saliency).all() and not nan_model.saliency.any()


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_faithful_on_the_official_test_images(dataset, shared_data, lite_models):
    """Erasing the most salient 10 % of the ink lowers the predicted class's probability far
    more than erasing a random 10 % of it."""
    from training.core.datasets import load_dataset

    images = load_dataset(dataset, shared_data, allow_download=False).x_test[:FAITHFUL_IMAGES]
    figures = deletion_check(images, lite_models[dataset].predict_batch)
    print(f"\n{dataset}: {json.dumps(figures)}")
    assert figures["images"] == FAITHFUL_IMAGES
    assert figures["ratio"] >= 2.0 and figures["salient_drop"] >= figures["random_drop"] + 0.1
    assert figures["salient_flips"] >= 2 * figures["random_flips"]


def test_the_check_catches_a_map_that_is_not_faithful(shared_data, lite_models):
    """The faithfulness test would fail for a random map: it measures something."""
    from training.core.datasets import load_dataset

    images = load_dataset("mnist", shared_data, allow_download=False).x_test[:FAITHFUL_IMAGES]
    noise = np.random.default_rng(1)
    figures = deletion_check(images, lite_models["mnist"].predict_batch,
                             attribute=lambda picture, run: noise.random((28, 28)))
    assert figures["ratio"] < 2.0


# -- where the model input lies on the picture (for the overlay on the canvas)

def drawing(size=(560, 560), box=(120, 200, 400, 330)):
    """A thick, slightly irregular mark on black: an "L" in the box (top, left, bottom, right)."""
    picture = np.zeros(size, np.uint8)
    top, left, bottom, right = box
    picture[top:bottom, left:left + 40] = 255
    picture[bottom - 40:bottom, left:right] = 255
    return picture


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("size", [(560, 560), (1500, 2600)])  # the second is reduced first
def test_placement_maps_the_picture_onto_the_model_input(dataset, size):
    scale = size[0] / 560
    box = tuple(round(v * scale) for v in (120, 200, 400, 330))
    picture = drawing(size, box)
    model_input, placement = place_model_input(picture, dataset)
    np.testing.assert_array_equal(model_input, to_model_input(picture, dataset))
    rows, cols = np.flatnonzero(model_input.max(axis=1) > 0.5), np.flatnonzero(
        model_input.max(axis=0) > 0.5)
    top, left = placement.to_model(box[0], box[1])
    bottom, right = placement.to_model(box[2], box[3])
    assert abs(top - rows[0]) <= 1 and abs(bottom - (rows[-1] + 1)) <= 1
    assert abs(left - cols[0]) <= 1 and abs(right - (cols[-1] + 1)) <= 1
    back = placement.to_picture(*placement.to_model(300.0, 250.0))
    assert np.allclose(back, (300.0, 250.0))


# -- overlay pictures and the command line

def test_overlay_png_shows_both_colours(tmp_path):
    picture = np.zeros((28, 28), np.float32)
    picture[8:20, 3:8] = picture[8:20, 22:25] = 1
    path = tmp_path / "x.saliency.png"
    overlay_png(picture, saliency(picture, halves_model), path)
    pixels = np.asarray(Image.open(path).convert("RGB"), np.int32)
    assert pixels.shape == (280, 280, 3)
    left, right = pixels[100:180, 40:70].reshape(-1, 3), pixels[100:180, 225:245].reshape(-1, 3)
    assert (left[:, 0] > left[:, 2]).all() and (right[:, 2] > right[:, 0]).all()
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind


def seven_png(path, dataset="mnist"):
    """A black-on-white drawing of the shipped dataset's first test-like shape."""
    picture = np.full((300, 300), 255, np.uint8)
    picture[60:80, 70:230] = 0
    for row in range(80, 250):
        col = 230 - (row - 80) * 90 // 170
        picture[row, col - 10:col + 10] = 0
    Image.fromarray(picture).save(path)
    return path


def test_cli_explain_prints_json_and_writes_overlays(tmp_path):
    seven = seven_png(tmp_path / "seven.png")
    Image.new("L", (60, 60), 255).save(tmp_path / "blank.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "overlays"
    done = cli("explain", "--model", "mnist", seven, tmp_path / "blank.png",
               tmp_path / "broken.png", "--out", out, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr  # some files failed
    first, blank, broken = [json.loads(line) for line in done.stdout.splitlines()]
    assert {"file", "label", "class_name", "probabilities", "saliency"} <= set(first)
    assert first["label"] == 7 and first["class_name"] == "7"
    assert len(first["probabilities"]) == 10 and abs(sum(first["probabilities"]) - 1) < 1e-4
    grid = np.array(first["saliency"])
    assert grid.shape == (28, 28) and np.isfinite(grid).all() and grid.max() > 0
    model_input = to_model_input(Image.open(seven), "mnist")
    assert (grid[model_input == 0] == 0).all()  # model-input coordinates: only on the ink
    assert first["overlay"] == str(out / "seven.saliency.png")
    assert Image.open(out / "seven.saliency.png").size == (280, 280)
    assert sorted(p.name for p in out.iterdir()) == ["seven.saliency.png"]
    assert "blank" in blank["error"] and set(blank) == {"file", "error"}
    assert "can read" in broken["error"] and set(broken) == {"file", "error"}


@pytest.mark.slow
def test_cli_explain_all_good_exits_0_and_uses_keras_without_tflite(tmp_path):
    import shutil

    seven = seven_png(tmp_path / "seven.png")
    lite = json.loads(run_ok("explain", "--model", "mnist", seven).stdout)
    shutil.copy(MODELS / "mnist.keras", tmp_path / "copy.keras")  # no .tflite, no sidecar
    done = run_ok("explain", "--model", tmp_path / "copy.keras", "--dataset", "mnist", seven)
    keras = json.loads(done.stdout)
    assert keras["label"] == lite["label"] == 7
    np.testing.assert_allclose(keras["probabilities"], lite["probabilities"], atol=1e-3)
    assert np.corrcoef(np.ravel(keras["saliency"]), np.ravel(lite["saliency"]))[0, 1] > 0.95


def test_cli_explain_refuses_an_unusable_out_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    done = cli("explain", "--model", "mnist", seven_png(tmp_path / "s.png"), "--out",
               tmp_path / "file" / "sub", check=False)
    assert done.returncode == 2 and done.stdout == "" and "cannot write" in done.stderr
