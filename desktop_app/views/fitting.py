"""Widgets and helpers that make text fit the space it gets, whatever the window size.

``OneLineText`` keeps a label on one line of fixed height: a text too wide is painted in a
smaller font (down to a floor), elided only below that, and then its tooltip leads with the
whole text. ``ButtonGrid`` lays buttons out in as many equal columns as their text allows in
its width (one row when wide, two or more when narrow): no button is ever narrower than its
text.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt
from PySide6.QtGui import QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractButton, QLabel, QSizePolicy, QToolTip, QWidget

BUTTON_PADDING = 20   # pixels beside a button's text (frame and margins of the usual styles)


def fitted(font, text: str, width: int, smallest: float):
    """(font, text) to paint ``text`` in ``width`` pixels: the font shrunk down to
    ``smallest`` times its size if needed, then the text elided if it still does not fit."""
    metrics = QFontMetrics(font)
    needed = metrics.horizontalAdvance(text)
    if needed <= width or width <= 0:
        return font, text
    size = font.pointSizeF()
    if size > 0 and smallest < 1:
        small = type(font)(font)
        small.setPointSizeF(max(size * smallest, size * width / needed * 0.98))
        metrics = QFontMetrics(small)
        while metrics.horizontalAdvance(text) > width and small.pointSizeF() > size * smallest:
            small.setPointSizeF(max(size * smallest, small.pointSizeF() - 0.5))
            metrics = QFontMetrics(small)
        font = small
    if metrics.horizontalAdvance(text) > width:
        text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)
    return font, text


class OneLineText(QObject):
    """Makes ``label`` one line high for good: it never wraps and never asks for more width
    than it has (its text shrinks, then elides; the whole text is in the tooltip then)."""

    def __init__(self, label: QLabel, smallest: float = 1.0):
        super().__init__(label)
        self._label = label
        self._smallest = smallest
        label.setWordWrap(False)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        label.setMinimumWidth(0)
        margins = label.contentsMargins()
        label.setFixedHeight(QFontMetrics(label.font()).height() + 4 + margins.top()
                             + margins.bottom())
        label.installEventFilter(self)

    def shown(self) -> tuple:
        """(font, text) as painted now."""
        label = self._label
        return fitted(label.font(), label.text(), label.contentsRect().width(), self._smallest)

    def is_elided(self) -> bool:
        return self.shown()[1] != self._label.text()

    def eventFilter(self, watched, event) -> bool:
        if watched is self._label:
            if event.type() == QEvent.Type.Paint:
                self._paint()
                return True
            if event.type() == QEvent.Type.FontChange:
                margins = self._label.contentsMargins()
                self._label.setFixedHeight(QFontMetrics(self._label.font()).height() + 4
                                           + margins.top() + margins.bottom())
            if event.type() == QEvent.Type.ToolTip and self.is_elided():
                tip = self._label.toolTip()
                QToolTip.showText(event.globalPos(), self._label.text() + (
                    "\n\n" + tip if tip else ""), self._label)
                return True
        return False

    def _paint(self) -> None:
        label = self._label
        font, text = self.shown()
        painter = QPainter(label)
        painter.setFont(font)
        role = label.foregroundRole()
        painter.setPen(label.palette().color(
            QPalette.ColorGroup.Active if label.isEnabled() else QPalette.ColorGroup.Disabled,
            role if role != QPalette.ColorRole.NoRole else QPalette.ColorRole.WindowText))
        painter.drawText(label.contentsRect(), int(label.alignment()), text)
        painter.end()


class ButtonGrid(QWidget):
    """Buttons in equal columns: as many as fit side by side at their text's width; the rows
    are balanced (10 buttons: 1×10, 2×5, 3×4 …); the height follows the width."""

    SPACING = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self._buttons: list[QAbstractButton] = []
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def buttons(self) -> list[QAbstractButton]:
        return list(self._buttons)

    def set_buttons(self, buttons: list[QAbstractButton]) -> None:
        for old in self._buttons:
            old.hide()
            old.setParent(None)
            old.deleteLater()
        self._buttons = list(buttons)
        for button in self._buttons:
            button.setParent(self)
            button.show()
        self.updateGeometry()
        self._place()

    def cell_width(self) -> int:
        """The width every column needs: the widest text plus the button's frame."""
        return max((button_text_width(b) for b in self._buttons), default=0)

    def row_height(self) -> int:
        return max((b.sizeHint().height() for b in self._buttons), default=0)

    def grid(self, width: int) -> tuple[int, int]:
        """(columns, rows) at ``width`` pixels."""
        count = len(self._buttons)
        if count == 0:
            return 0, 0
        cell = max(1, self.cell_width())
        columns = max(1, min(count, (width + self.SPACING) // (cell + self.SPACING)))
        rows = math.ceil(count / columns)
        return math.ceil(count / rows), rows

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        _, rows = self.grid(width)
        return rows * self.row_height() + max(0, rows - 1) * self.SPACING

    def sizeHint(self) -> QSize:
        """Two rows (a dock or a column is not widened for one long row; given the width,
        one row it is)."""
        columns = math.ceil(len(self._buttons) / 2)
        return QSize(columns * self.cell_width() + max(0, columns - 1) * self.SPACING,
                     self.heightForWidth(columns * self.cell_width()
                                         + max(0, columns - 1) * self.SPACING))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.cell_width(), self.row_height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place()

    def _place(self) -> None:
        columns, rows = self.grid(self.width())
        if not columns:
            return
        wanted = self.heightForWidth(self.width())
        if self.minimumHeight() != wanted:
            self.setMinimumHeight(wanted)  # the layout above gives the rows their height
        step = (self.width() - (columns - 1) * self.SPACING) / columns
        height = self.row_height()
        for index, button in enumerate(self._buttons):
            row, column = divmod(index, columns)
            left = round(column * (step + self.SPACING))
            right = round(column * (step + self.SPACING) + step)
            button.setGeometry(QRect(left, row * (height + self.SPACING), right - left, height))


def button_text_width(button: QAbstractButton) -> int:
    """The width ``button`` needs to show its whole text (and icon, if any)."""
    width = button.fontMetrics().horizontalAdvance(button.text()) + BUTTON_PADDING
    if not button.icon().isNull():
        width += button.iconSize().width() + 4
    return width
