"""Shared test set-up: isolated app folders, offscreen Qt, the real EmoMV data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emomv_desktop.engine.paths import dataset_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_app_dirs(tmp_path_factory, monkeypatch):
    """Point every app location at a temporary folder: tests never touch the real user folders."""
    base = tmp_path_factory.mktemp("appdirs")
    for name, sub in (
        ("EMOMV_DATA_DIR", "data"),
        ("EMOMV_CACHE_DIR", "cache"),
        ("EMOMV_CONFIG_DIR", "config"),
        ("EMOMV_LOG_DIR", "log"),
    ):
        monkeypatch.setenv(name, str(base / sub))
    monkeypatch.delenv("EMOMV_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("EMOMV_LIBRARY_DB", raising=False)
    return base


@pytest.fixture(scope="session")
def emomv_data() -> Path:
    """The released EmoMV features. Absent in a plain clone (tests skip, saying so); CI requires them."""
    path = dataset_dir()
    if not (path / "DS3_EmoMV_C").is_dir():
        reason = (
            f"EmoMV feature files not found at {path}: set EMOMV_DATASET_DIR to a copy of the EmoMV "
            "collection (github.com/ivyha010/EmoMV or Zenodo 10.5281/zenodo.7011072)"
        )
        if os.environ.get("EMOMV_REQUIRE_DATA"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path
