"""The shortlist: the tracks a user starred for a video, remembered between launches.

One JSON file in the app's data folder maps each video (its resolved path) to the starred tracks' paths, in
the order they were starred. Every change is written at once, atomically (a crash never leaves half a file);
an unreadable file is set aside as ``NAME.bad`` and an empty shortlist is used, so a damaged file never stops
the app.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .fileio import write_text_atomically
from .paths import data_dir

__all__ = ["FORMAT", "Shortlists", "default_path"]

FORMAT = "emomv-desktop/shortlists"
VERSION = 1


def default_path() -> Path:
    return data_dir() / "shortlists.json"


def _key(path: Path | str) -> str:
    return os.path.abspath(os.fspath(path))


class Shortlists:
    """Starred tracks per video, persisted in ``path`` (default: the data folder's ``shortlists.json``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._videos: dict[str, list[str]] = self._read()

    def _read(self) -> dict[str, list[str]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("format") != FORMAT or not isinstance(raw.get("videos"), dict):
                raise ValueError("not a shortlist file")
            return {str(video): [str(t) for t in tracks] for video, tracks in raw["videos"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError, TypeError):
            try:
                self.path.replace(self.path.with_name(self.path.name + ".bad"))
            except OSError:
                pass
            return {}

    def _write(self) -> None:
        document = {"format": FORMAT, "version": VERSION, "videos": self._videos}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")

    def starred(self, video: Path | str) -> list[Path]:
        """The video's starred tracks, in the order they were starred."""
        return [Path(t) for t in self._videos.get(_key(video), [])]

    def is_starred(self, video: Path | str, track: Path | str) -> bool:
        return _key(track) in self._videos.get(_key(video), [])

    def set_starred(self, video: Path | str, track: Path | str, starred: bool) -> None:
        """Star or unstar ``track`` for ``video`` and save (nothing is written when nothing changes)."""
        tracks = self._videos.setdefault(_key(video), [])
        key = _key(track)
        if starred == (key in tracks):
            return
        if starred:
            tracks.append(key)
        else:
            tracks.remove(key)
        if not tracks:
            del self._videos[_key(video)]
        self._write()
