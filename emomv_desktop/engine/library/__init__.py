"""The music library index: one SQLite file holding every track's VGGish window features.

The package's parts, each importable on its own:

* :mod:`.geometry` — how frame features are pooled into 30 s windows (:data:`GEOMETRY`);
* :mod:`.records` — what the library hands out (:class:`Track`, :class:`WindowMatrix`, :class:`IndexReport`...);
* :mod:`.scan` — the folder walk (which files are music);
* :mod:`.schema` — the tables and their named migrations;
* :mod:`.store` — :class:`Library`, the store itself (SQLite, no network).

Indexing (decoding + VGGish + storing) is :func:`emomv_desktop.engine.indexer.index_library`, which takes a
store and an extractor. Everything public is re-exported here.
"""

from .geometry import GEOMETRY, HOP_SECONDS, WINDOW_SECONDS, WindowGeometry
from .records import (
    IndexProgress,
    IndexReport,
    LibraryError,
    LibraryStats,
    Track,
    TrackStatus,
    TrackTable,
    WindowMatrix,
    WindowSnapshot,
)
from .scan import AUDIO_EXTENSIONS, MUSIC_EXTENSIONS, VIDEO_EXTENSIONS, FileEntry, Scan, walk_music
from .schema import FEATURE_DTYPES, MIGRATIONS, Migration
from .store import FEATURE_DTYPE, Library, is_writable

__all__ = [
    "AUDIO_EXTENSIONS",
    "FEATURE_DTYPE",
    "FEATURE_DTYPES",
    "GEOMETRY",
    "HOP_SECONDS",
    "MIGRATIONS",
    "MUSIC_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "WINDOW_SECONDS",
    "FileEntry",
    "IndexProgress",
    "IndexReport",
    "Library",
    "LibraryError",
    "LibraryStats",
    "Migration",
    "Scan",
    "Track",
    "TrackStatus",
    "TrackTable",
    "WindowGeometry",
    "WindowMatrix",
    "WindowSnapshot",
    "is_writable",
    "walk_music",
]
