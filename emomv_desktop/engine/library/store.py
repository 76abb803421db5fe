"""The library store: one SQLite file holding every track's VGGish window features. Knows no network.

What is stored, and why
    Per track: path, size and mtime (the identity used for incremental rescans), duration, tags, status
    (indexed / failed + the error), the backbone and window geometry its features were computed with.
    Per track one ``windows`` row holds all its windows: start/end (seconds) and the mean of the 128-d
    VGGish frame features over each window. Backbone features are stored, not head embeddings, so a new
    retrieval model never forces re-decoding; embeddings are computed (and cached) by ``engine.ranking``.
    Features are stored as float16 by default: for 50k four-minute tracks that is ~0.56 GB instead of
    1.1 GB, and it moves cosine scores by ~2e-4 (the EmoMV-C retrieval mAP by ~1e-5). The dtype is
    recorded per database (``Library(..., feature_dtype=...)`` at creation).

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
    opens its own. WAL lets one writer (the indexer, :mod:`engine.indexer`) and many readers (the ranker,
    the GUI) work at once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .. import paths
from ..beats import Beats
from ..errors import PathError
from ..features import TrackFeatures
from ..protocol import MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS
from . import schema
from .geometry import GEOMETRY
from .records import LibraryError, LibraryStats, Track, TrackStatus, TrackTable, WindowMatrix, WindowSnapshot
from .scan import FileEntry, Scan, is_under
from .schema import FEATURE_DTYPES, Meta, migration_names

FEATURE_DTYPE = "float16"
"""Storage dtype of window features in a new library (``float16`` or ``float32``)."""

_BUSY_TIMEOUT_MS = 30_000

_RANKABLE = "t.status = ? AND t.backbone = ? AND t.windowing = ?"
"""SQL condition (status, backbone, windowing) selecting the tracks whose windows a ranking can use."""


def is_writable(path: Path) -> bool:
    """Whether this user may write the database file and create SQLite's ``-wal``/``-shm`` beside it.

    ``os.access`` asks the OS (permission bits, ACLs, a read-only mount). The superuser passes every
    permission check, so there only a read-only mount answers False; pass ``read_only=True`` to force it.
    """
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


class Library:
    """The library index in one SQLite file (default :func:`paths.library_db`).

    Opening creates the file if needed and migrates it (after a backup copy). ``feature_dtype`` only
    matters for a new file; an existing one keeps the dtype it was created with.

    ``create=False`` opens an existing library only: a missing file is a :class:`LibraryError` and nothing
    is created (no folder, no empty database), for commands that only look (``library status``).

    ``read_only`` (default: when the file exists and this user may not write it, see :func:`is_writable`)
    opens the database without ever writing: reading works (status, ranking), writes raise
    :class:`LibraryError`. A database at rest (no ``-wal`` file beside it) is opened ``immutable=1``, so
    SQLite creates no ``-wal``/``-shm`` files either; one with a ``-wal`` (a writer elsewhere, or a crash)
    is opened ``mode=ro``, which needs SQLite's shared-memory file. A read-only library is not migrated: one
    that needs a migration asks to be opened writable once.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        feature_dtype: str = FEATURE_DTYPE,
        create: bool = True,
        read_only: bool | None = None,
    ) -> None:
        if feature_dtype not in FEATURE_DTYPES:
            raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, not {feature_dtype!r}")
        self.path = Path(path) if path is not None else paths.library_db()
        exists = self.path.exists()
        if not exists and not create:
            raise LibraryError(self.path, "no library database here (index a music folder first)")
        self.read_only = (exists and not is_writable(self.path)) if read_only is None else read_only
        if self.read_only and not exists:
            raise LibraryError(self.path, "no library database here to open read-only")
        self._db = self._connect()
        try:
            if self.read_only:
                self._check_schema()
            else:
                self._migrate()
                self._init_meta(feature_dtype)
            self.feature_dtype = np.dtype(self._meta(Meta.FEATURE_DTYPE))
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open_existing(cls, path: Path | str | None = None) -> "Library":
        """An existing library, read-only when this user cannot write it; never creates anything."""
        return cls(path, create=False)

    # ------------------------------------------------------------------------------------- connection
    def _connect(self) -> sqlite3.Connection:
        try:
            if self.read_only:
                at_rest = not Path(f"{self.path}-wal").exists()
                mode = "immutable=1" if at_rest else "mode=ro"
                target, uri = f"{self.path.absolute().as_uri()}?{mode}", True
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                target, uri = str(self.path), False
            db = sqlite3.connect(target, uri=uri, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(self.path, f"cannot open the library database ({exc})") from exc
        try:
            if not self.read_only:
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
            if self.read_only and write:
                raise LibraryError(self.path, "the library is read-only here (no write permission)") from exc
            raise LibraryError(self.path, f"library database error ({exc})") from exc

    def _bump_generation(self, db: sqlite3.Connection) -> None:
        """Mark a change of tracks or windows (invalidates the rankers' embedding caches)."""
        db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (Meta.GENERATION.value,)
        )

    def _meta(self, key: Meta) -> str:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key.value,)).fetchone()
        if row is None:
            raise LibraryError(self.path, f"library database has no {key.value} (not an EmoMV library?)")
        return row[0]

    # ------------------------------------------------------------------------------------- migrations
    def _check_schema(self) -> None:
        """Read-only open: the schema must be complete (nothing can be migrated) and not from a newer app."""
        with self._transaction() as db:
            has_table = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'migrations'").fetchone()
            applied = [row[0] for row in db.execute("SELECT name FROM migrations")] if has_table else []
        if self._known_migrations(applied) < len(schema.MIGRATIONS):
            raise LibraryError(self.path, "the library needs an upgrade, which a read-only database cannot get; "
                                          "open it once where it is writable")

    def _known_migrations(self, applied: list[str]) -> int:
        """How many of ``applied`` this app knows; raises for a database from a newer app."""
        known = [m.name for m in schema.MIGRATIONS]
        unknown = [name for name in applied if name not in known]
        if unknown:
            raise LibraryError(
                self.path, f"made by a newer EmoMV Desktop (unknown schema changes {', '.join(unknown)}); update the app"
            )
        return len(applied)

    def _migrate(self) -> None:
        """Apply pending :data:`MIGRATIONS` once, after copying an existing database aside."""
        with self._transaction(write=True) as db:
            applied = migration_names(db)
        if self._known_migrations(applied) == len(schema.MIGRATIONS):
            return
        if applied:
            self._backup(f"schema{len(applied)}")
        with self._transaction(write=True) as db:
            applied = migration_names(db)  # another connection may have migrated meanwhile
            for migration in schema.MIGRATIONS:
                if migration.name not in applied:
                    migration.apply(db)
                    db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (migration.name, time.time()))
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (Meta.SCHEMA_VERSION.value, str(len(schema.MIGRATIONS))),
            )

    def _backup(self, label: str) -> Path:
        """Copy the database (consistent snapshot through SQLite's backup API) beside it; returns the copy."""
        target = self.path.with_name(f"{self.path.name}.backup-{label}-{time.strftime('%Y%m%d-%H%M%S')}")
        with contextlib.closing(sqlite3.connect(target)) as copy:
            self._db.backup(copy)
        return target

    def _init_meta(self, feature_dtype: str) -> None:
        defaults = {
            Meta.FEATURE_DTYPE: feature_dtype,
            Meta.WINDOWING: GEOMETRY.key,
            Meta.GENERATION: "0",
        }
        with self._transaction(write=True) as db:
            db.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", [(k.value, v) for k, v in defaults.items()]
            )
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (GEOMETRY.key, Meta.WINDOWING.value))

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
                if is_under(folder, existing):
                    return existing
            cur = db.execute("INSERT INTO folders (path, added_at) VALUES (?, ?)", (os.fsencode(folder), time.time()))
            new_id = cur.lastrowid
            for existing, old_id in registered.items():
                if is_under(existing, folder):
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

    def folder_ids(self, folders: Iterable[Path | str] | None) -> dict[Path, int]:
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
            "SELECT t.id, t.path, t.size, t.mtime_ns, t.duration, t.title, t.artist, t.album, t.status, t.error,"
            " t.precision, b.bpm, l.lufs FROM tracks t LEFT JOIN beats b ON b.track_id = t.id"
            " LEFT JOIN loudness l ON l.track_id = t.id"
            + (" WHERE t.status = ?" if status else "")
            + " ORDER BY t.path"
        )
        with self._transaction() as db:
            rows = db.execute(sql, (status.value,) if status else ()).fetchall()
        return [
            Track(i, Path(os.fsdecode(p)), size, mtime / 1e9, dur, title, artist, album, TrackStatus(st), err,
                  precision=prec, bpm=bpm, loudness=lufs)
            for i, p, size, mtime, dur, title, artist, album, st, err, prec, bpm, lufs in rows
        ]

    def beats(self, track_ids: Iterable[int]) -> dict[int, Beats]:
        """The stored beat grids of ``track_ids`` (tracks without a row are absent; none found: tempo 0)."""
        ids = [int(i) for i in track_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._transaction() as db:
            rows = db.execute(f"SELECT track_id, bpm, beats, downbeats FROM beats WHERE track_id IN ({marks})",
                              ids).fetchall()
        return {
            i: Beats(bpm or 0.0, np.frombuffer(b, np.float32).astype(np.float64),
                     np.frombuffer(d, np.float32).astype(np.float64))
            for i, bpm, b, d in rows
        }

    def missing_audio_analysis(self, backbone_id: str) -> list[tuple[int, Path, bool, bool]]:
        """Indexed tracks (of ``backbone_id``, current geometry) whose beats were never tracked or whose loudness
        was never measured (indexed before either existed), by path: ``(id, path, no beats, no loudness)``."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT t.id, t.path, b.track_id IS NULL, l.track_id IS NULL FROM tracks t"
                " LEFT JOIN beats b ON b.track_id = t.id LEFT JOIN loudness l ON l.track_id = t.id"
                f" WHERE {_RANKABLE} AND (b.track_id IS NULL OR l.track_id IS NULL) ORDER BY t.path",
                (TrackStatus.INDEXED.value, backbone_id, GEOMETRY.key),
            ).fetchall()
        return [(i, Path(os.fsdecode(p)), bool(nb), bool(nl)) for i, p, nb, nl in rows]

    def failures(self) -> list[Track]:
        """Tracks that could not be indexed, with their error."""
        return self.tracks(status=TrackStatus.FAILED)

    def generation(self) -> int:
        """A number that changes whenever tracks or windows change (cheap; used to invalidate caches)."""
        return int(self._meta(Meta.GENERATION))

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
            generation = int(db.execute("SELECT value FROM meta WHERE key = ?", (Meta.GENERATION.value,)).fetchone()[0])
            rows = db.execute(
                "SELECT t.id, w.count, t.duration, t.path, t.title, t.artist, t.album, b.bpm, l.lufs FROM tracks t"
                " JOIN windows w ON w.track_id = t.id LEFT JOIN beats b ON b.track_id = t.id"
                " LEFT JOIN loudness l ON l.track_id = t.id"
                f" WHERE {_RANKABLE} ORDER BY t.id",
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
        self, path: Path | str, features: TrackFeatures, backbone_id: str, *, size: int, mtime_ns: int, folder: Path,
        beats: Beats | None = None, loudness: float | None = None,
    ) -> int:
        """Store one track's features, pooled into windows, its ``beats`` and ``loudness``, in one transaction;
        returns the id.

        ``folder`` must be registered. Used by the indexer and by callers that bring their own features
        (e.g. EmoMV's released per-segment VGGish features). Without ``beats`` any stored grid is dropped, without
        ``loudness`` (LUFS; NaN: measured, silent) any stored figure (the next rescan measures both, see
        :meth:`missing_audio_analysis`). Raises :class:`PathError` for a track too short to have a single VGGish
        frame.
        """
        path = Path(path)
        if len(features.frame_features) == 0:
            raise PathError(path, f"too short to index ({features.duration:.2f} s; at least {VGGISH_FRAME_SECONDS} s)")
        starts, ends, means = GEOMETRY.pool(features.frame_features, features.duration)
        info = features.info
        with self._transaction(write=True) as db:
            track_id = self._upsert_track(
                db, path, folder, size, mtime_ns, backbone_id, features.duration, info, TrackStatus.INDEXED, None,
                features.precision,
            )
            self._write_windows(db, track_id, starts, ends, means)
            self._write_beats(db, track_id, beats)
            self._write_loudness(db, track_id, loudness)
        return track_id

    def store_beats(self, track_id: int, beats: Beats) -> None:
        """Store (replace) the beat grid of an indexed track, e.g. one indexed before beats were tracked."""
        with self._transaction(write=True) as db:
            self._write_beats(db, track_id, beats)
            self._bump_generation(db)

    def store_loudness(self, track_id: int, loudness: float) -> None:
        """Store (replace) the loudness (LUFS; NaN: silent) of an indexed track, e.g. one indexed before it was
        measured."""
        with self._transaction(write=True) as db:
            self._write_loudness(db, track_id, loudness)
            self._bump_generation(db)

    @staticmethod
    def _write_loudness(db, track_id: int, loudness: float | None) -> None:
        if loudness is None:
            db.execute("DELETE FROM loudness WHERE track_id = ?", (track_id,))
        else:
            db.execute("INSERT OR REPLACE INTO loudness (track_id, lufs) VALUES (?, ?)",
                       (track_id, float(loudness) if np.isfinite(loudness) else None))

    @staticmethod
    def _write_beats(db, track_id: int, beats: Beats | None) -> None:
        if beats is None:
            db.execute("DELETE FROM beats WHERE track_id = ?", (track_id,))
            return
        db.execute(
            "INSERT OR REPLACE INTO beats (track_id, bpm, beats, downbeats) VALUES (?, ?, ?, ?)",
            (track_id, float(beats.tempo) if beats.found else None,
             np.ascontiguousarray(beats.beats, np.float32).tobytes(),
             np.ascontiguousarray(beats.downbeats, np.float32).tobytes()),
        )

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

    def _upsert_track(self, db, path, folder, size, mtime_ns, backbone_id, duration, info, status, error,
                      precision: str | None = None) -> int:
        folder_row = db.execute("SELECT id FROM folders WHERE path = ?", (os.fsencode(folder),)).fetchone()
        if folder_row is None:
            raise LibraryError(folder, "is not a library folder (add it first)")
        tags = (info.title, info.artist, info.album) if info is not None else (None, None, None)
        row = db.execute(
            """INSERT INTO tracks (path, folder_id, size, mtime_ns, backbone, windowing, duration, title, artist,
                                   album, status, error, indexed_at, precision)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (path) DO UPDATE SET folder_id = excluded.folder_id, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, backbone = excluded.backbone, windowing = excluded.windowing,
                   duration = excluded.duration, title = excluded.title, artist = excluded.artist,
                   album = excluded.album, status = excluded.status, error = excluded.error,
                   indexed_at = excluded.indexed_at, precision = excluded.precision
               RETURNING id""",
            (os.fsencode(path), folder_row[0], size, mtime_ns, backbone_id, GEOMETRY.key, duration, *tags,
             status.value, error, time.time(), precision),
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

    def drop_missing(self, scan: Scan, folder_ids: Iterable[int]) -> int:
        """Drop tracks of the scanned folders that are gone, except under folders that could not be listed."""
        seen = {os.fsencode(f.path) for f in scan.files}
        unlisted = list(scan.unlisted)
        dropped = 0
        with self._transaction(write=True) as db:
            for folder_id in folder_ids:
                for track_id, raw in db.execute("SELECT id, path FROM tracks WHERE folder_id = ?", (folder_id,)).fetchall():
                    path = Path(os.fsdecode(raw))
                    if raw not in seen and not any(is_under(path, u) for u in unlisted):
                        db.execute("DELETE FROM tracks WHERE id = ?", (track_id,))
                        dropped += 1
            if dropped:
                self._bump_generation(db)
        return dropped

    def changed(self, files: list[FileEntry], backbone_id: str) -> list[FileEntry]:
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
