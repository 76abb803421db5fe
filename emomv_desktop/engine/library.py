"""The music library index: one SQLite file holding every track's VGGish window features.

What is stored, and why
    Per track: path, size and mtime (the identity used for incremental rescans), duration, tags, status
    (indexed / failed + the error), the backbone and window geometry its features were computed with.
    Per track one ``windows`` row holds all its windows: start/end (seconds) and the mean of the 128-d
    VGGish frame features over each window. Backbone features are stored, not head embeddings, so a new
    retrieval model never forces re-decoding; embeddings are computed (and cached) by ``engine.ranking``.

Window geometry (measured choice, see docs/engine-library.md)
    Windows are the paper's 30 s segments: 31 VGGish frames (29.76 s), hop 5 frames (4.8 s); a track
    shorter than a window gets one window covering all of it; the last window is aligned to the track's
    end so the tail is never lost. Features are stored as float16 by default: for 50k four-minute tracks
    that is ~0.56 GB instead of 1.1 GB, and it moves cosine scores by ~2e-4 (the EmoMV-C retrieval mAP by
    ~1e-5). The dtype is recorded per database (``Library(..., feature_dtype=...)`` at creation).

One ``windows`` row per track (a blob of all its windows) rather than one row per window: 50k rows load
in a fraction of a second where 2.2M rows take seconds through Python's sqlite3, and the file is smaller.

Durability
    WAL journal, foreign keys on, ``synchronous=NORMAL`` (durable against a crash of the app, e.g.
    ``kill -9``; a power cut may lose the last transactions but never corrupts). Every track is one
    transaction (its row and its windows together), so a crash loses at most the track in flight.
    All SQL goes through :meth:`Library._transaction`. Named migrations run once at open, after a backup
    copy of the database (beets' dbcore pattern).

Threads
    A :class:`Library` belongs to the thread that opened it (sqlite3 enforces this); each worker thread
    opens its own. WAL lets one writer (the indexer) and many readers (the ranker, the GUI) work at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import os
import queue
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import media, paths
from .errors import Cancelled, EngineError, PathError
from .features import AudioInfo, TrackFeatures
from .jobs import CancelToken, Progress, ProgressCallback, check
from .protocol import AUDIO_SAMPLE_RATE, MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS

if TYPE_CHECKING:  # the network itself is only needed by whoever builds the extractor
    from .backbones import VGGishExtractor

_log = logging.getLogger(__name__)

__all__ = [
    "AUDIO_EXTENSIONS",
    "FEATURE_DTYPE",
    "HOP_SECONDS",
    "WINDOW_SECONDS",
    "IndexProgress",
    "IndexReport",
    "Library",
    "LibraryError",
    "LibraryStats",
    "Track",
    "TrackStatus",
    "TrackTable",
    "WindowSnapshot",
    "WindowGeometry",
    "WindowMatrix",
    "GEOMETRY",
    "display_path",
]

WINDOW_SECONDS = 30.0
"""Nominal window length (the paper's segment); the exact length is a whole number of VGGish frames."""

HOP_SECONDS = 5.0
"""Nominal hop between window starts (the best-section resolution)."""

FEATURE_DTYPE = "float16"
"""Storage dtype of window features in a new library (``float16`` or ``float32``)."""

_FEATURE_DTYPES = ("float16", "float32")

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".alac", ".aif", ".aiff", ".wma", ".mka"}
)
"""File name suffixes (lower case) the indexer picks up; everything else in a folder is ignored."""

DECODE_AHEAD_CHUNKS = 8
"""Log-mel chunks (64 examples, ~1.5 MB each) the decode thread may prepare ahead of the network."""

_BUSY_TIMEOUT_MS = 30_000

_RANKABLE = "t.status = ? AND t.backbone = ? AND t.windowing = ?"
"""SQL condition (status, backbone, windowing) selecting the tracks whose windows a ranking can use."""


class TrackStatus(str, enum.Enum):
    """State of a track in the index."""

    INDEXED = "indexed"
    FAILED = "failed"


class _Meta(str, enum.Enum):
    """Keys of the ``meta`` table."""

    SCHEMA_VERSION = "schema_version"
    FEATURE_DTYPE = "feature_dtype"
    WINDOWING = "windowing"
    GENERATION = "generation"


class LibraryError(PathError):
    """The library database itself cannot be used (unreadable, not a library, from a newer version, locked)."""


def display_path(path: Path | str) -> str:
    """``path`` as printable text: bytes that are not valid UTF-8 become U+FFFD instead of crashing a print."""
    return os.fsencode(path).decode("utf-8", errors="replace")


# ------------------------------------------------------------------------------------------ window geometry
@dataclasses.dataclass(frozen=True)
class WindowGeometry:
    """How per-frame VGGish features are pooled into windows, in whole frames (what is pooled is reported)."""

    window_frames: int
    hop_frames: int
    frame_seconds: float = VGGISH_FRAME_SECONDS

    @classmethod
    def from_seconds(cls, window: float, hop: float, frame_seconds: float = VGGISH_FRAME_SECONDS) -> "WindowGeometry":
        """Nominal seconds -> frames: the window never exceeds ``window`` (30 s -> 31 frames = 29.76 s)."""
        return cls(max(1, int(window / frame_seconds + 1e-9)), max(1, round(hop / frame_seconds)), frame_seconds)

    @property
    def key(self) -> str:
        """Identifies the geometry in the database: features made with another geometry are re-indexed."""
        return f"vggish-frames:{self.window_frames}/{self.hop_frames}@{self.frame_seconds:g}s"

    def first_frames(self, n_frames: int) -> np.ndarray:
        """First frame of each window of a track with ``n_frames`` frames (the last one aligned to the end)."""
        if n_frames <= self.window_frames:
            return np.zeros(1, dtype=np.int64)
        last = n_frames - self.window_frames
        firsts = np.arange(0, last + 1, self.hop_frames, dtype=np.int64)
        return firsts if firsts[-1] == last else np.append(firsts, last)

    def pool(self, frame_features: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(n, 128)`` frame features -> window ``starts``, ``ends`` (s, float32) and means ``(K, 128)`` float32.

        Means are taken from a float64 cumulative sum (exact enough, one pass, no per-window loop). A track
        shorter than one window gets one window ``[0, duration]`` over all its frames.
        """
        n = len(frame_features)
        if n == 0:
            raise ValueError("no frames to pool")
        firsts = self.first_frames(n)
        stops = np.minimum(firsts + self.window_frames, n)
        cumsum = np.zeros((n + 1, frame_features.shape[1]), dtype=np.float64)
        np.cumsum(frame_features, axis=0, dtype=np.float64, out=cumsum[1:])
        means = (cumsum[stops] - cumsum[firsts]) / (stops - firsts)[:, None]
        starts = firsts * self.frame_seconds
        ends = stops * self.frame_seconds
        if n <= self.window_frames:
            ends = np.array([duration])
        return starts.astype(np.float32), ends.astype(np.float32), means.astype(np.float32)


GEOMETRY = WindowGeometry.from_seconds(WINDOW_SECONDS, HOP_SECONDS)


# ------------------------------------------------------------------------------------------------ records
@dataclasses.dataclass(frozen=True)
class Track:
    """One file of the library. ``mtime`` is in seconds; ``error`` is set when ``status`` is FAILED."""

    id: int
    path: Path
    size: int
    mtime: float
    duration: float | None
    title: str | None
    artist: str | None
    album: str | None
    status: TrackStatus
    error: str | None


@dataclasses.dataclass(frozen=True)
class WindowMatrix:
    """Every stored window of the tracks indexed with one backbone, sorted by track id then start.

    ``track_ids``/``starts``/``ends`` are ``(W,)``; ``features`` is ``(W, 128)`` float32. Windows of one track
    are contiguous, which lets the ranking reduce per track without a Python loop.
    """

    track_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)

    @classmethod
    def concatenate(cls, parts: Sequence["WindowMatrix"]) -> "WindowMatrix":
        if not parts:
            return cls(
                np.zeros(0, np.int64),
                np.zeros(0, np.float32),
                np.zeros(0, np.float32),
                np.zeros((0, MUSIC_FEATURE_DIM), np.float32),
            )
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))


@dataclasses.dataclass(frozen=True)
class TrackTable:
    """The indexed tracks of one backbone in track-id order: row ``i`` owns the ``i``-th run of windows."""

    ids: np.ndarray
    counts: np.ndarray
    durations: np.ndarray
    paths: list[Path]
    titles: list[str | None]
    artists: list[str | None]
    albums: list[str | None]

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> "TrackTable":
        ids, counts, durations, raw_paths, titles, artists, albums = zip(*rows) if rows else ((),) * 7
        return cls(
            np.array(ids, dtype=np.int64),
            np.array(counts, dtype=np.int64),
            np.array(durations, dtype=np.float64),
            [Path(os.fsdecode(p)) for p in raw_paths],
            list(titles),
            list(artists),
            list(albums),
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclasses.dataclass
class WindowSnapshot:
    """See :meth:`Library.window_snapshot`. ``chunks`` must be consumed inside the ``with`` block."""

    generation: int
    tracks: TrackTable
    windows: int
    chunks: Iterator[WindowMatrix]


@dataclasses.dataclass(frozen=True)
class LibraryStats:
    """Counts for a status line. ``db_bytes`` includes the WAL file."""

    tracks: int
    indexed: int
    failed: int
    windows: int
    db_bytes: int


@dataclasses.dataclass
class IndexReport:
    """What one :meth:`Library.index` run did. ``errors`` lists ``(path, reason)`` for files and folders.

    A cancelled run returns its report with ``cancelled=True``: the tracks finished before the cancel are
    stored and counted.
    """

    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    cancelled: bool = False
    errors: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    audio_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class IndexProgress(Progress):
    """:class:`Progress` of indexing: ``done``/``total`` count files (fractional within a track).

    ``path`` is the file being worked on, ``tracks_per_minute`` the rate so far (None before the first).
    """

    path: Path | None = None
    tracks_per_minute: float | None = None


# ----------------------------------------------------------------------------------------------- scanning
@dataclasses.dataclass(frozen=True)
class _FileEntry:
    path: Path
    size: int
    mtime_ns: int
    folder_id: int


@dataclasses.dataclass
class _Scan:
    files: list[_FileEntry] = dataclasses.field(default_factory=list)
    errors: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    unlisted: list[Path] = dataclasses.field(default_factory=list)  # folders whose content is unknown this run
    scanned_folders: list[int] = dataclasses.field(default_factory=list)


def _is_under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _walk_audio(root: Path, folder_id: int, scan: _Scan) -> None:
    """Collect the audio files under ``root`` (recursively, hidden entries skipped, symlink loops broken).

    A folder that cannot be listed and a file that cannot be stat'ed become errors; the rest goes on.
    """
    seen_dirs: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen_dirs:
                continue
            seen_dirs.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            scan.errors.append((folder, f"cannot read folder ({exc.strerror or exc})"))
            scan.unlisted.append(folder)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir():
                    stack.append(path)
                    continue
                if path.suffix.lower() not in AUDIO_EXTENSIONS:
                    continue
                st = entry.stat()
            except OSError as exc:
                scan.errors.append((path, f"cannot read file information ({exc.strerror or exc})"))
                scan.unlisted.append(path)
                continue
            if stat.S_ISREG(st.st_mode):
                scan.files.append(_FileEntry(path, st.st_size, st.st_mtime_ns, folder_id))


# --------------------------------------------------------------------------------------------- migrations
@dataclasses.dataclass(frozen=True)
class Migration:
    """A named schema change. Applied once, in order, recorded in the ``migrations`` table."""

    name: str
    apply: Callable[[sqlite3.Connection], None]


def _initial_schema(db: sqlite3.Connection) -> None:
    # Paths are BLOBs of the OS's bytes (os.fsencode): lossless for names that are not valid UTF-8.
    for statement in (
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE folders (
               id INTEGER PRIMARY KEY,
               path BLOB NOT NULL UNIQUE,
               added_at REAL NOT NULL)""",
        """CREATE TABLE tracks (
               id INTEGER PRIMARY KEY,
               path BLOB NOT NULL UNIQUE,
               folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
               size INTEGER NOT NULL,
               mtime_ns INTEGER NOT NULL,
               backbone TEXT NOT NULL,
               windowing TEXT NOT NULL,
               duration REAL,
               title TEXT,
               artist TEXT,
               album TEXT,
               status TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
               error TEXT,
               indexed_at REAL NOT NULL)""",
        """CREATE INDEX tracks_folder ON tracks(folder_id)""",
        """CREATE TABLE windows (
               track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
               count INTEGER NOT NULL CHECK (count > 0),
               starts BLOB NOT NULL,
               ends BLOB NOT NULL,
               features BLOB NOT NULL)""",
    ):
        db.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (Migration("0001_initial", _initial_schema),)
"""Every schema change ever made, in order. Append only; never edit or reorder a released one."""


def _migration_names(db: sqlite3.Connection) -> list[str]:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    return [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")]


# -------------------------------------------------------------------------------------------------- library
class Library:
    """The library index in one SQLite file (default :func:`paths.library_db`).

    Opening creates the file if needed and migrates it (after a backup copy). ``feature_dtype`` only
    matters for a new file; an existing one keeps the dtype it was created with.
    """

    def __init__(self, path: Path | str | None = None, *, feature_dtype: str = FEATURE_DTYPE) -> None:
        if feature_dtype not in _FEATURE_DTYPES:
            raise ValueError(f"feature_dtype must be one of {_FEATURE_DTYPES}, not {feature_dtype!r}")
        self.path = Path(path) if path is not None else paths.library_db()
        self._db = self._connect()
        try:
            self._migrate()
            self._init_meta(feature_dtype)
            self.feature_dtype = np.dtype(self._meta(_Meta.FEATURE_DTYPE))
        except BaseException:
            self._db.close()
            raise

    # ------------------------------------------------------------------------------------- connection
    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(self.path, f"cannot open the library database ({exc})") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise LibraryError(self.path, f"not a usable library database ({exc})") from exc
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The one way SQL runs: a transaction (IMMEDIATE for writes, so a writer waits instead of failing).

        SQLite errors (locked past the timeout, disk full, corrupt file) become :class:`LibraryError`.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LibraryError(self.path, f"library database error ({exc})") from exc

    def _bump_generation(self, db: sqlite3.Connection) -> None:
        """Mark a change of tracks or windows (invalidates the rankers' embedding caches)."""
        db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (_Meta.GENERATION.value,)
        )

    def _meta(self, key: _Meta) -> str:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key.value,)).fetchone()
        if row is None:
            raise LibraryError(self.path, f"library database has no {key.value} (not an EmoMV library?)")
        return row[0]

    # ------------------------------------------------------------------------------------- migrations
    def _migrate(self) -> None:
        """Apply pending :data:`MIGRATIONS` once, after copying an existing database aside."""
        known = [m.name for m in MIGRATIONS]
        with self._transaction(write=True) as db:
            applied = _migration_names(db)
        unknown = [name for name in applied if name not in known]
        if unknown:
            raise LibraryError(
                self.path, f"made by a newer EmoMV Desktop (unknown schema changes {', '.join(unknown)}); update the app"
            )
        if len(applied) == len(known):
            return
        if applied:
            self._backup(f"schema{len(applied)}")
        with self._transaction(write=True) as db:
            applied = _migration_names(db)  # another connection may have migrated meanwhile
            for migration in MIGRATIONS:
                if migration.name not in applied:
                    migration.apply(db)
                    db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (migration.name, time.time()))
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (_Meta.SCHEMA_VERSION.value, str(len(MIGRATIONS))),
            )

    def _backup(self, label: str) -> Path:
        """Copy the database (consistent snapshot through SQLite's backup API) beside it; returns the copy."""
        target = self.path.with_name(f"{self.path.name}.backup-{label}-{time.strftime('%Y%m%d-%H%M%S')}")
        with contextlib.closing(sqlite3.connect(target)) as copy:
            self._db.backup(copy)
        return target

    def _init_meta(self, feature_dtype: str) -> None:
        defaults = {
            _Meta.FEATURE_DTYPE: feature_dtype,
            _Meta.WINDOWING: GEOMETRY.key,
            _Meta.GENERATION: "0",
        }
        with self._transaction(write=True) as db:
            db.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", [(k.value, v) for k, v in defaults.items()]
            )
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (GEOMETRY.key, _Meta.WINDOWING.value))

    # ---------------------------------------------------------------------------------------- folders
    def folders(self) -> list[Path]:
        """The registered library folders, sorted."""
        with self._transaction() as db:
            rows = db.execute("SELECT path FROM folders").fetchall()
        return sorted(Path(os.fsdecode(row[0])) for row in rows)

    def add_folder(self, path: Path | str) -> Path:
        """Register a folder (absolute, resolved); returns the registered folder that covers it.

        Folders never nest: adding a folder inside a registered one is a no-op (it is covered already);
        adding a parent of registered folders absorbs them (their tracks move under the parent).
        """
        folder = Path(path).expanduser().resolve()
        with self._transaction(write=True) as db:
            registered = {Path(os.fsdecode(p)): i for i, p in db.execute("SELECT id, path FROM folders")}
            for existing in registered:
                if _is_under(folder, existing):
                    return existing
            cur = db.execute("INSERT INTO folders (path, added_at) VALUES (?, ?)", (os.fsencode(folder), time.time()))
            new_id = cur.lastrowid
            for existing, old_id in registered.items():
                if _is_under(existing, folder):
                    db.execute("UPDATE tracks SET folder_id = ? WHERE folder_id = ?", (new_id, old_id))
                    db.execute("DELETE FROM folders WHERE id = ?", (old_id,))
        return folder

    def remove_folder(self, path: Path | str) -> int:
        """Unregister a folder and drop its tracks; returns how many tracks were dropped."""
        folder = os.fsencode(Path(path).expanduser().resolve())
        with self._transaction(write=True) as db:
            row = db.execute("SELECT id FROM folders WHERE path = ?", (folder,)).fetchone()
            if row is None:
                raise LibraryError(Path(os.fsdecode(folder)), "is not a library folder")
            dropped = db.execute("SELECT COUNT(*) FROM tracks WHERE folder_id = ?", row).fetchone()[0]
            db.execute("DELETE FROM folders WHERE id = ?", row)
            self._bump_generation(db)
        return dropped

    def _folder_ids(self, folders: Iterable[Path | str] | None) -> dict[Path, int]:
        """Registered folders to scan: ``folders`` (registered now if new), or all of them."""
        if folders is not None:
            wanted = {self.add_folder(f) for f in folders}
        with self._transaction() as db:
            rows = db.execute("SELECT id, path FROM folders").fetchall()
        ids = {Path(os.fsdecode(p)): i for i, p in rows}
        return ids if folders is None else {f: ids[f] for f in sorted(wanted)}

    # ----------------------------------------------------------------------------------------- reading
    def tracks(self, *, status: TrackStatus | None = None) -> list[Track]:
        """Every track (or those with ``status``), by path."""
        sql = (
            "SELECT id, path, size, mtime_ns, duration, title, artist, album, status, error FROM tracks"
            + (" WHERE status = ?" if status else "")
            + " ORDER BY path"
        )
        with self._transaction() as db:
            rows = db.execute(sql, (status.value,) if status else ()).fetchall()
        return [
            Track(i, Path(os.fsdecode(p)), size, mtime / 1e9, dur, title, artist, album, TrackStatus(st), err)
            for i, p, size, mtime, dur, title, artist, album, st, err in rows
        ]

    def failures(self) -> list[Track]:
        """Tracks that could not be indexed, with their error."""
        return self.tracks(status=TrackStatus.FAILED)

    def generation(self) -> int:
        """A number that changes whenever tracks or windows change (cheap; used to invalidate caches)."""
        return int(self._meta(_Meta.GENERATION))

    def stats(self) -> LibraryStats:
        with self._transaction() as db:
            counts = dict(db.execute("SELECT status, COUNT(*) FROM tracks GROUP BY status").fetchall())
            windows = db.execute("SELECT COALESCE(SUM(count), 0) FROM windows").fetchone()[0]
        db_bytes = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        indexed = counts.get(TrackStatus.INDEXED.value, 0)
        failed = counts.get(TrackStatus.FAILED.value, 0)
        return LibraryStats(indexed + failed, indexed, failed, windows, db_bytes)

    @contextlib.contextmanager
    def window_snapshot(self, backbone_id: str, *, chunk_tracks: int = 4096) -> Iterator["WindowSnapshot"]:
        """One consistent read of everything ranking needs, for tracks indexed with ``backbone_id``.

        Inside the ``with`` block a single read transaction is open (WAL: an indexer may keep writing;
        this reader sees the state at its start): the generation, the track table, the window count, and
        the windows in chunks of ``chunk_tracks`` tracks (chunks bound the float32 copy; the ranker embeds
        chunk by chunk into arrays it allocated from ``windows``).
        """
        params = (TrackStatus.INDEXED.value, backbone_id, GEOMETRY.key)
        with self._transaction() as db:
            generation = int(db.execute("SELECT value FROM meta WHERE key = ?", (_Meta.GENERATION.value,)).fetchone()[0])
            rows = db.execute(
                "SELECT t.id, w.count, t.duration, t.path, t.title, t.artist, t.album FROM tracks t"
                f" JOIN windows w ON w.track_id = t.id WHERE {_RANKABLE} ORDER BY t.id",
                params,
            ).fetchall()
            table = TrackTable.from_rows(rows)
            chunks = self._window_chunks(db, params, chunk_tracks)
            yield WindowSnapshot(generation, table, int(table.counts.sum()), chunks)

    def _window_chunks(self, db: sqlite3.Connection, params: tuple, chunk_tracks: int) -> Iterator[WindowMatrix]:
        cursor = db.execute(
            "SELECT w.track_id, w.count, w.starts, w.ends, w.features FROM windows w"
            f" JOIN tracks t ON t.id = w.track_id WHERE {_RANKABLE} ORDER BY t.id",
            params,
        )
        while rows := cursor.fetchmany(chunk_tracks):
            yield self._decode_windows(rows)

    def window_features(self, backbone_id: str) -> WindowMatrix:
        """All windows of tracks indexed with ``backbone_id`` as one matrix (see :class:`WindowMatrix`)."""
        with self.window_snapshot(backbone_id) as snapshot:
            return WindowMatrix.concatenate(list(snapshot.chunks))

    def _decode_windows(self, rows: list[tuple]) -> WindowMatrix:
        counts = np.array([row[1] for row in rows], dtype=np.int64)
        features = np.frombuffer(b"".join(row[4] for row in rows), dtype=self.feature_dtype)
        return WindowMatrix(
            np.repeat(np.array([row[0] for row in rows], dtype=np.int64), counts),
            np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32),
            np.frombuffer(b"".join(row[3] for row in rows), dtype=np.float32),
            features.reshape(-1, MUSIC_FEATURE_DIM).astype(np.float32),
        )

    # ----------------------------------------------------------------------------------------- writing
    def store_features(
        self, path: Path | str, features: TrackFeatures, backbone_id: str, *, size: int, mtime_ns: int, folder: Path
    ) -> int:
        """Store one track's features, pooled into windows, in one transaction; returns the track id.

        ``folder`` must be registered. Used by the indexer and by callers that bring their own features
        (e.g. EmoMV's released per-segment VGGish features). Raises :class:`PathError` for a track too short
        to have a single VGGish frame.
        """
        path = Path(path)
        if len(features.frame_features) == 0:
            raise PathError(path, f"too short to index ({features.duration:.2f} s; at least {VGGISH_FRAME_SECONDS} s)")
        starts, ends, means = GEOMETRY.pool(features.frame_features, features.duration)
        info = features.info
        with self._transaction(write=True) as db:
            track_id = self._upsert_track(
                db, path, folder, size, mtime_ns, backbone_id, features.duration, info, TrackStatus.INDEXED, None
            )
            self._write_windows(db, track_id, starts, ends, means)
        return track_id

    def store_failure(
        self, path: Path | str, reason: str, backbone_id: str, *, size: int, mtime_ns: int, folder: Path
    ) -> int:
        """Record that ``path`` could not be indexed (and drop any features it had); returns the track id."""
        with self._transaction(write=True) as db:
            track_id = self._upsert_track(
                db, Path(path), folder, size, mtime_ns, backbone_id, None, None, TrackStatus.FAILED, reason
            )
            db.execute("DELETE FROM windows WHERE track_id = ?", (track_id,))
        return track_id

    def _upsert_track(self, db, path, folder, size, mtime_ns, backbone_id, duration, info, status, error) -> int:
        folder_row = db.execute("SELECT id FROM folders WHERE path = ?", (os.fsencode(folder),)).fetchone()
        if folder_row is None:
            raise LibraryError(folder, "is not a library folder (add it first)")
        tags = (info.title, info.artist, info.album) if info is not None else (None, None, None)
        row = db.execute(
            """INSERT INTO tracks (path, folder_id, size, mtime_ns, backbone, windowing, duration, title, artist,
                                   album, status, error, indexed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (path) DO UPDATE SET folder_id = excluded.folder_id, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, backbone = excluded.backbone, windowing = excluded.windowing,
                   duration = excluded.duration, title = excluded.title, artist = excluded.artist,
                   album = excluded.album, status = excluded.status, error = excluded.error,
                   indexed_at = excluded.indexed_at
               RETURNING id""",
            (os.fsencode(path), folder_row[0], size, mtime_ns, backbone_id, GEOMETRY.key, duration, *tags,
             status.value, error, time.time()),
        ).fetchone()
        self._bump_generation(db)
        return row[0]

    def _write_windows(self, db, track_id: int, starts: np.ndarray, ends: np.ndarray, means: np.ndarray) -> None:
        db.execute(
            "INSERT OR REPLACE INTO windows (track_id, count, starts, ends, features) VALUES (?, ?, ?, ?, ?)",
            (
                track_id,
                len(starts),
                np.ascontiguousarray(starts, np.float32).tobytes(),
                np.ascontiguousarray(ends, np.float32).tobytes(),
                np.ascontiguousarray(means, self.feature_dtype).tobytes(),
            ),
        )

    def _drop_missing(self, scan: _Scan, folder_ids: Iterable[int]) -> int:
        """Drop tracks of the scanned folders that are gone, except under folders that could not be listed."""
        seen = {os.fsencode(f.path) for f in scan.files}
        unlisted = list(scan.unlisted)
        dropped = 0
        with self._transaction(write=True) as db:
            for folder_id in folder_ids:
                for track_id, raw in db.execute("SELECT id, path FROM tracks WHERE folder_id = ?", (folder_id,)).fetchall():
                    path = Path(os.fsdecode(raw))
                    if raw not in seen and not any(_is_under(path, u) for u in unlisted):
                        db.execute("DELETE FROM tracks WHERE id = ?", (track_id,))
                        dropped += 1
            if dropped:
                self._bump_generation(db)
        return dropped

    def _changed(self, files: list[_FileEntry], backbone_id: str) -> list[_FileEntry]:
        """The files whose size, mtime, backbone or window geometry differ from what is stored."""
        with self._transaction() as db:
            known = {
                raw: (size, mtime, backbone, windowing)
                for raw, size, mtime, backbone, windowing in db.execute(
                    "SELECT path, size, mtime_ns, backbone, windowing FROM tracks"
                )
            }
        return [
            f
            for f in files
            if known.get(os.fsencode(f.path)) != (f.size, f.mtime_ns, backbone_id, GEOMETRY.key)
        ]

    # ---------------------------------------------------------------------------------------- indexing
    def index(
        self,
        extractor: "VGGishExtractor",
        *,
        folders: Iterable[Path | str] | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Bring the index up to date with ``folders`` (registering them) or every registered folder.

        Incremental: unchanged files (size, mtime, backbone, geometry) are skipped; files gone from a folder
        that could be listed are dropped; a file that fails is recorded with its error and the run goes on.
        Each track is stored in its own transaction. Cancelling stops between tracks (the one in flight is
        not stored) and returns the report with ``cancelled=True``.
        """
        started = time.perf_counter()
        report = IndexReport()
        scan = _Scan()
        for folder, folder_id in self._folder_ids(folders).items():
            if not folder.is_dir():
                report.errors.append((folder, "library folder not found (not mounted?); its tracks are kept"))
                continue
            scan.scanned_folders.append(folder_id)
            _walk_audio(folder, folder_id, scan)
        report.errors.extend(scan.errors)
        report.removed = self._drop_missing(scan, scan.scanned_folders)
        todo = self._changed(scan.files, extractor.backbone_id)
        report.unchanged = len(scan.files) - len(todo)
        folder_paths = {i: p for p, i in self._folder_ids(None).items()}
        try:
            for entry, outcome in _DecodeAhead(extractor, todo, progress, cancel, started).run():
                self._record(entry, outcome, extractor.backbone_id, folder_paths[entry.folder_id], report)
        except Cancelled:
            report.cancelled = True
        report.seconds = time.perf_counter() - started
        return report

    def _record(self, entry: _FileEntry, outcome: TrackFeatures | EngineError, backbone_id: str, folder: Path,
                report: IndexReport) -> None:
        """Store one extraction outcome (features or a per-file error) and count it."""
        stat_kw = {"size": entry.size, "mtime_ns": entry.mtime_ns, "folder": folder}
        if not isinstance(outcome, EngineError):
            try:
                self.store_features(entry.path, outcome, backbone_id, **stat_kw)
            except PathError as exc:
                outcome = exc
            else:
                report.indexed += 1
                report.audio_seconds += outcome.duration
                return
        reason = outcome.reason if isinstance(outcome, PathError) else str(outcome)
        self.store_failure(entry.path, reason, backbone_id, **stat_kw)
        report.failed += 1
        report.errors.append((entry.path, reason))


# ------------------------------------------------------------------------------------------ decode ahead
_DONE = object()


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """A batch of log-mel examples of one track, and how many samples of it were decoded so far."""

    entry: _FileEntry
    index: int
    info: AudioInfo
    examples: object  # torch.Tensor (N, 96, 64); the decode thread makes it, the inference loop embeds it
    samples: int


@dataclasses.dataclass(frozen=True)
class _Decoded:
    """The end of a track's stream."""

    entry: _FileEntry
    index: int
    info: AudioInfo
    samples: int


@dataclasses.dataclass(frozen=True)
class _Failed:
    entry: _FileEntry
    index: int
    error: EngineError


def _stream_examples(extractor: "VGGishExtractor", path: Path, cancel: CancelToken | None):
    """The decoding half of ``VGGishExtractor.track_features``: ``(log-mel examples, samples so far)`` batches.

    The extractor's own streaming frontend, so the indexer's features are exactly ``track_features``'.
    """
    return extractor._stream_examples(path, cancel)  # noqa: SLF001 - the public seam is requested (see docs)


class _DecodeAhead:
    """Extraction of a list of files with decoding running ahead of the network.

    Thread roles (DESIGN.md example 3):

    * the **decode thread** ("emomv-index-decode") opens each file, decodes it streamed (``engine.media``) and
      turns it into VGGish log-mel examples, chunk by chunk, into a bounded queue. It never touches the
      network or SQLite. A file it cannot decode becomes a per-file error message in the queue.
    * the **calling thread is the inference thread**: it runs the VGGish network on each chunk as it arrives
      and, between tracks, hands the finished track to the caller, which stores it (one transaction). One
      model, one thread; the SQLite connection stays in the thread that opened it.

    The queue holds at most :data:`DECODE_AHEAD_CHUNKS` chunks (64 examples, 1.5 MB each), so memory stays
    bounded whatever the tracks' lengths. Cancel is checked by the decode thread between blocks and by the
    inference loop between chunks (the track in flight is dropped); the caller sees :class:`Cancelled`.
    """

    def __init__(self, extractor: "VGGishExtractor", files: list[_FileEntry], progress: ProgressCallback | None,
                 cancel: CancelToken | None, started: float) -> None:
        self.extractor = extractor
        self.files = files
        self.progress = progress
        self.cancel = cancel
        self.started = started
        self.queue: queue.Queue = queue.Queue(maxsize=DECODE_AHEAD_CHUNKS)
        self.stop = threading.Event()

    def run(self) -> Iterator[tuple[_FileEntry, TrackFeatures | EngineError]]:
        worker = threading.Thread(target=self._decode_all, name="emomv-index-decode", daemon=True)
        worker.start()
        rows: list[np.ndarray] = []
        try:
            while (message := self.queue.get()) is not _DONE:
                if isinstance(message, BaseException):
                    raise message
                check(self.cancel)
                if isinstance(message, _Chunk):
                    rows.append(self.extractor.embed(message.examples, cancel=self.cancel).numpy())
                    self._report(message.index, message.entry, message.samples / AUDIO_SAMPLE_RATE, message.info)
                    continue
                if isinstance(message, _Decoded):
                    features = np.concatenate(rows) if rows else np.zeros((0, MUSIC_FEATURE_DIM), np.float32)
                    outcome = TrackFeatures(features, message.samples / AUDIO_SAMPLE_RATE, message.info)
                else:
                    outcome = message.error
                rows = []
                self._report(message.index + 1, message.entry, 0.0, None)
                yield message.entry, outcome
        finally:
            self.stop.set()
            self._drain()
            worker.join()

    def _drain(self) -> None:
        """Unblock the decode thread if it waits on a full queue after the inference loop stopped early."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()

    def _put(self, item: object) -> bool:
        """Queue ``item``, waiting while the queue is full; False when the consumer has gone."""
        while not self.stop.is_set():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.1)
                return True
        return False

    def _decode_all(self) -> None:
        try:
            for index, entry in enumerate(self.files):
                check(self.cancel)
                if not self._decode_one(index, entry):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the inference thread, which re-raises it
            self._put(exc)
            return
        self._put(_DONE)

    def _decode_one(self, index: int, entry: _FileEntry) -> bool:
        """Stream one file into the queue; a file that cannot be decoded becomes a :class:`_Failed` message."""
        try:
            info = media.probe_audio(entry.path)
            samples = 0
            for examples, samples in _stream_examples(self.extractor, entry.path, self.cancel):
                if not self._put(_Chunk(entry, index, info, examples, samples)):
                    return False
            return self._put(_Decoded(entry, index, info, samples))
        except Cancelled:
            raise
        except EngineError as exc:
            return self._put(_Failed(entry, index, exc))
        except Exception as exc:  # a decoder bug on one odd file must not stop the whole library
            _log.exception("unexpected error while decoding %s", display_path(entry.path))
            return self._put(_Failed(entry, index, PathError(entry.path, f"unexpected error ({type(exc).__name__}: {exc})")))

    def _report(self, done: int, entry: _FileEntry, seconds: float, info: AudioInfo | None) -> None:
        """Files done (fractional within the current track) out of the total, the file, the rate so far.

        Called from the inference thread only, so ``done`` never goes backwards.
        """
        if self.progress is None:
            return
        fraction = min(1.0, seconds / info.duration) if info is not None and info.duration else 0.0
        elapsed = time.perf_counter() - self.started
        rate = 60.0 * done / elapsed if done and elapsed > 0 else None
        self.progress(IndexProgress(done + fraction, len(self.files), display_path(entry.path), path=entry.path,
                                    tracks_per_minute=rate))
