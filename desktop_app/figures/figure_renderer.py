"""Matplotlib figures rendered off the GUI thread, in a child process.

A full matplotlib draw of a chart with text takes 50-150 ms here; on the GUI thread that is a
visible stall (measured: up to 152 ms while a model trains). So the charts of the training panel
are plain data on the GUI side (``RenderedFigure.set_state``) and a ``FigureRenderer`` has them
drawn with the Agg backend into an image that the widget only paints. The drawing itself happens
in the figure process (``figure_process.py``): drawn in a thread of the window, Agg's C++ kept
the GIL for tens of milliseconds at a time and the event loop stalled up to 90 ms while a model
trained; in the child it never waits for a chart (max stall 15-20 ms, measured the same way).

The renderer is one ``LatestJob`` (the window's one way to run "latest wins" work), one key per
figure, so the loss chart, the confusion matrix and the reliability diagram never supersede one
another, while a burst of updates of one figure costs one drawing, never a backlog. Its thread
only waits for the figure process's answer. ``Pace(max_share=1/3)``: after a drawing of d
seconds, that figure rests 2 d, so a chart updated on every batch takes at most a third of one
core, which the training child and the UI thread need more (measured: renders back to back made
event-loop stalls and a slower epoch more likely); ``interval_s`` keeps it under ~25 drawings a
second. A figure process that dies (or hangs) costs the drawing in flight, which shows a
message on its chart; the next request starts a new process. Stopping the job kills the
process at once (a drawing holds nothing worth waiting for).
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.figures.figure_drawings import DRAWINGS
from desktop_app.figures.figure_process import (
    DrawFailed,
    DrawRequest,
    FigureProcess,
    FigureProcessFailed,
)
from desktop_app.jobs.latest import LatestJob, Pace
from desktop_app.jobs.registry import JobRegistry
from desktop_app.jobs.threads import track_process

log = logging.getLogger(__name__)

JOB_NAME = "figure-renderer"  # its thread's name too
PACE = Pace(interval_s=0.04, max_share=1 / 3)
MIN_SIDE = 20  # pixels: a figure smaller than this is not drawn


@dataclass(frozen=True)
class Rendered:
    """A figure's new picture, or why there is none (``message``)."""

    key: int
    image: QImage | None = None
    layout: dict = field(default_factory=dict)
    message: str | None = None


class FigureRenderer(QObject):
    """Draws the figures of a group of widgets (e.g. one training panel); ``rendered(Rendered)``
    reaches the GUI thread. Registered in ``registry`` (the window's) when its thread starts;
    ``shutdown`` (or the registry's ``close_all``) ends the thread and the figure process."""

    rendered = Signal(object)  # Rendered

    def __init__(self, registry: JobRegistry | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()  # the child, between the job's thread and on_stop
        self._child: FigureProcess | None = None
        self._closing = False
        self._drawing = False  # the job's thread waits for the figure process's answer
        self._job = LatestJob(JOB_NAME, self._render, registry, PACE,
                              on_stop=self._end_child, parent=self)
        self._job.done.connect(self.rendered)

    def submit(self, key: int, request: DrawRequest | Callable[[], DrawRequest | None]) -> None:
        """Draw ``request`` (or what the callable returns when its turn comes, None for
        nothing); an older request of ``key`` still waiting is dropped."""
        self._job.submit(request, key=key)

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """End the figure process and the thread; True when both have ended."""
        self._job.stop()
        return self._job.wait(timeout_ms / 1000)

    def running(self) -> bool:
        """Whether it still takes requests (False once shut down)."""
        return not self._closing

    def is_busy(self) -> bool:
        return self._job.is_busy()

    def is_drawing(self) -> bool:
        """The figure process has a request and the thread waits for its answer."""
        return self._drawing

    def child_pid(self) -> int | None:
        """The figure process's pid while it runs (None before the first drawing, or dead)."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    # -- the job's thread
    def _render(self, request: DrawRequest) -> Rendered:
        with self._lock:
            if self._closing:
                return Rendered(request.key, message="closing")  # stopped: never delivered
            if self._child is None:
                self._child = FigureProcess()
                track_process(self._child)  # ended with the app's other children, too
            child = self._child
        try:
            self._drawing = True
            answer = child.draw(request)
        except FigureProcessFailed as exc:
            with self._lock:
                if self._child is child:
                    self._child = None  # the next request starts a new one
            if not self._closing:
                log.warning("%s", exc)
            return Rendered(request.key, message=f"This chart could not be drawn: {exc}. "
                                                 "It is drawn again with the next update.")
        finally:
            self._drawing = False
        if isinstance(answer, DrawFailed):
            log.warning("rendering a chart failed: %s", answer.message)
            return Rendered(request.key, message=f"This chart could not be drawn "
                                                 f"({answer.message}).")
        image = QImage(answer.rgba, answer.width_px, answer.height_px,
                       QImage.Format.Format_RGBA8888).copy()
        image.setDevicePixelRatio(request.ratio)
        return Rendered(request.key, image, answer.layout)

    # -- the GUI thread, when the job stops
    def _end_child(self) -> None:
        with self._lock:
            self._closing = True
            child, self._child = self._child, None
        if child is not None:
            child.kill()  # a drawing in flight then reads the end of the pipe: the thread ends


_keys = itertools.count(1)


class RenderedFigure(QWidget):
    """A widget showing a figure drawn by ``draw(figure, state) -> layout`` (one of
    ``figure_drawings.DRAWINGS``) off the GUI thread.

    Subclasses keep their data, call :meth:`set_state`, and may read ``self.layout_info`` (what
    ``draw`` returned for the image on screen, e.g. axes positions for hover look-ups)."""

    def __init__(self, renderer: FigureRenderer, draw, parent=None):
        super().__init__(parent)
        name = getattr(draw, "__name__", "")
        if DRAWINGS.get(name) is not draw:
            raise ValueError(f"{draw!r} is not in figure_drawings.DRAWINGS: the figure process "
                             "could not draw it")
        self._renderer = renderer
        self._drawing = name
        self._key = next(_keys)
        self._state: dict = {}
        self._image: QImage | None = None
        self._message: str | None = None
        self.layout_info: dict = {}
        self._stale = True
        renderer.rendered.connect(self._on_rendered)
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

    def message(self) -> str | None:
        """What the chart says instead of a picture (it could not be drawn), else None."""
        return self._message

    def _schedule(self) -> None:
        # The request is made when its turn comes: a burst of changes (a resize, a batch of
        # points) is read once, at the newest state and size.
        self._renderer.submit(self._key, self._request)

    def _request(self) -> DrawRequest | None:
        try:
            if not self.isVisible() or min(self.width(), self.height()) < MIN_SIDE:
                return None  # drawn when shown (still stale)
        except RuntimeError:  # the widget is already gone
            return None
        self._stale = False
        return DrawRequest(self._key, self._drawing, copy.deepcopy(self._state), self.width(),
                           self.height(), self.devicePixelRatioF())

    @Slot(object)
    def _on_rendered(self, rendered: Rendered) -> None:
        if rendered.key != self._key:
            return
        if rendered.image is None:
            self._message = rendered.message
        else:
            self._image, self.layout_info, self._message = rendered.image, rendered.layout, None
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
        if self._message is not None:
            painter.setPen(QColor("#a33"))
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap),
                             self._message)
        elif self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(0, 0, self.width(), self.height()), self._image)
