"""PictureLoader: decodes dropped, opened and pasted pictures off the GUI thread.

Decoding a photo takes tens of milliseconds to seconds (a damaged or hostile file more), so the
window only sends the path (or the pasted pixels) here and shows the grey picture that comes back.
Each request carries an id; the window ignores replies to requests it has since superseded.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from training.runtime.preprocess import PictureError, open_picture, to_grey

log = logging.getLogger(__name__)


class PictureLoader(QObject):
    loaded = Signal(int, object, str)   # request id, uint8 (H, W) grey picture, file name
    failed = Signal(int, str)           # request id, message for the user

    @Slot(int, str)
    def load_file(self, request: int, path: str) -> None:
        name = os.path.basename(path) or path
        try:
            grey = to_grey(open_picture(path))
        except PictureError as exc:
            self.failed.emit(request, str(exc))
            return
        except MemoryError:
            self.failed.emit(request, f"{name} is too large to open.")
            return
        except Exception as exc:  # noqa: BLE001 - any other decoder surprise is a message too
            log.exception("opening %s failed", path)
            self.failed.emit(request, f"{name} could not be opened ({type(exc).__name__}).")
            return
        self._reply(request, grey, name)

    @Slot(int, object)
    def load_pixels(self, request: int, rgba) -> None:
        """Pixels pasted or dropped as image data: (H, W, 4) uint8."""
        try:
            grey = to_grey(rgba)
        except Exception as exc:  # noqa: BLE001
            log.exception("converting pasted pixels failed")
            self.failed.emit(request, f"The pasted picture could not be used ({exc}).")
            return
        self._reply(request, grey, "")

    def _reply(self, request: int, grey: np.ndarray, name: str) -> None:
        if grey.size == 0:
            self.failed.emit(request, f"{name or 'The picture'} holds no pixels.")
            return
        self.loaded.emit(request, np.round(grey * 255).astype(np.uint8), name)
