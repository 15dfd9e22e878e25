"""DrawingCanvas: a QImage backing store the user draws on with mouse or pen.

The picture has a fixed resolution (IMAGE_SIDE, grey) whatever the widget's size: the widget
shows it as the largest square that fits, and maps the pointer into it, so the canvas grows with
the window while strokes keep their proportions and the model sees the same picture. Strokes are
smooth, anti-aliased and round; only the dirty rectangle is repainted. Each stroke, fill,
picture, clear or paste is one undo step (snapshots of the image: QImage copies are cheap and
exact). The pen colours are a display choice: the model input is computed from ink contrast, so
white-on-black and black-on-white give the same prediction.

The canvas is part of the window's first frame; numpy (~0.15 s to import) is not: each function
that turns pixels into arrays imports it, and the prediction's thread has loaded it by then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QTabletEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.views.class_keys import KEYS, key_class

if TYPE_CHECKING:
    import numpy as np

IMAGE_SIDE = 560           # pixels of the picture: 20x the model's 28x28 (grey, 0.3 MB)
REFERENCE_SIDE = 392       # brush sizes are in pixels of a canvas shown this large
MINIMUM_SIDE = 280
UNDO_LIMIT = 100
FILL_GRID = 4              # flood fills are computed on a 4x coarser grid (strokes are wider)
PEN_COLOURS = {            # pen style -> (ink, paper)
    "white_on_black": (QColor(255, 255, 255), QColor(0, 0, 0)),
    "black_on_white": (QColor(0, 0, 0), QColor(255, 255, 255)),
}


def qimage_to_array(image: QImage, fmt: QImage.Format) -> np.ndarray:
    """A copy of ``image`` as uint8 pixels: (H, W) for Grayscale8, (H, W, 4) for RGBA8888."""
    import numpy as np

    converted = image.convertToFormat(fmt)
    width, height, stride = converted.width(), converted.height(), converted.bytesPerLine()
    channels = 1 if fmt == QImage.Format.Format_Grayscale8 else 4
    rows = np.frombuffer(converted.constBits(), np.uint8, count=stride * height)
    pixels = rows.reshape(height, stride)[:, :width * channels]
    return (pixels if channels == 1 else pixels.reshape(height, width, channels)).copy()


class DrawingCanvas(QWidget):
    """Emits ``changed`` whenever the picture changes (every stroke segment, undo, drop...)."""

    changed = Signal()
    undoAvailable = Signal(bool)
    redoAvailable = Signal(bool)
    fileDropped = Signal(str)        # a local file was dropped; the window opens it
    imageDropped = Signal(QImage)    # image data was dropped (e.g. from a browser)
    dropRefused = Signal(str)        # a message: what was dropped cannot be used
    userEdited = Signal()            # the user drew, erased, filled or cleared (not a picture)
    classKeyPressed = Signal(int)    # a class key typed on the canvas: "this is class N"

    def __init__(self, parent=None, brush_size: int = 18, pen_style: str = "white_on_black"):
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)  # the main window handles the files; see MainWindow
        self.setToolTip("Draw with the left button or a pen; right button erases.")
        self.brush_size = brush_size
        self.eraser = False
        self.fill_tool = False     # a click fills the enclosed area under it with ink
        self._ink, self._paper = PEN_COLOURS[pen_style]
        self._pen_style = pen_style
        self._image = self._blank_image()
        self._undo: list[QImage] = []
        self._redo: list[QImage] = []
        self._stroke: list[QPointF] | None = None
        self._stroke_erases = False
        self._has_content = False
        self.class_keys = KEYS[:10]  # each class's key (class_keys.py): the dataset's
        self._overlay: QImage | None = None  # e.g. the saliency heat map, over the picture

    # -- geometry
    def sizeHint(self) -> QSize:
        return QSize(REFERENCE_SIDE + 88, REFERENCE_SIDE + 88)

    def minimumSizeHint(self) -> QSize:
        return QSize(MINIMUM_SIDE, MINIMUM_SIDE)

    def picture_rect(self) -> QRectF:
        """Where the square picture is shown: the largest square that fits, centred."""
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_image(self, point: QPointF) -> QPointF:
        rect = self.picture_rect()
        scale = IMAGE_SIDE / max(rect.width(), 1.0)
        return QPointF((point.x() - rect.x()) * scale, (point.y() - rect.y()) * scale)

    def _to_widget(self, rect: QRectF) -> QRect:
        shown = self.picture_rect()
        scale = shown.width() / IMAGE_SIDE
        return QRectF(shown.x() + rect.x() * scale, shown.y() + rect.y() * scale,
                      rect.width() * scale, rect.height() * scale).toAlignedRect()

    def _blank_image(self) -> QImage:
        image = QImage(IMAGE_SIDE, IMAGE_SIDE, QImage.Format.Format_Grayscale8)
        image.fill(self._paper)
        return image

    # -- public API
    @property
    def pen_style(self) -> str:
        return self._pen_style

    def set_pen_style(self, style: str) -> None:
        """Swap ink and paper colours, keeping the drawing (its colours are inverted)."""
        if style == self._pen_style or style not in PEN_COLOURS:
            return
        self._pen_style = style
        self._ink, self._paper = self._paper, self._ink  # inverted with the picture (below)
        for image in [self._image, *self._undo, *self._redo]:
            image.invertPixels()  # Grayscale8: 255 - value
        self.update()
        self.changed.emit()

    def image(self) -> QImage:
        return self._image

    def grey_array(self) -> np.ndarray:
        """The picture as a uint8 (H, W) grey array: what gets classified."""
        return qimage_to_array(self._image, QImage.Format.Format_Grayscale8)

    def is_empty(self) -> bool:
        return not self._has_content

    def set_overlay(self, image: QImage | None) -> None:
        """Show ``image`` (RGBA, any size: it is stretched over the picture) over the drawing,
        or nothing (None). It does not belong to the drawing: never saved or classified."""
        self._overlay = image
        self.update()

    def overlay(self) -> QImage | None:
        return self._overlay

    def clear(self) -> None:
        if not self._has_content:
            return
        self.userEdited.emit()
        self._push_undo()
        self._ink, self._paper = PEN_COLOURS[self._pen_style]  # (a picture's ink ends here)
        self._image.fill(self._paper)
        self._has_content = False
        self.update()
        self.changed.emit()

    def undo(self) -> None:
        if self._undo:
            self._redo.append(self._image)
            self._restore(self._undo.pop())

    def redo(self) -> None:
        if self._redo:
            self._undo.append(self._image)
            self._restore(self._redo.pop())

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def set_picture(self, grey: np.ndarray) -> None:
        """Show a picture (uint8 grey array, ink bright or dark) fitted as ``on_canvas`` fits it
        (aspect ratio kept, margins of its border's colour: the model sees the same paper all
        around); an opened one arrives fitted already."""
        import numpy as np

        from training.runtime.preprocess import CANVAS_SIDE, on_canvas

        if np.shape(grey) != (CANVAS_SIDE, CANVAS_SIDE):
            grey = on_canvas(grey)
        grey = np.ascontiguousarray(grey, dtype=np.uint8)
        paper = int(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))
        self._push_undo()
        self._image = QImage(grey.data, IMAGE_SIDE, IMAGE_SIDE, IMAGE_SIDE,
                             QImage.Format.Format_Grayscale8).copy()
        # The pen takes the picture's ink: white strokes on a photo of white paper were no ink
        # at all to the model (it reads the ink's contrast with the paper). Clear gives the
        # user's own colours back.
        self._ink, self._paper = PEN_COLOURS["black_on_white" if paper >= 128
                                             else "white_on_black"]
        self._has_content = True
        self.update()
        self.changed.emit()

    # -- undo helpers
    def _push_undo(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-UNDO_LIMIT]
        self._redo.clear()
        self._emit_history()

    def _restore(self, image: QImage) -> None:
        self._image = image
        self._has_content = not self._is_plain(image)
        self.update()
        self._emit_history()
        self.changed.emit()

    def _emit_history(self) -> None:
        self.undoAvailable.emit(bool(self._undo))
        self.redoAvailable.emit(bool(self._redo))

    def _is_plain(self, image: QImage) -> bool:
        grey = self.grey_array() if image is self._image else None
        if grey is None:
            return False
        return bool((grey == grey.flat[0]).all())

    # -- painting
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().window())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        shown = self.picture_rect()
        painter.setClipRect(event.rect())
        painter.drawImage(shown, self._image)
        if self._overlay is not None:
            painter.drawImage(shown, self._overlay)
        if not self._has_content and self._stroke is None:
            painter.setPen(QColor(128, 128, 128))
            painter.drawText(shown, Qt.AlignmentFlag.AlignCenter,
                             "Draw here\nor drop a picture")

    def _scale(self) -> float:
        """Image pixels per reference pixel: brush sizes keep their look at any canvas size."""
        return IMAGE_SIDE / REFERENCE_SIDE

    # -- strokes (mouse)
    def mousePressEvent(self, event) -> None:
        button = event.button()
        if button == Qt.MouseButton.LeftButton and self.fill_tool:
            self.fill_at(self._to_image(event.position()))
            event.accept()
        elif button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._begin_stroke(self._to_image(event.position()), erase=self.eraser
                               or button == Qt.MouseButton.RightButton)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._stroke is not None:
            self._continue_stroke(self._to_image(event.position()))
            event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._stroke is not None:
            self._continue_stroke(self._to_image(event.position()))
            self._end_stroke()
            event.accept()

    # -- strokes (tablet pen): pressure varies the width
    def tabletEvent(self, event: QTabletEvent) -> None:
        kind = event.type()
        width = self.brush_size * self._scale() * (0.4 + 0.9 * event.pressure())
        erase = self.eraser or event.pointerType() == event.pointerType().Eraser
        point = self._to_image(event.position())
        if kind == QTabletEvent.Type.TabletPress:
            self._begin_stroke(point, erase, width)
        elif kind == QTabletEvent.Type.TabletMove and self._stroke is not None:
            self._continue_stroke(point, width)
        elif kind == QTabletEvent.Type.TabletRelease and self._stroke is not None:
            self._end_stroke()
        event.accept()

    def _begin_stroke(self, point: QPointF, erase: bool, width: float | None = None) -> None:
        self.userEdited.emit()
        self._push_undo()
        first = not self._has_content
        self._stroke = [point]
        self._stroke_erases = erase
        self._draw_segment(QPainterPath(point), point, width)  # a click leaves a dot
        if not erase:
            self._has_content = True
        if first:
            self.update()  # the whole canvas: the "Draw here" hint goes at the first touch

    def _continue_stroke(self, point: QPointF, width: float | None = None) -> None:
        last = self._stroke[-1]
        if (point - last).manhattanLength() < 1.0 * self._scale():
            return
        # Smooth: a quadratic curve from the previous midpoint to the new one, through `last`.
        start = (self._stroke[-2] + last) / 2 if len(self._stroke) > 1 else last
        end = (last + point) / 2
        path = QPainterPath(start)
        path.quadTo(last, end)
        self._stroke.append(point)
        self._draw_segment(path, end, width)

    def _end_stroke(self) -> None:
        if self._stroke and len(self._stroke) > 1:
            path = QPainterPath((self._stroke[-2] + self._stroke[-1]) / 2)
            path.lineTo(self._stroke[-1])
            self._draw_segment(path, self._stroke[-1])
        self._stroke = None
        if self._stroke_erases:
            self._has_content = not self._is_plain(self._image)
        self.update()
        self.changed.emit()

    def _draw_segment(self, path: QPainterPath, end: QPointF, width: float | None = None) -> None:
        width = width or self.brush_size * self._scale()
        colour = self._paper if self._stroke_erases else self._ink
        if self._stroke_erases:
            width *= 1.5  # erasing wants a slightly wider tip than drawing
        pen = QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(pen)
        if path.elementCount() == 1:
            painter.drawPoint(end)
        else:
            painter.drawPath(path)
        painter.end()
        margin = int(width / 2) + 2
        dirty = path.boundingRect().toAlignedRect().united(QRect(end.toPoint(), QSize(1, 1)))
        self.update(self._to_widget(QRectF(dirty.adjusted(-margin, -margin, margin, margin)))
                    .adjusted(-1, -1, 1, 1))
        self.changed.emit()

    # -- fill (bucket): Fashion-MNIST items are filled silhouettes, not outlines
    def fill_at(self, point: QPointF) -> bool:
        """Fill the paper-coloured area around ``point`` (image coordinates) with ink; an
        area open to the canvas edge is filled too (the user asked for it). One undo step."""
        import numpy as np

        grey = self.grey_array().astype(np.int16)
        paper = self._paper.value()
        x, y = int(point.x()), int(point.y())
        if not (0 <= x < IMAGE_SIDE and 0 <= y < IMAGE_SIDE):
            return False
        is_paper = np.abs(grey - paper) < 128
        if not is_paper[y, x]:
            return False  # clicked on ink: nothing to fill
        region = flood_region(is_paper, (y, x))
        self.userEdited.emit()
        self._push_undo()
        pixels = self.grey_array()
        pixels[region] = self._ink.value()
        self._image = QImage(np.ascontiguousarray(pixels).data, IMAGE_SIDE, IMAGE_SIDE,
                             IMAGE_SIDE, QImage.Format.Format_Grayscale8).copy()
        self._has_content = True
        self.update()
        self.changed.emit()
        return True

    def _class_of(self, event) -> int | None:
        """The class a key typed on the canvas keeps the drawing as, if it is a class's key;
        never with Ctrl, Alt… (their shortcuts stay theirs)."""
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return None
        return key_class(event.key(), self.class_keys)

    def event(self, event) -> bool:
        # A letter that is a class key here wins over a one-letter shortcut (E: eraser, F:
        # fill, S: where it looks) while the canvas has the focus: it is what the hint says.
        if event.type() == QEvent.Type.ShortcutOverride and self._class_of(event) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        label = self._class_of(event)
        if label is not None:
            self.classKeyPressed.emit(label)
            event.accept()
            return
        super().keyPressEvent(event)

    # -- drag and drop
    def dragEnterEvent(self, event) -> None:
        data = event.mimeData()
        if data.hasUrls() or data.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        data = event.mimeData()
        event.acceptProposedAction()
        if data.hasImage():
            self.imageDropped.emit(QImage(data.imageData()))
            return
        urls = [url for url in data.urls() if url.isLocalFile()]
        if not urls:
            self.dropRefused.emit("Only pictures from local files can be dropped here.")
            return
        self.fileDropped.emit(urls[0].toLocalFile())

    def snapshot(self) -> QPixmap:
        """The drawing as a pixmap, e.g. for saving as PNG."""
        return QPixmap.fromImage(self._image)


def flood_region(open_mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """The 4-connected part of ``open_mask`` that holds ``seed``.

    Found on a grid FILL_GRID times coarser (strokes are wider than the grid, so no gap
    opens), then refined on the full grid."""
    import numpy as np

    from training.runtime.components import label

    h, w = open_mask.shape
    g = FILL_GRID
    coarse = open_mask[:h - h % g, :w - w % g].reshape(h // g, g, w // g, g).all(axis=(1, 3))
    cy, cx = min(seed[0] // g, coarse.shape[0] - 1), min(seed[1] // g, coarse.shape[1] - 1)
    if not coarse[cy, cx]:
        coarse[cy, cx] = True  # a seed squeezed between strokes still starts a fill
    labels, _ = label(coarse, connectivity=4)
    region = labels == labels[cy, cx]
    # Back to full resolution, one coarse cell wider so the fill meets the strokes' soft edges.
    grown = region.copy()
    grown[1:] |= region[:-1]
    grown[:-1] |= region[1:]
    grown[:, 1:] |= region[:, :-1]
    grown[:, :-1] |= region[:, 1:]
    full = np.zeros((h, w), bool)
    full[:h - h % g, :w - w % g] = np.repeat(np.repeat(grown, g, axis=0), g, axis=1)
    return full & open_mask
