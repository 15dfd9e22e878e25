"""Fault injection, in the spirit of SQLite's I/O-error tests: every write failing at each step,
a really full disk, stored settings and sidecars of every wrong kind, hostile pictures, a process
killed mid-write. Each case asserts a clear message, the previous data intact, and a usable app.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, TIMEOUT, drop_file, line, open_window, stroke, wait_label
from PIL import Image

from training.core import atomic
from training.core.atomic import WriteError, write_bytes

# -- writes that fail at each step -------------------------------------------------------------

STEPS = ("create the temporary file", "write", "fsync", "rename")


def fail_at(monkeypatch, step: str, error=errno.ENOSPC) -> None:
    """Make one step of training.core.atomic's write path fail as a full disk would."""
    def boom(*args, **kwargs):
        raise OSError(error, os.strerror(error))

    if step == "create the temporary file":
        real_os_open = os.open

        def failing_os_open(path, flags, *args, **kwargs):
            if ".partial" in str(path):
                boom()
            return real_os_open(path, flags, *args, **kwargs)
        monkeypatch.setattr(atomic.os, "open", failing_os_open)
    elif step == "write":
        real_open = open

        def failing_open(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            if "w" in mode and ".partial" in str(file):
                handle.write = boom
            return handle
        monkeypatch.setattr("builtins.open", failing_open)

        def failing_qt_save(image, file_name, *args, **kwargs):  # Qt's writer: C++, no open()
            Path(file_name).write_bytes(b"\x89PNG half")
            return False
        from PySide6.QtGui import QImage

        monkeypatch.setattr(QImage, "save", failing_qt_save)
    elif step == "fsync":
        monkeypatch.setattr(atomic, "_fsync_file", boom)
    elif step == "rename":
        monkeypatch.setattr(atomic.os, "replace", boom)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or ".probe" in p.name)


@pytest.mark.parametrize("step", STEPS)
def test_a_failed_write_keeps_the_old_file_and_says_why(tmp_path, monkeypatch, step):
    target = tmp_path / "data.bin"
    target.write_bytes(b"the good old content")
    fail_at(monkeypatch, step)
    with pytest.raises(WriteError, match="disk is full"):
        write_bytes(target, b"new content")
    monkeypatch.setattr(atomic.os, "replace", os.replace)  # so undo() restores the others
    monkeypatch.undo()
    assert target.read_bytes() == b"the good old content"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("bad_target, words", [
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: Path("/dev/full"), "not a regular file"),
    (lambda tmp: tmp / "a-file" / "x.bin", "not a folder|cannot"),
])
def test_targets_that_cannot_be_files_are_refused_before_writing(tmp_path, bad_target, words):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(WriteError, match=words):
        atomic.check_writable_target(bad_target(tmp_path))
    with pytest.raises(WriteError, match=words):
        write_bytes(bad_target(tmp_path), b"data")


@pytest.fixture
def full_disk(tmp_path):
    """A real, tiny file system (tmpfs of 256 kB) that the test fills up; skipped where mounting
    is not allowed."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path) -> None:
    try:
        with open(folder / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC


@pytest.mark.parametrize("step", STEPS)
def test_save_drawing_never_reports_success_or_loses_the_old_png(qtbot, window, tmp_path,
                                                                 monkeypatch, step):
    stroke(qtbot, window.canvas, line((196, 60), (190, 330)))
    target = tmp_path / "drawing.png"
    Image.new("L", (20, 20), 128).save(target)
    old = target.read_bytes()
    fail_at(monkeypatch, step)
    assert window.save_drawing_to(str(target)) is False
    monkeypatch.undo()
    assert target.read_bytes() == old
    assert "Could not save" in window.statusBar().currentMessage()
    assert "Saved" not in window.statusBar().currentMessage()
    assert leftovers(tmp_path) == []
    assert window.save_drawing_to(str(target))  # and the next save works
    assert Image.open(target).size[0] >= 392
    assert oct(target.stat().st_mode & 0o777) == oct(atomic.FILE_MODE)  # not 0600


def test_save_drawing_on_a_really_full_disk(qtbot, window, full_disk):
    stroke(qtbot, window.canvas, line((196, 60), (190, 330)))
    target = full_disk / "drawing.png"
    Image.new("L", (20, 20), 128).save(target)
    old = target.read_bytes()
    fill(full_disk)
    assert window.save_drawing_to(str(target)) is False
    assert target.read_bytes() == old  # the old drawing, not a 0-byte file
    assert "Could not save" in window.statusBar().currentMessage()
    assert leftovers(full_disk) == []


def test_a_writer_killed_mid_write_leaves_the_old_file_whole(tmp_path):
    """kill -9 a process that rewrites a 2 MB file in a loop: the file is always one whole
    version, never a torn one."""
    target = tmp_path / "big.bin"
    write_bytes(target, b"A" * 2_000_000)
    code = ("import sys; from training.core.atomic import write_bytes\n"
            "print('ready', flush=True)\n"
            "i = 0\n"
            "while True:\n"
            "    i += 1\n"
            f"    write_bytes({str(target)!r}, bytes([66 + i % 20]) * 2_000_000)\n")
    for delay in (0.05, 0.13, 0.31):
        child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE)
        child.stdout.readline()
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        data = target.read_bytes()
        assert len(data) == 2_000_000 and data == data[:1] * len(data)


# -- stored settings of every wrong kind -------------------------------------------------------

GARBAGE_SETTINGS = {
    "window geometry as text": "[window]\ngeometry=hello\n",
    "window state as a number": "[window]\nstate=42\n",
    "pen style not text": "[canvas]\npenStyle=@ByteArray(\\xff\\xfe\\x00)\n",
    "brush 1e999": "[canvas]\nbrushSize=1e999\n",
    "brush as a list": "[canvas]\nbrushSize=1, 2, 3\n",
    "unknown dataset": "[model]\ndataset=cifar100\n",
    "model path not text": "[model]\npath\\mnist=@Variant(\\0\\0\\0\\x7f\\0\\0\\0\\x18)\n",
    "training config 1e999": '[training]\nconfig="{\\"epochs\\": 1e999, \\"learning_rate\\": NaN}"\n',
    "training config wrong types": '[training]\nconfig="{\\"epochs\\": [1], \\"optimizer\\": 7, '
                                   '\\"batch_size\\": 10000000000000}"\n',
    "training config not JSON": "[training]\nconfig={epochs\n",
}


@pytest.mark.parametrize("case", list(GARBAGE_SETTINGS))
def test_garbage_settings_never_stop_the_app(qtbot, tmp_path, case):
    from PySide6.QtCore import QSettings

    from desktop_app.settings import AppSettings

    ini = tmp_path / "settings.ini"
    ini.write_text(GARBAGE_SETTINGS[case], encoding="latin-1")
    settings = AppSettings(QSettings(str(ini), QSettings.Format.IniFormat))
    win = open_window(qtbot, settings)
    win.ensure_ready()
    stroke(qtbot, win.canvas, line((196, 60), (190, 330)))
    wait_label(qtbot, win, lambda t: t.startswith("1"))  # usable: draws and classifies
    if case not in ("training config wrong types", "model path not text"):
        # (Qt itself reads an undecodable @Variant as nothing; the form ignores odd fields.)
        qtbot.waitUntil(lambda: "reset" in win.statusBar().currentMessage(), timeout=TIMEOUT)


def test_a_settings_file_of_random_bytes(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from desktop_app.settings import AppSettings

    ini = tmp_path / "settings.ini"
    ini.write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    win = open_window(qtbot, AppSettings(QSettings(str(ini), QSettings.Format.IniFormat)))
    stroke(qtbot, win.canvas, line((196, 60), (190, 330)))
    wait_label(qtbot, win, lambda t: t.startswith("1"))


# -- sidecars with each field mistyped ---------------------------------------------------------

MISTYPED = {
    "dataset": [3, "CIFAR 10!", None, ["mnist"]],
    "class_names": ["0123456789", [1, 2, 3], ["a"] * 3, [""] * 10],
    "test_accuracy": ["0.99", 7, float("nan"), [0.9]],
    "test_loss": ["low", -1],
    "history": ["long", {"loss": "abc"}, [1, 2]],
    "confusion": ["none", [[1, 2]], [[-1] * 10] * 10],
    "display_name": [12, "x" * 10_000],
    "temperature": [0, "hot"],
}


def sidecar_cases():
    for field, values in MISTYPED.items():
        for value in values:
            yield pytest.param(field, value, id=f"{field}={json.dumps(value)[:20]}")


@pytest.mark.parametrize("field, value", list(sidecar_cases()))
def test_a_mistyped_sidecar_field_is_ignored_with_a_warning(tmp_path, field, value):
    from training.modelfile.sidecar import read_metadata_checked, shipped_model_path

    model = tmp_path / "m.keras"
    model.write_bytes(shipped_model_path("mnist").read_bytes())
    info = json.loads(shipped_model_path("mnist").with_suffix(".json").read_text())
    info[field] = value
    model.with_suffix(".json").write_text(json.dumps(info))
    metadata, warnings = read_metadata_checked(model)
    assert field not in metadata
    assert any(f"'{field}'" in w for w in warnings)
    assert metadata["architecture"] == info["architecture"]  # the rest is still used


@pytest.mark.parametrize("field, value", [("dataset", 3), ("class_names", "abc"),
                                          ("test_accuracy", "0.9"), ("history", [1])])
def test_the_window_uses_a_model_whose_sidecar_is_mistyped(qtbot, window, tmp_path, field,
                                                           value):
    from training.modelfile.sidecar import shipped_model_path

    source = shipped_model_path("mnist")
    model = tmp_path / "mine.keras"
    for suffix in (".keras", ".tflite"):
        model.with_suffix(suffix).write_bytes(source.with_suffix(suffix).read_bytes())
    info = json.loads(source.with_suffix(".json").read_text())
    info[field] = value
    model.with_suffix(".json").write_text(json.dumps(info))
    window.load_model(str(model))
    qtbot.waitUntil(lambda: "mine" in window.model_status.text(), timeout=TIMEOUT)
    assert f"'{field}'" in window.statusBar().currentMessage()
    stroke(qtbot, window.canvas, line((196, 60), (190, 330)))
    wait_label(qtbot, window, lambda t: t.startswith("1"))


def test_a_remembered_model_that_breaks_is_skipped_for_this_launch(qtbot, app_settings,
                                                                   tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not really a model")
    app_settings.set_model_path("mnist", str(broken))
    win = open_window(qtbot, app_settings)
    assert win.controller.model().shipped
    assert "Using the shipped model" in win.statusBar().currentMessage()
    stroke(qtbot, win.canvas, line((196, 60), (190, 330)))
    wait_label(qtbot, win, lambda t: t.startswith("1"))


# -- pictures of each bad kind -----------------------------------------------------------------

def jpeg_claiming(width: int, height: int, progressive: bool) -> bytes:
    """A few hundred bytes of JPEG whose header claims a huge picture."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "JPEG", progressive=progressive)
    data = bytearray(buffer.getvalue())
    at = data.index(b"\xff\xc2" if progressive else b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 0).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR's size fields...
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # ...and its checksum
    return bytes(data)


BAD_PICTURES = {
    "progressive JPEG claiming 30000x30000": (lambda: jpeg_claiming(30000, 30000, True),
                                              "too large"),
    "PNG claiming 60000x60000": (lambda: png_claiming(60000, 60000), "too large|damaged"),
    "truncated JPEG": (lambda: jpeg_claiming(64, 64, False)[:200], "damaged|truncated"),
    "text": (lambda: b"hello, not a picture", "not a picture"),
    "empty": (lambda: b"", "empty"),
}


@pytest.mark.parametrize("kind", list(BAD_PICTURES))
def test_a_bad_picture_costs_little_and_leaves_the_canvas(qtbot, window, tmp_path, kind):
    make, words = BAD_PICTURES[kind]
    path = tmp_path / "picture.jpg"
    path.write_bytes(make())
    stroke(qtbot, window.canvas, line((196, 60), (190, 330)))
    wait_label(qtbot, window, lambda t: t.startswith("1"))
    before = window.canvas.grey_array()
    drop_file(window.canvas, path)
    import re

    qtbot.waitUntil(lambda: re.search(words, window.statusBar().currentMessage()) is not None,
                    timeout=TIMEOUT)
    np.testing.assert_array_equal(window.canvas.grey_array(), before)
    assert window.prediction_label.text().startswith("1")


@pytest.mark.parametrize("make", [
    lambda: jpeg_claiming(30000, 30000, True),
    lambda: jpeg_claiming(30000, 30000, False),   # decoded at 1/8: allowed, but cheap
    lambda: png_claiming(60000, 60000),
], ids=["progressive JPEG", "baseline JPEG", "PNG"])
def test_no_picture_raises_peak_memory_by_more_than_300_mb(tmp_path, make):
    path = tmp_path / "bomb"
    path.write_bytes(make())
    code = ("import resource\n"
            "from training.runtime.preprocess import open_picture, to_model_input, PictureError\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n"
            f"    to_model_input(open_picture({str(path)!r}), 'mnist')\n"
            "except Exception as exc:\n"
            "    pass\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) <= 300


def test_decoding_runs_off_the_gui_thread(qtbot, window, tmp_path, monkeypatch):
    import threading

    import desktop_app.prediction.picture_loader as loader

    threads = []
    real = loader.open_picture
    monkeypatch.setattr(loader, "open_picture",
                        lambda path: threads.append(threading.current_thread()) or real(path))
    Image.new("L", (64, 64), 255).save(tmp_path / "white.png")
    drop_file(window.canvas, tmp_path / "white.png")
    qtbot.waitUntil(lambda: bool(threads), timeout=TIMEOUT)
    assert threads[0] is not threading.main_thread()


# -- numbers that are not numbers --------------------------------------------------------------

@pytest.mark.slow
def test_a_model_that_outputs_nan_gets_a_message_not_a_guess(qtbot, window, tmp_path):
    import keras

    from training.learn.saving import save_model

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    weights = model.get_weights()
    weights[0][:] = np.nan
    model.set_weights(weights)
    path = save_model(model, tmp_path / "nan.keras", {"dataset": "mnist"})
    window.load_model(str(path))
    qtbot.waitUntil(lambda: "nan" in window.model_status.text(), timeout=TIMEOUT)
    stroke(qtbot, window.canvas, line((196, 60), (190, 330)))
    qtbot.waitUntil(lambda: "not a number" in window.statusBar().currentMessage(),
                    timeout=TIMEOUT)
    assert window.prediction_label.text() == "Cannot classify"
    assert window.chart.probabilities().sum() == 0


@pytest.mark.parametrize("train, test", [(300, 0), (0, 50)])
def test_an_empty_split_is_a_message(isolated_cache, tmp_path, train, test):
    from conftest import write_idx_dataset

    from training.core.datasets import DatasetError, load_dataset

    folder = write_idx_dataset(tmp_path / "data" / "mnist", train=max(train, 1), test=max(test, 1))
    # Rewrite one split with zero images (a header that says 0, and nothing else).
    import gzip

    from conftest import idx_bytes

    if test == 0:
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros((0, 28, 28), np.uint8))))
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros((0,), np.uint8))))
    else:
        (folder / "train-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros((0, 28, 28), np.uint8))))
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros((0,), np.uint8))))
    with pytest.raises(DatasetError, match="holds no images"):
        load_dataset("mnist", folder, allow_download=False)


def test_temporaries_of_a_killed_writer_are_removed_later_but_not_a_live_ones(tmp_path):
    """kill -9 skips every cleanup: the next writer of the same file removes what is old, and
    leaves a temporary young enough to belong to a writer still at work."""
    import os
    import time

    from training.core.atomic import remove_stale_temps

    target = tmp_path / "train-images-idx3-ubyte.gz"
    old = tmp_path / ".train-images-idx3-ubyte-abc123.partial.gz"
    young = tmp_path / ".train-images-idx3-ubyte-def456.partial.gz"
    other = tmp_path / ".t10k-images-idx3-ubyte-ghi789.partial.gz"
    for temp in (old, young, other):
        temp.write_bytes(b"half a file")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    remove_stale_temps(target)
    assert not old.exists()
    assert young.exists() and other.exists()  # a live writer's, and another file's


SWALLOWING_WRITER = """
import sys, time
from training.core.atomic import atomic_path, end_cleanly_on_sigterm
end_cleanly_on_sigterm()


class Slow:
    def __del__(self):  # the signal comes while this runs: an exit raised here is dropped
        print("writing", flush=True)
        time.sleep(60)


with atomic_path(sys.argv[1]) as temp:
    temp.write_bytes(b"half")
    slow = Slow()
    del slow
    temp.write_bytes(b"half, then the rest")  # a writer that went on would finish the file
print("went on", flush=True)
"""


def test_sigterm_ends_the_process_and_removes_the_temporary_even_inside_a_del(tmp_path):
    """SIGTERM during a write ends the process and leaves no temporary and no file, even when
    it comes while a ``__del__`` runs, where Python drops an exception (a model's LiteRT twin
    was left half-made, and another run went on to finish its evaluation)."""
    target = tmp_path / "model.tflite"
    child = subprocess.Popen([sys.executable, "-c", SWALLOWING_WRITER, str(target)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        assert [p for p in tmp_path.iterdir() if ".partial" in p.name]  # being written
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
    assert child.stdout.read() == ""  # it did not go on
    assert list(tmp_path.iterdir()) == []  # neither the temporary nor a half file
