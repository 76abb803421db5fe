"""The database schema and its named migrations (beets' dbcore pattern: applied once, in order, after a backup)."""

from __future__ import annotations

import dataclasses
import enum
import sqlite3
from typing import Callable

FEATURE_DTYPES = ("float16", "float32")
"""Storage dtypes a library's window features may have (chosen at creation, recorded in ``meta``)."""


class Meta(str, enum.Enum):
    """Keys of the ``meta`` table."""

    SCHEMA_VERSION = "schema_version"
    FEATURE_DTYPE = "feature_dtype"
    WINDOWING = "windowing"
    GENERATION = "generation"


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


def _track_precision(db: sqlite3.Connection) -> None:
    # How each track's features were computed ('fp32', 'bf16', 'fp16': the extractor's ``precision``); NULL for
    # tracks indexed before it was recorded (fp32 on a CPU, fp16 autocast on CUDA) and for features brought
    # from elsewhere. Informational: fast and exact features share the backbone id (within the fidelity bound).
    db.execute("ALTER TABLE tracks ADD COLUMN precision TEXT")


def _beats(db: sqlite3.Connection) -> None:
    # One row per track whose beats were tracked: ``bpm`` NULL when none were found (the row still says
    # "tried", so a rescan does not decode the file again); beat and downbeat times as float32 seconds.
    db.execute(
        """CREATE TABLE beats (
               track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
               bpm REAL,
               beats BLOB NOT NULL,
               downbeats BLOB NOT NULL)"""
    )


def _loudness(db: sqlite3.Connection) -> None:
    # One row per track whose loudness was measured (engine.loudness, on the indexer's 16 kHz mono stream):
    # ``lufs`` NULL when it is silent or shorter than one 400 ms block (the row still says "measured", so a
    # rescan does not decode the file again). A table beside ``tracks`` rather than a column of it, like
    # ``beats``: a track indexed before this migration has no row, which tells "never measured" (measured at
    # the next rescan, without the network) from "measured, silent" (NULL).
    db.execute(
        """CREATE TABLE loudness (
               track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
               lufs REAL)"""
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial", _initial_schema),
    Migration("0002_track_precision", _track_precision),
    Migration("0003_beats", _beats),
    Migration("0004_loudness", _loudness),
)
"""Every schema change ever made, in order. Append only; never edit or reorder a released one."""


def migration_names(db: sqlite3.Connection) -> list[str]:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    return [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")]

