"""Matplotlib figures rendered off the GUI thread, in a child process.

A full matplotlib draw of a chart with text takes 50-150 ms here; on the GUI thread that is a
visible stall (measured: up to 152 ms while a model trains). So the charts of the training panel
are plain data on the GUI side (``RenderedFigure.set_state``) and a ``FigureRenderer`` thread has
them drawn with the Agg backend into an image that the widget only paints. The drawing itself
happens in the figure process (``figure_process.py``): drawn in the thread, Agg's C++ kept the
GIL for tens of milliseconds at a time and the event loop stalled up to 90 ms while a model
trained; in the child it never waits for a chart (max stall 15-20 ms, measured the same way).
If the child cannot run (or keeps dying), the thread draws as before: charts always appear.

Requests are coalesced: while one figure renders, newer states of the same figure replace the
queued one, so a burst of updates costs one render, never a backlog. A figure is not drawn again
before REST_FACTOR times its last render time has passed: a chart updated on every batch takes
at most a third of one core, which the training child and the UI thread need more (measured:
renders back to back made event-loop stalls and a slower epoch more likely).
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import subprocess
import sys
import threading
import time

from PySide6.QtCore import QObject, QRectF, QSize, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.figures.figure_drawings import DRAWINGS
from desktop_app.figures.figure_process import Drawer, read_message, write_message
from desktop_app.jobs.threads import end_process, track_process

log = logging.getLogger(__name__)

MAX_PROCESS_FAILURES = 3  # after this many deaths of the figure process, draw in the thread
DEBOUNCE_MS = 40  # at most ~25 renders a second per figure; resizes settle first


class FigureRenderer(QObject):
    """Draws figures in a Python thread of its own; ``rendered(key, image, layout)`` reaches
    the GUI thread queued. The thread starts on the first job and ends after IDLE_S without
    one, so an idle panel holds no thread; ``shutdown`` ends it at once."""

    rendered = Signal(int, QImage, dict)
    IDLE_S = 3.0
    REST_FACTOR = 2.0

    def __init__(self):
        super().__init__()
        self._pending: dict[int, tuple] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._drawer = Drawer()                # the fallback, in this thread
        self._ready_at: dict[int, float] = {}  # key -> when it may be drawn again
        self._child: subprocess.Popen | None = None
        self._child_failures = 0

    def submit(self, key: int, draw, state: dict, width: int, height: int, ratio: float) -> None:
        """Queue (or replace) the job of figure ``key``."""
        with self._wake:
            if self._stopping:
                return
            self._pending[key] = (draw, state, width, height, ratio)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="figure-renderer",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def shutdown(self, timeout_s: float = 2.0) -> bool:
        with self._wake:
            self._stopping = True
            self._pending.clear()
            thread = self._thread
            child = self._child
            self._wake.notify()
        end_process(child)  # a drawing in progress ends: the thread's read returns at once
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    def uses_process(self) -> bool:
        """Whether the figures are drawn in the figure process (else in the thread)."""
        return self._child is not None and self._child.poll() is None

    def running(self) -> bool:
        return not self._stopping

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._pending and not self._stopping:
                    self._wake.wait(self.IDLE_S)
                if self._stopping or not self._pending:
                    self._thread = None  # idle (or closing): end; the next job starts anew
                    return
                now = time.monotonic()
                key = min(self._pending, key=lambda k: self._ready_at.get(k, 0.0))
                if self._ready_at.get(key, 0.0) > now:  # resting: newer states may still come
                    self._wake.wait(self._ready_at[key] - now)
                    continue
                job = self._pending.pop(key)
            try:
                began = time.monotonic()
                image, layout = self._render(key, *job)
                done = time.monotonic()
                self._ready_at[key] = done + self.REST_FACTOR * (done - began)
                self.rendered.emit(key, image, layout)
            except RuntimeError:  # the GUI side is gone (closing)
                return
            except Exception:  # noqa: BLE001 - a chart that cannot draw must not stop the rest
                log.exception("rendering a chart failed")

    def _render(self, key, draw, state, width, height, ratio):
        name = getattr(draw, "__name__", "")
        drawn = None
        if DRAWINGS.get(name) is draw and self._child_failures < MAX_PROCESS_FAILURES:
            drawn = self._draw_in_process(key, name, state, width, height, ratio)
        if drawn is None:  # a drawing of its own (tests), or no figure process
            drawn = self._drawer.draw(key, draw, state, width, height, ratio)
        columns, rows, rgba, layout = drawn
        image = QImage(rgba, columns, rows, QImage.Format.Format_RGBA8888).copy()
        image.setDevicePixelRatio(ratio)
        return image, layout

    def _draw_in_process(self, key, name, state, width, height, ratio):
        """(columns, rows, rgba, layout) drawn by the figure process; None when it is not
        there (it failed to start or died: counted, and started again next time)."""
        try:
            child = self._figure_process()
            write_message(child.stdin, (key, name, state, width, height, ratio))
            answer = read_message(child.stdout)
        except (OSError, ValueError, EOFError) as exc:
            log.warning("the figure process failed: %s", exc)
            answer = None
        if answer is None:
            if not self._stopping:
                self._child_failures += 1
            end_process(self._child)
            self._child = None
            return None
        _, columns, rows, rgba, layout = answer
        if rgba is None:
            raise DrawingFailed(layout)
        return columns, rows, rgba, layout

    def _figure_process(self) -> subprocess.Popen:
        if self._child is None or self._child.poll() is not None:
            with self._wake:
                if self._stopping:
                    raise OSError("closing")
                self._child = subprocess.Popen(
                    [sys.executable, "-m", "desktop_app.figures.figure_process"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    env={**os.environ, "MPLBACKEND": "Agg"})
                track_process(self._child)
        return self._child


class DrawingFailed(Exception):
    """The figure process could not draw a chart (the message says why)."""


class RendererThread:
    """The renderer of a group of figures (e.g. one training panel), with a lifetime."""

    def __init__(self):
        self.renderer = FigureRenderer()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        return self.renderer.shutdown(timeout_ms / 1000)

    def running(self) -> bool:
        return self.renderer.running()


_keys = itertools.count(1)


class RenderedFigure(QWidget):
    """A widget showing a figure drawn by ``draw(figure, state) -> layout`` off the GUI thread.

    Subclasses keep their data, call :meth:`set_state`, and may read ``self.layout_info`` (what
    ``draw`` returned for the image on screen, e.g. axes positions for hover look-ups)."""

    def __init__(self, renderer: RendererThread, draw, parent=None):
        super().__init__(parent)
        self._renderer = renderer
        self._draw = draw
        self._key = next(_keys)
        self._state: dict = {}
        self._image: QImage | None = None
        self.layout_info: dict = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._submit)
        self._stale = True
        renderer.renderer.rendered.connect(self._on_rendered)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(480, 300)

    def set_state(self, **changes) -> None:
        self._state.update(changes)
        self._stale = True
        if self.isVisible():
            self._schedule()

    def rendered_once(self) -> bool:
        return self._image is not None

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def _submit(self) -> None:
        if self.width() < 20 or self.height() < 20 or not self._renderer.running():
            return
        self._stale = False
        self._renderer.renderer.submit(self._key, self._draw, copy.deepcopy(self._state),
                                       self.width(),
                                       self.height(), self.devicePixelRatioF())

    @Slot(int, QImage, dict)
    def _on_rendered(self, key: int, image: QImage, layout: dict) -> None:
        if key == self._key:
            self._image, self.layout_info = image, layout
            self.update()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._schedule()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._stale = True
        self._schedule()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(0, 0, self.width(), self.height()), self._image)
