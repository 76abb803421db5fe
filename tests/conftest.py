"""Shared test set-up: isolated app folders, offscreen Qt, the real EmoMV data, the CLI tests' library."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emomv_desktop.engine.paths import dataset_dir
from tests import media_factory
from tests.cli_helpers import CLIPS, captured_run, save_random_model, use_random_networks

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


# ------------------------------------------- the command-line tests' networks, library and model (test_cli*.py)
@pytest.fixture(scope="module")
def networks():
    """The real SlowFast and VGGish architectures with random weights, built once for the module."""
    from emomv_desktop.engine import loading

    return loading.load_extractors("cpu", allow_random=True, clips_per_window=CLIPS)


@pytest.fixture
def random_backbones(networks, monkeypatch):
    use_random_networks(monkeypatch, networks)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, networks):
    """A library of five tracks (several formats, 4-36 s, tagged) and a broken file, indexed through the CLI."""
    folder = tmp_path_factory.mktemp("cli-media")
    music = folder / "music"
    music.mkdir()
    for i, fmt in enumerate(("wav", "flac", "ogg", "mp3", "m4a")):
        media_factory.write_audio(music / f"song{i}.{fmt}", fmt, seconds=4.0 + 8 * i, seed=i,
                                  tags={"title": f"Song {i}", "artist": "CLI Band"})
    (music / "broken.mp3").write_text("not music")
    video = media_factory.write_video(folder / "cut.mp4", seconds=6.0)
    db = folder / "library.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        use_random_networks(patch, networks)
        first = captured_run(["--library", db, "index", music, "--device", "cpu"])
    return db, music, video, first


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    path = save_random_model(tmp_path / "model.pt")
    monkeypatch.setenv("EMOMV_MODEL", str(path))
    return path
