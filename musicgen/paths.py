"""Where musicgen keeps what it makes: caches, trained models, the listening database."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
SHIPPED_MODELS = ASSETS / "models"


def data_dir() -> Path:
    """``MUSICGEN_DATA_DIR``, else the user's data directory (e.g. ``~/.local/share/musicgen``)."""
    explicit = os.environ.get("MUSICGEN_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "musicgen"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "musicgen"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "musicgen"


def user_models_dir() -> Path:
    """Where models the user trains are written."""
    return data_dir() / "models"
