"""Every location the app reads or writes, in one place; each overridable by an environment variable.

=====================  ============================  ==============================================
function               environment variable          default
=====================  ============================  ==============================================
``data_dir()``         ``EMOMV_DATA_DIR``            platformdirs user data dir (the library index)
``cache_dir()``        ``EMOMV_CACHE_DIR``           platformdirs user cache dir (backbone weights)
``config_dir()``       ``EMOMV_CONFIG_DIR``          platformdirs user config dir (GUI settings)
``weights_dir()``      ``EMOMV_WEIGHTS_DIR``         ``cache_dir()/weights``
``library_db()``       ``EMOMV_LIBRARY_DB``          ``data_dir()/library.sqlite3``
``model_path()``       ``EMOMV_MODEL``               the shipped model in ``resources/``
``dataset_dir()``      ``EMOMV_DATASET_DIR``         ``../shared/emomv`` beside the project, if present
=====================  ============================  ==============================================

Functions only compute paths; nothing here creates directories (callers do, when they write).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "emomv-desktop"
APP_AUTHOR = "EmoMV"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESOURCES_DIR = PROJECT_ROOT / "resources"
SHIPPED_MODEL_NAME = "emomv-retrieval.pt"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    return _env_path("EMOMV_DATA_DIR") or Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def cache_dir() -> Path:
    return _env_path("EMOMV_CACHE_DIR") or Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR))


def config_dir() -> Path:
    return _env_path("EMOMV_CONFIG_DIR") or Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))


def log_dir() -> Path:
    return _env_path("EMOMV_LOG_DIR") or Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))


def weights_dir() -> Path:
    return _env_path("EMOMV_WEIGHTS_DIR") or cache_dir() / "weights"


def library_db() -> Path:
    return _env_path("EMOMV_LIBRARY_DB") or data_dir() / "library.sqlite3"


def resources_dir() -> Path:
    """Where the shipped model and icons live: the checkout's ``resources/`` (also an editable install), else
    ``<prefix>/share/emomv-desktop`` where a wheel installs them (see pyproject's data-files)."""
    for candidate in (RESOURCES_DIR, Path(sys.prefix) / "share" / APP_NAME):
        if candidate.is_dir():
            return candidate
    return RESOURCES_DIR  # neither: the error about the missing model names the checkout's place


def model_path() -> Path:
    return _env_path("EMOMV_MODEL") or resources_dir() / SHIPPED_MODEL_NAME


def dataset_dir() -> Path:
    """The EmoMV feature files (``../shared/emomv`` relative to the project root unless overridden)."""
    return _env_path("EMOMV_DATASET_DIR") or (PROJECT_ROOT.parent / "shared" / "emomv")


def display_path(path: Path | str) -> str:
    """``path`` as printable text: bytes that are not valid UTF-8 become U+FFFD instead of crashing a print."""
    return os.fsencode(path).decode("utf-8", errors="replace")
