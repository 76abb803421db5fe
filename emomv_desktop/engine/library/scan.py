"""The folder walk: which files of a library folder are music, with the size and mtime that identify them."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".alac", ".aif", ".aiff", ".wma", ".mka"}
)
"""File name suffixes (lower case) of audio files the indexer picks up."""

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
"""Video suffixes picked up in a music folder: music videos, whose audio track is indexed. One without an audio
stream is recorded as skipped, with the reason, so it shows in the library's failure list."""

MUSIC_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS
"""Everything the walk collects; every other file in a folder is ignored."""


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """A music file found by the walk, with the identity used for incremental rescans."""

    path: Path
    size: int
    mtime_ns: int
    folder_id: int


@dataclasses.dataclass
class Scan:
    """What one walk found: files, errors ``(path, reason)``, and the places whose content is unknown."""

    files: list[FileEntry] = dataclasses.field(default_factory=list)
    errors: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    unlisted: list[Path] = dataclasses.field(default_factory=list)  # folders whose content is unknown this run
    scanned_folders: list[int] = dataclasses.field(default_factory=list)


def is_under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def walk_music(root: Path, folder_id: int, scan: Scan) -> None:
    """Collect the music files under ``root`` (recursively, hidden entries skipped, symlink loops broken).

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
                if path.suffix.lower() not in MUSIC_EXTENSIONS:
                    continue
                st = entry.stat()
            except OSError as exc:
                scan.errors.append((path, f"cannot read file information ({exc.strerror or exc})"))
                scan.unlisted.append(path)
                continue
            if stat.S_ISREG(st.st_mode):
                scan.files.append(FileEntry(path, st.st_size, st.st_mtime_ns, folder_id))
