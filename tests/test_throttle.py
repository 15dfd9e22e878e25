"""Throttle: one computation in flight, only the newest waits, a minimum interval between
starts, an optional rest after the last change, and a pause (a hidden view)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer

from desktop_app.jobs.throttle import Throttle


def timers_have_run(qtbot, ms: int = 30) -> None:
    """Every timer due within ``ms`` has fired, however slow the machine: a timer set now for
    well after them fires after them (Qt fires due timers in order)."""
    fired = []
    QTimer.singleShot(2 * ms, lambda: fired.append(True))
    qtbot.waitUntil(lambda: bool(fired), timeout=10_000)


class Recorder:
    def __init__(self, in_flight: bool = True):
        self.starts: list[float] = []
        self.in_flight = in_flight

    def __call__(self) -> bool:
        self.starts.append(time.perf_counter())
        return self.in_flight


def test_one_in_flight_and_only_the_newest_waits(qtbot):
    start = Recorder()
    throttle = Throttle(start)
    throttle.request()
    for _ in range(5):  # changes while the first computes: one start follows, not five
        throttle.request()
    timers_have_run(qtbot)
    assert len(start.starts) == 1 and throttle.in_flight and throttle.pending
    throttle.finished()
    timers_have_run(qtbot)
    assert len(start.starts) == 2 and not throttle.pending
    throttle.finished()
    timers_have_run(qtbot)
    assert len(start.starts) == 2 and not throttle.in_flight


def test_a_start_that_sent_nothing_is_not_in_flight(qtbot):
    start = Recorder(in_flight=False)
    throttle = Throttle(start)
    throttle.request()
    throttle.request()
    assert len(start.starts) == 2 and not throttle.in_flight


def test_starts_are_at_least_the_interval_apart(qtbot):
    start = Recorder(in_flight=False)
    throttle = Throttle(start, interval_s=0.08)
    throttle.request()
    throttle.request()  # too soon: deferred to the interval's end
    assert len(start.starts) == 1
    qtbot.waitUntil(lambda: len(start.starts) == 2, timeout=2000)
    assert start.starts[1] - start.starts[0] >= 0.075


def test_rest_waits_until_the_changes_pause(qtbot):
    start = Recorder(in_flight=False)
    throttle = Throttle(start, rest_s=0.1)
    last = time.perf_counter()
    end = last + 0.3
    while time.perf_counter() < end:  # a change every 20 ms: the pen still moving
        throttle.request()
        last = time.perf_counter()
        qtbot.wait(20)
        assert not start.starts
    qtbot.waitUntil(lambda: len(start.starts) == 1, timeout=2000)
    assert start.starts[0] - last >= 0.095


@pytest.mark.parametrize("cancel", [False, True])
def test_paused_changes_wait_for_the_resume_and_cancel_drops_them(qtbot, cancel):
    start = Recorder(in_flight=False)
    throttle = Throttle(start)
    throttle.set_paused(True)
    throttle.request()
    timers_have_run(qtbot)
    assert not start.starts and throttle.pending
    if cancel:
        throttle.cancel()
    throttle.set_paused(False)
    assert len(start.starts) == (0 if cancel else 1)


def test_a_heavy_computation_is_given_at_most_its_share_of_a_core(qtbot):
    """After a computation of d seconds the next waits d * (1 / share - 1): 60 ms of work at a
    40 % share -> 90 ms before the next start; light work keeps the interval."""
    start = Recorder()
    throttle = Throttle(start, interval_s=0.01, max_share=0.4)
    throttle.request()
    qtbot.wait(60)  # the computation takes 60 ms
    throttle.request()
    throttle.finished()
    assert len(start.starts) == 1 and throttle.pending  # still resting: 90 ms after the end
    qtbot.waitUntil(lambda: len(start.starts) == 2, timeout=1000)
    assert start.starts[1] - start.starts[0] >= 0.06 + 0.09 - 0.005
    throttle.finished()  # an instant computation: the interval alone counts again
    throttle.request()
    qtbot.waitUntil(lambda: len(start.starts) == 3, timeout=1000)
    assert start.starts[2] - start.starts[1] < 0.2
