"""The library index: storage, schema/migrations, transactions, folders, and indexing real files.

Storage tests feed features through ``Library.store_features`` (what the indexer calls after extraction);
indexing tests run the real random-init VGGish on real generated audio files.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest

from emomv_desktop.engine import indexer as indexer_module
from emomv_desktop.engine import library as library_module
from emomv_desktop.engine.errors import PathError
from emomv_desktop.engine.indexer import index_library
from emomv_desktop.engine.library import (
    GEOMETRY,
    Library,
    LibraryError,
    Migration,
    TrackStatus,
    WindowGeometry,
)
from emomv_desktop.engine.library import scan as scan_module
from emomv_desktop.engine.library import schema as schema_module
from emomv_desktop.engine.paths import display_path
from emomv_desktop.engine.protocol import MUSIC_BACKBONE, MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS

from .helpers import make_features


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
    with pytest.raises(PathError, match="too short"):
        store(lib, folder, "blip.wav", 0)
    assert lib.tracks() == []


def test_track_and_windows_are_one_transaction(lib, folder, monkeypatch):
    store(lib, folder, "kept.wav", 20, seed=1)

    def crash(*args, **kwargs):
        raise RuntimeError("crash between the track row and its windows")

    monkeypatch.setattr(Library, "_write_windows", crash)
    with pytest.raises(RuntimeError, match="crash between the track row"):
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
    # a history of one migration that builds today's tables, so the added one below is the second
    released = schema_module.MIGRATIONS
    today = Migration("0001_initial", lambda conn: [m.apply(conn) for m in released])
    monkeypatch.setattr(schema_module, "MIGRATIONS", (today,))
    with Library(db) as lib:
        store(lib, lib.add_folder(tmp_path), "a.wav", 12)
    assert _backups(db) == []  # a new database has nothing to back up
    calls = []

    def add_column(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE tracks ADD COLUMN rating INTEGER")

    shipped = [m.name for m in schema_module.MIGRATIONS]
    rating = f"{len(shipped) + 1:04d}_rating"  # the next number after the shipped migrations
    monkeypatch.setattr(schema_module, "MIGRATIONS", (*schema_module.MIGRATIONS, Migration(rating, add_column)))
    with Library(db) as lib:
        assert len(lib.tracks()) == 1
    (backup,) = _backups(db)
    with Library(db):
        pass
    assert calls == [1] and _backups(db) == [backup]
    with sqlite3.connect(db) as new, sqlite3.connect(backup) as old:
        assert [r[0] for r in new.execute("SELECT name FROM migrations")] == [*shipped, rating]
        assert [r[0] for r in old.execute("SELECT name FROM migrations")] == shipped
        assert old.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 1
        assert "rating" not in [r[1] for r in old.execute("PRAGMA table_info(tracks)")]
        assert new.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(len(shipped) + 1)


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


# ------------------------------------------------------------------ indexing real files with the real VGGish
from emomv_desktop.engine.backbones import VGGishExtractor  # noqa: E402
from emomv_desktop.engine.jobs import CancelToken  # noqa: E402
from emomv_desktop.engine.library import IndexProgress  # noqa: E402

from .. import media_factory  # noqa: E402

LONG_SECONDS = 40.0  # three 30 s windows (hop 4.8 s, the last aligned to the end)


class Rebranded:
    """The real extractor under another backbone id, as after an upgrade of the pretrained weights."""

    def __init__(self, extractor: VGGishExtractor, backbone_id: str) -> None:
        self._extractor = extractor
        self.backbone_id = backbone_id

    def __getattr__(self, name):
        return getattr(self._extractor, name)


@pytest.fixture(scope="session")
def music_dir(tmp_path_factory) -> Path:
    """Short tracks in every supported format plus one long tagged track, shared read-only by the tests."""
    folder = tmp_path_factory.mktemp("music")
    media_factory.write_audio_set(folder / "formats", seconds=3.0)
    tags = {"title": "Long Song", "artist": "The Testers", "album": "Generated"}
    media_factory.write_audio(folder / "long.flac", seconds=LONG_SECONDS, sample_rate=22_050, tags=tags, seed=4)
    (folder / "cover.jpg").write_bytes(b"\xff\xd8 not audio, ignored by extension")
    return folder


def copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    return Path(shutil.copytree(src, dst))


def test_index_a_generated_library(tmp_path, music_dir, vggish):
    events: list[IndexProgress] = []
    with Library(tmp_path / "lib.sqlite3", feature_dtype="float32") as lib:
        report = index_library(lib, vggish, folders=[music_dir], progress=events.append)
        tracks = {t.path.name: t for t in lib.tracks()}
        matrix = lib.window_features(vggish.backbone_id)
    files = sorted(p.name for p in music_dir.rglob("*") if p.suffix != ".jpg" and p.is_file())
    assert (report.indexed, report.failed, report.unchanged, report.removed) == (len(files), 0, 0, 0)
    assert report.errors == [] and not report.cancelled
    assert sorted(tracks) == files
    assert all(t.status is TrackStatus.INDEXED for t in tracks.values())
    long = tracks["long.flac"]
    assert (long.title, long.artist, long.album) == ("Long Song", "The Testers", "Generated")
    assert long.duration == pytest.approx(LONG_SECONDS, abs=0.05)
    assert report.audio_seconds == pytest.approx(LONG_SECONDS + 3.0 * (len(files) - 1), abs=0.5)
    counts = dict(zip(*np.unique(matrix.track_ids, return_counts=True)))
    assert counts[long.id] == 3 and all(counts[t.id] == 1 for n, t in tracks.items() if n != "long.flac")
    # decoding ahead of the network changes nothing: what is stored is exactly track_features', pooled
    reference = vggish.track_features(long.path)
    assert reference.duration == long.duration
    expected = GEOMETRY.pool(reference.frame_features, reference.duration)[2]
    np.testing.assert_array_equal(matrix.features[matrix.track_ids == long.id], expected)
    assert events[-1].done == events[-1].total == len(files)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert {e.path.name for e in events} == set(files)
    assert any(e.tracks_per_minute for e in events)


def test_rescan_is_incremental(tmp_path, music_dir, vggish):
    music = copy_tree(music_dir, tmp_path / "music")
    with Library(tmp_path / "lib.sqlite3") as lib:
        first = index_library(lib, vggish, folders=[music])
        ids = {t.path.name: t.id for t in lib.tracks()}
        again = index_library(lib, vggish)
        assert (again.indexed, again.unchanged, again.removed) == (0, first.indexed, 0)

        touched = music / "long.flac"
        os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1_000_000_000))
        (music / "formats" / "music-mp3.mp3").unlink()
        events: list[IndexProgress] = []
        after = index_library(lib, vggish, progress=events.append)
        assert (after.indexed, after.removed, after.unchanged) == (1, 1, first.indexed - 2)
        assert {e.path.name for e in events} == {"long.flac"}
        assert {t.path.name: t.id for t in lib.tracks()} == {n: i for n, i in ids.items() if n != "music-mp3.mp3"}

        upgraded = index_library(lib, Rebranded(vggish, "torchvggish/vggish/audioset/next-release"))
        assert (upgraded.indexed, upgraded.unchanged) == (first.indexed - 1, 0)
        assert len(lib.window_features(vggish.backbone_id)) == 0
        assert len(lib.window_features("torchvggish/vggish/audioset/next-release")) > 0


def test_bad_inputs_are_recorded_and_the_rest_indexes(tmp_path, vggish, monkeypatch):
    folder = tmp_path / "mixed"
    bad = media_factory.write_bad_inputs(folder, seconds=2.0)
    media_factory.write_audio(folder / "good.ogg", seconds=3.0)
    locked = bad["unreadable_dir"].parent
    if os.geteuid() == 0:  # root reads mode-000 folders anyway: make listing it fail as it would for a user
        real_scandir = os.scandir

        def scandir(path):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(scan_module.os, "scandir", scandir)
    try:
        with Library(tmp_path / "lib.sqlite3") as lib:
            report = index_library(lib, vggish, folders=[folder])
            failures = {t.path: t.error for t in lib.failures()}
            indexed = {t.path for t in lib.tracks(status=TrackStatus.INDEXED)}
    finally:
        locked.chmod(0o755)
    errors = dict(report.errors)
    for name in ("zero_byte", "truncated_flac", "truncated_mp3", "truncated_m4a", "text_as_mp3"):
        assert BAD_REASONS[name] in failures[bad[name]], (name, failures.get(bad[name]))
        assert errors[bad[name]] == failures[bad[name]]
    assert "permission denied" in errors[locked].lower()
    # an .mp4 with an audio track is a music video: its audio is indexed (it used to be ignored)
    assert indexed == {folder / "good.ogg", bad["multichannel_96k"], bad["non_utf8_name"], bad["no_video_mp4"]}
    assert bad["no_video_mp4"] not in failures
    assert (report.indexed, report.failed) == (4, 5)


BAD_REASONS = {k: v for k, v in media_factory.BAD_INPUT_ERRORS.items() if v}


def test_tracks_under_an_unreadable_or_missing_folder_are_kept(tmp_path, music_dir, vggish, monkeypatch):
    music = copy_tree(music_dir, tmp_path / "music")
    with Library(tmp_path / "lib.sqlite3") as lib:
        total = index_library(lib, vggish, folders=[music]).indexed
        real_scandir = os.scandir

        def scandir(path):
            if Path(path) == music / "formats":
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(scan_module.os, "scandir", scandir)
        report = index_library(lib, vggish)
        assert (report.removed, report.unchanged) == (0, 1) and len(lib.tracks()) == total
        monkeypatch.undo()
        music.rename(tmp_path / "unplugged")
        report = index_library(lib, vggish)
        assert report.removed == 0 and len(lib.tracks()) == total
        assert "not found" in dict(report.errors)[music]


def test_cancel_stops_between_tracks_and_the_next_run_resumes(tmp_path, music_dir, vggish):
    token = CancelToken()
    seen: list[Path] = []

    def progress(event: IndexProgress) -> None:
        if event.path not in seen:
            seen.append(event.path)
        if len(seen) == 3:
            token.cancel()

    with Library(tmp_path / "lib.sqlite3") as lib:
        report = index_library(lib, vggish, folders=[music_dir], progress=progress, cancel=token)
        assert report.cancelled and 1 <= report.indexed <= 2
        assert seen[2] not in {t.path for t in lib.tracks()}  # the track in flight is not stored
        resumed = index_library(lib, vggish)
        assert (resumed.unchanged, resumed.indexed + report.indexed) == (report.indexed, len(lib.tracks()))
        assert not resumed.cancelled


def test_an_unexpected_error_on_one_file_does_not_stop_the_library(tmp_path, music_dir, vggish, monkeypatch):
    # Fault injection: a decoder bug on one odd file, which no generated file triggers.
    real_probe = indexer_module.media.probe_audio

    def probe_audio(path):
        if Path(path).name == "long.flac":
            raise RuntimeError("decoder bug")
        return real_probe(path)

    monkeypatch.setattr(indexer_module.media, "probe_audio", probe_audio)
    with Library(tmp_path / "lib.sqlite3") as lib:
        report = index_library(lib, vggish, folders=[music_dir])
        (failed,) = lib.failures()
        total = len(lib.tracks())
    assert failed.path.name == "long.flac" and "unexpected error (RuntimeError: decoder bug)" in failed.error
    assert report.failed == 1 and report.indexed == total - 1 > 0


def test_music_videos_are_indexed_by_their_audio_and_silent_videos_are_listed_as_skipped(tmp_path, vggish):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("clip.mp4", "clip.mkv"):
        media_factory.write_video(folder / name, seconds=3.0, width=64, height=48, with_audio=True)
    media_factory.write_video(folder / "silent.mov", seconds=1.0, width=64, height=48)
    with Library(tmp_path / "lib.sqlite3") as lib:
        report = index_library(lib, vggish, folders=[folder])
        tracks = {t.path.name: t for t in lib.tracks()}
        failures = [t.path.name for t in lib.failures()]
        windows = lib.window_features(vggish.backbone_id)
        again = index_library(lib, vggish)
    assert (report.indexed, report.skipped, report.failed) == (2, 1, 0)
    for name in ("clip.mp4", "clip.mkv"):
        assert tracks[name].status is TrackStatus.INDEXED and tracks[name].duration == pytest.approx(3.0, abs=0.1)
        assert tracks[name].id in windows.track_ids
    silent = tracks["silent.mov"]
    assert failures == ["silent.mov"] and "skipped" in silent.error and "audio" in silent.error
    assert dict(report.errors) == {folder / "silent.mov": silent.error}
    assert (again.unchanged, again.indexed, again.skipped) == (3, 0, 0)  # not probed again until it changes


# ------------------------------------------------------------------------------ read-only and missing libraries
NOBODY = 65534


def run_where_permissions_bind(fn):
    """``fn()`` under file permissions that bind: here for a normal user; for root, which passes every
    permission check, in a forked child that switched to the unprivileged user ``nobody``. Returns its result."""
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only SQLite and numpy run here, then it leaves without Python's clean-up
        try:
            os.close(read)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                result = ("ok", fn())
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                result = ("error", repr(exc))
            os.write(write, pickle.dumps(result))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    status, value = pickle.loads(data)
    assert status == "ok", value
    return value


@pytest.fixture
def shared_folder():
    """A folder any user can enter (pytest's own temporary folders are private to the user running it)."""
    folder = Path(tempfile.mkdtemp(prefix="emomv-shared-"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(folder)


def test_a_read_only_library_can_be_read_and_gets_no_stray_files(shared_folder):
    db = shared_folder / "lib.sqlite3"
    with Library(db) as lib:
        store(lib, lib.add_folder(shared_folder), "a.wav", 40)
    db.chmod(0o444)
    shared_folder.chmod(0o555)  # a read-only share: neither the file nor the folder may be written
    before = (sorted(os.listdir(shared_folder)), db.read_bytes())

    def look():
        assert not os.access(db, os.W_OK)  # the permissions really bind here
        with Library(db) as lib:
            try:
                lib.add_folder(shared_folder.parent / "elsewhere")
            except LibraryError as exc:
                refused = str(exc)
            return (lib.read_only, [t.path.name for t in lib.tracks()], lib.stats().indexed,
                    len(lib.window_features(MUSIC_BACKBONE)), refused)

    read_only, names, indexed, windows, refused = run_where_permissions_bind(look)
    assert (read_only, names, indexed, windows) == (True, ["a.wav"], 1, 3)
    assert "read-only" in refused
    assert (sorted(os.listdir(shared_folder)), db.read_bytes()) == before  # no -wal/-shm, not a byte changed


def test_read_only_is_enforced_by_sqlite_even_where_the_os_would_allow_writes(tmp_path):
    db = tmp_path / "lib.sqlite3"
    with Library(db) as lib:
        store(lib, lib.add_folder(tmp_path), "a.wav", 12)
    before = db.read_bytes()
    with Library(db, read_only=True) as lib:
        assert [t.path.name for t in lib.tracks()] == ["a.wav"]
        with pytest.raises(LibraryError, match="read-only"):
            store(lib, tmp_path, "b.wav", 12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.sqlite3"] and db.read_bytes() == before
    with Library(db) as writer:  # a writer elsewhere holds a WAL: the reader sees its committed tracks
        store(writer, tmp_path, "b.wav", 12, seed=1)
        assert Path(f"{db}-wal").exists()
        with Library(db, read_only=True) as reader:
            assert [t.path.name for t in reader.tracks()] == ["a.wav", "b.wav"]


def test_a_read_only_library_that_needs_a_migration_says_so(tmp_path, monkeypatch):
    db = tmp_path / "lib.sqlite3"
    Library(db).close()
    monkeypatch.setattr(schema_module, "MIGRATIONS", (*schema_module.MIGRATIONS, Migration("0002_x", print)))
    with pytest.raises(LibraryError, match="needs an upgrade"):
        Library(db, read_only=True)


def test_opening_a_missing_library_to_look_creates_nothing(tmp_path):
    db = tmp_path / "not" / "yet" / "lib.sqlite3"
    for open_ in (lambda: Library(db, create=False), lambda: Library.open_existing(db)):
        with pytest.raises(LibraryError, match="no library database"):
            open_()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- beats
def _click_folder(folder: Path) -> dict[str, float]:
    """Two generated tracks at known tempi, written at 44.1 kHz (the indexer resamples to 16 kHz)."""
    tempi = {"click120.wav": 120.0, "pattern97.flac": 97.0}
    signals = (media_factory.click_track(120, 40, 44_100, accent_every=4), media_factory.beat_pattern(97, 40, 44_100))
    for name, (signal, _) in zip(tempi, signals):
        media_factory.write_audio(folder / name, data=signal[:, None], sample_rate=44_100)
    return tempi


def test_indexing_stores_each_tracks_tempo_from_the_vggish_decode(lib, folder, vggish, monkeypatch):
    tempi = _click_folder(folder)
    decodes = []
    real_iter = indexer_module.media.iter_audio
    monkeypatch.setattr(indexer_module.media, "iter_audio", lambda *a, **k: decodes.append(a) or real_iter(*a, **k))
    report = index_library(lib, vggish)
    assert report.indexed == 2 and report.beats_tracked == 0
    assert sorted(p.name for (p,) in decodes) == sorted(tempi)  # one decode per file: beats share VGGish's
    for track in lib.tracks():
        assert track.bpm == pytest.approx(tempi[track.path.name], rel=0.02)
    beats = lib.beats([t.id for t in lib.tracks()])
    assert all(len(b.beats) > 60 for b in beats.values())
    with lib.window_snapshot(MUSIC_BACKBONE) as snapshot:
        assert sorted(np.round(snapshot.tracks.bpms)) == [97.0, 120.0]


def test_a_library_from_before_beats_gets_them_at_its_rescan_without_vggish(tmp_path, vggish, monkeypatch):
    db = tmp_path / "lib.sqlite3"
    music = tmp_path / "music"
    music.mkdir()
    tempi = _click_folder(music)
    with Library(db) as lib:
        index_library(lib, vggish, folders=[music])
    with sqlite3.connect(db) as raw:  # back to the schema before beats: no table, no migration recorded
        raw.execute("DROP TABLE beats")
        raw.execute("DELETE FROM migrations WHERE name = '0003_beats'")
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    calls = []
    monkeypatch.setattr(type(vggish), "embed", lambda *a, **k: calls.append("embed"))
    monkeypatch.setattr(type(vggish), "stream_examples", lambda *a, **k: calls.append("stream") or iter(()))
    with Library(db) as lib:
        (backup,) = _backups(db)
        assert all(t.bpm is None for t in lib.tracks())
        report = index_library(lib, vggish)
        assert (report.indexed, report.unchanged, report.beats_tracked) == (0, 2, 2)
        assert calls == []
        for track in lib.tracks():
            assert track.bpm == pytest.approx(tempi[track.path.name], rel=0.02)
        assert index_library(lib, vggish).beats_tracked == 0  # done once
    with sqlite3.connect(backup) as old:
        assert "beats" not in [r[0] for r in old.execute("SELECT name FROM sqlite_master")]
