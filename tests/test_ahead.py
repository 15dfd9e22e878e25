"""training.core.ahead: work on a file done ahead in another thread is handed over once, and
only for the same file unchanged."""

import os
import threading

import pytest

from training.core import ahead


@pytest.fixture(autouse=True)
def _ahead_open():
    ahead.begin()
    yield
    ahead.end()


def test_a_result_computed_ahead_is_taken_once_for_the_same_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x" * 100)
    calls = []

    def compute(p):
        calls.append(threading.current_thread().name)
        return object()

    worker = threading.Thread(target=ahead.compute_ahead, args=("test", path, compute),
                              name="ahead")
    worker.start()
    worker.join()
    first = ahead.take("test", path, compute)
    assert calls == ["ahead"]                    # taken, not computed again
    second = ahead.take("test", path, compute)   # once only: computed here now
    assert calls == ["ahead", "MainThread"] and second is not first


def test_a_file_changed_since_is_computed_again(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    ahead.compute_ahead("test", path, lambda p: p.read_bytes())
    path.write_bytes(b"newer")
    os.utime(path, ns=(1, 1))
    assert ahead.take("test", path, lambda p: p.read_bytes()) == b"newer"


def test_work_wanted_before_it_began_is_not_done_ahead(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    assert ahead.take("test", path, lambda p: 1) == 1
    assert ahead.compute_ahead("test", path, lambda p: 2) is None  # too late: skipped
    assert ahead.take("test", path, lambda p: 3) == 3


def test_a_failure_ahead_is_met_again_by_the_taker(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")

    def broken(p):
        raise ValueError("damaged")

    assert ahead.compute_ahead("test", path, broken) is None
    try:
        ahead.take("test", path, broken)
    except ValueError as exc:
        assert "damaged" in str(exc)
    else:
        raise AssertionError("the error was swallowed")


def test_nothing_is_done_ahead_outside_begin_and_end(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    ahead.end()
    assert ahead.compute_ahead("test", path, lambda p: 2) is None
    assert ahead.take("test", path, lambda p: 3) == 3
