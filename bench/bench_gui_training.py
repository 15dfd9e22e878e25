"""Training from the GUI costs nothing extra, and the UI stays responsive while it runs.

1. Epoch time of one config trained through the real ``TrainingPanel`` (its child process,
   ``python -m training train --progress json``, driven by a worker thread) versus
   ``python -m training train`` run headless, alternating so both see the same machine state.
   Goal (issue #8): ratio <= 1.02. These pairs run without the stall probe below: its 100
   Python wake-ups a second are the benchmark's instrument, not the app's, and they compete
   with the child for the 2 cores.
2. Event-loop stalls in the GUI process while the child works: a 10 ms ``QTimer`` probe records
   how late each tick fires, per phase: start-up (the child imports TensorFlow and loads the
   data), the epoch, and the results (evaluation, reading the test pictures for the gallery,
   drawing the confusion matrix). Goal (issue #8): p99 <= 16 ms, max <= 50 ms in every phase.

Needs the real MNIST (``DRAW_CLASSIFY_DATA`` or the Keras cache).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("BENCH_GUI_TRAINING_REPEATS", "6"))            # ratio pairs
STALL_RUNS = int(os.environ.get("BENCH_GUI_TRAINING_STALL_RUNS", "2"))     # probed GUI runs
PROBE_MS = 10
QUIET_S = 1.0  # idle event processing before every measured run, GUI or CLI
ARCHITECTURE, BATCH_SIZE = "compact_cnn", 128


def bench_config():
    """The one config both sides train: every field set, so the panel's remembered or preset
    values (e.g. the Quick preset's label smoothing) cannot make the GUI run a different recipe."""
    from training.core.cpu import cpu_supports_bfloat16
    from training.protocol.config import TrainingConfig

    return TrainingConfig(dataset="mnist", architecture=ARCHITECTURE, epochs=1,
                          batch_size=BATCH_SIZE, seed=0, optimizer="adam", learning_rate=3e-3,
                          lr_schedule="cosine", validation_split=0.1, dropout=0.2,
                          augment=False, label_smoothing=0.0, weight_decay=0.0,
                          precision="bfloat16" if cpu_supports_bfloat16() else "float32",
                          data_dir=os.environ.get("DRAW_CLASSIFY_DATA") or None)


def cli_epoch(out_dir: Path) -> float:
    """Train seconds reported by the headless CLI (same measure as TrainingResult.train_seconds),
    given exactly the arguments the panel gives its child, but printing its usual progress bar."""
    from desktop_app.learning.training_controller import train_arguments

    args = train_arguments(bench_config(), out_dir / "cli.keras")
    at = args.index("--progress")
    cmd = [sys.executable, "-m", "training", *args[:at], *args[at + 2:]]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    # The saved model's sidecar has the seconds to 0.01 s (the printed line rounds to 0.1 s,
    # 2-3 % of a 4 s epoch: as large as the effect measured).
    sidecar = out_dir / "cli.json"
    try:
        return float(json.loads(sidecar.read_text(encoding="utf-8"))["train_seconds"])
    except (OSError, ValueError, KeyError) as exc:
        raise RuntimeError(f"unexpected CLI run: {exc}; {done.stdout!r} "
                           f"{done.stderr[-500:]!r}") from None


class StallProbe:
    """A 10 ms timer on the UI thread; each tick's lateness is an event-loop stall."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.phase = "startup"
        self.stalls: dict[str, list[float]] = {"startup": [], "epoch": [], "results": []}
        self.at: dict[str, list[float]] = {phase: [] for phase in self.stalls}  # s into phase
        self._phase_began = self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PROBE_MS)
        self._timer.timeout.connect(self._tick)

    def start(self):
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self):
        self._timer.stop()

    def on_progress(self, event: dict) -> None:
        kind = event.get("event")
        if kind in ("train_begin", "evaluate_begin"):
            self.phase = "epoch" if kind == "train_begin" else "results"
            self._phase_began = time.perf_counter()

    def _tick(self):
        now = time.perf_counter()
        self.stalls[self.phase].append(max(0.0, (now - self._last) * 1000 - PROBE_MS))
        self.at[self.phase].append(now - self._phase_began)
        self._last = now


class WindowCpu:
    """CPU seconds the window's side (its process and the figure process) spends while the
    child trains (from ``train_begin`` to ``evaluate_begin``): the cost the GUI adds to an
    epoch, measured directly rather than as the difference of two noisy epoch times."""

    def __init__(self):
        self.seconds = self.wall = 0.0
        self._began = None

    def on_progress(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "train_begin":
            self._began = (window_side_cpu(), time.perf_counter())
        elif kind == "evaluate_begin" and self._began is not None:
            cpu, wall = self._began
            self.seconds += window_side_cpu() - cpu
            self.wall += time.perf_counter() - wall
            self._began = None


def window_side_cpu() -> float:
    """CPU seconds of this process and of its figure process so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != os.getpid():
                continue
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        if b"multiprocessing.spawn" in cmdline:  # the figure process (spawned)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def open_panel(settings_file: Path):
    """One training panel for the whole benchmark, as a user retrains in the same window: its
    figure process and model summary are started once, not inside a measured run."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from desktop_app.learning import training_panel
    from desktop_app.learning.training_panel import TrainingPanel
    from desktop_app.settings import AppSettings

    # Start again asks whether to keep the last run's unsaved model: the user says Discard.
    training_panel.QMessageBox.question = staticmethod(
        lambda *args, **kwargs: QMessageBox.StandardButton.Discard)
    panel = TrainingPanel(AppSettings(QSettings(str(settings_file), QSettings.Format.IniFormat)))
    config = bench_config()
    panel.set_config(config.to_dict())
    panel.data_folder.setText(config.data_dir or "")
    if panel.config() != config:
        raise RuntimeError(f"the panel would train {panel.config()}, not {config}")
    panel.resize(1100, 700)
    panel.show()  # charts and progress bar really repaint (offscreen)
    deadline = time.perf_counter() + 60
    while not panel.summary_ready() and time.perf_counter() < deadline:
        _settle(0.2)  # the model summary's child (TensorFlow's import) ends first
    return panel


def gui_epoch(panel, probed: bool, window_cpu: WindowCpu | None = None) -> tuple[float, dict]:
    """One epoch through the real panel; returns (train seconds, stall stats per phase, or {}
    when not ``probed``)."""
    from PySide6.QtCore import QEventLoop

    previous = panel.last_result()
    probe = StallProbe()
    loop = QEventLoop()

    def quit_when_done(running: bool) -> None:
        if not running:
            loop.quit()

    panel.trainingStateChanged.connect(quit_when_done)
    panel.controller.progress.connect(probe.on_progress)
    if window_cpu is not None:
        panel.controller.progress.connect(window_cpu.on_progress)
    if probed:
        probe.start()
    panel.start()
    loop.exec()  # until the results (and the gallery) are on screen
    probe.stop()
    panel.trainingStateChanged.disconnect(quit_when_done)
    panel.controller.progress.disconnect(probe.on_progress)
    if window_cpu is not None:
        panel.controller.progress.disconnect(window_cpu.on_progress)
    result = panel.last_result()
    if result is None or result is previous:
        raise RuntimeError(f"GUI training failed: {panel.message.text()}")
    if not probed:
        return result.train_seconds, {}
    stats = {phase: _stats(values, probe.at[phase]) for phase, values in probe.stalls.items()}
    everything = [v for values in probe.stalls.values() for v in values]
    stats["whole_run"] = _stats(everything, [0.0] * len(everything))
    return result.train_seconds, stats


def _settle(seconds: float) -> None:
    from PySide6.QtCore import QCoreApplication

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QCoreApplication.processEvents()
        time.sleep(0.005)


def _stats(values: list[float], at: list[float]) -> dict:
    if not values:
        return {"ticks": 0}
    array = np.asarray(values)
    return {"ticks": len(values), "p50_ms": round(float(np.percentile(array, 50)), 2),
            "p99_ms": round(float(np.percentile(array, 99)), 2),
            "max_ms": round(float(array.max()), 2),
            "max_at_s": round(float(at[int(array.argmax())]), 2)}  # when, into the phase


def run() -> dict:
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import configure_process

    configure_process()  # as the app does

    from training.core.datasets import DatasetError, load_dataset

    try:
        load_dataset("mnist", allow_download=False)
    except DatasetError as exc:
        print(f"skipped: {exc}")
        return {"skipped": str(exc)}

    app = QApplication.instance() or QApplication([])  # noqa: F841 - keeps the event loop alive
    cli, gui, stalls, probed_gui = [], [], [], []
    window_cpu = WindowCpu()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DRAW_CLASSIFY_HOME"] = tmp  # the panel's run folders: not the user's
        panel = open_panel(Path(tmp) / "settings.ini")

        def measure_cli():
            _settle(QUIET_S)  # each run starts on a quiet machine: the last one's ends settled
            cli.append(cli_epoch(Path(tmp)))

        def measure_gui():
            _settle(QUIET_S)
            gui.append(gui_epoch(panel, probed=False, window_cpu=window_cpu)[0])

        for repeat in range(REPEATS):
            # Alternate which side goes first: the machine drifts within a pair too.
            for measure in ((measure_gui, measure_cli) if repeat % 2 else
                            (measure_cli, measure_gui)):
                measure()
            print(f"  cli {cli[-1]:6.2f} s   gui {gui[-1]:6.2f} s   ratio {gui[-1] / cli[-1]:.3f}",
                  flush=True)
        for _ in range(STALL_RUNS):
            _settle(QUIET_S)
            seconds, stats = gui_epoch(panel, probed=True)
            probed_gui.append(seconds)
            stalls.append(stats)
            print(f"  probed GUI run: {seconds:.2f} s, stalls {stats}", flush=True)
        panel.shutdown()
        panel.close()
    # Run-to-run noise on this VM is large (the same epoch 3.5 s or 4.6 s; one pair's ratio
    # 0.9-1.3): best of each side, and the median of the pairs' ratios.
    ratio = float(min(gui) / min(cli))
    pair_ratios = [g / c for g, c in zip(gui, cli)]
    median = float(np.median(pair_ratios))
    config = bench_config()
    print(f"{ARCHITECTURE}/mnist/bs{BATCH_SIZE}/{config.precision}: GUI/CLI epoch-time ratio "
          f"{ratio:.2f} best of {REPEATS} each, {median:.3f} median of {REPEATS} pairs "
          f"(goal <= 1.02)")
    for phase in ("startup", "epoch", "results", "whole_run") if stalls else ():  # worst run
        p99 = max(s[phase].get("p99_ms", 0) for s in stalls)
        worst = max(s[phase].get("max_ms", 0) for s in stalls)
        print(f"UI stalls, {phase}: p99 {p99} ms, max {worst} ms (goal p99 <= 16, max <= 50)")
    cpu_share = window_cpu.seconds / max(window_cpu.wall, 1e-9)
    cores = os.cpu_count() or 1
    print(f"window + figure process CPU while the child trained: {window_cpu.seconds:.2f} s in "
          f"{window_cpu.wall:.1f} s of training = {100 * cpu_share:.1f} % of one core, "
          f"{100 * cpu_share / cores:.1f} % of the machine's {cores}")
    return {"config": config.to_dict(),
            "cli_train_s": cli, "gui_train_s": gui, "ratio": ratio,
            "median_pair_ratio": median, "stalls": stalls,
            "window_cpu_s_while_training": window_cpu.seconds,
            "window_cpu_share_of_one_core": cpu_share, "probed_gui_train_s": probed_gui,
            "goals": {"ratio": 1.02, "p99_ms": 16, "max_ms": 50}}


if __name__ == "__main__":
    run()
