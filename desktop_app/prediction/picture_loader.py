"""Pictures decoded off the GUI thread: dropped, opened and pasted ones.

Decoding a photo takes tens of milliseconds to seconds (a damaged or hostile file more), so the
window only submits the path (or the pasted pixels) to its "picture-loader" LatestJob, which
runs ``load_picture``, and shows the grey picture that comes back, already fitted to the
canvas (training.runtime.preprocess.on_canvas: the pixels ``predict`` reads too). A newer drop or paste makes
an older one stale: its picture never replaces the canvas.
"""

from __future__ import annotations

import logging
import os

from desktop_app.prediction.requests import PictureFailed, PictureFile, PictureLoaded, PicturePixels
from training.runtime.preprocess import PictureError, on_canvas, open_picture

log = logging.getLogger(__name__)


def load_picture(request: PictureFile | PicturePixels) -> PictureLoaded | PictureFailed:
    if isinstance(request, PicturePixels):
        try:
            return PictureLoaded(on_canvas(request.rgba), "")
        except PictureError as exc:
            return PictureFailed(str(exc))
        except Exception as exc:  # noqa: BLE001
            log.exception("converting pasted pixels failed")
            return PictureFailed(f"The pasted picture could not be used ({exc}).")
    name = os.path.basename(request.path) or request.path
    try:
        return PictureLoaded(on_canvas(open_picture(request.path)), name)
    except PictureError as exc:
        return PictureFailed(str(exc).replace("The picture", name))
    except MemoryError:
        return PictureFailed(f"{name} is too large to open.")
    except Exception as exc:  # noqa: BLE001 - any other decoder surprise is a message too
        log.exception("opening %s failed", request.path)
        return PictureFailed(f"{name} could not be opened ({type(exc).__name__}).")
