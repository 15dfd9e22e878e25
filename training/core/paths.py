"""Where the user's own data lives: personal samples, trained and taught models, training runs.

``$DRAW_CLASSIFY_HOME`` when set (tests, portable installs), else the platform's app-data folder
(the one Qt's ``QStandardPaths.AppDataLocation`` names, computed here without Qt).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV_VAR = "DRAW_CLASSIFY_HOME"
APP_FOLDER = "draw-classify"


def user_home() -> Path:
    configured = os.environ.get(HOME_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "DrawClassify"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Draw & Classify"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_FOLDER


def shipped_resources() -> Path:
    """The folder of the shipped files (models, icons): the ``resources`` package's own. Found
    from the package itself: importing importlib.resources cost the window's first frame ~8 ms,
    and these files are always plain files in a folder."""
    import resources

    return Path(resources.__file__).parent


def runs_dir() -> Path:
    """Models trained by the app, kept until the user saves or discards them."""
    return user_home() / "runs"


def models_dir() -> Path:
    """Models the user kept (e.g. taught with personal samples)."""
    return user_home() / "models"


def samples_dir(dataset: str) -> Path:
    """Personal samples, in the keras ``image_dataset_from_directory`` layout."""
    return user_home() / "samples" / dataset


def recovery_dir() -> Path:
    """Where a trained model goes when it cannot be saved where the user asked."""
    return user_home() / "recovered"
