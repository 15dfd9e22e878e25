"""The figure process: draws the app's matplotlib charts in a child of the window.

``python -m desktop_app.figures.figure_process`` reads jobs on stdin and answers on stdout, each a
length-prefixed pickle: a job ``(key, drawing, state, width, height, ratio)`` names one of
``figure_drawings.DRAWINGS``; the answer is ``(key, width_px, height_px, rgba bytes, layout)``
or ``(key, None, None, None, message)`` when that drawing failed. It ends when stdin closes (the
window closed or died), so it never outlives the window. No Qt here.

Why a process: matplotlib's Agg drawing is C++ that keeps the GIL, so drawn in a thread of the
window it held the event loop up to 90 ms at a time while a model trained (under 20 ms here).
"""

from __future__ import annotations

import os
import pickle
import struct
import sys

HEADER = struct.Struct("<Q")
NICENESS = 19  # below the window and the training child (10): a chart may come late, an
#               epoch must not (at 10 it took its share from the training: GUI/CLI 1.07-1.10)


def write_message(stream, message) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_message(stream):
    """The next message, or None at the end of the stream."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    payload = _read_exactly(stream, size)
    if payload is None:
        return None
    return pickle.loads(payload)  # noqa: S301 - our own parent or child, over a private pipe


def _read_exactly(stream, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


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


def main() -> int:
    from desktop_app.figures.figure_drawings import DRAWINGS

    if hasattr(os, "nice"):  # a chart may come late; the window and the training come first
        os.nice(NICENESS)

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    drawer = Drawer()
    while True:
        job = read_message(stdin)
        if job is None:
            return 0
        key, name, state, width, height, ratio = job
        try:
            answer = (key, *drawer.draw(key, DRAWINGS[name], state, width, height, ratio))
        except Exception as exc:  # noqa: BLE001 - one chart failing must not end the others
            answer = (key, None, None, None, f"{type(exc).__name__}: {exc}")
        write_message(stdout, answer)


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())
