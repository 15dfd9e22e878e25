"""Throttle: when to start the next background computation of something that keeps changing.

Four places follow a drawing with work in another thread (saliency, whole numbers, the layers
view, the compare view). All want the same timing: at most one computation in flight, only the
newest change waiting (never a backlog), a new start at most every ``interval_s``, and, for work
that only matters once the pen rests, not before the changes have paused for ``rest_s``. What
is computed stays with the owner: the throttle only calls ``start`` when it is time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class Throttle(QObject):
    def __init__(self, start: Callable[[], bool], interval_s: float = 0.0, rest_s: float = 0.0,
                 parent: QObject | None = None, max_share: float = 1.0):
        """``start()`` begins the computation of the newest state and returns True when it is
        now in flight (``finished()`` must follow), False when there was nothing to send.
        ``max_share``: after a computation that took d seconds, the next starts no sooner than
        d * (1 / max_share - 1) later, so that a heavy model (a 30 ms map) takes at most that
        share of a core while a light one keeps ``interval_s``."""
        super().__init__(parent)
        self._start = start
        self._interval_s = interval_s
        self._rest_s = rest_s
        self._max_share = min(1.0, max(0.05, float(max_share)))
        self._finished_at = float("-inf")
        self._gap_s = 0.0
        self._pending = False
        self._in_flight = False
        self._paused = False
        self._started_at = float("-inf")
        self._changed_at = float("-inf")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._try_start)

    @property
    def pending(self) -> bool:
        return self._pending

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    def request(self) -> None:
        """Something changed: compute it when the timing allows (the newest state then)."""
        self._pending = True
        self._changed_at = time.perf_counter()
        self._try_start()

    def cancel(self) -> None:
        """Nothing is waiting any more (what is in flight still ends with finished())."""
        self._pending = False
        self._timer.stop()

    def finished(self) -> None:
        """The computation in flight has ended: the newest waiting change may start."""
        if self._in_flight:
            now = time.perf_counter()
            self._finished_at = now
            self._gap_s = (now - self._started_at) * (1.0 / self._max_share - 1.0)
        self._in_flight = False
        self._try_start()

    def set_paused(self, paused: bool) -> None:
        """While paused (e.g. a hidden view) changes wait; they start when it resumes."""
        self._paused = paused
        if paused:
            self._timer.stop()
        else:
            self._try_start()

    def stop(self) -> None:
        self._paused = True
        self._timer.stop()

    def _try_start(self) -> None:
        if self._in_flight or not self._pending or self._paused:
            return
        now = time.perf_counter()
        wait = max(self._started_at + self._interval_s, self._changed_at + self._rest_s,
                   self._finished_at + self._gap_s) - now
        if wait > 0:
            self._timer.start(max(1, round(wait * 1000)))  # restarted: a new change moves it
            return
        self._pending = False
        self._started_at = now
        self._in_flight = bool(self._start())
