"""`train --strategy` (issue #11 part 4): tf.distribute training whose result is an ordinary model.

TensorFlow's devices are fixed when it starts, so every distributed run happens in a child
process: a snippet that splits the CPU into two logical devices, or the CLI itself for the
multi-worker strategy (which configures the runtime's collective operations at start-up).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO

from training.protocol.config import ConfigError, TrainingConfig

TWO_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
"""


def child(code: str = "", args=(), env_extra=None, timeout=240) -> subprocess.CompletedProcess:
    """``python -c code`` (or ``python -m training args`` without code) in the repository."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    command = ([sys.executable, "-c", textwrap.dedent(code)] if code
               else [sys.executable, "-m", "training", *map(str, args)])
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def tf_config(ports, index=0) -> str:
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def train_args(data, out, *extra, architecture="compact_cnn"):
    return ["train", "--data-dir", data, "--architecture", architecture, "--epochs", "1",
            "--batch-size", "32", "--no-ood", "--out", out, *extra]


def check_ordinary_model(path, data) -> dict:
    """The saved model loads like any other, predicts the same after a reload, and its .tflite
    computes the same probabilities; returns the sidecar."""
    from training.core.datasets import load_dataset
    from training.learn.saving import load_model
    from training.modelfile.sidecar import read_metadata
    from training.runtime.lite import LiteModel

    pictures = load_dataset("mnist", data).x_test[:50]
    x = (pictures / np.float32(255))[..., None]
    first, again = load_model(path).model, load_model(path).model
    assert first.distribute_strategy.num_replicas_in_sync == 1  # no distributed variables
    probabilities = np.asarray(first.predict_on_batch(x))
    assert np.array_equal(probabilities, np.asarray(again.predict_on_batch(x)))
    lite = LiteModel(path.with_suffix(".tflite"))
    assert np.abs(lite.predict_batch(pictures) - probabilities).max() < 1e-4
    return read_metadata(path)


@pytest.fixture(scope="module")
def mirrored_child(tmp_path_factory):
    """One child on two logical CPUs for both mirrored tests (TensorFlow starts once): three
    train() runs stopped at different points, as in a notebook, then the CLI's own training of
    a saved model. Returns (the child, the data folder, the CLI's model path)."""
    from conftest import write_idx_dataset

    folder = tmp_path_factory.mktemp("mirrored")
    data = folder / "data"
    write_idx_dataset(data / "mnist")  # what tiny_data writes
    out = folder / "mirrored.keras"
    code = TWO_CPUS + f"""
import sys
from training.cli.main import main
from training.learn.trainer import TrainingConfig, train
config = dict(strategy="mirrored", epochs=5, batch_size=16, data_dir={str(data)!r})

def stop_after(polls):
    asked = []
    return lambda: asked.append(1) or len(asked) > polls

for name, architecture, stop in (("first", "compact_cnn", stop_after(3)),
                                 ("later", "lecture_dense", stop_after(6)),
                                 ("at_once", "compact_cnn", lambda: True)):
    result = train(TrainingConfig(architecture=architecture, **config), should_stop=stop)
    print(name, result.status, int(result.model.optimizer.iterations.numpy()),
          result.epochs_completed, result.confusion.sum(),
          result.model.distribute_strategy.num_replicas_in_sync, flush=True)
# Last: in JSON mode main() keeps stdout for its own lines.
sys.exit(main({[str(a) for a in train_args(data, out, "--strategy", "mirrored",
                                            "--progress", "json",
                                            architecture="lecture_dense")]!r}))
"""
    run = child(code)
    assert run.returncode == 0, run.stderr
    return run, data, out


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_trains_an_ordinary_model(mirrored_child):
    run, data, out = mirrored_child
    events = json_lines(run.stdout)
    begin = next(e for e in events if e["event"] == "train_begin")
    assert begin["replicas"] == 2 and begin["strategy"] == "mirrored"
    assert begin["devices"] == "2 replicas: /cpu:0, /cpu:1"
    assert begin["steps"] == 8  # 270 training images in full global batches of 32
    # Keras cannot run several batches per call under a strategy, nor XLA-compile the step
    # (the dense net gets both without one: test_the_default_strategy_trains_as_before)
    assert begin["steps_per_execution"] == 1
    result = events[-1]
    assert result["event"] == "result" and result["status"] == "finished"
    assert result["epochs_completed"] == 1 and result["path"] == str(out)

    sidecar = check_ordinary_model(out, data)
    assert sidecar["config"]["strategy"] == "mirrored" and sidecar["epochs_completed"] == 1
    assert "tflite_sha256" in sidecar
    import keras

    # The optimizer's state came along, and the epoch had its 8 steps, not one more (Keras
    # adds an empty one to an input of unknown length under a strategy).
    assert int(keras.saving.load_model(out).optimizer.iterations.numpy()) == 8


@pytest.mark.slow
def test_two_runs_and_stops_under_a_strategy(mirrored_child):
    """A stop is polled before the first batch and after each one: a stop at once trains
    nothing, a later one ends training after the batch in progress. The runs happen in one
    process (as in a notebook), with different models, and each result is a plain model (the
    evaluation and the saving run on one device)."""
    run = mirrored_child[0]
    lines = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines()
             if not line.startswith("{")}
    # One poll before the first batch, one after each: no batch ran after the stop. Each
    # result was evaluated (100 test images) and is a plain, one-device model.
    assert lines["first"] == ["stopped", "3", "0", "100", "1"]
    assert lines["later"] == ["stopped", "6", "0", "100", "1"]  # another model, same process
    assert lines["at_once"] == ["stopped", "0", "0", "100", "1"]  # nothing trained


@pytest.mark.parametrize("value, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["localhost:1"]}}', 'needs a "cluster" and a "task"'),
])
def test_multi_worker_without_a_usable_tf_config_is_a_clear_error(tmp_path, value, message):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if value is not None:
        env["TF_CONFIG"] = value
    run = subprocess.run([sys.executable, "-m", "training", *map(str, train_args(
        tmp_path / "nowhere", tmp_path / "m.keras", "--strategy", "multi-worker"))],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1]
    assert "Traceback" not in run.stderr and not (tmp_path / "m.keras").exists()


@pytest.mark.slow
def test_multi_worker_with_a_single_worker(tiny_data, tmp_path):
    out = tmp_path / "single.keras"
    run = child(args=train_args(tiny_data, out, "--strategy", "multi-worker"),
                env_extra={"TF_CONFIG": tf_config([free_port()])})
    assert run.returncode == 0, run.stderr
    assert "strategy multi-worker: 1 replica on 1 worker; this one (worker 0): /cpu:0" \
        in run.stderr
    assert check_ordinary_model(out, tiny_data)["config"]["strategy"] == "multi-worker"


@pytest.mark.slow
def test_multi_worker_with_two_workers_gives_the_same_model_on_both(tiny_data, tmp_path):
    """Two processes on this machine stand for two machines: each trains on half of every
    batch, and both end with the same weights (Keras 3 needs strategy.MultiWorkerMirrored...'s
    reduce fix for this)."""
    ports = [free_port(), free_port()]
    outs = [tmp_path / f"worker{i}.keras" for i in range(2)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "training",
         *map(str, train_args(tiny_data, outs[i], "--strategy", "multi-worker",
                              "--progress", "json"))],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "TF_CONFIG": tf_config(ports, i)}) for i in range(2)]
    try:
        finished = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    for worker, (stdout, stderr) in zip(workers, finished):
        assert worker.returncode == 0, stderr
        begin = next(e for e in json_lines(stdout) if e["event"] == "train_begin")
        assert begin["replicas"] == 2 and begin["steps"] == 8
    from training.learn.saving import load_model

    first, second = (load_model(out).model.get_weights() for out in outs)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    check_ordinary_model(outs[0], tiny_data)


def test_strategy_is_validated_and_defaults_to_no_strategy():
    assert TrainingConfig().strategy == "default"
    for name in ("default", "mirrored", "multi-worker"):
        TrainingConfig(strategy=name).validate()
    with pytest.raises(ConfigError, match="invalid strategy: expected one of default, "
                                          "mirrored, multi-worker"):
        TrainingConfig(strategy="horovod").validate()
    with pytest.raises(ConfigError, match="invalid steps_per_execution"):
        TrainingConfig(strategy="mirrored", steps_per_execution=4).validate()
    TrainingConfig(strategy="mirrored", steps_per_execution=1).validate()
    # A sidecar written before the field existed still gives a valid config.
    old = {k: v for k, v in TrainingConfig().to_dict().items() if k != "strategy"}
    assert TrainingConfig.from_dict(old).validate().strategy == "default"


def test_the_cli_refuses_an_unknown_strategy_and_explains_the_batch_size(tmp_path):
    run = child(args=["train", "--strategy", "horovod", "--out", tmp_path / "m.keras"])
    assert run.returncode == 2 and "invalid choice: 'horovod'" in run.stderr
    usage = child(args=["train", "--help"])
    assert usage.returncode == 0, usage.stderr
    text = " ".join(usage.stdout.split())
    assert "--strategy {default,mirrored,multi-worker}" in text
    assert "the global batch, split across the replicas" in text


@pytest.mark.slow
def test_the_default_strategy_trains_as_before(tiny_data):
    """No tf.distribute at all: several batches per call and XLA for the dense net, as before."""
    from training.learn.trainer import train

    events = []
    config = TrainingConfig(architecture="lecture_dense", epochs=1, batch_size=32,
                            data_dir=str(tiny_data))
    result = train(config, progress=events.append)
    begin = next(e for e in events if e["event"] == "train_begin")
    assert begin["replicas"] == 1 and begin["strategy"] == "default"
    assert begin["steps_per_execution"] > 1
    assert result.model.jit_compile is True
    import tensorflow as tf

    assert not tf.distribute.has_strategy()
    assert result.model.distribute_strategy is tf.distribute.get_strategy()  # the default one
    assert int(result.model.optimizer.iterations.numpy()) == begin["steps"]
