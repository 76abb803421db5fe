"""The library index: storage, schema/migrations, transactions, folders, and indexing real files.

Storage tests feed features through ``Library.store_features`` (what the indexer calls after extraction);
indexing tests run the real random-init VGGish on real generated audio files.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from emomv_desktop.engine import library as library_module
from emomv_desktop.engine.features import AudioInfo, TrackFeatures
from emomv_desktop.engine.library import (
    GEOMETRY,
    Library,
    LibraryError,
    Migration,
    TrackStatus,
    WindowGeometry,
    display_path,
)
from emomv_desktop.engine.protocol import MUSIC_BACKBONE, MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS


def make_features(path: Path, frames: int, *, seed: int = 0, duration: float | None = None, title=None):
    rng = np.random.default_rng(seed)
    duration = frames * VGGISH_FRAME_SECONDS + 0.5 if duration is None else duration
    info = AudioInfo(path, duration, 44100, 2, "pcm_s16le", title=title)
    return TrackFeatures(rng.random((frames, MUSIC_FEATURE_DIM), dtype=np.float32), duration, info)


def store(lib: Library, folder: Path, name: str | bytes, frames: int, *, seed: int = 0, backbone=MUSIC_BACKBONE):
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), os.fsencode(name))))
    return lib.store_features(path, make_features(path, frames, seed=seed), backbone, size=frames, mtime_ns=seed,
                              folder=folder)


@pytest.fixture
def lib(tmp_path):
    with Library(tmp_path / "lib.sqlite3") as library:
        yield library


@pytest.fixture
def folder(lib, tmp_path):
    path = tmp_path / "music"
    path.mkdir()
    return lib.add_folder(path)


# ------------------------------------------------------------------------------------------ geometry
def test_geometry_is_the_papers_30s_segment_in_whole_frames():
    assert (GEOMETRY.window_frames, GEOMETRY.hop_frames) == (31, 5)  # 29.76 s windows, 4.8 s hop
    assert GEOMETRY.window_frames * VGGISH_FRAME_SECONDS <= library_module.WINDOW_SECONDS


@pytest.mark.parametrize(
    "frames, firsts",
    [(1, [0]), (31, [0]), (32, [0, 1]), (40, [0, 5, 9]), (41, [0, 5, 10]), (46, [0, 5, 10, 15])],
)
def test_windows_cover_the_track_and_the_last_is_aligned_to_its_end(frames, firsts):
    assert GEOMETRY.first_frames(frames).tolist() == firsts


def test_pooled_windows_are_the_mean_of_their_frames():
    geometry = WindowGeometry(window_frames=4, hop_frames=3)
    feats = np.random.default_rng(1).random((11, MUSIC_FEATURE_DIM), dtype=np.float32)
    starts, ends, means = geometry.pool(feats, duration=11.0)
    firsts = [0, 3, 6, 7]
    np.testing.assert_allclose(starts, np.array(firsts) * 0.96, rtol=1e-6)
    np.testing.assert_allclose(ends, (np.array(firsts) + 4) * 0.96, rtol=1e-6)
    for k, f in enumerate(firsts):
        np.testing.assert_allclose(means[k], feats[f : f + 4].mean(0), rtol=1e-5)


def test_a_track_shorter_than_a_window_gets_one_window_over_all_of_it():
    feats = np.ones((5, MUSIC_FEATURE_DIM), np.float32)
    starts, ends, means = GEOMETRY.pool(feats, duration=5.3)
    assert starts.tolist() == [0.0] and ends.tolist() == pytest.approx([5.3])
    np.testing.assert_allclose(means, feats[:1])


# ------------------------------------------------------------------------------------------- storage
def test_stored_windows_round_trip_in_float16(lib, folder):
    track_id = store(lib, folder, "a.wav", 40, seed=3)
    matrix = lib.window_features(MUSIC_BACKBONE)
    expected = GEOMETRY.pool(make_features(folder / "a.wav", 40, seed=3).frame_features, 0)[2]
    assert matrix.track_ids.tolist() == [track_id] * 3
    assert matrix.features.dtype == np.float32
    np.testing.assert_allclose(matrix.features, expected, rtol=1e-3, atol=1e-3)
    assert not np.array_equal(matrix.features, expected)  # float16 storage is lossy, by design


def test_float32_library_stores_features_exactly(tmp_path):
    with Library(tmp_path / "f32.sqlite3", feature_dtype="float32") as lib:
        folder = lib.add_folder(tmp_path)
        store(lib, folder, "a.wav", 40, seed=3)
        expected = GEOMETRY.pool(make_features(folder / "a.wav", 40, seed=3).frame_features, 0)[2]
        np.testing.assert_array_equal(lib.window_features(MUSIC_BACKBONE).features, expected)
    with Library(tmp_path / "f32.sqlite3") as reopened:  # the dtype is the database's, not the caller's default
        assert reopened.feature_dtype == np.float32


def test_windows_are_grouped_by_track_and_filtered_by_backbone(lib, folder):
    ids = [store(lib, folder, f"t{i}.wav", frames, seed=i) for i, frames in enumerate((10, 50, 31))]
    store(lib, folder, "other.wav", 20, backbone="some/other-backbone")
    matrix = lib.window_features(MUSIC_BACKBONE)
    counts = [len(GEOMETRY.first_frames(n)) for n in (10, 50, 31)]
    assert matrix.track_ids.tolist() == np.repeat(ids, counts).tolist()
    assert len(lib.window_features("some/other-backbone")) == 1
    assert lib.stats().windows == sum(counts) + 1


def test_a_track_without_frames_is_refused(lib, folder):
    with pytest.raises(library_module.PathError, match="too short"):
        store(lib, folder, "blip.wav", 0)
    assert lib.tracks() == []


def test_track_and_windows_are_one_transaction(lib, folder, monkeypatch):
    store(lib, folder, "kept.wav", 20, seed=1)

    def crash(*args, **kwargs):
        raise RuntimeError("crash between the track row and its windows")

    monkeypatch.setattr(Library, "_write_windows", crash)
    with pytest.raises(RuntimeError):
        store(lib, folder, "lost.wav", 20, seed=2)
    assert [t.path.name for t in lib.tracks()] == ["kept.wav"]
    with sqlite3.connect(lib.path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM tracks t LEFT JOIN windows w ON w.track_id = t.id "
                           "WHERE w.track_id IS NULL AND t.status = 'indexed'").fetchone()[0] == 0


def test_failure_replaces_features(lib, folder):
    track_id = store(lib, folder, "a.wav", 40)
    lib.store_failure(folder / "a.wav", "truncated file", MUSIC_BACKBONE, size=1, mtime_ns=2, folder=folder)
    (track,) = lib.tracks()
    assert (track.id, track.status, track.error) == (track_id, TrackStatus.FAILED, "truncated file")
    assert lib.failures() == [track]
    assert len(lib.window_features(MUSIC_BACKBONE)) == 0


def test_non_utf8_names_are_stored_losslessly(lib, folder):
    name = b"caf\xe9-latin1.wav"  # Latin-1 bytes: not valid UTF-8
    store(lib, folder, name, 12)
    (track,) = lib.tracks()
    assert os.fsencode(track.path) == os.path.join(os.fsencode(folder), name)
    assert display_path(track.path).endswith("caf\ufffd-latin1.wav")


def test_generation_changes_with_every_write(lib, folder):
    before = lib.generation()
    store(lib, folder, "a.wav", 12)
    after_store = lib.generation()
    lib.remove_folder(folder)
    assert before < after_store < lib.generation()


# ------------------------------------------------------------------------------------------- folders
def test_folders_never_nest(lib, tmp_path):
    parent, child = tmp_path / "p", tmp_path / "p" / "c"
    child.mkdir(parents=True)
    lib.add_folder(child)
    store(lib, child.resolve(), "a.wav", 12)
    assert lib.add_folder(parent) == parent.resolve()
    assert lib.folders() == [parent.resolve()]  # the child was absorbed, with its track
    assert lib.add_folder(child) == parent.resolve()
    assert lib.remove_folder(parent) == 1
    assert lib.folders() == [] and lib.tracks() == []


def test_removing_an_unknown_folder_is_an_error(lib, tmp_path):
    with pytest.raises(LibraryError, match="not a library folder"):
        lib.remove_folder(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------- migrations
def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".backup-*"))


def test_migrations_run_once_after_a_backup(tmp_path, monkeypatch):
    db = tmp_path / "lib.sqlite3"
    with Library(db) as lib:
        store(lib, lib.add_folder(tmp_path), "a.wav", 12)
    assert _backups(db) == []  # a new database has nothing to back up
    calls = []

    def add_column(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE tracks ADD COLUMN rating INTEGER")

    monkeypatch.setattr(library_module, "MIGRATIONS", (*library_module.MIGRATIONS, Migration("0002_rating", add_column)))
    with Library(db) as lib:
        assert len(lib.tracks()) == 1
    (backup,) = _backups(db)
    with Library(db):
        pass
    assert calls == [1] and _backups(db) == [backup]
    with sqlite3.connect(db) as new, sqlite3.connect(backup) as old:
        assert [r[0] for r in new.execute("SELECT name FROM migrations")] == ["0001_initial", "0002_rating"]
        assert [r[0] for r in old.execute("SELECT name FROM migrations")] == ["0001_initial"]
        assert old.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 1
        assert "rating" not in [r[1] for r in old.execute("PRAGMA table_info(tracks)")]
        assert new.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"


def test_a_database_from_a_newer_app_is_refused(tmp_path):
    db = tmp_path / "lib.sqlite3"
    Library(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO migrations (name, applied_at) VALUES ('0099_future', 0)")
    with pytest.raises(LibraryError, match="newer EmoMV Desktop"):
        Library(db)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    db = tmp_path / "lib.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match=str(db)):
        Library(db)


def test_wal_and_foreign_keys_are_on(lib):
    with sqlite3.connect(lib.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert lib._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
