"""Live-drawing latency and start-up time of the real window (offscreen).

1. Mouse-move event -> probabilities painted, over a few hundred synthetic stroke events on the
   real canvas: includes the stroke painting, preprocessing, inference in the worker thread, and
   the chart update. Goal: p95 <= 16 ms.
2. Launch -> window shown (goal <= 1.0 s), -> its matplotlib charts built (right after the first
   frame), and -> first prediction possible, measured from outside on a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

EVENTS = 300

LAUNCH_PROBE = r"""
import sys, time
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)
from desktop_app.main_window import MainWindow
window = MainWindow()
window.show()
app.processEvents()
print("shown", flush=True)
while window.chart is None:
    app.processEvents(); time.sleep(0.002)
print("charts", flush=True)
while not window.model_ready():
    app.processEvents(); time.sleep(0.002)
print("ready", flush=True)
window.close()
"""


def launch_times(repeats: int = 3) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "3"}
    times = {"shown": [], "charts": [], "ready": []}
    for _ in range(repeats):
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH_PROBE], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        for line in proc.stdout:
            times[line.strip()].append(time.perf_counter() - started)
        proc.wait()
    return {"window_shown_s": float(np.median(times["shown"])),
            "charts_built_s": float(np.median(times["charts"])),
            "first_prediction_possible_s": float(np.median(times["ready"])), "runs": repeats}


def stroke_latency() -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from desktop_app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.show()
    while not window.model_ready():
        app.processEvents()
        time.sleep(0.005)
    painted = []
    window.controller.resultReady.connect(lambda reply: painted.append(time.perf_counter()))

    canvas = window.canvas
    angles = np.linspace(0, 6 * np.pi, EVENTS)
    points = [(int(196 + 120 * np.cos(a) * (0.4 + a / 20)), int(196 + 120 * np.sin(a) * 0.8))
              for a in angles]
    latencies = []
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(*points[0]))
    for x, y in points[1:]:
        count = len(painted)
        started = time.perf_counter()
        QTest.mouseMove(canvas, QPoint(x, y))
        while len(painted) == count:
            app.processEvents()
        latencies.append((painted[-1] - started) * 1000)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       QPoint(*points[-1]))
    window.close()
    values = np.array(latencies[5:])  # the first few include one-off chart caching
    return {"events": len(values), "p50_ms": float(np.median(values)),
            "p95_ms": float(np.percentile(values, 95)), "max_ms": float(values.max())}


def run() -> dict:
    result = {"stroke_to_paint": stroke_latency(), "launch": launch_times()}
    s, launch = result["stroke_to_paint"], result["launch"]
    print(f"mouse move -> probabilities painted: p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} "
          f"ms, max {s['max_ms']:.1f} ms over {s['events']} events (goal p95 <= 16 ms)")
    print(f"launch -> window shown {launch['window_shown_s']:.2f} s (goal <= 1.0 s); "
          f"-> charts built {launch['charts_built_s']:.2f} s; "
          f"-> first prediction possible {launch['first_prediction_possible_s']:.2f} s")
    return result
