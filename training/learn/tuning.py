"""Training settings chosen for this CPU by measuring them (issue #22), cached per CPU.

A setting left "automatic" in the TrainingConfig (``precision="auto"``, ``jit_compile="auto"``,
``steps_per_execution=0``, ``threads=0``) is decided here; a setting given is used as given.

* **Per model** (architecture and batch size), on its first run: a short micro-benchmark trains
  the model on random pictures for about half a second per candidate (its speed: the median
  call; its start-up: what the first call took beyond a warm one, for the panel's estimate) and
  keeps the fastest of float32 / bfloat16, XLA on / off and a few batches-per-call. It is a
  coordinate search (one setting varied at a time from the heuristic choice), about five
  candidates, a few seconds for the small models. bfloat16 must be clearly faster (>= ``BFLOAT16_GAIN``) to be chosen: it
  changes the numbers a little, so a tie goes to float32.
* **Per machine**: TensorFlow's thread pools can only be sized before its first operation, and
  its oneDNN kernels switched on or off only before it loads, so both are measured by
  ``python -m training tune``, which times one model in a child process per candidate. Until
  then TensorFlow's own thread counts are used, and oneDNN is on where the CPU has AVX2.

The choices are cached in ``<home>/cache/tuning.json`` under the CPU (model, usable cores) and
the TensorFlow version: another CPU or another TensorFlow measures again. A cache that cannot be
read is ignored (and rewritten); one that cannot be written costs only the next run's measuring.
When the benchmark cannot run (it fails, or ``DRAW_CLASSIFY_TUNE=0``: tests and reproducible
scripts), the run falls back to float32 and the estimates of ``trainer.auto_*``.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from dataclasses import asdict, dataclass, field, replace
from functools import partial

from training.core.cpu import cpu_info, usable_cores
from training.core.speed_cache import (
    BFLOAT16_GAIN, Trial, best_trial, cached_machine, cached_onednn, cached_threads,
    cached_trials, machine_key, record_trials, save_to_cache)
from training.protocol.messages import speed_text

TUNE_ENV_VAR = "DRAW_CLASSIFY_TUNE"      # "0": never measure, use the fallback
ONEDNN_ENV_VAR = "TF_ENABLE_ONEDNN_OPTS"  # TensorFlow's own switch, read once as it loads
TRIAL_SECONDS = 0.3     # timed training per candidate, after its warm-up
OTHER_GAIN = 1.03       # any other change of setting: at least this much faster (noise)
MAX_STEPS_PER_CALL = 128
CALL_SECONDS = 0.05     # estimate: one training call's length (progress, Ctrl+C react per call)
# A conservative compute rate (multiply-adds per second, forward + backward counted as 3x the
# forward pass) for sizing calls: this 2-core CPU does 100-200 G in practice; assuming less keeps
# calls short on slower machines, at the cost of a little more overhead on faster ones.
ASSUMED_MACS_PER_SECOND = 40e9


@dataclass(frozen=True)
class Speed:
    """The settings a run trains with, and where they come from."""

    precision: str
    jit_compile: bool
    steps_per_execution: int
    intra_threads: int = 0              # 0: TensorFlow's default
    inter_threads: int = 0
    onednn: bool | None = None          # oneDNN's kernels in this process (None: not known)
    source: str = "fallback"            # measured | cached | given | fallback
    images_per_second: float | None = None
    seconds: float = 0.0                # spent measuring in this run
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return speed_text(self.to_dict())


@dataclass
class Wanted:
    """What the config fixes (None: automatic) for one model."""

    architecture: str
    batch_size: int
    dropout: float = 0.0
    precision: str | None = None
    jit_compile: bool | None = None
    steps_per_execution: int | None = None
    threads: int | None = None
    trials: list = field(default_factory=list)

    @classmethod
    def from_config(cls, config) -> "Wanted":
        return cls(config.architecture, config.batch_size, config.dropout,
                   None if config.precision == "auto" else config.precision,
                   None if config.jit_compile == "auto" else config.jit_compile == "on",
                   config.steps_per_execution or None, config.threads or None)

    def fixed(self) -> bool:
        return None not in (self.precision, self.jit_compile, self.steps_per_execution)

    def allows(self, trial: Trial) -> bool:
        return all(want is None or want == got for want, got in zip(
            (self.precision, self.jit_compile, self.steps_per_execution), trial.setting()))


# ----------------------------------------------------------------------------- choosing

def tuning_allowed() -> bool:
    return os.environ.get(TUNE_ENV_VAR, "1").strip().lower() not in ("0", "off", "no", "false")


def choose(config, distributed: bool = False, progress=None, measure=None) -> Speed:
    """The settings ``config``'s model trains with on this CPU: given, cached, measured now
    (and cached) or the fallback. ``measure(wanted, progress)`` -> list[Trial] is the benchmark
    (``measure_trials`` unless a test passes another)."""
    progress = progress or (lambda event: None)
    wanted = Wanted.from_config(config)
    if distributed:  # Keras runs one batch per call under a strategy; XLA cannot span devices
        return Speed(wanted.precision or "float32", False, 1, source="given" if
                     wanted.precision else "fallback", note="one batch per call under a "
                     "distribution strategy")
    guess = _heuristic(wanted)  # the fallback, and where a search starts
    fallback = Speed(*guess.setting(), source="fallback")
    if wanted.fixed():
        return replace(fallback, source="given")
    if not tuning_allowed():
        return replace(fallback, note=f"{TUNE_ENV_VAR}=0")
    started = time.perf_counter()
    try:
        key = machine_key()
        trials = [t for t in cached_trials(cached_machine(key), wanted.architecture,
                                           wanted.batch_size) if wanted.allows(t)]
        source = "cached"
        if guess.setting() not in {t.setting() for t in trials}:  # a search times it first
            progress({"event": "tuning", "architecture": wanted.architecture,
                      "batch_size": wanted.batch_size})
            new = (measure or partial(measure_trials, start=guess))(wanted, progress)
            trials = [t for t in [*trials, *new] if wanted.allows(t)]
            source = "measured"
            note = save_to_cache(key, record_trials(wanted.architecture, wanted.batch_size,
                                                     new))
            if note:
                progress({"event": "warning", "message": note})
        best = best_trial(trials)
    except Exception as exc:  # noqa: BLE001 - any failure of the benchmark: train anyway
        return replace(fallback, note=f"the speed benchmark could not run: {exc}"[:300])
    if best is None:
        return replace(fallback, note="no candidate could be measured")
    return Speed(best.precision, best.jit_compile, best.steps_per_execution,
                 source=source, images_per_second=round(best.images_per_second, 1),
                 seconds=round(time.perf_counter() - started, 2))


def _heuristic(wanted: Wanted) -> Trial:
    """The choice without measuring: float32, XLA for nets without convolutions, batches per
    call from the multiply-adds (training/learn/trainer.py)."""
    from training.learn.models import build_model

    precision = wanted.precision or "float32"
    model = build_model(wanted.architecture, wanted.dropout, precision=precision)
    jit = auto_jit_compile(model) if wanted.jit_compile is None else wanted.jit_compile
    steps = wanted.steps_per_execution or auto_steps_per_execution(model, wanted.batch_size,
                                                                   precision)
    return Trial(precision, jit, steps, 0.0)


# ----------------------------------------------------------------------------- measuring

def measure_trials(wanted: Wanted, progress=None, thorough: bool = False,
                   start: Trial | None = None) -> list[Trial]:
    """A coordinate search from the heuristic choice: XLA flipped, then bfloat16, then more or
    fewer batches per call; each candidate timed by ``time_candidate``. A training run's own
    search (not ``thorough``) leaves out XLA for nets with convolutions: compiling one takes
    seconds, and it was 2-4x slower on every CPU measured (``tune`` still times it).
    ``start``: the heuristic's choice, when the caller has it already."""
    start = start or _heuristic(wanted)
    trials: list[Trial] = []

    def run(precision: str, jit: bool, steps: int) -> Trial:
        for trial in trials:
            if trial.setting() == (precision, jit, steps):
                return trial
        trial = time_candidate(wanted.architecture, wanted.dropout, wanted.batch_size,
                               precision, jit, steps, beat=_best_speed(trials))
        trials.append(trial)
        return trial

    best = run(*start.setting())
    if wanted.jit_compile is None and (thorough or start.jit_compile):
        other = run(best.precision, not best.jit_compile, best.steps_per_execution)
        best = _faster(best, other, OTHER_GAIN)
    if wanted.precision is None and bfloat16_may_pay():
        other = run("bfloat16", best.jit_compile, best.steps_per_execution)
        best = _faster(best, other, BFLOAT16_GAIN)
    if wanted.steps_per_execution is None:
        n = best.steps_per_execution
        fewer = [n // 4] if n >= 8 else []  # one or two batches a call: not worth timing fewer
        for steps in sorted({min(MAX_STEPS_PER_CALL, n * 4), *fewer} - {n}):
            best = _faster(best, run(best.precision, best.jit_compile, steps), OTHER_GAIN)
    return trials


def bfloat16_may_pay() -> bool:
    """Worth timing bfloat16? Not on an x86 CPU without AVX512-BF16/AMX: there it is emulated,
    4x slower than float32 for the quick preset's model on an AVX2 CPU, and only its timing
    would cost seconds. Elsewhere (other flags, other architectures) it is measured."""
    info = cpu_info()
    return info["bf16"] or not info["avx2"]


def _faster(current: Trial, other: Trial, gain: float) -> Trial:
    return other if other.images_per_second >= gain * current.images_per_second else current


def _best_speed(trials: list[Trial]) -> float:
    return max((t.images_per_second for t in trials), default=0.0)


def time_candidate(architecture: str, dropout: float, batch_size: int, precision: str,
                   jit_compile: bool, steps: int, beat: float = 0.0,
                   seconds: float | None = None) -> Trial:
    """Images per second of training ``architecture`` with these settings, on random pictures
    held in memory (the input pipeline is the same for every candidate), and its start-up
    seconds. A candidate whose warm-up already runs at under half of ``beat`` is not timed
    further."""
    import keras
    import tensorflow as tf

    from training.learn.augment import without_autotuner
    from training.learn.models import (
        FROZEN_FIRST_CONV, INPUT_SHAPE, build_model, training_twin, whiten_first_conv)

    # No keras.backend.clear_session() here: each candidate's model compiles its own functions
    # anyway, and clearing TensorFlow's kernel cache waits for the process's pending work (seen
    # idle 30 s of a 56 s test in a busy test worker).
    rng = np.random.default_rng(0)
    model = build_model(architecture, dropout, precision=precision)
    if architecture in FROZEN_FIRST_CONV:  # as the trainer trains it: set and frozen
        whiten_first_conv(model, rng.integers(0, 256, (64, *INPUT_SHAPE[:2]), dtype=np.uint8),
                          patches=1_000)
    model = training_twin(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  steps_per_execution=steps, jit_compile=jit_compile)
    shape = (batch_size, *tuple(model.input_shape[1:]))
    pictures = rng.random(shape, dtype=np.float32)
    labels = rng.integers(0, 10, batch_size).astype(np.int32)
    batches = without_autotuner(tf.data.Dataset.from_tensors((pictures, labels)).repeat())

    def timed(calls: int) -> tuple[list[float], float]:
        """Seconds per step of each call after the first, and the first call's seconds."""
        ends = []  # (index of the call's last batch, when it ended)
        clock = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: ends.append((batch, time.perf_counter())))
        started = time.perf_counter()
        model.fit(batches, steps_per_epoch=steps * calls, epochs=1, verbose=0, shuffle=False,
                  callbacks=[clock])
        return ([(t1 - t0) / max(1, b1 - b0) for (b0, t0), (b1, t1) in zip(ends, ends[1:])],
                ends[0][1] - started)

    # The first call traces and compiles; the next ones are timed. Their median is the speed:
    # other programs' bursts do not move it, and unlike the fastest call it does not favour
    # short calls (the fastest of many short calls is the luckiest: it chose 1 batch a call for
    # mid_cnn, whose runs then trained 8 % slower than at 8; session 28).
    warm, first = timed(2)
    start = max(0.0, first - warm[0] * steps)
    if beat and batch_size / warm[0] < beat / 2:
        return Trial(precision, jit_compile, steps, batch_size / warm[0], start)
    seconds = TRIAL_SECONDS if seconds is None else seconds
    calls = max(3, round(seconds / (warm[0] * steps))) + 1
    warm += timed(calls)[0]
    return Trial(precision, jit_compile, steps, batch_size / float(np.median(warm)), start)


# ----------------------------------------------------------------------------- tune command

def tune_model(architecture: str, batch_size: int, dropout: float = 0.0,
               save: bool = True) -> tuple[Speed, list[Trial]]:
    """Measure one model afresh (whatever the cache holds), cache the trials; (best, trials)."""
    wanted = Wanted(architecture, batch_size, dropout)
    started = time.perf_counter()
    trials = measure_trials(wanted, thorough=True)
    best = best_trial(trials)
    note = save_to_cache(machine_key(), record_trials(architecture, batch_size, trials,
                                                       replace_all=True)) if save else ""
    return Speed(best.precision, best.jit_compile, best.steps_per_execution,
                 source="measured", images_per_second=round(best.images_per_second, 1),
                 seconds=round(time.perf_counter() - started, 2), note=note), trials


def thread_candidates() -> list[tuple[int, int]]:
    """(intra-op, inter-op) threads worth timing: TensorFlow's default first (0, 0), every
    usable core on one operation at a time, half of them on two."""
    cores = usable_cores()
    candidates = [(0, 0), (cores, 1)]
    if cores >= 2:
        candidates.append((max(1, cores // 2), 2))
    return list(dict.fromkeys(candidates))


def pick_threads(measured: dict[tuple[int, int], float]) -> tuple[int, int]:
    """The fastest thread setting; TensorFlow's default unless another clearly beats it."""
    default = measured.get((0, 0), 0.0)
    best = max(measured, key=measured.get)
    return best if measured[best] >= OTHER_GAIN * default else (0, 0)


def save_threads(choice: tuple[int, int], measured: dict[tuple[int, int], float]) -> str:
    def update(machine: dict) -> None:
        machine["threads"] = {"intra": choice[0], "inter": choice[1], "measured": [
            {"intra": i, "inter": j, "images_per_second": round(v, 1)}
            for (i, j), v in measured.items()]}
    return save_to_cache(machine_key(), update)


# ----------------------------------------------------------------------------- threads

def thread_choice(config) -> tuple[int, int]:
    """(intra-op, inter-op) threads for this run: the config's, else the machine's measured
    choice (``tune``), else (0, 0): TensorFlow's default. Reads no TensorFlow."""
    if config.threads:
        return config.threads, 0
    if not tuning_allowed():
        return 0, 0
    return cached_threads(cached_machine(machine_key()))


def apply_threads(intra: int, inter: int) -> str:
    """Size TensorFlow's thread pools; "" or why not (they are fixed once TensorFlow ran)."""
    if not intra and not inter:
        return ""
    import tensorflow as tf

    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        return "thread counts kept: TensorFlow was already running in this process"
    return ""


# ----------------------------------------------------------------------------- oneDNN

def onednn_choice() -> bool | None:
    """oneDNN's kernels for this process: the machine's measured choice (``tune``), else on
    where the CPU has AVX2, else None (TensorFlow's default). TensorFlow switches them on by
    itself only on CPUs with AVX512-VNNI, BF16 or AMX; on an AVX2-only AMD EPYC its default
    kernels trained the presets' CNNs at 0.6-0.8x oneDNN's speed (docs/benchmarks.md, session
    27). Reads no TensorFlow."""
    if tuning_allowed():
        cached = cached_onednn(cached_machine(machine_key()))
        if cached is not None:
            return cached
    return True if cpu_info()["avx2"] else None


def apply_onednn(on: bool | None) -> str:
    """Set TensorFlow's oneDNN switch for this process, before TensorFlow loads; a value set in
    the environment (the user's override) is kept. "" or why it could not be set."""
    if on is None or ONEDNN_ENV_VAR in os.environ:
        return ""
    if "tensorflow" in sys.modules:
        return "oneDNN setting kept: TensorFlow was already loaded in this process"
    os.environ[ONEDNN_ENV_VAR] = "1" if on else "0"
    return ""


def onednn_in_use() -> bool | None:
    """Whether this process's TensorFlow runs oneDNN's kernels (None: cannot tell)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def pick_onednn(measured: dict[bool, float]) -> bool:
    """oneDNN on unless off is clearly faster (the heuristic's choice wins a tie)."""
    return not measured.get(False, 0.0) > OTHER_GAIN * measured.get(True, 0.0)


def save_onednn(choice: bool, measured: dict[bool, float]) -> str:
    def update(machine: dict) -> None:
        machine["onednn"] = {"on": choice, "measured": {
            "on" if on else "off": round(speed, 1) for on, speed in measured.items()}}
    return save_to_cache(machine_key(), update)


# ----------------------------------------------------------------------------- estimates

def auto_steps_per_execution(model, batch_size: int, precision: str = "float32") -> int:
    """Batches per Keras call so that one call does about ``CALL_SECONDS`` of work.

    Big steps (the CNNs at batch 64-128: tens of ms) get 1; small ones (the dense net at batch
    32: well under a millisecond of arithmetic, about as much again of per-step overhead) get
    many. The work is estimated from the model's multiply-adds, not timed: no warm-up run.
    """
    step = estimated_step_seconds(model, batch_size, precision)
    return int(min(MAX_STEPS_PER_CALL, max(1, CALL_SECONDS // step)))


def estimated_step_seconds(model, batch_size: int, precision: str = "float32") -> float:
    rate = ASSUMED_MACS_PER_SECOND * (2 if precision == "bfloat16" else 1)
    return 3 * batch_size * max(1, multiply_adds(model)) / rate


def auto_jit_compile(model) -> bool:
    """XLA for nets without convolutions: on a CPU it fuses a dense net's many small ops (the
    lecture's dense net ran an epoch in a third of the time), but its convolutions are several
    times slower than TensorFlow's own (oneDNN)."""
    return not any("Conv" in type(layer).__name__ for layer in model.layers)


def multiply_adds(model) -> int:
    """Multiply-adds of one image's forward pass through the Dense and Conv2D layers."""
    total = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        size = int(np.prod(kernel.shape))
        if len(kernel.shape) == 4:  # Conv2D: the kernel is applied at every output position
            size *= int(np.prod(layer.output.shape[1:3]))
        total += size
    return total
