"""The editor's choices in the window: which track and section scores which cue, remembered per video.

Loading and saving run on the io lane (one small JSON file per video, :mod:`engine.choices`); a track's beat
grid is read from the library there too when the track is assigned, so nudging its section by a beat or a bar
(:func:`engine.beats.nudge`, pure and instant) needs no further query.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from emomv_desktop.engine import service
from emomv_desktop.engine.beats import nudge
from emomv_desktop.engine.choices import Choice, VideoChoices, load_choices, save_choices
from emomv_desktop.engine.timeline import TimelineVideo

from .worker import Job, WorkerLane, describe_error, job

if TYPE_CHECKING:
    from emomv_desktop.engine.beats import Beats
    from emomv_desktop.engine.ranking import Suggestion
    from emomv_desktop.engine.scenes import Cue

MESSAGE_MS = 8000


class ChoicesController(QObject):
    """The current video's :class:`VideoChoices`; ``changed`` whenever they change (and once loaded)."""

    changed = Signal(object)  # VideoChoices
    message = Signal(str, int)

    def __init__(self, io_lane: WorkerLane, reader: service.LibraryReader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.io_lane, self.reader = io_lane, reader
        self.choices: VideoChoices | None = None
        self.beats: dict[Path, "Beats | None"] = {}

    def open(self, video: Path, fps: float, duration: float) -> Job:
        """Forget the previous video's choices and load this one's (or start empty)."""
        self.choices = None
        loading = Job(job(_load, Path(video), fps, duration), name="load choices")
        loading.returned.connect(lambda _id, found: self._loaded(found))
        loading.errored.connect(lambda _id, exc: self._load_failed(video, fps, duration, exc))
        return self.io_lane.submit(loading)

    def _loaded(self, found: VideoChoices) -> None:
        self.choices = found
        self.changed.emit(found)

    def _load_failed(self, video: Path, fps: float, duration: float, exc: BaseException) -> None:
        self.message.emit(f"The saved choices could not be read: {describe_error(exc)}", MESSAGE_MS)
        self.choices = VideoChoices(TimelineVideo(Path(video), fps, duration))
        self.changed.emit(self.choices)

    def choice_for(self, cue: "Cue | None") -> Choice | None:
        return None if cue is None or self.choices is None else self.choices.at(cue.start, cue.end)

    def assign(self, cue: "Cue", track: "Suggestion") -> Choice | None:
        """Score ``cue`` with ``track``'s best section (replacing choices that overlapped the cue)."""
        if self.choices is None:
            return None
        choice = Choice(cue.start, cue.end, Path(track.path), float(track.best_start), float(track.best_end),
                        track.title, track.artist, track.album, label=cue.label, track_duration=track.duration)
        self._set(self.choices.assign(choice))
        if choice.track_path not in self.beats:
            reading = Job(job(service.track_beats, self.reader, int(track.track_id)), name="read beats")
            reading.returned.connect(lambda _id, beats: self.beats.__setitem__(choice.track_path, beats))
            self.io_lane.submit(reading)
        return choice

    def nudge(self, cue: "Cue | None", steps: int, unit: str) -> Choice | None:
        """Move the cue's section ``steps`` beats or bars along its track's beat grid."""
        old = self.choice_for(cue)
        if old is None:
            return None
        beats = self.beats.get(old.track_path)
        if beats is None or not beats.found:
            self.message.emit("This track has no beat grid (yet): its section cannot be nudged.", MESSAGE_MS)
            return None
        new = old.moved_to(nudge(beats, old.section_start, steps, unit))  # type: ignore[arg-type]
        if old.track_duration is not None and new.section_end > old.track_duration + 1e-3:
            self.message.emit("The track ends before a section starting there would.", MESSAGE_MS)
            return None
        self._set(self.choices.replace(old, new))
        return new

    def move_section(self, cue: "Cue | None", start: float) -> Choice | None:
        """Start the cue's section at ``start`` s into its track (moved on the waveform; its length kept)."""
        old = self.choice_for(cue)
        if old is None:
            return None
        new = old.moved_to(start)
        self._set(self.choices.replace(old, new))
        return new

    def _set(self, choices: VideoChoices) -> None:
        self.choices = choices
        self.changed.emit(choices)
        saving = Job(job(_save, choices), name="save choices")
        saving.errored.connect(lambda _id, exc: self.message.emit(
            f"The choices could not be saved: {describe_error(exc)}", MESSAGE_MS))
        self.io_lane.submit(saving)


def _load(video: Path, fps: float, duration: float, _progress, _cancel) -> VideoChoices:
    return load_choices(video, fps=fps, duration=duration)


def _save(choices: VideoChoices, _progress, _cancel) -> Path:
    return save_choices(choices)
