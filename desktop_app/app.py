"""QApplication set-up and main(): the window appears first, TensorFlow loads behind it."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from .settings import APPLICATION, ORGANIZATION

    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication(sys.argv if argv is None else argv)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("draw-classify")

    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
