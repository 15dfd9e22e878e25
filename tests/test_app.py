"""Start-up on a bare Linux box: the missing system libraries are named with the fix."""

import os
import subprocess
import sys
import types

from desktop_app import app


def unloadable(path):
    raise OSError(f"{path}: cannot open shared object file")


def test_missing_xcb_libraries_are_named_with_the_apt_command(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    import ctypes

    monkeypatch.setattr(ctypes, "CDLL", unloadable)  # the plugin does not load: which is missing?
    ldd = ("\tlibxcb-icccm.so.4 => not found\n\tlibc.so.6 => /lib/libc.so.6\n"
           "\tlibxcb-keysyms.so.1 => not found\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: types.SimpleNamespace(stdout=ldd))
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    missing = app.missing_xcb_libraries()
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]
    message = app.xcb_fix_message(missing)
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in message


def test_nothing_is_reported_offscreen_or_when_all_is_there(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert app.missing_xcb_libraries() == []
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    import ctypes
    import ctypes.util

    loaded = []
    monkeypatch.setattr(ctypes, "CDLL", loaded.append)  # the plugin loads: no ldd is run
    monkeypatch.setattr(subprocess, "run", unloadable)
    assert app.missing_xcb_libraries() == [] and len(loaded) == 2
    monkeypatch.setattr(ctypes, "CDLL", unloadable)  # ldd finds every library after all
    monkeypatch.setattr(subprocess, "run",
                        lambda *a, **k: types.SimpleNamespace(stdout="\tlibc.so.6 => /x\n"))
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libxcb-cursor.so.0")
    assert app.missing_xcb_libraries() == []


def test_the_command_line_gives_help_and_a_data_folder(tmp_path, monkeypatch):
    """``python -m desktop_app --help`` prints what it takes and ends (it started the window,
    which never returned); --data-dir is where this session looks for the datasets; a folder
    that does not exist is refused before any window opens."""
    from training.core.datasets import DATA_ENV_VAR

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    shown = subprocess.run([sys.executable, "-m", "desktop_app", "--help"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "--data-dir" in shown.stdout
    refused = subprocess.run([sys.executable, "-m", "desktop_app", "--data-dir",
                              str(tmp_path / "nowhere")], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "no such folder" in refused.stderr

    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    qt_args = app.parse_arguments(["prog", "--data-dir", str(tmp_path), "-style", "fusion"])
    assert qt_args == ["prog", "-style", "fusion"]
    assert os.environ[DATA_ENV_VAR] == str(tmp_path.resolve())
