"""LatestJob: in-process background work where only the newest request matters.

The one way the window computes something that keeps changing (the live probabilities, a
number, a saliency map, the layer view, the models side by side, a chart) off the GUI thread:

- one worker thread (``threads.WorkerThread``), started on the first request, ended by
  ``stop``; ``compute(request)`` runs there and returns a typed result;
- a generation token: a newer ``submit`` replaces the request of its key that still waits;
  the one in flight finishes and is delivered, since it is the newest answer there is until the
  newer one is ready (a fast stroke still shows answers as it goes), and an older result never
  follows a newer one; ``cancel`` makes the waiting and the in-flight ones stale: never
  delivered;
- one pace: at most one computation in flight, only the newest request of a key waits (a
  burst of changes costs one computation, never a backlog), and, optionally, a minimum
  interval between starts, a rest after the last change, and a maximum share of a core.

Results reach the GUI thread as ``done(result)``, queued; ``idle()`` follows a computation
after which nothing is in flight or waits. Keys let several kinds of requests share one thread
without superseding one another (e.g. one per chart, or a model load beside the
classification): a request only makes the older ones *of its key* stale.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from desktop_app.jobs.registry import JobRegistry
from desktop_app.jobs.threads import start_worker, stop_thread

log = logging.getLogger(__name__)

_NEVER = float("-inf")


@dataclass(frozen=True)
class Pace:
    """When the next computation may start (all optional)."""

    interval_s: float = 0.0   # at least this long between two starts of a key
    rest_s: float = 0.0       # ... and not before its requests have paused this long
    max_share: float = 1.0    # after d seconds of work, the key waits d * (1 / share - 1)


def made_in_thread(make: Callable[[], Callable[[Any], Any]],
                   before: Callable[[Any], None] | None = None) -> Callable[[Any], Any]:
    """A job's ``compute`` whose worker is made by ``make()`` in the job's thread, on the
    job's first request: the worker's imports (numpy, LiteRT, …) and set-up then never hold
    up the GUI thread, which makes the job before the window's first frame. ``before(request)``
    sees that first request before ``make()`` runs: it may start work that overlaps it."""
    compute = None

    def run(request: Any) -> Any:
        nonlocal compute
        if compute is None:
            if before is not None:
                before(request)
            compute = make()
        return compute(request)

    return run


@dataclass(frozen=True)
class _Run:
    key: Hashable
    generation: int
    request: Any


@dataclass(frozen=True)
class _Ran:
    key: Hashable
    generation: int
    result: Any
    failed: bool


class _Runner(QObject):
    """Lives in the worker thread: runs ``compute`` and sends the result back."""

    ran = Signal(object)   # _Ran

    def __init__(self, compute: Callable[[Any], Any], name: str):
        super().__init__()
        self._compute = compute
        self._name = name

    @Slot(object)
    def run(self, job: _Run) -> None:
        try:
            result, failed = self._compute(job.request), False
        except Exception:  # noqa: BLE001 - a surprise is logged; the next request still runs
            log.exception("the %s job failed", self._name)
            result, failed = None, True
        self.ran.emit(_Ran(job.key, job.generation, result, failed))


class LatestJob(QObject):
    """``done(result)``: results of a key in the order asked, never an older after a newer,
    never one cancelled."""

    done = Signal(object)
    idle = Signal()        # a computation ended and nothing else is in flight or waits
    _run = Signal(object)  # _Run, to the runner's thread

    def __init__(self, name: str, compute: Callable[[Any], Any],
                 registry: JobRegistry | None = None, pace: Pace = Pace(),
                 on_stop: Callable[[], None] | None = None, parent: QObject | None = None):
        """``compute(request)`` runs in the job's thread (it must not touch widgets);
        ``on_stop`` (GUI thread) may cut a long computation short when the job stops (e.g. end
        the child process it waits for)."""
        super().__init__(parent)
        self.name = name
        self._compute = compute
        self._pace = pace
        self._share = min(1.0, max(0.05, float(pace.max_share)))
        self._on_stop = on_stop
        self._registry = registry
        self._generation = 0
        self._floor = 0                                  # generations up to this are stale
        self._cancelled: dict[Hashable, int] = {}        # key -> stale up to this generation
        self._delivered: dict[Hashable, int] = {}        # key -> generation last delivered
        self._pending: dict[Hashable, tuple] = {}        # key -> (generation, request, when)
        self._in_flight: tuple | None = None             # (key, generation, started)
        self._started_at: dict[Hashable, float] = {}
        self._ready_at: dict[Hashable, float] = {}       # key -> rested after its last run
        self._paused = self._stopped = False
        self._thread: QThread | None = None
        self._runner: _Runner | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse one fires up to 5 % early
        self._timer.timeout.connect(self._try_start)

    # -- requests (GUI thread)
    def submit(self, request: Any, key: Hashable = None) -> None:
        """Compute ``request`` when its turn comes; older requests of ``key`` are stale now.
        A callable ``request`` is called (on the GUI thread) when it starts, to read the newest
        state once: it returns the request, or None when there is nothing to compute."""
        if self._stopped:
            return
        self._generation += 1
        self._pending[key] = (self._generation, request, time.perf_counter())
        self._schedule(0)  # from the event loop: the changes already queued gather first

    def cancel(self, key: Hashable = None, every_key: bool = False) -> None:
        """Nothing of ``key`` (or of any key) is wanted any more: its pending request is
        dropped and the result in flight will be."""
        self._generation += 1
        if every_key:
            self._pending.clear()
            self._floor = self._generation
        else:
            self._pending.pop(key, None)
            self._cancelled[key] = self._generation

    def set_paused(self, paused: bool) -> None:
        """While paused (e.g. a hidden view) requests wait; they start when it resumes."""
        self._paused = paused
        if paused:
            self._timer.stop()
        else:
            self._schedule(0)

    def is_busy(self) -> bool:
        """A computation is in flight or a request waits."""
        return self._in_flight is not None or bool(self._pending)

    # -- the registry's Job protocol
    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()
        self._pending.clear()
        self._floor = self._generation
        if self._on_stop is not None:
            self._on_stop()
        if self._thread is not None:
            self._thread.quit()

    def wait(self, seconds: float) -> bool:
        return stop_thread(self._thread, max(0, round(seconds * 1000)))

    def is_running(self) -> bool:
        try:
            return self._thread is not None and self._thread.isRunning()
        except RuntimeError:  # the C++ object is already gone
            return False

    # -- internals
    def _schedule(self, delay_s: float) -> None:
        if not self._stopped and not self._paused:
            self._timer.start(max(0, math.ceil(delay_s * 1000)))

    def _due(self, key: Hashable) -> float:
        _generation, _request, submitted = self._pending[key]
        return max(self._started_at.get(key, _NEVER) + self._pace.interval_s,
                   submitted + self._pace.rest_s, self._ready_at.get(key, _NEVER))

    @Slot()
    def _try_start(self) -> None:
        while not (self._in_flight or self._paused or self._stopped or not self._pending):
            key = min(self._pending, key=self._due)
            wait = self._due(key) - time.perf_counter()
            if wait > 0:
                self._schedule(wait)  # a newer request restarts it
                return
            generation, request, _ = self._pending.pop(key)
            if callable(request):
                request = request()
                if request is None:
                    continue  # nothing to compute now: the next key, if any
            self._start(_Run(key, generation, request))

    def _start(self, job: _Run) -> None:
        if self._thread is None:
            self._runner = _Runner(self._compute, self.name)
            self._runner.ran.connect(self._on_ran)
            self._run.connect(self._runner.run)
            self._thread = start_worker(self._runner, self.name)
            if self._registry is not None:
                self._registry.add(self)
        now = time.perf_counter()
        self._in_flight = (job.key, job.generation, now)
        self._started_at[job.key] = now
        self._run.emit(job)

    @Slot(object)
    def _on_ran(self, ran: _Ran) -> None:
        started = self._in_flight[2] if self._in_flight else time.perf_counter()
        self._in_flight = None
        now = time.perf_counter()
        self._ready_at[ran.key] = now + (now - started) * (1.0 / self._share - 1.0)
        stale = max(self._floor, self._cancelled.get(ran.key, 0),
                    self._delivered.get(ran.key, 0))
        if ran.generation > stale and not ran.failed and not self._stopped:
            self._delivered[ran.key] = ran.generation
            self.done.emit(ran.result)
        self._try_start()
        if not self.is_busy():
            self.idle.emit()
