"""Pictures in and out of the canvas: open (a file decoded in its own thread), drop, paste, a
dataset sample in the user's pen colours, and Save drawing as PNG (atomically)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from desktop_app.jobs.latest import LatestJob, made_in_thread
from desktop_app.prediction.requests import (
    PictureFailed,
    PictureFile,
    PictureLoaded,
    PicturePixels,
)
from desktop_app.views.canvas_widget import qimage_to_array
from training.core.atomic import WriteError, atomic_path

if TYPE_CHECKING:
    import numpy as np

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
MAX_PASTE_SIDE = 2048  # pasted pixels are scaled down to this before leaving the GUI thread


def _picture_loader():
    from desktop_app.prediction.picture_loader import load_picture

    return load_picture


class PicturesMixin:
    """MainWindow's pictures (its canvas, and the picture loader's thread and requests)."""

    def _start_picture_loader(self) -> None:
        # Pictures are decoded in their own thread: a huge or hostile file never blocks drawing.
        self._pictures = LatestJob("picture-loader", made_in_thread(_picture_loader), self.jobs,
                                   parent=self)
        self._pictures.done.connect(self._picture_done)

    def _grab_picture(self) -> np.ndarray | None:
        return None if self.canvas.is_empty() else self.canvas.grey_array()

    def show_picture(self, grey: np.ndarray) -> None:
        """Put a uint8 grey picture on the canvas (one undo step); it gets classified."""
        self.canvas.set_picture(grey)

    def _show_sample(self, image: np.ndarray, label: int = -1) -> None:
        """A dataset image (bright on black) shown in the user's pen colours."""
        self.show_picture(image if self.canvas.pen_style == "white_on_black" else 255 - image)

    def open_image(self, path: str) -> None:
        """Decode ``path`` in the picture thread; it replaces the canvas when it arrives (a
        failure is a message and leaves the canvas as it was)."""
        self.show_info(f"Opening {os.path.basename(path)}…")
        self._pictures.submit(PictureFile(path))

    def _show_qimage(self, image: QImage) -> bool:
        if image.isNull() or image.width() == 0 or image.height() == 0:
            self.show_message("The picture is empty.")
            return False
        if max(image.width(), image.height()) > MAX_PASTE_SIDE:  # a fast C++ scale, then off
            image = image.scaled(MAX_PASTE_SIDE, MAX_PASTE_SIDE,
                                 Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        self._pictures.submit(PicturePixels(qimage_to_array(image,
                                                            QImage.Format.Format_RGBA8888)))
        return True

    def _picture_done(self, result: PictureLoaded | PictureFailed) -> None:
        if isinstance(result, PictureFailed):
            self.show_message(result.message)
            return
        if self._closing:
            return
        self._pinned = None
        self._show_model_line()
        self.show_picture(result.grey)
        if result.name:
            self.show_info(f"Opened {result.name}")

    def choose_image(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # (dialogs: not in the first frame)

        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    def paste(self) -> None:
        data = QGuiApplication.clipboard().mimeData()
        if data is not None and data.hasImage():
            self._show_qimage(QImage(data.imageData()))
        elif data is not None and data.hasUrls() and data.urls()[0].isLocalFile():
            self.open_image(data.urls()[0].toLocalFile())
        else:
            self.show_message("The clipboard holds no picture to paste.")

    def save_drawing(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Save drawing as PNG", "drawing.png",
                                              "PNG image (*.png)")
        if path:
            self.save_drawing_to(path)

    def save_drawing_to(self, path: str) -> bool:
        """Write atomically (training.core.atomic): the old file stays whole if anything fails."""
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            with atomic_path(path, ".png") as temp:
                if not self.canvas.image().save(str(temp), "PNG"):
                    raise WriteError(f"could not write {os.path.basename(path)} "
                                     "(the disk may be full).")
        except WriteError as exc:
            self.show_message(f"Could not save the drawing: {exc}")
            return False
        self.show_info(f"Saved {path}")
        return True
