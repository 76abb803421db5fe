"""The editor's choices for one video: which track (and which section of it) scores which cue.

A :class:`VideoChoices` is the video (path, frame rate, duration) and its :class:`Choice` list, one per cue, in
time order, never overlapping (assigning a track to a cue replaces whatever overlapped it). It is remembered
between launches as one small JSON file per video under ``paths.data_dir()/choices/``, named by a digest of the
video's absolute path, size and modification time: a video edited since (a new render of the cut) starts
afresh, an untouched one gets its choices back. Files are written atomically (:mod:`engine.fileio`).

The same document, saved anywhere, is what a headless export reads (:func:`read_choices_file`), and
:meth:`VideoChoices.cue_choices` turns it into the timeline's :class:`~engine.timeline.CueChoice` records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from . import paths
from .errors import EngineError, PathError
from .fileio import write_text_atomically
from .timeline import CueChoice, TimelineVideo

__all__ = [
    "CHOICES_FORMAT",
    "CHOICES_VERSION",
    "Choice",
    "ChoicesError",
    "VideoChoices",
    "choices_file",
    "load_choices",
    "read_choices_file",
    "save_choices",
]

CHOICES_FORMAT = "emomv-desktop/choices"
CHOICES_VERSION = 1
_EPS = 1e-6


class ChoicesError(EngineError):
    """A choices file that cannot be read (damaged, another format, a newer version) or a choice that is wrong."""


@dataclasses.dataclass(frozen=True)
class Choice:
    """Cue ``[cue_start, cue_end)`` s of the video is scored by ``[section_start, section_end)`` s of the track."""

    cue_start: float
    cue_end: float
    track_path: Path
    section_start: float
    section_end: float
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    label: str = ""
    track_duration: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "track_path", Path(self.track_path))
        if not (0 <= self.cue_start < self.cue_end):
            raise ChoicesError(f"the cue {self.cue_start:.2f}-{self.cue_end:.2f} s is empty")
        if not (0 <= self.section_start < self.section_end):
            raise ChoicesError(f"the section {self.section_start:.2f}-{self.section_end:.2f} s is empty")

    def overlaps(self, start: float, end: float) -> bool:
        return min(end, self.cue_end) - max(start, self.cue_start) > _EPS

    def moved_to(self, section_start: float) -> "Choice":
        """The same cue with the section starting at ``section_start`` (its length kept; not before 0)."""
        start = max(0.0, section_start)
        return dataclasses.replace(self, section_start=start, section_end=start + self.section_end - self.section_start)

    def cue_choice(self) -> CueChoice:
        return CueChoice(
            start=self.cue_start, end=self.cue_end, track_path=self.track_path, section_start=self.section_start,
            section_end=self.section_end, title=self.title, artist=self.artist, album=self.album, label=self.label,
            track_duration=self.track_duration,
        )


@dataclasses.dataclass(frozen=True)
class VideoChoices:
    """The video and its choices in time order (they never overlap)."""

    video: TimelineVideo
    choices: tuple[Choice, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.choices, key=lambda c: c.cue_start))
        for a, b in zip(ordered, ordered[1:]):
            if b.cue_start < a.cue_end - _EPS:
                raise ChoicesError(f"two choices overlap at {b.cue_start:.2f} s: each part of the picture takes one")
        object.__setattr__(self, "choices", ordered)

    def assign(self, choice: Choice) -> "VideoChoices":
        """These choices with ``choice`` added; choices whose cue overlapped it are replaced."""
        if choice.cue_end > self.video.duration + 1e-3:
            raise ChoicesError(f"the cue ends at {choice.cue_end:.2f} s, after the video ({self.video.duration:.2f} s)")
        kept = [c for c in self.choices if not c.overlaps(choice.cue_start, choice.cue_end)]
        return dataclasses.replace(self, choices=(*kept, choice))

    def remove(self, start: float, end: float) -> "VideoChoices":
        """These choices without those overlapping ``[start, end)``."""
        return dataclasses.replace(self, choices=tuple(c for c in self.choices if not c.overlaps(start, end)))

    def replace(self, old: Choice, new: Choice) -> "VideoChoices":
        return dataclasses.replace(self, choices=tuple(new if c == old else c for c in self.choices))

    def at(self, start: float, end: float) -> Choice | None:
        """The choice whose cue is exactly ``[start, end)`` (to a millisecond), else None."""
        for c in self.choices:
            if abs(c.cue_start - start) < 1e-3 and abs(c.cue_end - end) < 1e-3:
                return c
        return None

    def cue_choices(self) -> list[CueChoice]:
        return [c.cue_choice() for c in self.choices]


# ================================================================================================== storage
def _identity(video: Path) -> dict[str, Any]:
    try:
        stat = video.stat()
    except OSError as exc:
        raise PathError(video, f"cannot read the video's size and date ({exc.strerror or exc})") from exc
    return {"path": str(video.absolute()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def choices_file(video: Path | str, folder: Path | None = None) -> Path:
    """Where the choices of ``video`` (as it is now: path, size, modification time) are kept."""
    identity = _identity(Path(video))
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:24]
    return (folder or paths.data_dir() / "choices") / f"{key}.json"


def _document(choices: VideoChoices) -> dict[str, Any]:
    video = choices.video
    return {
        "format": CHOICES_FORMAT,
        "version": CHOICES_VERSION,
        "video": {**_identity(Path(video.path)), "fps": video.fps, "duration": video.duration},
        "choices": [
            {**dataclasses.asdict(c), "track_path": str(Path(c.track_path).absolute())} for c in choices.choices
        ],
    }


def save_choices(choices: VideoChoices, path: Path | str | None = None) -> Path:
    """Write ``choices`` to ``path`` (default: the video's own file, :func:`choices_file`); returns the path."""
    target = Path(path) if path is not None else choices_file(choices.video.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(target, json.dumps(_document(choices), indent=2, ensure_ascii=False) + "\n")


def read_choices_file(path: Path | str) -> VideoChoices:
    """The choices saved in ``path``; a :class:`ChoicesError` naming the file when it is not such a document."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PathError(path, "choices file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChoicesError(f"{path}: not a readable choices file ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != CHOICES_FORMAT:
        raise ChoicesError(f"{path}: not a choices file (its format is not {CHOICES_FORMAT!r})")
    if document.get("version") != CHOICES_VERSION:
        raise ChoicesError(f"{path}: choices version {document.get('version')} is not supported "
                           f"(this version reads {CHOICES_VERSION})")
    try:
        video = document["video"]
        fields = {f.name for f in dataclasses.fields(Choice)}
        return VideoChoices(
            TimelineVideo(Path(video["path"]), float(video["fps"]), float(video["duration"])),
            tuple(Choice(**{k: v for k, v in c.items() if k in fields}) for c in document["choices"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChoicesError(f"{path}: a damaged choices file ({exc!r})") from exc


def load_choices(video: Path | str, *, fps: float | None = None, duration: float | None = None,
                 folder: Path | None = None) -> VideoChoices | None:
    """The choices remembered for ``video`` as it is now; when there are none, empty choices for it if ``fps``
    and ``duration`` are given, else None."""
    video = Path(video)
    stored = choices_file(video, folder)
    if stored.exists():
        found = read_choices_file(stored)
        return dataclasses.replace(found, video=dataclasses.replace(found.video, path=video))
    if fps is None or duration is None:
        return None
    return VideoChoices(TimelineVideo(video, fps, duration))

