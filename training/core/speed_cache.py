"""The training speeds measured on this CPU, kept in ``<home>/cache/tuning.json`` (no TensorFlow).

Two kinds of figure are kept per model (architecture and batch size), under the CPU (model,
usable cores) and the TensorFlow version, since a speed holds only there:

* ``trials``: the speed benchmark's candidates (training/learn/tuning.py), images per second of
  warm training on pictures held in memory; the settings a run trains with are chosen from them.
* ``fit``: what a whole run really trained at (its pictures / its seconds of ``fit``: tracing,
  the input pipeline and each epoch's validation included), per precision and augmentation.

The training panel reads both to say how long a run will take before it starts (issue #22:
the time on *this* CPU, never a figure from another). A cache that cannot be read reads as
empty; one that cannot be written costs only the next run's measuring or estimate.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from training.core.atomic import WriteError, write_text
from training.core.cpu import cpu_key
from training.core.datasets import OFFICIAL_TRAINING_PICTURES
from training.core.paths import user_home

CACHE_FILE = "tuning.json"
CACHE_VERSION = 4  # 4: mid_cnn's dense layer 128 -> 256 (its speeds measured before are stale)
# 3: oneDNN on where the CPU has AVX2 (speeds measured before are stale)
# 2: strided_cnn and mid_cnn train ~20 % faster (a frozen first convolution)
BFLOAT16_GAIN = 1.15    # bfloat16 is chosen only when at least this much faster
# The names TensorFlow is installed under (its version is part of the key; read without
# importing it: the window must not)
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel",
                            "tensorflow-macos", "tf-nightly", "tf-nightly-cpu")


# A run traces two functions before its first batch (training, then validation at the first
# epoch's end); the speed test times the first. The first epoch of a run was 1.45-1.7 s longer
# than the next ones where the test's first call took 1.0 s more than a warm one (session 28,
# AMD EPYC Zen 2: strided_cnn, mid_cnn).
RUN_START_PER_TRIAL_START = 1.5


@dataclass(frozen=True)
class Trial:
    """One candidate's measured speed: images per second of training, warm (its median call),
    and what its first call took beyond a warm one (``start_seconds``: tracing; 0 when not
    measured)."""

    precision: str
    jit_compile: bool
    steps_per_execution: int
    images_per_second: float
    start_seconds: float = 0.0

    def setting(self) -> tuple:
        return self.precision, self.jit_compile, self.steps_per_execution

    def run_seconds(self, pictures: int) -> float:
        """How long a run training ``pictures`` with this setting should take here."""
        return RUN_START_PER_TRIAL_START * self.start_seconds + pictures / self.images_per_second


@dataclass(frozen=True)
class Estimate:
    """How long a run's training should take here, and what the figure rests on."""

    seconds: float
    images_per_second: float
    pictures: int               # trained on, all epochs together
    basis: str                  # "run": a whole run of this model; "benchmark": the trials


def cache_path() -> Path:
    return user_home() / "cache" / CACHE_FILE


def tensorflow_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in TENSORFLOW_DISTRIBUTIONS:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "unknown"


def machine_key() -> str:
    """The CPU and the TensorFlow version: what the measured speeds hold for."""
    return f"{cpu_key()} | TensorFlow {tensorflow_version()}"


def model_key(architecture: str, batch_size: int) -> str:
    return f"{architecture}/{batch_size}"


def fit_key(precision: str, augment: bool) -> str:
    return f"{precision}+augment" if augment else precision


def read_cache(path: Path | None = None) -> dict:
    """The whole cache file, or an empty one when it is missing or unreadable."""
    path = path or cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"version": CACHE_VERSION, "machines": {}}
    if (not isinstance(data, dict) or data.get("version") != CACHE_VERSION
            or not isinstance(data.get("machines"), dict)):
        return {"version": CACHE_VERSION, "machines": {}}
    return data


def cached_machine(key: str, path: Path | None = None) -> dict:
    machine = read_cache(path)["machines"].get(key)
    return machine if isinstance(machine, dict) else {}


def _model_entry(machine: dict, architecture: str, batch_size: int) -> dict:
    models = machine.get("models")
    entry = models.get(model_key(architecture, batch_size)) if isinstance(models, dict) else None
    return entry if isinstance(entry, dict) else {}


def cached_trials(machine: dict, architecture: str, batch_size: int) -> list[Trial]:
    trials = []
    items = _model_entry(machine, architecture, batch_size).get("trials")
    for item in items if isinstance(items, list) else []:
        try:
            trials.append(Trial(str(item["precision"]), bool(item["jit_compile"]),
                                int(item["steps_per_execution"]),
                                float(item["images_per_second"]),
                                _optional_figure(item, "start_seconds")))
        except (KeyError, TypeError, ValueError):
            continue  # one damaged entry: measured again
    return [t for t in trials if t.precision in ("float32", "bfloat16")
            and t.steps_per_execution >= 1 and 0 < t.images_per_second < math.inf]


def _optional_figure(item: dict, key: str) -> float:
    """A figure added to the trials later: 0 (not measured) when missing or damaged."""
    try:
        value = float(item.get(key, 0.0))
    except (TypeError, ValueError):
        return 0.0
    return value if 0 <= value < math.inf else 0.0


def cached_threads(machine: dict) -> tuple[int, int]:
    threads = machine.get("threads") or {}
    try:
        return max(0, int(threads.get("intra", 0))), max(0, int(threads.get("inter", 0)))
    except (AttributeError, TypeError, ValueError):
        return 0, 0


def cached_onednn(machine: dict) -> bool | None:
    """The measured oneDNN choice (``tune``), or None when none was kept or it is unreadable."""
    choice = machine.get("onednn")
    on = choice.get("on") if isinstance(choice, dict) else None
    return on if isinstance(on, bool) else None


def cached_fit_speed(machine: dict, architecture: str, batch_size: int, precision: str,
                     augment: bool) -> float | None:
    """Images per second a whole run of this model trained at here, or None."""
    fits = _model_entry(machine, architecture, batch_size).get("fit")
    record = fits.get(fit_key(precision, augment)) if isinstance(fits, dict) else None
    try:
        speed = float(record["images_per_second"])
    except (KeyError, TypeError, ValueError):
        return None
    return speed if 0 < speed < math.inf else None


def best_trial(trials: list[Trial]) -> Trial | None:
    """The fastest, except that float32 wins unless bfloat16 is clearly faster."""
    if not trials:
        return None
    best = max(trials, key=lambda t: t.images_per_second)
    if best.precision == "bfloat16":
        plain = [t for t in trials if t.precision == "float32"]
        if plain:
            best32 = max(plain, key=lambda t: t.images_per_second)
            if best.images_per_second < BFLOAT16_GAIN * best32.images_per_second:
                return best32
    return best


def save_to_cache(key: str, update, path: Path | None = None) -> str:
    """Read, change (``update(machine_dict)``), write atomically; "" or why it failed."""
    path = path or cache_path()
    data = read_cache(path)
    machine = data["machines"].get(key)
    if not isinstance(machine, dict):
        machine = data["machines"][key] = {}
    update(machine)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(data, indent=1, sort_keys=True))
    except (OSError, WriteError) as exc:
        return f"the measured settings could not be kept for the next run ({exc})"
    return ""


def _writable_entry(machine: dict, architecture: str, batch_size: int) -> dict:
    models = machine.get("models")
    if not isinstance(models, dict):
        models = machine["models"] = {}
    entry = models.get(model_key(architecture, batch_size))
    if not isinstance(entry, dict):
        entry = models[model_key(architecture, batch_size)] = {}
    return entry


def record_trials(architecture: str, batch_size: int, trials: list[Trial],
                  replace_all: bool = False):
    """``save_to_cache``'s update adding (or, ``replace_all``, setting) a model's trials."""
    def update(machine: dict) -> None:
        known = {} if replace_all else {
            t.setting(): t for t in cached_trials(machine, architecture, batch_size)}
        known.update({t.setting(): t for t in trials})
        entry = _writable_entry(machine, architecture, batch_size)
        entry["trials"] = [asdict(t) for t in known.values()]
        entry["measured"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return update


def record_fit(architecture: str, batch_size: int, precision: str, augment: bool,
               pictures: int, seconds: float):
    """``save_to_cache``'s update keeping what a whole run trained at (the latest run wins)."""
    def update(machine: dict) -> None:
        entry = _writable_entry(machine, architecture, batch_size)
        fits = entry.get("fit")
        if not isinstance(fits, dict):
            fits = entry["fit"] = {}
        fits[fit_key(precision, augment)] = {
            "images_per_second": round(pictures / seconds, 1), "pictures": int(pictures),
            "seconds": round(seconds, 2), "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    return update


def estimate(architecture: str, batch_size: int, precision: str, augment: bool,
             pictures: int, machine: dict | None = None) -> Estimate | None:
    """How long training ``pictures`` (all epochs) should take on this CPU: from the last whole
    run of this model (same precision and augmentation) if there was one, else from the speed
    benchmark's best candidate (with its start-up: ``Trial.run_seconds``); None when neither
    was measured here. ``precision`` "auto" is the one the benchmark chose (float32 when it
    has not run)."""
    if pictures <= 0:
        return None
    machine = cached_machine(machine_key()) if machine is None else machine
    trials = cached_trials(machine, architecture, batch_size)
    if precision == "auto":
        chosen = best_trial(trials)
        precision = chosen.precision if chosen else "float32"
    speed = cached_fit_speed(machine, architecture, batch_size, precision, augment)
    if speed is not None:
        return Estimate(pictures / speed, speed, int(pictures), "run")
    best = best_trial([t for t in trials if t.precision == precision])
    if best is None:
        return None
    seconds = best.run_seconds(pictures)
    return Estimate(seconds, pictures / seconds, int(pictures), "benchmark")


def run_estimate(config, machine: dict | None = None) -> Estimate | None:
    """``estimate`` for a TrainingConfig on a built-in dataset (its official 60,000 training
    pictures, less the validation split, every epoch): the panel's and the bench's figure."""
    per_epoch = OFFICIAL_TRAINING_PICTURES - round(OFFICIAL_TRAINING_PICTURES
                                                   * config.validation_split)
    return estimate(config.architecture, config.batch_size, config.precision, config.augment,
                    per_epoch * config.epochs, machine)


def spoken_duration(seconds: float) -> str:
    """A time in words, as precise as an estimate deserves: "40 s", "4 min 50 s", "1 h 12 min"."""
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 600:
        return f"{seconds // 60} min {seconds % 60 // 10 * 10} s".replace(" 0 s", "")
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
