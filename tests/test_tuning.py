"""Training settings measured for this CPU (issue #22): measured once, cached under the CPU and
the TensorFlow version, reused, overridable, and float32 when the benchmark cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cli_runner import run_main
from training.core.cpu import cpu_info, cpu_key
from training.core import speed_cache
from training.core.speed_cache import estimate
from training.learn import tuning
from training.learn.tuning import Speed, Trial, Wanted
from training.protocol.config import TrainingConfig
from training.protocol.messages import TrainBegin, TuneResult, Tuning, decode

DENSE = dict(architecture="lecture_dense", batch_size=32)  # the cheapest model to measure


@pytest.fixture
def measuring(monkeypatch):
    """The benchmark switched on (tests run with DRAW_CLASSIFY_TUNE=0), and kept short."""
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "1")
    monkeypatch.setattr(tuning, "TRIAL_SECONDS", 0.05)


CPUINFO = """processor\t: {n}
vendor_id\t: AuthenticAMD
cpu family\t: {family}
model\t\t: {model}
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx fma avx2
"""


def test_two_generations_under_one_cpu_name_keep_their_speeds_apart(tmp_path):
    """A cloud VM said "AMD EPYC" on a Zen 1 (family 23) and on a Zen 3 (family 25), half as
    fast: the speeds cached under the name alone would have told one the other's times."""
    def described(family: int, model: int) -> dict:
        path = tmp_path / f"cpuinfo-{family}-{model}"
        path.write_text("".join(CPUINFO.format(n=n, family=family, model=model) for n in (0, 1)))
        return cpu_info(str(path))

    zen1, zen3 = described(23, 1), described(25, 1)
    assert zen1["model"] == "AMD EPYC (family 23 model 1)" and zen1["avx2"]
    assert zen3["model"] == "AMD EPYC (family 25 model 1)"
    arm = tmp_path / "cpuinfo-arm"  # no family numbers: the name as it is
    arm.write_text("processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\n")
    assert cpu_info(str(arm))["model"] == "ARMv8 Processor rev 1 (v8l)"


def refuse(wanted, progress):
    raise AssertionError("measured again")


def fake_trials(*settings):
    def measure(wanted, progress):
        return [Trial(p, j, s, v) for p, j, s, v in settings]
    return measure


# ----------------------------------------------------------------------------- no TensorFlow
def test_the_fastest_trial_wins_but_bfloat16_must_be_clearly_faster():
    plain = Trial("float32", False, 1, 1000.0)
    assert tuning.best_trial([plain, Trial("bfloat16", False, 1, 1100.0)]) == plain
    fast = Trial("bfloat16", False, 1, 2000.0)
    assert tuning.best_trial([plain, fast]) == fast
    assert tuning.best_trial([plain, Trial("float32", True, 4, 1200.0)]).jit_compile
    assert tuning.best_trial([]) is None


def test_threads_default_unless_another_choice_is_clearly_faster():
    assert tuning.pick_threads({(0, 0): 1000.0, (2, 1): 1010.0}) == (0, 0)
    assert tuning.pick_threads({(0, 0): 1000.0, (2, 1): 1200.0}) == (2, 1)
    assert tuning.pick_threads({(0, 0): 0.0, (2, 1): 0.0}) == (0, 0)  # both children failed
    candidates = tuning.thread_candidates()
    assert candidates[0] == (0, 0) and len(set(candidates)) == len(candidates)


@pytest.mark.parametrize("content", ["not json", "[]", '{"version": 99, "machines": {}}',
                                     '{"version": 1, "machines": {"k": {"models": {"a/1": '
                                     '{"trials": [{"precision": 3}, "x", {}]}}, "threads": '
                                     '{"intra": "many"}}}}'])
def test_a_damaged_cache_reads_as_empty_and_never_raises(private_home, content):
    path = speed_cache.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    machine = tuning.cached_machine("k")
    assert tuning.cached_trials(machine, "a", 1) == []
    assert tuning.cached_threads(machine) == (0, 0)


def test_the_speed_reads_as_words():
    text = Speed("float32", False, 4, intra_threads=2, source="cached").describe()
    assert text == "float32, XLA off, 4 batches per call, 2 threads (measured on this CPU)"


def test_given_threads_are_used_and_the_cached_choice_otherwise(private_home, monkeypatch):
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "1")
    assert tuning.thread_choice(TrainingConfig(threads=3)) == (3, 0)
    assert tuning.thread_choice(TrainingConfig()) == (0, 0)  # nothing measured yet
    assert tuning.save_threads((2, 1), {(0, 0): 900.0, (2, 1): 1000.0}) == ""
    assert tuning.thread_choice(TrainingConfig()) == (2, 1)
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "0")
    assert tuning.thread_choice(TrainingConfig()) == (0, 0)


def test_onednn_is_on_where_avx2_unless_measured_otherwise(private_home, monkeypatch):
    """TensorFlow leaves oneDNN off on an AVX2-only CPU (0.6-0.8x the speed here); the
    measured choice (``tune``) wins over that guess, and a damaged one is ignored."""
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "1")
    monkeypatch.setattr(tuning, "cpu_info", lambda: {"avx2": True})
    assert tuning.onednn_choice() is True  # nothing measured yet: on with AVX2
    assert tuning.save_onednn(False, {True: 900.0, False: 1000.0}) == ""
    assert tuning.onednn_choice() is False  # measured: reused
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "0")
    assert tuning.onednn_choice() is True  # switched off: the guess, not the cache
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "1")
    for stored in ("yes", 1, None, ["on"]):  # wrong-typed: as if never measured
        assert tuning.save_onednn(stored, {}) == ""
        assert tuning.onednn_choice() is True
    monkeypatch.setattr(tuning, "cpu_info", lambda: {"avx2": False})
    assert tuning.onednn_choice() is None  # no AVX2: TensorFlow's own default
    assert tuning.pick_onednn({True: 1000.0, False: 1020.0}) is True   # a tie: on
    assert tuning.pick_onednn({True: 1000.0, False: 1100.0}) is False
    assert tuning.pick_onednn({True: 0.0, False: 0.0}) is True  # both children failed


def test_onednn_is_set_before_tensorflow_loads_and_the_users_setting_wins(monkeypatch):
    monkeypatch.delenv(tuning.ONEDNN_ENV_VAR, raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert tuning.apply_onednn(False) == "" and os.environ[tuning.ONEDNN_ENV_VAR] == "0"
    assert tuning.apply_onednn(True) == "" and os.environ[tuning.ONEDNN_ENV_VAR] == "0"  # kept
    monkeypatch.delenv(tuning.ONEDNN_ENV_VAR)
    monkeypatch.setitem(sys.modules, "tensorflow", object())  # loaded: too late to switch
    assert "already loaded" in tuning.apply_onednn(True)
    assert tuning.ONEDNN_ENV_VAR not in os.environ
    assert tuning.apply_onednn(None) == ""  # no choice: TensorFlow's default


@pytest.mark.slow
def test_a_training_child_runs_the_chosen_kernels_and_the_environment_overrides(
        tiny_data, private_home, tmp_path, monkeypatch):
    """What the window's child trains with: the cached choice, unless TF_ENABLE_ONEDNN_OPTS is
    set (TensorFlow's own switch: the user's override); train_begin says which."""
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "1")

    def kernels(**env) -> bool:
        environment = {k: v for k, v in os.environ.items() if k != tuning.ONEDNN_ENV_VAR}
        done = subprocess.run(
            [sys.executable, "-m", "training", "train", "--data-dir", str(tiny_data),
             "--architecture", "lecture_dense", "--epochs", "1", "--precision", "float32",
             "--jit-compile", "off", "--steps-per-execution", "1", "--no-ood",
             "--progress", "json", "--out", str(tmp_path / "m.keras")],
            capture_output=True, text=True, timeout=300, env={**environment, **env})
        assert done.returncode == 0, done.stderr[-2000:]
        begin = next(m for m in map(decode, done.stdout.splitlines()) if isinstance(m, TrainBegin))
        return begin.speed["onednn"]

    for measured in (False, True):  # either way, whatever TensorFlow's default on this CPU
        assert tuning.save_onednn(measured, {}) == ""
        assert kernels() is measured
    assert kernels(**{tuning.ONEDNN_ENV_VAR: "0"}) is False  # the user's setting wins


# ----------------------------------------------------------------------------- measured
@pytest.mark.slow
def test_a_first_run_measures_and_caches_and_the_next_reuses_it(private_home, measuring):
    events = []
    config = TrainingConfig(**DENSE)
    first = tuning.choose(config, progress=events.append)
    assert first.source == "measured" and first.images_per_second > 0
    assert [e["event"] for e in events] == ["tuning"]
    cache = json.loads(speed_cache.cache_path().read_text())
    (key, machine), = cache["machines"].items()
    assert cpu_key() in key and "TensorFlow " in key
    trials = machine["models"]["lecture_dense/32"]["trials"]
    assert len(trials) >= 3  # a search, not a guess
    assert all(trial["start_seconds"] > 0 for trial in trials)  # tracing: for the estimate

    again = tuning.choose(config, measure=refuse)
    assert again.source == "cached"
    assert (again.precision, again.jit_compile, again.steps_per_execution) == (
        first.precision, first.jit_compile, first.steps_per_execution)
    # a given setting narrows the choice to the trials that match it, still without measuring
    fixed_jit = tuning.choose(TrainingConfig(**DENSE, jit_compile="off"), measure=refuse)
    assert fixed_jit.jit_compile is False and fixed_jit.source == "cached"


@pytest.mark.slow
def test_every_setting_given_is_used_as_given_without_measuring(private_home, measuring):
    config = TrainingConfig(**DENSE, precision="bfloat16", jit_compile="on",
                            steps_per_execution=3)
    speed = tuning.choose(config, measure=refuse)
    assert (speed.precision, speed.jit_compile, speed.steps_per_execution, speed.source) == (
        "bfloat16", True, 3, "given")
    assert not speed_cache.cache_path().exists()


@pytest.mark.slow
def test_a_benchmark_that_cannot_run_falls_back_to_float32_and_caches_nothing(
        private_home, measuring):
    def broken(wanted, progress):
        raise RuntimeError("out of memory")

    speed = tuning.choose(TrainingConfig(**DENSE, precision="auto"), measure=broken)
    assert speed.precision == "float32" and speed.source == "fallback"
    assert "out of memory" in speed.note
    assert speed.steps_per_execution >= 1
    assert not speed_cache.cache_path().exists()


@pytest.mark.slow
def test_switched_off_it_never_measures(private_home, monkeypatch):
    monkeypatch.setenv(tuning.TUNE_ENV_VAR, "0")
    speed = tuning.choose(TrainingConfig(**DENSE), measure=refuse)
    assert speed.source == "fallback" and speed.precision == "float32"


@pytest.mark.slow
def test_another_tensorflow_or_a_damaged_cache_measures_again(private_home, measuring,
                                                             monkeypatch):
    config = TrainingConfig(**DENSE)
    measure = fake_trials(("float32", True, 128, 5000.0), ("float32", False, 128, 3000.0),
                          ("float32", True, 32, 4000.0), ("bfloat16", True, 128, 9000.0))
    assert tuning.choose(config, measure=measure).source == "measured"
    chosen = tuning.choose(config, measure=refuse)
    assert (chosen.precision, chosen.jit_compile) == ("bfloat16", True)  # 1.8x: worth it

    with monkeypatch.context() as patched:
        patched.setattr(tuning, "machine_key", lambda: "the same CPU | TensorFlow 9.9")
        assert tuning.choose(config, measure=measure).source == "measured"
    assert tuning.choose(config, measure=refuse).source == "cached"  # both kept

    speed_cache.cache_path().write_text("{broken")
    assert tuning.choose(config, measure=measure).source == "measured"
    assert json.loads(speed_cache.cache_path().read_text())["version"] == speed_cache.CACHE_VERSION


@pytest.mark.slow
def test_a_cache_that_cannot_be_written_costs_a_warning_not_the_run(private_home, measuring):
    private_home.mkdir(parents=True)
    (private_home / "cache").write_text("a file where the folder should be")
    events = []
    measure = fake_trials(("float32", True, 128, 5000.0), ("float32", False, 128, 3000.0))
    speed = tuning.choose(TrainingConfig(**DENSE), progress=events.append, measure=measure)
    assert speed.source == "measured" and speed.jit_compile is True
    assert any(e["event"] == "warning" and "next run" in e["message"] for e in events)


@pytest.mark.slow
def test_training_reports_the_settings_it_measured_then_reuses_them(tiny_data, measuring,
                                                                     tmp_path):
    def run(out):
        result = run_main("train", "--dataset", "mnist", "--data-dir", str(tiny_data),
                          "--architecture", "lecture_dense", "--batch-size", "32",
                          "--epochs", "1", "--no-ood", "--progress", "json",
                          "--out", str(tmp_path / out))
        assert result.returncode == 0, result.stderr
        return [m for m in map(decode, result.stdout.splitlines()) if m is not None]

    first = run("a.keras")
    begin = next(m for m in first if isinstance(m, TrainBegin))
    assert any(isinstance(m, Tuning) for m in first)
    assert begin.speed["source"] == "measured"
    assert begin.steps_per_execution == begin.speed["steps_per_execution"]
    # What the whole run trained at is kept too: the panel's estimate of the next run's time
    fit = next(iter(tuning.cached_machine(tuning.machine_key())["models"].values()))["fit"]
    assert fit[begin.speed["precision"]]["pictures"] == begin.train_samples  # one epoch
    guess = estimate("lecture_dense", 32, "auto", False, begin.train_samples)
    assert guess.basis == "run" and guess.seconds == pytest.approx(
        fit[begin.speed["precision"]]["seconds"], rel=0.01)
    second = run("b.keras")
    assert not any(isinstance(m, Tuning) for m in second)
    assert next(m for m in second if isinstance(m, TrainBegin)).speed["source"] == "cached"


@pytest.mark.slow
def test_the_tune_command_measures_a_model_and_keeps_it(private_home, measuring):
    result = run_main("tune", "--architecture", "lecture_dense", "--batch-size", "32",
                      "--threads", "0,0", "--json")
    assert result.returncode == 0, result.stderr
    message = decode(result.stdout.splitlines()[-1])
    assert isinstance(message, TuneResult)
    (model,) = message.models
    assert model["speed"]["source"] == "measured" and len(model["trials"]) >= 3
    assert "lecture_dense/32" in json.dumps(json.loads(speed_cache.cache_path().read_text()))
    assert tuning.choose(TrainingConfig(**DENSE), measure=refuse).source == "cached"


def test_a_wrong_thread_pair_is_refused_with_a_clear_line(capsys):
    from training.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--threads", "two"])
    assert exit_info.value.code == 2
    assert "expected two counts" in capsys.readouterr().err


def test_wanted_reads_what_the_config_leaves_automatic():
    wanted = Wanted.from_config(TrainingConfig(**DENSE))
    assert (wanted.precision, wanted.jit_compile, wanted.steps_per_execution) == (None,) * 3
    given = Wanted.from_config(TrainingConfig(**DENSE, precision="float32", jit_compile="on",
                                              steps_per_execution=2))
    assert given.fixed() and given.allows(Trial("float32", True, 2, 1.0))
    assert not given.allows(Trial("float32", False, 2, 1.0))
