"""QApplication set-up and main(): the window appears first, models load behind it.

On a bare Linux box Qt's X11 plugin cannot load without a few system libraries, and Qt then
aborts with a message that does not say what to install. We check first and print the one
command that fixes it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# Debian/Ubuntu package of each library Qt's xcb plugin needs that a minimal system may lack.
XCB_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def missing_xcb_libraries() -> list[str]:
    """Libraries Qt's X11 plugin needs but cannot find (empty when it can load, or when X11
    is not what Qt will use)."""
    if not sys.platform.startswith("linux"):
        return []
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform not in ("", "xcb") or (not platform and os.environ.get("WAYLAND_DISPLAY")):
        return []
    try:
        import PySide6
    except ImportError:
        return []
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists():
        return []
    import ctypes

    try:  # loading the plugin (and what Qt loads next anyway): 13-16 ms; `ldd`: 26-29 ms
        ctypes.CDLL(str(plugin))
        ctypes.CDLL("libxcb-cursor.so.0")  # loaded at run time since Qt 6.5
        return []
    except OSError:
        return _missing_by_ldd(plugin)  # something is missing: name all of it


def _missing_by_ldd(plugin: Path) -> list[str]:
    import subprocess  # only here: the window itself starts no process before its first frame

    try:
        linked = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True,
                                timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing = re.findall(r"^\s*(\S+) => not found", linked, re.MULTILINE)
    import ctypes.util

    if ctypes.util.find_library("xcb-cursor") is None:
        missing.append("libxcb-cursor.so.0")
    return list(dict.fromkeys(missing))


def xcb_fix_message(missing: list[str]) -> str:
    packages = sorted({XCB_PACKAGES.get(lib, lib.split(".so")[0]) for lib in missing})
    return ("Draw & Classify cannot open its window: Qt's X11 support needs system libraries "
            f"that are missing ({', '.join(missing)}).\n"
            f"On Debian or Ubuntu, install them with:\n\n"
            f"    sudo apt-get install {' '.join(packages)}\n")


class _IgnoredByPySideFeatures:
    """A finder that finds nothing: before a module is imported, it enters the module in
    PySide6's table of feature selections (``__feature__.pyside_feature_dict``) as -1, "ignore
    this module" (the table's own meaning). Otherwise, after every import, PySide6 reads the new
    module's whole source to see whether it says "PySide6" (for ``from __feature__ import
    snake_case``, which this app never uses): ~155 modules on the way to the first answer, ~60
    ms on a 2-core EPYC (napari/napari#8584 traced the same cost)."""

    def __init__(self):
        self._table = None

    def find_spec(self, name, path=None, target=None):
        if self._table is None:
            table = getattr(sys.modules.get("__feature__"), "pyside_feature_dict", None)
            if not isinstance(table, dict):
                return None  # PySide6 not imported yet
            self._table = table
            for loaded in list(sys.modules):  # imported again later, they would be read too
                table.setdefault(loaded, -1)
        self._table.setdefault(name, -1)
        return None


def ignore_pyside_features() -> None:
    """Install ``_IgnoredByPySideFeatures`` first in ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _IgnoredByPySideFeatures) for finder in sys.meta_path):
        sys.meta_path.insert(0, _IgnoredByPySideFeatures())


def configure_process() -> None:
    """Hand the GIL between threads every 1 ms instead of 5: the GUI thread waits at most that
    long whenever a worker thread (chart drawing, reading a child's output) runs Python. With
    the default, a GUI repaint that re-enters Python many times could wait 5 ms each time
    (measured: event-loop p99 37 ms while a chart was drawn, 7-10 ms with 1 ms).

    And one OpenBLAS thread (unless the user chose otherwise): the window's numpy works on small
    arrays (a picture, a 28x28 input, a model's features), where BLAS threads gain nothing.
    OpenBLAS starts its threads when numpy is imported, on the way to the first answer, and
    they spin there beside the loading model (numpy's import: ~0.14 s, ~0.08 s with one
    thread). Child processes do not inherit it (jobs/child.py: child_environment).

    And no module imported from now on has its source read by PySide6
    (``ignore_pyside_features``)."""
    sys.setswitchinterval(0.001)
    ignore_pyside_features()
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.environ["DRAW_CLASSIFY_WINDOW_BLAS"] = "1"  # = jobs/child.py's WINDOW_BLAS_MARK


def parse_arguments(argv: list[str]) -> list[str]:
    """The app's own options (``--help``, ``--data-dir``); the rest, for Qt (``-platform``,
    ``-style``…). ``--data-dir`` becomes DRAW_CLASSIFY_DATA for this session, where the window
    and the training children it starts look for the datasets. Exits on --help or a bad
    option, as command lines do."""
    if len(argv) <= 1:
        return argv  # (argparse is not imported on the way to every window)
    import argparse

    from training.core.datasets import DATA_ENV_VAR

    parser = argparse.ArgumentParser(
        prog="python -m desktop_app",
        description="Draw & Classify: draw or drop a picture and watch a neural network read it;"
                    " train, teach and compare models. Qt options (-platform, -style…) pass "
                    "through.")
    parser.add_argument("--data-dir", metavar="DIR",
                        help=f"the folder holding MNIST / Fashion-MNIST (as {DATA_ENV_VAR}; "
                             "the training panel's data folder, if set, comes first)")
    options, rest = parser.parse_known_args(argv[1:])
    if options.data_dir is not None:
        folder = Path(options.data_dir).expanduser()
        if not folder.is_dir():
            parser.error(f"--data-dir {options.data_dir}: no such folder")
        os.environ[DATA_ENV_VAR] = str(folder.resolve())
    return argv[:1] + rest


def main(argv: list[str] | None = None) -> int:
    configure_process()  # first: the check below imports PySide6 (and so its import hook)
    argv = parse_arguments(sys.argv if argv is None else argv)
    missing = missing_xcb_libraries()
    if missing:
        print(xcb_fix_message(missing), file=sys.stderr)
        return 1

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from desktop_app.settings import APPLICATION, ORGANIZATION

    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication(argv)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("draw-classify")

    from desktop_app.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
