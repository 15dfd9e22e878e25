"""tf.distribute strategies by name, for ``python -m training train --strategy NAME``.

    default       no strategy: one device, exactly what training did before (and what the
                  window's training panel runs)
    mirrored      tf.distribute.MirroredStrategy on every visible GPU, else on every logical
                  CPU device (one replica each; a plain CPU has one, so one replica)
    multi-worker  tf.distribute.MultiWorkerMirroredStrategy, the cluster read from TF_CONFIG

The batch size stays the global one: each step splits it across the replicas, so an epoch has
the same number of steps whatever the strategy. The trainer builds and compiles the model inside
``scope(strategy)`` and, after ``fit``, continues (evaluation, calibration, saving, the
``.tflite``) with ``plain_copy(model)``: an ordinary Keras model with no distributed variables.
Under a strategy Keras runs one batch per call and without XLA, and the stop request is polled
after each batch by a callback rather than inside the input pipeline (see ``trainer.train``).

Nothing here imports TensorFlow at module import: the CLI's parser reads ``STRATEGIES``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from pathlib import Path

from training.protocol.config import STRATEGIES, ConfigError

TF_CONFIG = "TF_CONFIG"
JOBS = ("chief", "worker")  # the tasks that train; no parameter servers, no evaluator
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


def check_tf_config(text: str | None = None) -> dict:
    """The cluster of a multi-worker run: TF_CONFIG (or ``text``) parsed and checked; raises
    ConfigError with a one-line message when it is missing or unusable."""
    text = os.environ.get(TF_CONFIG) if text is None else text
    if not text or not text.strip():
        raise ConfigError(f"--strategy multi-worker needs the {TF_CONFIG} environment variable "
                          f"naming the cluster and this worker, e.g. {TF_CONFIG}='"
                          f"{TF_CONFIG_EXAMPLE}'")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{TF_CONFIG} is not valid JSON ({exc}); expected e.g. "
                          f"{TF_CONFIG_EXAMPLE}") from None
    cluster = value.get("cluster") if isinstance(value, dict) else None
    task = value.get("task") if isinstance(value, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f"{TF_CONFIG} needs a \"cluster\" and a \"task\" object, e.g. "
                          f"{TF_CONFIG_EXAMPLE}")
    for job, addresses in cluster.items():
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and ":" in a for a in addresses)):
            raise ConfigError(f"{TF_CONFIG}: cluster[{job!r}] must be a list of \"host:port\" "
                              "addresses")
    other = sorted(set(cluster) - set(JOBS))
    if other or not cluster:
        raise ConfigError(f"{TF_CONFIG}: multi-worker training uses \"worker\" (and optionally "
                          f"one \"chief\") tasks only; the cluster names "
                          f"{', '.join(map(repr, other)) or 'no task'}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        raise ConfigError(f"{TF_CONFIG}: task type {kind!r} is not a job of the cluster "
                          f"({', '.join(map(str, cluster))})")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise ConfigError(f"{TF_CONFIG}: task index {index!r} is not in 0..{len(cluster[kind]) - 1}"
                          f" (the {kind} list has {len(cluster[kind])} address(es))")
    return value


def make_strategy(name: str):
    """The strategy called ``name``, or None for "default". Create it before any other
    TensorFlow work: a multi-worker strategy configures the runtime's collective ops.

    One strategy per name and process, made on first use: a second MirroredStrategy in the
    same process reuses its collective instance keys, and a second run then fails with
    "Shape mismatch in the collective instance" (seen with TensorFlow 2.21)."""
    if name == "default":
        return None
    if name not in STRATEGIES:
        raise ConfigError(f"invalid strategy: expected one of {', '.join(STRATEGIES)}")
    if name == "multi-worker":
        check_tf_config()
    return _strategy(name)


@functools.cache
def _strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":  # every logical GPU, else every logical CPU device
        return tf.distribute.MirroredStrategy()
    return _multi_worker_strategy_class()()


def scope(strategy):
    """``strategy.scope()``, or nothing for the default."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def replicas(strategy) -> int:
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def describe(strategy) -> str:
    """The devices a strategy trains on, e.g. "2 replicas: /cpu:0, /cpu:1"."""
    if strategy is None:
        return "1 replica: the default device"
    devices = ", ".join(_short(d) for d in strategy.extended.worker_devices)
    count = replicas(strategy)
    text = f"{count} replica{'s' if count != 1 else ''}"
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type is not None:
        jobs = resolver.cluster_spec().as_dict()
        workers = sum(len(jobs.get(job, ())) for job in JOBS)
        return (f"{text} on {workers} worker{'s' if workers != 1 else ''}; this one "
                f"({resolver.task_type} {resolver.task_id}): {devices}")
    return f"{text}: {devices}"


def warning(name: str, strategy) -> str | None:
    """Something to tell the user before training, or None."""
    if name == "mirrored" and replicas(strategy) == 1:
        return ("--strategy mirrored found a single device (no GPU is visible to TensorFlow: "
                "is its CUDA build installed, e.g. pip install 'tensorflow[and-cuda]'?); "
                "training on it as without a strategy")
    return None


def plain_copy(model):
    """``model`` as an ordinary Keras model, made outside any strategy: Keras's own save and
    load, so the weights, the compiled loss and the optimizer's state come along. Evaluation,
    calibration, saving and the .tflite export then run exactly as without a strategy (on one
    device, with no collective operations a worker could wait on)."""
    import keras

    with tempfile.TemporaryDirectory(prefix="draw-classify-") as folder:
        path = Path(folder) / "trained.keras"
        model.save(path)
        return keras.saving.load_model(path, compile=True, safe_mode=True)


def _short(device: str) -> str:
    """'/job:localhost/replica:0/task:0/device:CPU:0' -> '/cpu:0'."""
    return "/" + device.rsplit("device:", 1)[-1].lower()


def _multi_worker_strategy_class():
    """MultiWorkerMirroredStrategy, with ``reduce`` taking what Keras 3's ``fit`` gives it.

    With more than one worker, Keras 3 (3.15) calls ``strategy.reduce`` on a nested structure
    (the first batch, to build the model) and with ``axis=0`` on scalars (the loss and metrics
    of every step); the multi-worker strategy accepts neither ("Attempt to convert a value
    (PerReplica...)", "Invalid reduction dimension 0 for input with 0 dimensions":
    keras-team/keras#20585, tensorflow/tensorflow#72388). Here each leaf is reduced on its own,
    and a scalar across the replicas only.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(leaf):
                local = self.experimental_local_results(leaf)[0]
                rank = getattr(getattr(local, "shape", None), "rank", None)
                return super(MultiWorkerMirroredStrategy, self).reduce(
                    reduce_op, leaf, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy
