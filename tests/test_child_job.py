"""desktop_app/jobs/child.py: a `python -m training` child driven by QProcess. Where the job's
side is the subject (typed messages, a kill, the registry's close) the child is the recorded one
(tests/recorded_child.py: the real CLI replaying a real run); the stop within a batch is the
training child's own, so that test runs it for real."""

import os
import signal
from pathlib import Path

import pytest

from desktop_app.jobs.child import ChildJob
from desktop_app.jobs.registry import JobRegistry
from training.protocol import messages as m

pytestmark = pytest.mark.slow  # a TensorFlow child, or the recording of one

TIMEOUT = 300_000  # ms: TensorFlow children start slowly on a busy machine


def train_job(tiny_data, tmp_path, *extra, epochs=1):
    return ChildJob("train", ["--data-dir", tiny_data, "--architecture", "lecture_dense",
                              "--epochs", epochs, "--out", tmp_path / "m.keras",
                              "--no-ood", "--progress", "json", *extra])


def record(job):
    seen = {"messages": [], "finished": [], "failed": [], "ended": 0}
    job.message.connect(seen["messages"].append)
    job.finished.connect(seen["finished"].append)
    job.failed.connect(seen["failed"].append)
    job.ended.connect(lambda: seen.__setitem__("ended", seen["ended"] + 1))
    return seen


def test_messages_arrive_typed(qtbot, tiny_data, tmp_path, recorded_children):
    job = train_job(tiny_data, tmp_path, "--batch-size", "32")
    seen = record(job)
    registry = JobRegistry()
    job.start(registry)
    assert registry.running() == ["training"]
    qtbot.waitUntil(lambda: seen["ended"], timeout=TIMEOUT)
    assert seen["failed"] == [] and seen["ended"] == 1
    assert all(isinstance(message, m.Message) for message in seen["messages"])
    kinds = [type(message) for message in seen["messages"]]
    assert m.TrainBegin in kinds and m.Batch in kinds and m.Saved in kinds
    result, = seen["finished"]
    assert type(result) is m.TrainResult and result.status == "finished"
    assert Path(result.path) == tmp_path / "m.keras" and Path(result.path).is_file()
    assert registry.running() == [] and not job.is_running()


def test_stop_ends_training_within_a_batch_and_still_saves(qtbot, tiny_data, tmp_path):
    job = train_job(tiny_data, tmp_path, "--batch-size", "4", "--steps-per-execution", "1",
                    epochs=200)
    seen = record(job)
    job.message.connect(lambda message: isinstance(message, m.Batch)
                        and not job.stop_requested() and job.request_stop())
    job.start()
    qtbot.waitUntil(lambda: seen["ended"], timeout=TIMEOUT)
    assert seen["failed"] == [], seen["failed"]
    result, = seen["finished"]
    assert result.status == "stopped" and result.epochs_completed <= 1
    saved = [message for message in seen["messages"] if isinstance(message, m.Saved)]
    assert len(saved) == 1 and Path(saved[0].path).is_file()
    batches = [message for message in seen["messages"] if isinstance(message, m.Batch)]
    assert batches[-1].epoch <= 2  # not the 200 epochs asked for


def test_a_child_killed_from_outside_is_a_message(qtbot, tiny_data, tmp_path, recorded_children):
    job = train_job(tiny_data, tmp_path, "--batch-size", "4", epochs=200)
    seen = record(job)
    job.start()
    qtbot.waitUntil(lambda: any(isinstance(x, m.Batch) for x in seen["messages"]),
                    timeout=TIMEOUT)
    os.kill(job.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: seen["ended"], timeout=TIMEOUT)
    assert seen["finished"] == []
    assert "killed by signal 9" in seen["failed"][0] and "unaffected" in seen["failed"][0]


def test_a_child_ending_without_a_result_says_why_from_its_stderr(qtbot, tmp_path):
    job = ChildJob("train", ["--epochs", "many", "--out", tmp_path / "m.keras"], "training")
    seen = record(job)
    job.start()
    qtbot.waitUntil(lambda: seen["ended"], timeout=TIMEOUT)
    failure, = seen["failed"]
    assert "exit status 2" in failure and "invalid int value: 'many'" in failure
    assert any("usage:" in line for line in job.stderr_tail)


def test_closing_the_registry_ends_the_child_with_nothing_left(qtbot, tiny_data, tmp_path,
                                                              recorded_children):
    registry = JobRegistry()
    job = train_job(tiny_data, tmp_path, "--batch-size", "4", epochs=200)
    seen = record(job)
    job.start(registry)
    qtbot.waitUntil(lambda: any(isinstance(x, m.Batch) for x in seen["messages"]),
                    timeout=TIMEOUT)
    pid = job.pid
    assert registry.close_all(1.0)
    assert registry.running() == [] and not job.is_running()
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped: not even a zombie
    assert seen["failed"] == ["The training was cancelled."] and seen["ended"] == 1
    assert not (tmp_path / "m.keras").exists()  # cut short while training: nothing saved
