"""The speeds measured on this CPU and the training time the panel predicts from them (issue #22):
a whole run's own speed first, the speed test's otherwise, nothing when neither was measured;
every damaged value read as missing. No TensorFlow."""

from __future__ import annotations

import json
import math

import pytest

from desktop_app.texts import estimate_text
from training.cli.tune_command import say_preset_times
from training.core import speed_cache
from training.core.speed_cache import (
    Trial,
    estimate,
    record_fit,
    record_trials,
    save_to_cache,
    spoken_duration,
)

WIDE = ("wide_cnn", 128)


def keep(*updates) -> None:
    for update in updates:
        assert save_to_cache(speed_cache.machine_key(), update) == ""


def trials(*speeds):
    return [Trial(precision, False, steps, speed) for precision, steps, speed in speeds]


def test_nothing_measured_means_no_estimate(private_home):
    assert estimate(*WIDE, "auto", False, 513_000) is None
    assert "not measured yet" in estimate_text(None, 9)


def test_the_speed_tests_best_candidate_gives_the_time(private_home):
    keep(record_trials(*WIDE, trials(("float32", 4, 1900.0), ("float32", 16, 1500.0))))
    guess = estimate(*WIDE, "auto", False, 57_000 * 9)
    assert guess.basis == "benchmark" and guess.images_per_second == 1900.0
    assert guess.seconds == pytest.approx(57_000 * 9 / 1900)  # 270 s
    assert estimate(*WIDE, "auto", False, 57_000 * 18).seconds == pytest.approx(2 * guess.seconds)
    assert estimate("wide_cnn", 64, "auto", False, 57_000) is None  # another batch: not measured
    text = estimate_text(guess, 9)
    assert text.startswith("About 4 min 30 s of training on this CPU: 9 epochs at 1,900")
    assert "speed test" in text


@pytest.mark.parametrize("damaged", ["slow", -1, None, [2], math.nan, math.inf])
def test_a_first_run_is_foretold_with_its_start_up(private_home, damaged):
    """A run traces its training step and its validation before the pictures flow: 1.5x the
    start-up the speed test's first call showed, then the pictures at the test's speed. A
    damaged start-up reads as none: the speed still counts."""
    keep(record_trials(*WIDE, [Trial("float32", False, 4, 2000.0, start_seconds=4.0)]))
    guess = estimate(*WIDE, "auto", False, 100_000)
    assert guess.basis == "benchmark" and guess.seconds == pytest.approx(6.0 + 50.0)
    assert guess.images_per_second == pytest.approx(100_000 / 56.0)  # the run's, start-up in
    cache = json.loads(speed_cache.cache_path().read_text())
    (machine,) = cache["machines"].values()
    machine["models"]["wide_cnn/128"]["trials"][0]["start_seconds"] = damaged
    speed_cache.cache_path().write_text(json.dumps(cache))
    assert estimate(*WIDE, "auto", False, 100_000).seconds == pytest.approx(50.0)


def test_a_whole_runs_speed_wins_over_the_speed_test_and_survives_new_trials(private_home):
    keep(record_trials(*WIDE, trials(("float32", 4, 1900.0))),
         record_fit(*WIDE, "float32", False, pictures=513_000, seconds=300.0))
    keep(record_trials(*WIDE, trials(("float32", 16, 2000.0))))  # the speed test runs again
    guess = estimate(*WIDE, "auto", False, 513_000)
    assert guess.basis == "run" and guess.seconds == pytest.approx(300.0)
    assert "as its last run here" in estimate_text(guess, 9)
    # With augmentation it trains at another speed: the run without says nothing about it
    assert estimate(*WIDE, "auto", True, 513_000).basis == "benchmark"
    keep(record_trials(*WIDE, trials(("float32", 4, 1900.0)), replace_all=True))
    assert estimate(*WIDE, "auto", False, 513_000).basis == "run"  # tune's full re-measure too


def test_automatic_precision_is_the_one_the_speed_test_chose(private_home):
    keep(record_trials(*WIDE, trials(("float32", 4, 1000.0), ("bfloat16", 4, 2200.0))),
         record_fit(*WIDE, "float32", False, pictures=100_000, seconds=200.0))
    assert estimate(*WIDE, "auto", False, 220_000).images_per_second == 2200.0  # bfloat16: 2.2x
    assert estimate(*WIDE, "float32", False, 220_000).images_per_second == 500.0  # its run
    keep(record_fit(*WIDE, "bfloat16", False, pictures=100_000, seconds=100.0))
    assert estimate(*WIDE, "auto", False, 220_000).seconds == pytest.approx(220.0)


@pytest.mark.parametrize("damaged", ["fast", -5, 0, None, [1000], {"x": 1}, math.nan, math.inf])
def test_a_damaged_speed_reads_as_not_measured(private_home, damaged):
    keep(record_trials(*WIDE, trials(("float32", 4, 1900.0))),
         record_fit(*WIDE, "float32", False, pictures=513_000, seconds=300.0))
    cache = json.loads(speed_cache.cache_path().read_text())
    (machine,) = cache["machines"].values()
    machine["models"]["wide_cnn/128"]["fit"]["float32"]["images_per_second"] = damaged
    speed_cache.cache_path().write_text(json.dumps(cache))
    assert estimate(*WIDE, "auto", False, 513_000).basis == "benchmark"
    machine["models"]["wide_cnn/128"]["trials"][0]["images_per_second"] = damaged
    speed_cache.cache_path().write_text(json.dumps(cache))
    assert estimate(*WIDE, "auto", False, 513_000) is None


@pytest.mark.parametrize("content", [
    "{broken", "[]", {"version": 1, "machines": []}, {"models": [1]}, {"models": "x"},
    {"models": {"wide_cnn/128": "x"}}, {"models": {"wide_cnn/128": {"fit": [1], "trials": 3}}},
    {"models": {"wide_cnn/128": {"fit": {"float32": "fast"}}}}])
def test_a_damaged_cache_is_no_estimate_and_the_next_record_repairs_it(private_home, content):
    if isinstance(content, dict) and "version" not in content:  # one machine's entry damaged
        content = {"version": speed_cache.CACHE_VERSION,
                   "machines": {speed_cache.machine_key(): content}}
    speed_cache.cache_path().parent.mkdir(parents=True)
    speed_cache.cache_path().write_text(content if isinstance(content, str)
                                        else json.dumps(content))
    assert estimate(*WIDE, "auto", False, 513_000) is None
    keep(record_fit(*WIDE, "float32", False, pictures=513_000, seconds=300.0))
    assert estimate(*WIDE, "auto", False, 513_000).seconds == pytest.approx(300.0)


def test_speeds_kept_before_a_model_changed_its_cost_are_not_trusted(private_home):
    """Version 2: strided_cnn and mid_cnn train ~20 % faster (a frozen first convolution), so
    what version 1 kept would say their runs take longer than they do."""
    keep(record_fit(*WIDE, "float32", False, pictures=513_000, seconds=300.0))
    cache = json.loads(speed_cache.cache_path().read_text())
    assert estimate(*WIDE, "auto", False, 513_000) is not None
    speed_cache.cache_path().write_text(json.dumps(dict(cache, version=1)))
    assert estimate(*WIDE, "auto", False, 513_000) is None


def test_times_are_said_as_precisely_as_an_estimate_deserves():
    assert [spoken_duration(s) for s in (0.2, 42, 60, 61, 290, 599, 601, 3599, 4320)] == [
        "1 s", "42 s", "1 min", "1 min", "4 min 50 s", "9 min 50 s", "10 min", "1 h",
        "1 h 12 min"]


def test_tune_ends_with_each_presets_time_here(private_home):
    keep(record_trials("wide_cnn", 128, trials(("float32", 4, 1900.0))),
         record_trials("mid_cnn", 128, trials(("float32", 4, 1900.0))),
         record_fit("compact_cnn", 128, "float32", False, pictures=114_000, seconds=40.0))
    said = []
    say_preset_times(said.append)
    assert "  Quick, MNIST: about 40 s" in said  # 2 epochs of 57,000, as its last run
    assert "  Thorough, MNIST: about 2 min" in said  # wide_cnn: 4 of 57,000 at 1,900 a second
    assert "  Thorough, Fashion-MNIST: about 3 min" in said  # mid_cnn: 6 of 57,000
    assert "  Best, MNIST: not measured" in said


def test_a_record_that_cannot_be_written_says_why_and_raises_nothing(private_home):
    private_home.mkdir(parents=True)
    (private_home / "cache").write_text("a file where the folder should be")
    note = save_to_cache(speed_cache.machine_key(), record_fit(
        *WIDE, "float32", False, pictures=513_000, seconds=300.0))
    assert "could not be kept" in note
    assert estimate(*WIDE, "auto", False, 513_000) is None
