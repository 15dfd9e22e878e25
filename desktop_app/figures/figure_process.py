"""The figure process: draws the app's matplotlib charts in a child of the window. No Qt here.

Why a process: matplotlib's Agg drawing is C++ that keeps the GIL, so drawn in a thread of the
window it held the event loop up to 90 ms at a time while a model trained (under 20 ms here).

The wire: ``multiprocessing`` with the *spawn* start method and one duplex ``Pipe``
(``multiprocessing.connection``), so the framing and pickling are the standard library's and it
works the same on Linux, macOS and Windows. ``FigureProcess`` (the window's side) starts
``serve`` in a fresh interpreter (spawned, not forked: nothing of the window's Qt state is
copied) and sends it typed messages, one answer per request:

- ``DrawRequest(key, drawing, state, width, height, ratio)``: draw ``figure_drawings.DRAWINGS``
  [drawing] with ``state`` at that size in logical pixels and device pixel ratio;
- ``Drawn(key, width_px, height_px, rgba, layout)``: the RGBA pixels and what the drawing
  returned (e.g. where the cells are, for hover), or
- ``DrawFailed(key, message)``: that drawing raised; the process goes on with the others.

Lifetime: ``serve`` ends when the pipe closes, so the child never outlives the window, even one
that crashed (its end of the pipe closes with it). A child that dies or hangs costs the request
in flight (``FigureProcessFailed``, with a message fit for the chart); the renderer starts a new
one for the next request. On POSIX, ``multiprocessing``'s spawn also starts its small resource
tracker process once per window; it ends with the window. As with any spawned process, the
program's main script must keep its work under ``if __name__ == "__main__":`` (the spawned
child imports it); ``draw-classify`` and ``python -m desktop_app`` do.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
from dataclasses import dataclass

NICENESS = 19  # below the window and the training child (10): a chart may come late, an
#               epoch must not (at 10 it took its share from the training: GUI/CLI 1.07-1.10)
ANSWER_TIMEOUT_S = 60.0  # a drawing takes < 0.2 s; one this late is stuck: end the process


@dataclass(frozen=True)
class DrawRequest:
    key: int            # which figure (its Agg figure is kept between draws)
    drawing: str        # a name in figure_drawings.DRAWINGS
    state: dict
    width: int          # logical pixels
    height: int
    ratio: float        # device pixel ratio


@dataclass(frozen=True)
class Drawn:
    key: int
    width_px: int
    height_px: int
    rgba: bytes
    layout: dict


@dataclass(frozen=True)
class DrawFailed:
    key: int
    message: str


class FigureProcessFailed(Exception):
    """The figure process died or stopped answering; the message says so for the chart."""


class Drawer:
    """Keeps one Agg figure per key (its fonts and artists are reused between draws)."""

    def __init__(self):
        self._figures = {}

    def draw(self, key: int, drawing, state: dict, width: int, height: int, ratio: float):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from desktop_app.figures.figure_drawings import BASE_DPI

        figure = self._figures.get(key)
        if figure is None:
            figure = self._figures[key] = Figure()
            FigureCanvasAgg(figure)
        figure.set_dpi(BASE_DPI * ratio)
        figure.set_size_inches(width / BASE_DPI, height / BASE_DPI)
        if getattr(drawing, "renders_itself", False):  # it may redraw only what changed
            layout = drawing(figure, state) or {}
        else:
            figure.clear()
            layout = drawing(figure, state) or {}
            figure.canvas.draw()
        buffer = figure.canvas.buffer_rgba()
        return buffer.shape[1], buffer.shape[0], bytes(buffer), layout


def serve(connection) -> None:
    """The child's loop: one answer per request until the window's end of the pipe closes."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    if hasattr(os, "nice"):  # a chart may come late; the window and the training come first
        os.nice(NICENESS)
    from desktop_app.figures.figure_drawings import DRAWINGS

    drawer = Drawer()
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return  # the window closed (or died)
        try:
            answer = Drawn(request.key, *drawer.draw(request.key, DRAWINGS[request.drawing],
                                                     request.state, request.width,
                                                     request.height, request.ratio))
        except Exception as exc:  # noqa: BLE001 - one chart failing must not end the others
            answer = DrawFailed(request.key, f"{type(exc).__name__}: {exc}")
        try:
            connection.send(answer)
        except OSError:
            return


class FigureProcess:
    """The window's handle on one figure child. ``draw`` is called from one thread at a time;
    ``kill`` may come from another (closing). It also looks like a ``subprocess.Popen`` (pid,
    poll, terminate, kill, wait) so ``jobs.threads.track_process`` can end it on exit."""

    def __init__(self):
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=serve, args=(child_end,), daemon=True,
                                        name="figure-process")
        self._process.start()
        child_end.close()  # the child's copy only: its death must read as the end of the pipe

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def draw(self, request: DrawRequest, timeout_s: float = ANSWER_TIMEOUT_S) -> Drawn | DrawFailed:
        """The answer to ``request``; FigureProcessFailed when the process is gone or stuck
        (then it is ended: ask a new one)."""
        try:
            self._connection.send(request)
            if not self._connection.poll(timeout_s):
                self.kill()
                self._connection.close()
                raise FigureProcessFailed(f"the figure process did not answer in "
                                          f"{timeout_s:.0f} s and was ended")
            return self._connection.recv()
        except (EOFError, OSError) as exc:
            self.kill()
            self._connection.close()  # here, in the thread that uses it
            raise FigureProcessFailed(f"the figure process ended unexpectedly "
                                      f"({self._describe_end()})") from exc

    def _describe_end(self) -> str:
        code = self.poll()
        if code is None:
            return "its connection broke"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    # -- the subprocess.Popen look-alike, for track_process / end_process
    def poll(self) -> int | None:
        return self._process.exitcode

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        """End it now (it holds nothing worth saving) and reap it. Safe from another thread
        than ``draw``'s: a ``draw`` waiting for the answer then reads the end of the pipe."""
        if self._process.exitcode is None:
            self._process.kill()
        self._process.join(5.0)

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("figure process", timeout)
        return self._process.exitcode
