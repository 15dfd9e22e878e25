"""Shared fixtures: tiny IDX datasets written by the tests, isolated caches, offscreen Qt."""

from __future__ import annotations

import atexit
import gzip
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

# Two test workers on two cores: OpenBLAS's own threads (set before numpy loads, inherited by
# the children) only spin beside the other worker. One each, as the window chooses for itself
# (desktop_app/app.py): 17.4 vs 18.8 CPU-min for the suite in one pair of runs on the Zen 1.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Training runs use the estimated speed settings, not a benchmark of seconds per new model
# (training/learn/tuning.py); tests/test_tuning.py measures with it switched back on.
os.environ["DRAW_CLASSIFY_TUNE"] = "0"

from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop_app.app import ignore_pyside_features
from training.learn.tuning import apply_onednn, onednn_choice

# As in the app: PySide6 reads the source of no module imported from here on (TensorFlow's
# ~3,000 included, ~1 s of each test process).
ignore_pyside_features()
# This process's own training runs with oneDNN's kernels as a CLI run chooses (before
# TensorFlow loads; the children choose for themselves).
apply_onednn(onednn_choice())

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = os.environ.get("DRAW_CLASSIFY_DATA")

# This test process's own temporary folder, gone when it ends. Its home is what the session's
# and modules' fixtures (which come before each test's private_home) and their children see:
# no test ever writes the user's real one.
PROCESS_TEMP = Path(tempfile.mkdtemp(prefix="draw-classify-tests-"))
atexit.register(shutil.rmtree, PROCESS_TEMP, True)
os.environ["DRAW_CLASSIFY_HOME"] = str(PROCESS_TEMP / "home")


# -- The slow rule: a test that loads TensorFlow, in this process or in a child it starts, is
# marked slow, so `make check` (pytest -m "not slow") never waits for TensorFlow (~6-10 s each
# time here). Children report through a sitecustomize.py put first on their PYTHONPATH: it writes
# one file per process that imports tensorflow into the folder named by TF_MARKS, which each test
# points at a folder of its own.

TF_MARKS = "DRAW_CLASSIFY_TEST_TF_MARKS"
_WATCH = f"""import os, sys


class _TensorFlowWatch:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow":
            sys.meta_path.remove(self)
            folder = os.environ.get({TF_MARKS!r})
            if folder and os.path.isdir(folder):
                with open(os.path.join(folder, str(os.getpid())), "w") as mark:
                    mark.write(" ".join(sys.argv))
        return None


sys.meta_path.insert(0, _TensorFlowWatch())
"""


def _watch_children() -> None:
    folder = PROCESS_TEMP / "tf-watch"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(_WATCH)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])


_watch_children()


class _TensorFlowGate:
    """Refuses TensorFlow to this process except while a slow test runs, and notes who asked:
    a test that swallows the ImportError still fails. Once a slow test has loaded it, later tests
    are not checked (an import is done once); `make check` runs no slow test, so there every
    test is checked."""

    def __init__(self):
        self.open = False
        self.asked: list[str] = []

    def find_spec(self, name, path=None, target=None):
        """None: the other finders find every module; only a refusal is raised here."""
        if name == "tensorflow" and not self.open:
            self.asked.append(name)
            raise ImportError("TensorFlow is loaded only by tests marked @pytest.mark.slow "
                              "(and never when a test module is collected)")


_GATE = _TensorFlowGate()
sys.meta_path.insert(0, _GATE)


# Files whose tests train for 10-70 s each (mostly in child processes): started first, so that
# the two workers end together on a tail of shorter tests instead of one waiting for the other.
HEAVY_FILES = ("test_classifier_window.py", "test_own_classes.py",
               "test_calibration.py", "test_strategy.py", "test_training_panel.py",
               "test_teach_window.py", "test_user_work_kept.py", "test_window_training.py",
               "test_presets.py", "test_teach.py", "test_cli.py", "test_tuning.py",
               "test_export.py")


def pytest_collection_modifyitems(config, items):
    """Tests not marked slow first (the TensorFlow gate checks them before any slow test has
    loaded TensorFlow into the worker), then the heavy files, then the other slow tests."""
    def order(item):
        if item.get_closest_marker("slow") is None:
            return 0
        return 1 if item.path.name in HEAVY_FILES else 2
    items.sort(key=order)  # stable: file order within each group


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _GATE.open = item.get_closest_marker("slow") is not None
    try:
        return (yield)
    finally:
        _GATE.open = False


@pytest.fixture(autouse=True)
def slow_if_tensorflow(request, tmp_path_factory, monkeypatch):
    """Fail a test not marked slow that loads TensorFlow, here or in a child it starts."""
    marks = tmp_path_factory.mktemp("tf-marks")  # not in tmp_path: tests list that folder
    monkeypatch.setenv(TF_MARKS, str(marks))
    _GATE.asked.clear()
    yield
    if request.node.get_closest_marker("slow"):
        return
    loaders = [f"a child ({m.read_text()[:200]})" for m in marks.iterdir()]
    if _GATE.asked:
        loaders.insert(0, "the test process")
    assert not loaders, ("a test that loads TensorFlow must be marked @pytest.mark.slow; "
                         f"it was loaded by {'; '.join(loaders)}")


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array in the IDX format (magic 0x0000 08 ndim, big-endian dims)."""
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def synthetic_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Easy, learnable 28x28 images: class k is a bright bar at a position that depends on k."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = (rng.random((count, 28, 28)) * 40).astype(np.uint8)
    for image, label in zip(images, labels):
        row = 3 + 2 * int(label)
        image[row:row + 3, 4:24] = 255
    return images, labels


def write_idx_dataset(folder: Path, train: int = 300, test: int = 100, seed: int = 0,
                      compress: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = synthetic_digits(train, seed), synthetic_digits(test, seed + 1)
    for stem, array in (("train-images-idx3-ubyte", x_train), ("train-labels-idx1-ubyte", y_train),
                        ("t10k-images-idx3-ubyte", x_test), ("t10k-labels-idx1-ubyte", y_test)):
        data = idx_bytes(array)
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return folder


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Personal data (samples, runs, conversions) of each test goes to its own folder."""
    monkeypatch.setenv("DRAW_CLASSIFY_HOME", str(tmp_path / "draw-classify-home"))
    return tmp_path / "draw-classify-home"


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """No real Keras cache, no DRAW_CLASSIFY_DATA, and downloads go to a closed loopback port:
    only what the test provides is found, and no test ever reaches the internet."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("DRAW_CLASSIFY_DATA", raising=False)
    monkeypatch.setenv("DRAW_CLASSIFY_DOWNLOAD_URL", "http://127.0.0.1:9/")
    return tmp_path


@pytest.fixture
def tiny_data(isolated_cache) -> Path:
    """A data folder with mnist/ and fashion-mnist/ of 300 train + 100 test synthetic images."""
    root = isolated_cache / "data"
    write_idx_dataset(root / "mnist")
    write_idx_dataset(root / "fashion-mnist", seed=5)
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA or not Path(SHARED_DATA).is_dir():
        pytest.skip("DRAW_CLASSIFY_DATA is not set to the real datasets")
    return Path(SHARED_DATA)


def part_of_real_data(shared: Path, dataset: str, folder: Path, train: int, test: int) -> Path:
    """The first ``train`` training and ``test`` test pictures of a real dataset, as a data
    folder of its own: real pictures at a fraction of the time of the whole sets."""
    from training.core.datasets import DATASETS, load_dataset

    data = load_dataset(dataset, shared, allow_download=False)
    target = folder / DATASETS[dataset].folder_names[0]
    target.mkdir(parents=True)
    for stem, array in (("train-images-idx3-ubyte", data.x_train[:train]),
                        ("train-labels-idx1-ubyte", data.y_train[:train]),
                        ("t10k-images-idx3-ubyte", data.x_test[:test]),
                        ("t10k-labels-idx1-ubyte", data.y_test[:test])):
        (target / stem).write_bytes(idx_bytes(array))
    return folder


@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server (loopback only) serving tmp_path/www; ``lie`` truncates bodies;
    ``stall`` (an Event) sends half a body and then waits for it to be set."""
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()
    state = {"lie": False, "stall": None, "stalled": threading.Event()}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def copyfile(self, source, output):
            data = source.read()
            if state["stall"] is not None:
                output.write(data[:len(data) // 2])
                output.flush()
                state["stalled"].set()
                state["stall"].wait(30)
            output.write(data[:len(data) // 2] if state["lie"] else data)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}/", state
    server.shutdown()
    server.server_close()


def child_pids() -> list[int]:
    """Processes whose parent is this test process, alive or zombie (not yet reaped): what a
    closed window must not leave behind, whoever started them."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it has just ended
        if int(fields[1]) == me and not _resource_tracker(stat.parent):
            found.append(int(stat.parent.name))
    return found


def _resource_tracker(proc: Path) -> bool:
    """multiprocessing's resource tracker: started once per Python process by the first spawned
    child (the figure process), it lives as long as that Python process, not the window."""
    try:
        return b"multiprocessing.resource_tracker" in (proc / "cmdline").read_bytes()
    except OSError:
        return False


@pytest.fixture(autouse=True)
def no_thread_left_running(request):
    """Fail any test that leaves a worker QThread running (the napari pattern)."""
    yield
    if "qtbot" not in request.fixturenames:
        return
    from desktop_app.jobs.threads import running_threads

    alive = running_threads()
    assert alive == [], f"threads still running after the test: {alive}"


@pytest.fixture
def app_settings(tmp_path):
    """AppSettings on a private INI file: tests never touch the user's real settings."""
    from PySide6.QtCore import QSettings

    from desktop_app.settings import AppSettings

    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


# -- helpers for window tests (real widgets, offscreen)

@pytest.fixture
def window(qtbot, app_settings):
    """The main window, shown, with its model loaded."""
    return open_window(qtbot, app_settings)


TIMEOUT = 60_000


def open_window(qtbot, settings):
    from desktop_app.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(win.model_ready, timeout=TIMEOUT)
    return win


def canvas_point(canvas, x, y) -> QPoint:
    """A point given on a 392-pixel reference canvas, where it shows on the real (resizable)
    canvas: tests draw the same shapes whatever size the window gives it."""
    shown = canvas.picture_rect()
    scale = shown.width() / 392
    return QPoint(round(shown.x() + x * scale), round(shown.y() + y * scale))


def stroke(qtbot, canvas, points, button=Qt.MouseButton.LeftButton):
    QTest.mousePress(canvas, button, Qt.KeyboardModifier.NoModifier, canvas_point(canvas, *points[0]))
    for x, y in points[1:]:
        QTest.mouseMove(canvas, canvas_point(canvas, x, y))
    QTest.mouseRelease(canvas, button, Qt.KeyboardModifier.NoModifier,
                       canvas_point(canvas, *points[-1]))


def line(start, end, steps=25):
    return [(round(start[0] + (end[0] - start[0]) * t), round(start[1] + (end[1] - start[1]) * t))
            for t in np.linspace(0, 1, steps)]


def wait_label(qtbot, win, predicate):
    qtbot.waitUntil(lambda: predicate(win.prediction_label.text()), timeout=TIMEOUT)
    return win.prediction_label.text()


def digit_picture(tmp_path, digit=3, size=(1200, 900)):
    """A large black-on-white picture of a digit, like a photo or scan."""
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 500)
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((420, 150), str(digit), font=font, fill="black", stroke_width=8,
                               stroke_fill="black")
    path = tmp_path / f"digit{digit}.png"
    image.save(path)
    return path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Qt has no QPointF overload yet
def drop_file(canvas, path):
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    centre = QPointF(canvas.width() / 2, canvas.height() / 2)
    enter = QDragEnterEvent(centre.toPoint(), Qt.DropAction.CopyAction, data,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, enter)
    assert enter.isAccepted()
    drop = QDropEvent(centre, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, drop)




@pytest.fixture(autouse=True)
def no_modal_question_blocks(monkeypatch):
    """A question box left unanswered would block an offscreen test forever: unless a test
    answers it itself, "Discard" (or "Yes") is the answer, as a user closing would give."""
    from PySide6.QtWidgets import QMessageBox

    def answer(*args, **kwargs):
        buttons = args[3] if len(args) > 3 else kwargs.get("buttons")
        if buttons is not None and buttons & QMessageBox.StandardButton.Discard:
            return QMessageBox.StandardButton.Discard
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)


# -- recorded children: window tests whose subject is the window, not TensorFlow

def _recordings(tmp_path_factory, record) -> Path:
    """The session's recordings folder, with ``record(folder, data)`` done in it once for the
    whole session: the first xdist worker to ask records; another asking meanwhile waits."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder = root / "child-recordings"
    folder.mkdir(exist_ok=True)
    with open(root / "child-recordings.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = folder / "data"
        if not data.is_dir():
            write_idx_dataset(data / "mnist")  # what ``tiny_data`` writes: the same pictures
            write_idx_dataset(data / "fashion-mnist", seed=5)
        record(folder, data)
    return folder


@pytest.fixture(scope="session")
def child_recordings(tmp_path_factory) -> Path:
    """A real ``train`` run (one epoch on the tiny data), recorded once per session."""
    from recorded_child import record_training

    return _recordings(tmp_path_factory, record_training)


@pytest.fixture
def recorded_children(child_recordings, monkeypatch):
    """The window's training and summary children replay the recorded run (see
    tests/recorded_child.py): a second or two instead of 10-30 s of TensorFlow each. Tests of
    the child itself (stop within a batch, kill, close mid-run) keep the real one."""
    from recorded_child import RECORDINGS_ENV

    from desktop_app.jobs.child import ChildJob

    monkeypatch.setattr(ChildJob, "ENTRY", (str(REPO / "tests" / "recorded_child.py"),))
    monkeypatch.setenv(RECORDINGS_ENV, str(child_recordings))
    return child_recordings


@pytest.fixture(scope="session")
def teaching_recording(tmp_path_factory) -> Path:
    """A real ``teach`` run of two samples of "3", stopped after a few steps, recorded once."""
    from recorded_child import record_teaching

    return _recordings(tmp_path_factory, record_teaching)


@pytest.fixture
def recorded_teaching(teaching_recording, monkeypatch):
    """Teaching runs that a test stops or closes replay the recorded one (any other is real)."""
    from recorded_child import RECORDINGS_ENV

    from desktop_app.jobs.child import ChildJob

    monkeypatch.setattr(ChildJob, "ENTRY", (str(REPO / "tests" / "recorded_child.py"),))
    monkeypatch.setenv(RECORDINGS_ENV, str(teaching_recording))
    return teaching_recording
