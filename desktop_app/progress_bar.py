"""A progress bar whose text reads the same over the filled and the empty part.

Styles such as Fusion draw the text white over the chunk and black elsewhere, so a bar at 50 %
shows a word half white, half black. A light chunk with one dark text colour reads everywhere.
"""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar

STYLE = ("QProgressBar { border: 1px solid palette(mid); border-radius: 3px; "
         "text-align: center; color: palette(window-text); min-height: 1.4em; }"
         "QProgressBar::chunk { background-color: #a8cbf7; border-radius: 2px; }")


def readable_progress_bar(object_name: str) -> QProgressBar:
    bar = QProgressBar(objectName=object_name)
    bar.setTextVisible(True)
    bar.setStyleSheet(STYLE)
    return bar
