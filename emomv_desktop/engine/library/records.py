"""The records the library hands out: tracks, window matrices, stats, and the library's error."""

from __future__ import annotations

import dataclasses
import enum
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import PathError
from ..jobs import Progress
from ..protocol import MUSIC_FEATURE_DIM


class TrackStatus(str, enum.Enum):
    """State of a track in the index."""

    INDEXED = "indexed"
    FAILED = "failed"


class LibraryError(PathError):
    """The library database itself cannot be used (unreadable, not a library, from a newer version, locked)."""


@dataclasses.dataclass(frozen=True)
class Track:
    """One file of the library. ``mtime`` is in seconds; ``error`` is set when ``status`` is FAILED; ``bpm`` is the
    tracked tempo (None when no beat was found or the beats were not tracked yet); ``loudness`` the integrated
    loudness in LUFS (``engine.loudness``; None when silent, too short or not measured yet)."""

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
    precision: str | None = None
    """How the features were computed ("fp32", "bf16", "fp16"), None if not recorded."""
    bpm: float | None = None
    loudness: float | None = None


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
    """The indexed tracks of one backbone in track-id order: row ``i`` owns the ``i``-th run of windows.

    ``bpms`` is NaN for a track without a tempo (none found, or not tracked yet), ``loudnesses`` (LUFS) NaN for
    one without a loudness (silent, too short, or not measured yet).
    """

    ids: np.ndarray
    counts: np.ndarray
    durations: np.ndarray
    paths: list[Path]
    titles: list[str | None]
    artists: list[str | None]
    albums: list[str | None]
    bpms: np.ndarray
    loudnesses: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> "TrackTable":
        """Rows of (id, window count, duration, path, title, artist, album, bpm, loudness)."""
        ids, counts, durations, raw_paths, titles, artists, albums, bpms, lufs = zip(*rows) if rows else ((),) * 9
        return cls(
            np.array(ids, dtype=np.int64),
            np.array(counts, dtype=np.int64),
            np.array(durations, dtype=np.float64),
            [Path(os.fsdecode(p)) for p in raw_paths],
            list(titles),
            list(artists),
            list(albums),
            _nan_for_none(bpms),
            _nan_for_none(lufs),
        )

    def __len__(self) -> int:
        return len(self.ids)


def _nan_for_none(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


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
    """What one :func:`engine.indexer.index_library` run did. ``errors`` lists ``(path, reason)`` for files
    and folders, the skipped files (a video without an audio track) included.

    ``beats_tracked`` counts tracks indexed earlier that got their beats in this run (VGGish not run),
    ``loudness_measured`` those that got their loudness (the same decode serves both when both are missing).

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
    skipped: int = 0
    beats_tracked: int = 0
    loudness_measured: int = 0


@dataclasses.dataclass(frozen=True)
class IndexProgress(Progress):
    """:class:`Progress` of indexing: ``done``/``total`` count files (fractional within a track).

    ``path`` is the file being worked on, ``tracks_per_minute`` the rate so far (None before the first).
    """

    path: Path | None = None
    tracks_per_minute: float | None = None
