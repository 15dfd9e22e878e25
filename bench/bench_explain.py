"""Where the model looks (issue #10): the cost of one saliency map on the shipped models' LiteRT
twins (the window's runtime, one thread), the cost of carrying it onto the 560x560 canvas, its
faithfulness on the official test images (erasing the most salient 10 % of the ink against a
random 10 %), and in the real window (offscreen) while drawing at 60 mouse moves a second: how
far the map trails the stroke (goal <= 100 ms) and mouse move -> probabilities painted with the
map off and on, and with the layers and compare views open as well (goal p95 <= 16 ms; issue
#10: "the stroke -> paint p95 with all views open"); and each view's cost per drawing update."""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from desktop_app.prediction.saliency_overlay import canvas_overlay, to_qimage
from training.core.datasets import load_dataset
from training.modelfile.sidecar import SHIPPED_MODELS, shipped_model_path, tflite_path
from training.runtime.explain import deletion_check, explain
from training.runtime.lite import LiteModel
from training.runtime.preprocess import place_model_input

TIMED = 100          # pictures timed per model
FAITHFUL = 1000      # test images in the faithfulness figures
MOVES = 300          # mouse moves per live run
MOVE_INTERVAL = 1 / 60


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def run() -> dict:
    result = {}
    for name in SHIPPED_MODELS:
        model = LiteModel(tflite_path(shipped_model_path(name)))
        images = load_dataset(name, allow_download=False).x_test
        canvas = np.kron(images[:TIMED], np.ones((20, 20), np.uint8))  # 560x560 "drawings"
        explain(images[0] / 255, model.predict_batch)  # warm up
        saliency_s, overlay_s, cpu_s = [], [], []
        for grey in canvas:
            picture, placement = place_model_input(grey, name)
            started, cpu = time.perf_counter(), time.thread_time()
            found = explain(picture, model.predict_batch)  # the window's way and the CLI's
            middle = time.perf_counter()
            to_qimage(canvas_overlay(found.saliency, placement, grey))
            cpu_s.append(time.thread_time() - cpu)  # LiteRT runs in this thread (1 thread)
            overlay_s.append(time.perf_counter() - middle)
            saliency_s.append(middle - started)
        figures = deletion_check(images[:FAITHFUL], model.predict_batch)
        result[name] = {"saliency": percentiles(saliency_s),
                        "canvas_overlay": percentiles(overlay_s),
                        "cpu_per_update": percentiles(cpu_s),
                        "faithfulness": {k: round(v, 4) if isinstance(v, float) else v
                                         for k, v in figures.items()}}
        print(f"{name}: saliency {result[name]['saliency']} (window and CLI), canvas overlay "
              f"{result[name]['canvas_overlay']}, CPU per window update "
              f"{result[name]['cpu_per_update']}; erasing the top 10 % of ink: -"
              f"{figures['salient_drop']:.3f} probability ({figures['salient_flips']:.1%} "
              f"answers change), a random 10 %: -{figures['random_drop']:.3f} "
              f"({figures['random_flips']:.1%}); ratio {figures['ratio']:.1f} on "
              f"{figures['images']} test images", flush=True)
    result["views"] = view_costs()
    for name, cost in result["views"].items():
        print(f"{name}: compare view (3 models) {cost['compare']}, layers view (shipped model) "
              f"{cost['layers']} per drawing update, in their own threads", flush=True)
    result["window"] = live_drawing()
    live = result["window"]
    print(f"window, drawing at 60 moves/s: mouse move -> probabilities painted p95 "
          f"{live['off']['paint_p95_ms']} ms with the map off, {live['on']['paint_p95_ms']} ms "
          f"on (goal <= 16 ms); the map trails the stroke by p50 {live['on']['lag_p50_ms']} ms, "
          f"p95 {live['on']['lag_p95_ms']} ms (goal <= 100 ms), {live['on']['maps']} maps",
          flush=True)
    views = live["all views"]
    print(f"window with saliency, layers and compare views open: mouse move -> probabilities "
          f"painted p50 {views['paint_p50_ms']} ms, p95 {views['paint_p95_ms']} ms (goal <= 16 "
          f"ms); over {MOVES} moves: {views['maps']} maps, {views['layer_updates']} layer "
          f"views, {views['comparisons']} comparisons of 3 models", flush=True)
    return result


def view_costs() -> dict:
    """CPU per drawing update of the compare view (the three default models) and the layers
    view (the shipped model's every-layer twin, with the pictures it paints), run as their
    worker threads run them."""
    from PySide6.QtWidgets import QApplication

    from desktop_app.prediction.model_choices import standard_choices
    from desktop_app.views.compare_view import ColumnRunner, CompareRequest, LoadColumn
    from desktop_app.views.layers_view import LayerRunner, LayersRequest
    from training.core.datasets import DATASETS

    QApplication.instance() or QApplication([])  # QImages of the layer mosaics
    costs = {}
    for name in SHIPPED_MODELS:
        data = load_dataset(name)
        pictures = data.x_test[:TIMED].astype(np.float32) / 255.0
        compare = ColumnRunner()
        for column, choice in enumerate(standard_choices(name)):
            compare.compute(LoadColumn(column, 1, choice["path"], name))
        layers = LayerRunner()
        compare_s, layers_s = [], []
        for seq, picture in enumerate(pictures):
            started = time.perf_counter()
            compare.compute(CompareRequest(picture, {0: 1, 1: 1, 2: 1}))
            compare_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            layers.compute(LayersRequest("in_use", "", name, picture,
                                         tuple(DATASETS[name].class_names)))
            layers_s.append(time.perf_counter() - started)
        costs[name] = {"compare": percentiles(compare_s[5:]),
                       "layers": percentiles(layers_s[5:])}
    return costs


def live_drawing() -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["DRAW_CLASSIFY_HOME"] = tempfile.mkdtemp(prefix="bench-explain-")
    from PySide6.QtCore import QEventLoop, QPoint, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import configure_process
    from desktop_app.main_window import MainWindow
    from desktop_app.settings import AppSettings

    configure_process()
    app = QApplication.instance() or QApplication([])
    settings = QSettings(os.path.join(os.environ["DRAW_CLASSIFY_HOME"], "settings.ini"),
                         QSettings.Format.IniFormat)
    window = MainWindow(AppSettings(settings))
    window.show()
    window.ensure_ready()
    while not window.model_ready():
        app.processEvents()
        time.sleep(0.005)
    painted, lags = [], []
    window.controller.resultReady.connect(lambda reply: painted.append(time.perf_counter()))
    window.controller.explained.connect(
        lambda reply: reply.lag_ms is not None and lags.append(reply.lag_ms))
    canvas = window.canvas
    angles = np.linspace(0, 6 * np.pi, MOVES)
    points = [QPoint(int(196 + 120 * np.cos(a) * (0.4 + a / 20)), int(196 + 120 * np.sin(a) * 0.8))
              for a in angles]
    result = {}
    for mode in ("off", "on", "all views"):
        window.saliency_action.setChecked(mode != "off")
        if mode == "all views":
            window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, window.compare_dock)
            window.show_dock(window.compare_dock)  # below the canvas, the layers on the right:
            window.show_dock(window.layers_dock)   # both on screen (not tabbed together)
            window.resize(1600, 1000)
            end = time.perf_counter() + 3  # their models load
            while time.perf_counter() < end:
                app.processEvents()
                time.sleep(0.005)
            views_before = (window.layers_view.updates, window.compare_view.comparisons)
        canvas.clear()
        lags.clear()
        latencies = []
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         points[0])
        for point in points[1:]:
            count, started = len(painted), time.perf_counter()
            QTest.mouseMove(canvas, point)
            while len(painted) == count:  # waiting in Qt, as the real event loop does
                app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
            latencies.append((painted[-1] - started) * 1000)
            while time.perf_counter() - started < MOVE_INTERVAL:  # a hand moves at 60 Hz
                app.processEvents()
                time.sleep(0.001)
        QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           points[-1])
        paint = np.array(latencies[5:])
        result[mode] = {"paint_p50_ms": round(float(np.median(paint)), 1),
                        "paint_p95_ms": round(float(np.percentile(paint, 95)), 1),
                        "maps": len(lags)}
        if lags:
            result[mode].update(lag_p50_ms=round(float(np.median(lags)), 1),
                                lag_p95_ms=round(float(np.percentile(lags, 95)), 1),
                                lag_max_ms=round(float(np.max(lags)), 1))
        if mode == "all views":
            result[mode].update(layer_updates=window.layers_view.updates - views_before[0],
                                comparisons=window.compare_view.comparisons - views_before[1])
    window.close()
    return result
