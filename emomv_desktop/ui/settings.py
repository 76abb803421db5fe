"""Persistent GUI settings: one INI file under ``engine.paths.config_dir()``, keys in one enum.

``QSettings`` in INI format is used rather than the platform's native store so that the settings live
where every other location of the app is decided (and tests isolate them with ``EMOMV_CONFIG_DIR``).
Nothing is read or written until a method is called.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import platformdirs
from PySide6.QtCore import QByteArray, QSettings

from emomv_desktop.engine import paths

SETTINGS_FILE_NAME = "emomv-desktop.ini"


class Key(str, enum.Enum):
    """Every settings key the GUI uses."""

    GEOMETRY = "window/geometry"
    WINDOW_STATE = "window/state"
    SPLITTER = "window/splitter"
    LAST_VIDEO_DIR = "paths/last_video_dir"
    LAST_EXPORT_DIR = "paths/last_export_dir"
    LAST_PREVIEW_DIR = "paths/last_preview_dir"
    LAST_MUSIC_DIR = "paths/last_music_dir"
    LAST_WEIGHTS_DIR = "paths/last_weights_dir"
    VOLUME = "preview/volume"
    MATCH_LOUDNESS = "preview/match_loudness"  # play every track at one loudness (ui/sound.py)
    FILTER_MIN_DURATION = "results/at_least_video_length"
    FILTER_EMOTION = "results/emotion"
    TOP = "results/top"
    PRECISION = "engine/precision"
    COLOR_SCHEME = "view/color_scheme"  # system, light or dark (ui/appearance.py)


FIRST_FOLDERS = {
    Key.LAST_VIDEO_DIR: platformdirs.user_videos_dir,
    Key.LAST_PREVIEW_DIR: platformdirs.user_videos_dir,
    Key.LAST_MUSIC_DIR: platformdirs.user_music_dir,
    Key.LAST_EXPORT_DIR: platformdirs.user_documents_dir,
}
"""Where a file dialog opens before one was used: the user's Videos, Music or Documents folder (platformdirs
reads the desktop's own settings, e.g. XDG user-dirs on Linux, Known Folders on Windows)."""


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE_NAME


class Settings:
    """Typed access to the INI file. Values of the wrong type (a hand-edited file) fall back to the default."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()
        self._qsettings: QSettings | None = None

    @property
    def _store(self) -> QSettings:
        if self._qsettings is None:
            self._qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)
        return self._qsettings

    def get(self, key: Key, default: Any = None) -> Any:
        value = self._store.value(key.value, default)
        if default is None or value is None:
            return value
        return _coerce(value, default)

    def set(self, key: Key, value: Any) -> None:
        self._store.setValue(key.value, value)

    def get_bytes(self, key: Key) -> QByteArray | None:
        value = self._store.value(key.value)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def get_path(self, key: Key) -> str:
        """A remembered folder; else the user's folder for that kind of file (:data:`FIRST_FOLDERS`); else home."""
        value = self.get(key, "")
        if value and Path(value).is_dir():
            return value
        first = FIRST_FOLDERS.get(key)
        folder = first() if first else ""
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def sync(self) -> None:
        """Write to disk now (creates the config folder when needed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store.sync()


def _coerce(value: Any, default: Any) -> Any:
    """INI files store text: turn it back into the default's type, or give the default."""
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        return default
