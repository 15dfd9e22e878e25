"""LatestJob: one worker thread, only the newest request computed and delivered, a pace, and
an end with the window (it replaced jobs/throttle.py and the hand-made coalescing)."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt
from conftest import TIMEOUT, line, open_window, stroke

from desktop_app.jobs.latest import LatestJob, Pace
from desktop_app.jobs.registry import JobRegistry
from desktop_app.jobs.threads import running_threads


class Work:
    """compute(): records each request; those in ``hold`` wait until released."""

    def __init__(self, hold=()):
        self.computed: list = []
        self.started: list[float] = []
        self.hold = set(hold)
        self.release = threading.Event()

    def __call__(self, request):
        self.started.append(time.perf_counter())
        self.computed.append(request)
        if request in self.hold:
            assert self.release.wait(TIMEOUT / 1000)
        return f"result of {request}"


@pytest.fixture
def make_job(qtbot):
    registry = JobRegistry()
    made = []

    def make(work, **kwargs):
        job = LatestJob("test-job", work, registry, **kwargs)
        made.append(job)
        return job

    yield make
    assert registry.close_all(5.0)
    assert registry.running() == []


def test_a_cancelled_result_is_never_delivered_and_answers_keep_their_order(qtbot, make_job):
    work = Work(hold={"old"})
    job = make_job(work)
    delivered = []
    job.done.connect(delivered.append)
    job.submit("old")
    qtbot.waitUntil(lambda: work.computed == ["old"], timeout=TIMEOUT)
    job.submit("new")        # while "old" is computed: "old" is still the newest answer
    work.release.set()       # (a fast stroke shows answers as it goes), then "new" follows
    qtbot.waitUntil(lambda: delivered == ["result of old", "result of new"], timeout=TIMEOUT)
    job.submit("cancelled")
    job.cancel()             # pending, then cancelled: never computed, never delivered
    work.hold.add("late")
    work.release.clear()
    job.submit("late")
    qtbot.waitUntil(lambda: work.computed[-1] == "late", timeout=TIMEOUT)
    job.cancel()             # in flight, then cancelled: computed, never delivered
    work.release.set()
    qtbot.waitUntil(lambda: not job.is_busy(), timeout=TIMEOUT)
    assert work.computed == ["old", "new", "late"]
    assert delivered == ["result of old", "result of new"]


def test_while_busy_only_the_newest_request_waits(qtbot, make_job):
    work = Work(hold={0})
    job = make_job(work)
    delivered = []
    job.done.connect(delivered.append)
    job.submit(0)
    qtbot.waitUntil(lambda: work.computed == [0], timeout=TIMEOUT)
    for request in range(1, 50):  # a whole stroke while one is computed
        job.submit(request)
    work.release.set()
    qtbot.waitUntil(lambda: delivered == ["result of 0", "result of 49"], timeout=TIMEOUT)
    assert work.computed == [0, 49]  # the middle ones were never computed


def test_keys_do_not_supersede_one_another(qtbot, make_job):
    work = Work()
    job = make_job(work)
    delivered = []
    job.done.connect(delivered.append)
    job.submit("chart 1", key=1)
    job.submit("chart 2", key=2)
    job.submit("chart 1 again", key=1)
    qtbot.waitUntil(lambda: len(delivered) == 2, timeout=TIMEOUT)
    assert sorted(delivered) == ["result of chart 1 again", "result of chart 2"]


def test_a_request_made_when_its_turn_comes_reads_the_newest_state(qtbot, make_job):
    work = Work()
    job = make_job(work)
    state = {"value": None}
    job.submit(lambda: state["value"])   # None: nothing to compute
    qtbot.wait(50)
    state["value"] = "drawing"
    job.submit(lambda: state["value"])
    state["value"] = "newer drawing"     # before its turn: the newer state is computed
    qtbot.waitUntil(lambda: work.computed == ["newer drawing"], timeout=TIMEOUT)


def test_stop_and_wait_end_the_thread(qtbot):
    registry = JobRegistry()
    job = LatestJob("stopping-job", Work(), registry)
    delivered = []
    job.done.connect(delivered.append)
    job.submit("one")
    qtbot.waitUntil(lambda: delivered == ["result of one"], timeout=TIMEOUT)
    assert job.is_running() and registry.running() == ["stopping-job"]
    job.stop()
    assert job.wait(5.0)
    assert not job.is_running() and registry.running() == []
    assert "stopping-job" not in running_threads()
    job.submit("after the end")  # ignored: no thread starts again
    qtbot.wait(30)
    assert not job.is_running()


def test_a_worker_is_deleted_on_the_gui_thread_after_its_thread_ends(qtbot):
    """Deleted in its own thread, a worker's destructor waits for the GIL while holding Qt's
    connection lock, and a GUI thread connecting a signal then waits for that lock with the
    GIL held: the window froze while opening (seen in the suite). So it is deleted here."""
    from PySide6.QtCore import QObject
    from shiboken6 import isValid

    from desktop_app.jobs.threads import start_worker, stop_thread

    worker = QObject()
    deleted_in = []
    worker.destroyed.connect(lambda: deleted_in.append(threading.current_thread()),
                             Qt.ConnectionType.DirectConnection)
    thread = start_worker(worker, "deleting-job")
    assert worker.thread() is thread
    assert stop_thread(thread, 5000)
    qtbot.waitUntil(lambda: bool(deleted_in), timeout=TIMEOUT)
    assert deleted_in == [threading.main_thread()] and not isValid(worker)


def test_starts_are_at_least_the_interval_apart(qtbot, make_job):
    work = Work()
    job = make_job(work, pace=Pace(interval_s=0.08))
    job.submit(1)
    qtbot.waitUntil(lambda: len(work.started) == 1, timeout=TIMEOUT)
    job.submit(2)
    qtbot.waitUntil(lambda: len(work.started) == 2, timeout=TIMEOUT)
    assert work.started[1] - work.started[0] >= 0.075


def test_rest_waits_until_the_requests_pause(qtbot, make_job):
    work = Work()
    job = make_job(work, pace=Pace(rest_s=0.1))
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:  # a request every 20 ms: the pen still moving
        job.submit("moving")
        last = time.perf_counter()
        qtbot.wait(20)
        assert not work.computed
    qtbot.waitUntil(lambda: len(work.computed) == 1, timeout=TIMEOUT)
    assert work.started[0] - last >= 0.095


@pytest.mark.parametrize("cancel", [False, True])
def test_paused_requests_wait_for_the_resume_and_cancel_drops_them(qtbot, make_job, cancel):
    work = Work()
    job = make_job(work)
    job.set_paused(True)
    job.submit("hidden")
    qtbot.wait(50)
    assert not work.computed and job.is_busy()
    if cancel:
        job.cancel()
    job.set_paused(False)
    qtbot.wait(50)
    assert work.computed == ([] if cancel else ["hidden"])


def test_a_heavy_computation_is_given_at_most_its_share_of_a_core(qtbot, make_job):
    """After d seconds of work the next start waits d * (1 / share - 1): 60 ms at a 40 %
    share -> 90 ms of rest."""
    def heavy(request):
        time.sleep(0.06)
        return request

    starts = []
    job = make_job(lambda r: starts.append(time.perf_counter()) or heavy(r),
                   pace=Pace(max_share=0.4))
    job.submit(1)
    qtbot.waitUntil(lambda: len(starts) == 1, timeout=TIMEOUT)
    job.submit(2)
    qtbot.waitUntil(lambda: len(starts) == 2, timeout=TIMEOUT)
    assert starts[1] - starts[0] >= 0.06 + 0.09 - 0.005


def test_closing_the_window_mid_prediction_leaves_no_job_running(qtbot, app_settings):
    win = open_window(qtbot, app_settings)
    win.saliency_action.setChecked(True)
    stroke(qtbot, win.canvas, line((196, 60), (190, 330)))
    qtbot.waitUntil(lambda: win.jobs.running() != [], timeout=TIMEOUT)
    stroke(qtbot, win.canvas, line((100, 200), (300, 200)))  # and close while it computes
    assert win.close()
    assert win.jobs.running() == []
    assert running_threads() == []
