"""A progress bar whose text reads the same over the filled and the empty part, and is never
clipped.

Styles such as Fusion draw the text white over the chunk and black elsewhere, so a bar at 50 %
shows a word half white, half black. A light chunk with one dark text colour reads everywhere.

A bar draws its text on one line, centred, and a text wider than the bar loses both ends
("ch 1/2 · batch 10/469 · ETA 0:12 · lo"). This one breaks such a text into two lines (at a
" · " if it can, else at a space) and grows to hold them; only a text that does not fit even
then is elided, with the whole of it in the tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressBar, QStyle, QStyleOptionProgressBar, QStylePainter

STYLE = ("QProgressBar { border: 1px solid palette(mid); border-radius: 3px; "
         "text-align: center; color: palette(window-text); min-height: 1.4em; }"
         "QProgressBar::chunk { background-color: #a8cbf7; border-radius: 2px; }")
SEPARATOR = " · "
TEXT_MARGIN = 8  # pixels left free at each end of a line


class ReadableProgressBar(QProgressBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._shown_tip = ""
        self.valueChanged.connect(self._fit)

    # The text changes with these: the lines are worked out again (Python callers reach these
    # overrides; the value goes through valueChanged).
    def setFormat(self, text: str) -> None:
        super().setFormat(text)
        self._fit()

    def setRange(self, minimum: int, maximum: int) -> None:
        super().setRange(minimum, maximum)
        self._fit()

    def setMaximum(self, maximum: int) -> None:
        super().setMaximum(maximum)
        self._fit()

    def lines(self, width: int | None = None) -> list[str]:
        """The text as drawn at ``width`` pixels (default: the bar's own): one or two lines."""
        width = (self.contentsRect().width() if width is None else width) - 2 * TEXT_MARGIN
        return split_lines(self.text(), self.fontMetrics(), width)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self, *_args) -> None:
        lines = self.lines()
        metrics = self.fontMetrics()
        wanted = len(lines) * metrics.lineSpacing() + 8
        if self.minimumHeight() != wanted and (len(lines) > 1 or self.minimumHeight() > 0):
            self.setMinimumHeight(wanted if len(lines) > 1 else 0)
        elided = sum(line.count("…") for line in lines) > self.text().count("…")
        tip = self.text() if elided else ""
        if tip != self._shown_tip:
            self._shown_tip = tip
            self.setToolTip(tip)
        self.update()

    def paintEvent(self, event) -> None:
        lines = self.lines()
        if len(lines) <= 1 and (not lines or lines[0] == self.text()):
            super().paintEvent(event)
            return
        option = QStyleOptionProgressBar()
        self.initStyleOption(option)
        option.textVisible = False
        painter = QStylePainter(self)
        painter.drawControl(QStyle.ControlElement.CE_ProgressBar, option)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), Qt.AlignmentFlag.AlignCenter, "\n".join(lines))
        painter.end()


def split_lines(text: str, metrics, width: int) -> list[str]:
    """``text`` on one line if it fits ``width``, else on two, broken at the " · " (else the
    space) that balances them best; a line that still does not fit is elided."""
    if not text or metrics.horizontalAdvance(text) <= width:
        return [text] if text else []
    best = None
    for separator in (SEPARATOR, " "):
        start = 0
        while (found := text.find(separator, start)) >= 0:
            first, second = text[:found], text[found + len(separator):]
            if separator == SEPARATOR:
                second = second.strip()
            widest = max(metrics.horizontalAdvance(first), metrics.horizontalAdvance(second))
            if best is None or widest < best[0]:
                best = (widest, first.rstrip(), second)
            start = found + 1
        if best is not None and best[0] <= width:
            break
    if best is None:
        return [metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)]
    return [line if metrics.horizontalAdvance(line) <= width
            else metrics.elidedText(line, Qt.TextElideMode.ElideRight, width)
            for line in best[1:]]


def readable_progress_bar(object_name: str) -> QProgressBar:
    bar = ReadableProgressBar()
    bar.setObjectName(object_name)
    bar.setTextVisible(True)
    bar.setStyleSheet(STYLE)
    return bar
