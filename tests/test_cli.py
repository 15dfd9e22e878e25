"""End to end through `python -m training`, as a user runs it: in a real child where the
process is the subject (stop on stdin, SIGTERM, a quiet start, tests not marked slow), else
through cli_runner.run_main in this process (TensorFlow is loaded once, not once a child)."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_main
from conftest import REPO
from PIL import Image


def cli(*args, env_extra=None, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    result = subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def run_ok(*args, env=None):
    """run_main (slow tests only) that must succeed, as cli(check=True)."""
    result = run_main(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_train_evaluate_summary_predict(tiny_data, tmp_path):
    out = tmp_path / "model.keras"
    trained = run_ok("train", "--data-dir", tiny_data, "--architecture", "lecture_dense",
                     "--epochs", "2", "--batch-size", "32", "--lr", "0.003", "--out", out)
    assert "saved" in trained.stdout and out.exists() and out.with_suffix(".json").exists()
    assert "epoch 2/2" in trained.stderr  # the per-epoch progress line

    evaluated = json.loads(run_ok("evaluate", "--model", out, "--data-dir", tiny_data).stdout)
    assert evaluated["test_images"] == 100 and 0 <= evaluated["test_accuracy"] <= 1
    assert "lecture_dense" in run_ok("summary", "--model", out).stdout

    bar = np.zeros((280, 280), np.uint8)
    bar[60:90, 40:240] = 255  # class 1 of the synthetic data: a bar near the top
    Image.fromarray(bar).save(tmp_path / "bar.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    predicted = run_main("predict", "--model", out, tmp_path / "bar.png",
                         tmp_path / "broken.png", tmp_path / "blank.png")
    assert predicted.returncode == 1  # some files could not be classified
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [line["file"].split("/")[-1] for line in lines] == ["bar.png", "broken.png", "blank.png"]
    # An MNIST model also reads the picture as a number (see test_predict_reads_numbers).
    assert set(lines[0]) == {"file", "label", "class_name", "probabilities",
                             "calibrated_probabilities", "verdict", "number", "digits"}
    assert len(lines[0]["probabilities"]) == 10 and abs(sum(lines[0]["probabilities"]) - 1) < 1e-4
    assert lines[0]["class_name"] == str(lines[0]["label"])
    assert "can read" in lines[1]["error"] and "blank" in lines[2]["error"]


@pytest.mark.slow
def test_clear_errors_not_tracebacks(tmp_path, isolated_cache):
    missing = run_main("train", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "m.keras",
                       env={"KERAS_HOME": tmp_path, "DRAW_CLASSIFY_DATA": ""})
    # The download fails too (isolated_cache points it at a closed local port), and the message
    # says where we looked.
    assert missing.returncode == 2 and "was not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = run_main("train", "--epochs", "0", "--out", tmp_path / "m.keras")
    assert bad.returncode == 2 and "invalid epochs" in bad.stderr
    (tmp_path / "fake.keras").write_text("nope")
    wrong = run_main("predict", "--model", tmp_path / "fake.keras", "x.png")
    assert wrong.returncode == 2 and "not a Keras model" in wrong.stderr
    assert not (tmp_path / "m.keras").exists()


# ---------------------------------------------------------------------------------- JSON lines
def json_lines(text):
    """Every stdout line must be one JSON object with an "event"."""
    events = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(e, dict) and isinstance(e.get("event"), str) for e in events)
    return events


def start_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI silences TensorFlow by itself
    return subprocess.Popen([sys.executable, "-m", "training", *map(str, args)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


@contextmanager
def reaped(child):
    """A child the test talks to: killed if the test fails meanwhile, always waited for."""
    try:
        yield child
    except BaseException:
        child.kill()
        raise
    finally:
        child.wait(timeout=60)


def read_until(process, predicate, events):
    for line in process.stdout:
        events.append(json.loads(line))
        if predicate(events[-1]):
            return events[-1]
    raise AssertionError(f"the stream ended first: {events[-3:]}")


@pytest.fixture
def user_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DRAW_CLASSIFY_HOME", str(home))
    return home


@pytest.mark.slow
def test_progress_json_lines_parse_and_end_in_a_result(tiny_data, tmp_path, user_home):
    out = tmp_path / "model.keras"
    done = run_ok("train", "--data-dir", tiny_data, "--architecture", "lecture_dense",
                  "--epochs", "2", "--batch-size", "32", "--lr", "0.001", "--out", out,
                  "--progress", "json")
    # No progress bar in JSON mode (a real child's quiet start: test_stop_on_stdin_...).
    assert "training on" not in done.stderr and "epoch" not in done.stderr
    events = json_lines(done.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "train_begin" and kinds[-1] == "result"
    assert kinds.count("epoch") == 2 and "batch" in kinds
    assert kinds[-3:-1] == ["evaluate_begin", "train_end"]
    result = events[-1]
    assert result["status"] == "finished" and result["epochs_completed"] == 2
    assert result["dataset"] == "mnist" and result["class_names"] == list("0123456789")
    assert len(result["history"]["val_loss"]) == 2 and sum(map(sum, result["confusion"])) == 100
    assert result["path"] == str(out) and out.is_file()
    assert result["metadata"]["model_file"] == "model.keras"
    assert result["metadata"]["config"]["learning_rate"] == 0.001
    wrong = 100 - sum(result["confusion"][i][i] for i in range(10))
    assert result["mistakes"] == wrong
    assert len(result["misclassified"]) == len(result["misclassified_predicted"]) == min(wrong, 60)


@pytest.mark.slow
def test_stop_on_stdin_saves_the_partial_model(tiny_data, tmp_path, user_home):
    out = tmp_path / "partial.keras"
    child = start_cli("train", "--data-dir", tiny_data, "--architecture", "lecture_dense",
                      "--epochs", "200", "--batch-size", "1", "--out", out, "--progress", "json")
    events = []
    with reaped(child):
        read_until(child, lambda e: e["event"] == "batch" and e["epoch"] >= 2, events)
        child.stdin.write("stop\n")
        child.stdin.flush()
        stopped_at = len(events)
        read_until(child, lambda e: e["event"] == "result", events)
    assert child.returncode == 0
    # The one line on stderr is ours: no TensorFlow start-up lines, no progress bar.
    assert child.stderr.read() == "\nstop requested on stdin: stopping after this batch...\n"
    after = [e["event"] for e in events[stopped_at:]]
    assert after.count("epoch") <= 1  # 270 batches an epoch: it stopped within that one
    result = events[-1]
    assert result["status"] == "stopped" and result["epochs_completed"] < 200
    assert out.is_file() and result["path"] == str(out)  # JSON mode keeps a stopped run


@pytest.mark.slow
def test_a_stop_before_the_first_batch_keeps_no_model(tiny_data, tmp_path, user_home):
    """Stop while the child still starts (imports, data, set-up): an untrained model is no
    model; it must not be offered as one ("Use this model" on random weights)."""
    out = tmp_path / "out" / "never.keras"
    out.parent.mkdir()
    child = start_cli("train", "--data-dir", tiny_data, "--architecture", "lecture_dense",
                      "--epochs", "2", "--batch-size", "32", "--out", out, "--progress",
                      "json", env_extra={"DRAW_CLASSIFY_TUNE": "1"})  # a first run measures
    events = []
    with reaped(child):
        child.stdin.write("stop\n")  # before anything: the child reads it once it listens
        child.stdin.flush()
        read_until(child, lambda e: e["event"] in ("error", "result", "saved"), events)
    assert child.returncode == 130
    assert events[-1]["event"] == "error" and "no model to keep" in events[-1]["message"]
    assert not any(e["event"] == "batch" for e in events)
    assert list(out.parent.iterdir()) == []  # no model, nothing half-written either
    from training.core import speed_cache  # and no speed test for a run that trains nothing

    machine = speed_cache.cached_machine(speed_cache.machine_key())
    assert speed_cache.cached_trials(machine, "lecture_dense", 32) == []


@pytest.mark.parametrize("where", ["folder", "device", "under a file", "read-only folder"])
def test_an_unusable_out_is_refused_before_training(tiny_data, tmp_path, where):
    if where == "folder":
        out = tmp_path
    elif where == "device":
        out = "/dev/full"
    elif where == "under a file":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "m.keras"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes in read-only folders; 'under a file' covers the refusal")
        (tmp_path / "ro").mkdir(mode=0o555)
        out = tmp_path / "ro" / "m.keras"
    try:
        for mode in ("bar", "json"):
            done = cli("train", "--data-dir", tiny_data, "--architecture", "lecture_dense",
                       "--epochs", "1", "--out", out, "--progress", mode, check=False)
            assert done.returncode == 2, done.stderr
            assert "error: cannot save the model there" in done.stderr
            assert "Traceback" not in done.stderr and "training on" not in done.stderr
            if mode == "json":
                assert [e["event"] for e in json_lines(done.stdout)] == ["error"]
    finally:  # a regression must not leave files in /dev
        stray = [Path(f"/dev/full{suffix}") for suffix in (".keras", ".json", ".tflite")]
        leaked = [p for p in stray if p.is_file()]
        for path in leaked:
            path.unlink()
    assert not leaked


@pytest.mark.slow
def test_a_failed_save_keeps_the_model_in_the_recovery_folder(tiny_data, tmp_path, user_home):
    folder = tmp_path / "out"
    folder.mkdir()
    child = start_cli("train", "--data-dir", tiny_data, "--architecture", "lecture_dense",
                      "--epochs", "200", "--batch-size", "1", "--out", folder / "m.keras",
                      "--progress", "json")
    events = []
    read_until(child, lambda e: e["event"] == "batch", events)
    folder.rmdir()
    folder.write_text("the folder became a file while training ran")
    child.stdin.write("stop\n")
    child.stdin.flush()
    read_until(child, lambda e: e["event"] == "result", events)
    assert child.wait(timeout=60) == 3
    stderr = child.stderr.read()
    assert "Traceback" not in stderr and "could not save the model" in stderr
    kept = Path(events[-1]["path"])
    assert kept.parent == user_home / "recovered" and kept.is_file()
    assert str(kept) in events[-1]["message"] and str(kept) in stderr


@pytest.mark.slow
def test_predict_reads_numbers(tmp_path):
    """MNIST models add "number" and "digits" (one entry per digit, left to right) to each
    record; one digit gives its own label as the number; the record's label and probabilities
    stay those of the single-digit path; Fashion-MNIST records have no number."""
    from bench.bench_numbers import font_glyph, hand_glyph, render_number

    rng = np.random.default_rng(4)
    number = render_number([hand_glyph(int(d), 200, 26, rng) for d in "905"], 0.15,
                           (840, 560), rng)
    Image.fromarray(number).save(tmp_path / "905.png")
    Image.fromarray(255 - render_number([font_glyph(7, 200, 0)], 0)).save(tmp_path / "7.png")
    records = [json.loads(line) for line in
               run_ok("predict", "--model", "mnist", tmp_path / "905.png", tmp_path / "7.png")
               .stdout.splitlines()]
    several, single = records
    assert several["number"] == "905" and [d["label"] for d in several["digits"]] == [9, 0, 5]
    for digit in several["digits"]:
        assert set(digit) == {"label", "confidence", "probabilities", "box"}
        assert len(digit["probabilities"]) == 10 and len(digit["box"]) == 4
        assert digit["confidence"] == max(digit["probabilities"])
    lefts = [d["box"][0] for d in several["digits"]]
    assert lefts == sorted(lefts) and several["digits"][-1]["box"][2] <= 840
    assert single["label"] == 7 and single["number"] == "7" and len(single["digits"]) == 1
    # The number's digits carry the calibrated probabilities the reading weighed (as the
    # window shows them); "probabilities" stays the model's raw output.
    from training.modelfile.sidecar import read_metadata, shipped_model_path
    from training.runtime.calibration import apply_temperature

    temperature = read_metadata(shipped_model_path("mnist"))["temperature"]
    np.testing.assert_allclose(single["digits"][0]["probabilities"],
                               apply_temperature(np.array(single["probabilities"]), temperature),
                               atol=1e-5)

    fashion = json.loads(run_ok("predict", "--model", "fashion_mnist", tmp_path / "7.png").stdout)
    assert "label" in fashion and "number" not in fashion and "digits" not in fashion


@pytest.mark.slow
def test_predict_gives_the_windows_verdict(tmp_path, shared_data):
    """"verdict" is the window's answer line (training.runtime.answer_check.AnswerCheck): an official test digit
    drawn as a picture gets an answer, a letter drawn on the canvas is not a digit (issue #20);
    "calibrated_probabilities" are the bars the window shows."""
    from training.core.datasets import load_dataset
    from training.learn import ood_sets
    from training.modelfile.sidecar import read_metadata, shipped_model_path
    from training.runtime.calibration import apply_temperature

    digit = load_dataset("mnist", shared_data, allow_download=False).x_test[0]
    Image.fromarray(255 - digit).resize((280, 280)).save(tmp_path / "digit.png")
    letter = ood_sets._stroke_letter(ood_sets.STROKE_LETTERS["W"], np.random.default_rng(5))
    Image.fromarray(letter).save(tmp_path / "letter.png")
    records = [json.loads(line) for line in
               run_ok("predict", "--model", "mnist", tmp_path / "digit.png",
                      tmp_path / "letter.png").stdout.splitlines()]
    assert [r["verdict"] for r in records] == ["answer", "not_in_domain"]
    assert records[0]["label"] == 7
    temperature = read_metadata(shipped_model_path("mnist"))["temperature"]
    for record in records:
        np.testing.assert_allclose(record["calibrated_probabilities"],
                                   apply_temperature(np.array(record["probabilities"]),
                                                     temperature), atol=1e-5)
    assert "not_in_domain" in run_ok("predict", "--help").stdout


@pytest.mark.slow
def test_predict_with_a_nan_model_gives_valid_json(tmp_path):
    import keras

    from training.learn.saving import save_model

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.layers[-1].set_weights([np.full((784, 10), np.nan, np.float32),
                                  np.zeros(10, np.float32)])
    path = save_model(model, tmp_path / "nan.keras", {"dataset": "mnist"})
    bar = np.zeros((100, 100), np.uint8)
    bar[30:40, 10:90] = 255
    Image.fromarray(bar).save(tmp_path / "bar.png")
    done = run_main("predict", "--model", path, tmp_path / "bar.png")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [record] = [json.loads(line) for line in done.stdout.splitlines()]
    assert record == {"file": str(tmp_path / "bar.png"),
                      "error": "this model's output is not a number"}


@pytest.mark.slow
def test_evaluate_on_an_empty_test_set_is_a_clear_error(tmp_path, isolated_cache):
    from conftest import write_idx_dataset

    write_idx_dataset(tmp_path / "data" / "mnist", train=20, test=0)
    done = run_main("evaluate", "--model", "mnist", "--data-dir", tmp_path / "data")
    assert done.returncode == 2 and done.stdout == ""
    assert "holds no" in done.stderr and "Traceback" not in done.stderr
    assert "nan" not in done.stderr.lower()


def test_download_reports_progress_lines(tmp_path, isolated_cache, file_server):
    from conftest import write_idx_dataset

    www, url, _ = file_server
    write_idx_dataset(www, train=200, test=50)
    done = cli("download", "--dataset", "fashion_mnist", "--progress", "json",
               env_extra={"DRAW_CLASSIFY_DOWNLOAD_URL": url})
    events = json_lines(done.stdout)
    files = {e["file"] for e in events if e["event"] == "download"}
    assert files == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert events[-1] == {"event": "result", "dataset": "fashion_mnist",
                          "source": str(isolated_cache / "keras-home" / "datasets"
                                        / "fashion-mnist"),
                          "train_images": 200, "test_images": 50}


LEAN_KERAS = """
import sys
from training.cli.plumbing import import_keras_quietly
import_keras_quietly()
print("matplotlib" in sys.modules, flush=True)
import keras
import matplotlib.pyplot as plt
plt.figure()
print(tuple(keras.layers.Dense(2)(keras.ops.ones((1, 3))).shape), flush=True)
"""


@pytest.mark.slow
def test_a_child_loads_keras_without_matplotlib_and_matplotlib_still_works_after():
    """Keras imports pyplot for two plotting helpers the CLI never calls (~0.9 s of every
    training child's start on a 2-core EPYC): the CLI loads Keras without it, and a later
    import of matplotlib works as usual."""
    done = subprocess.run([sys.executable, "-c", LEAN_KERAS], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["False", "(1, 2)"]


@pytest.mark.slow
def test_describe_prints_the_summary_table_without_tensorflow_noise():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "training", "describe", "--architecture",
                           "all", "--dropout", "0", "--json"], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stderr == ""
    events = json_lines(done.stdout)
    summaries = {e["architecture"]: e for e in events if e["event"] == "summary"}
    assert {name: s["parameters"] for name, s in summaries.items()} == {
        "lecture_dense": 101_770, "lecture_cnn": 65_994, "compact_cnn": 98_442,
        "mid_cnn": 815_082, "strided_cnn": 316_890, "wide_cnn": 241_546, "vgg_cnn": 436_650}
    assert "Total parameters: 101,770" in summaries["lecture_dense"]["text"]
    assert "Dropout" not in summaries["compact_cnn"]["text"]
    assert events[-1] == {"event": "result", "count": 7}


@pytest.mark.slow
def test_the_model_is_kept_before_it_is_measured_and_survives_an_end_there(tiny_data, tmp_path,
                                                                          user_home):
    """Issue #20 (7): ``saved`` comes before ``evaluate_begin`` with the model and a valid
    sidecar on disk; a window ending the child then (SIGTERM: its user pressed Start again)
    leaves that model complete, with no half-written file beside it."""
    import signal

    from training.learn.saving import load_model

    out = tmp_path / "kept" / "partial.keras"
    child = start_cli("train", "--data-dir", tiny_data, "--architecture", "lecture_dense",
                      "--epochs", "200", "--batch-size", "1", "--out", out, "--progress", "json")
    events = []
    try:
        read_until(child, lambda e: e["event"] == "batch", events)
        child.stdin.write("stop\n")
        child.stdin.flush()
        saved = read_until(child, lambda e: e["event"] in ("saved", "evaluate_begin"), events)
        assert saved["event"] == "saved", "the model must be kept before it is measured"
        assert saved["status"] == "stopped" and saved["path"] == str(out)
        assert saved["metadata"]["model_file"] == "partial.keras"
        assert "test_accuracy" not in saved["metadata"]  # not measured yet
        child.send_signal(signal.SIGTERM)
    finally:
        child.wait(timeout=60)
    assert child.returncode != 0  # ended, not finished
    loaded = load_model(out)
    assert loaded.warnings == [] and loaded.metadata["status"] == "stopped"
    assert loaded.metadata["history"] == saved["history"]
    assert not [p.name for p in out.parent.iterdir() if ".partial" in p.name]
