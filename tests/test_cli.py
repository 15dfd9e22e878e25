"""End to end through `python -m training`, as a user runs it."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import REPO


def cli(*args, env_extra=None, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    result = subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_train_evaluate_summary_predict(tiny_data, tmp_path):
    out = tmp_path / "model.keras"
    trained = cli("train", "--data-dir", tiny_data, "--architecture", "lecture_dense", "--epochs",
                  "2", "--batch-size", "32", "--lr", "0.003", "--out", out,
                  env_extra={"KERAS_HOME": str(tmp_path)})
    assert "saved" in trained.stdout and out.exists() and out.with_suffix(".json").exists()
    assert "epoch 2/2" in trained.stderr  # the per-epoch progress line

    evaluated = json.loads(cli("evaluate", "--model", out, "--data-dir", tiny_data).stdout)
    assert evaluated["test_images"] == 100 and 0 <= evaluated["test_accuracy"] <= 1
    assert "lecture_dense" in cli("summary", "--model", out).stdout

    bar = np.zeros((280, 280), np.uint8)
    bar[60:90, 40:240] = 255  # class 1 of the synthetic data: a bar near the top
    Image.fromarray(bar).save(tmp_path / "bar.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    predicted = cli("predict", "--model", out, tmp_path / "bar.png", tmp_path / "broken.png",
                    tmp_path / "blank.png", check=False)
    assert predicted.returncode == 1  # some files could not be classified
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [line["file"].split("/")[-1] for line in lines] == ["bar.png", "broken.png", "blank.png"]
    assert set(lines[0]) == {"file", "label", "class_name", "probabilities"}
    assert len(lines[0]["probabilities"]) == 10 and abs(sum(lines[0]["probabilities"]) - 1) < 1e-4
    assert lines[0]["class_name"] == str(lines[0]["label"])
    assert "can read" in lines[1]["error"] and "blank" in lines[2]["error"]


def test_clear_errors_not_tracebacks(tmp_path, isolated_cache):
    missing = cli("train", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "m.keras",
                  check=False, env_extra={"KERAS_HOME": str(tmp_path), "DRAW_CLASSIFY_DATA": ""})
    # The download fails too (isolated_cache points it at a closed local port), and the message
    # says where we looked.
    assert missing.returncode == 2 and "was not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = cli("train", "--epochs", "0", "--out", tmp_path / "m.keras", check=False)
    assert bad.returncode == 2 and "invalid epochs" in bad.stderr
    (tmp_path / "fake.keras").write_text("nope")
    wrong = cli("predict", "--model", tmp_path / "fake.keras", "x.png", check=False)
    assert wrong.returncode == 2 and "not a Keras model" in wrong.stderr
    assert not (tmp_path / "m.keras").exists()
