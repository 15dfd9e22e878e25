"""Start-up on a bare Linux box: the missing system libraries are named with the fix."""

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
