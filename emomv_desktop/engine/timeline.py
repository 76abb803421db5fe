"""Hand-off to an editor: the scored cut as an editorial timeline (OpenTimelineIO) and a cue sheet (CSV).

The timeline holds the video on V1 and each cue's chosen section on alternating audio tracks A1/A2 (cue 1 on
A1, cue 2 on A2, ...), so a section may run on past its cue (``overlap_seconds``) under the next one and the
editor can crossfade without moving clips. A music clip's source in/out is the chosen section of its track, its
record in is the cue's start; every time is a whole frame at the video's frame rate (29.97 is 30000/1001, not
30). Optional fades are OTIO transitions (dissolves) from and to silence at each music clip's ends.

Formats (OpenTimelineIO 0.18 and its maintained adapters; which editors read what: docs/scenes-and-cues.md)
    ``otio``      OpenTimelineIO's own JSON (Resolve 18+, Hiero/Nuke Studio, Premiere through a plug-in).
    ``fcp_xml``   Final Cut Pro 7 XML ``.xml`` (Premiere Pro, DaVinci Resolve; FCP 10 and Avid through converters).
    ``fcpx_xml``  FCPXML ``.fcpxml`` (Final Cut Pro 10+, Resolve), whole-number rates only: the adapter (1.x)
                  computes clip offsets with the rate rounded down (29.97 -> 29; OpenTimelineIO issue #903)
                  and would misplace clips, so NTSC rates are refused with a pointer to FCP 7 XML. The rate is added to the adapter's rate
                  table (it lacks 48 fps and other whole rates) before writing.
    ``cmx_3600``  CMX 3600 EDL ``.edl`` (every editor; Avid's native list). The adapter writes only the first
                  track: its own event writer is run on V1, A1 and A2 and the events are numbered as one list,
                  A2's with the ``A2`` channel. Drop-frame timecode at 29.97/59.94 (``FCM: DROP FRAME``).

Media are referenced by absolute ``file://`` URLs, or with ``relative_paths`` by paths relative to the export's
folder (for a project folder that moves as a whole). Files are written to a temporary file beside the target and
renamed into place (the engine's one atomic-write helper), so a failed export never leaves half a file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
import urllib.parse
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from .errors import EngineError, PathError
from .fileio import write_atomically

__all__ = [
    "CueChoice",
    "TimelineError",
    "TimelineVideo",
    "FORMATS",
    "build_timeline",
    "export_timeline",
    "export_cue_sheet",
    "cue_sheet_rows",
    "frame_rate",
    "timecode",
    "CUE_SHEET_FIELDS",
]

FORMATS: dict[str, str] = {"otio": "otio_json", "fcp_xml": "fcp_xml", "fcpx_xml": "fcpx_xml", "cmx_3600": "cmx_3600"}
"""Format name -> OpenTimelineIO adapter."""
SUFFIXES: dict[str, str] = {".otio": "otio", ".xml": "fcp_xml", ".fcpxml": "fcpx_xml", ".edl": "cmx_3600"}
"""File suffix -> format name (when none is given)."""

DEFAULT_USAGE = "background instrumental"

CUE_SHEET_FIELDS: tuple[str, ...] = (
    "cue", "label", "in", "out", "duration", "duration_seconds", "title", "artist", "composer", "album",
    "publisher", "section_start", "section_end", "file", "usage",
)


class TimelineError(EngineError):
    """A timeline or cue sheet that cannot be written as asked."""


@dataclasses.dataclass(frozen=True)
class TimelineVideo:
    """The picture: its file, frame rate (frames per second; 29.97 is taken as 30000/1001) and duration (s)."""

    path: Path
    fps: float
    duration: float


@dataclasses.dataclass(frozen=True)
class CueChoice:
    """A cue (``start``/``end`` s in the video) and the music chosen for it: ``section_start``/``section_end`` s in
    ``track_path``, which lasts ``track_duration`` s (None: unknown, the section's end is taken as the limit)."""

    start: float
    end: float
    track_path: Path
    section_start: float
    section_end: float
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    composer: str | None = None
    publisher: str | None = None
    label: str = ""
    track_duration: float | None = None
    usage: str = DEFAULT_USAGE


# ================================================================================================== time
_NTSC = (24, 30, 48, 60, 120)


def frame_rate(fps: float) -> Fraction:
    """The exact rate of ``fps``: the NTSC rates (23.976, 29.97, 59.94, ...) as n*1000/1001, others as given."""
    for base in _NTSC:
        if abs(fps - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def _rt(seconds: float, rate: Fraction):
    """``seconds`` as a whole-frame OTIO RationalTime at ``rate``."""
    import opentimelineio as otio

    return otio.opentime.RationalTime(round(seconds * rate), float(rate))


def timecode(seconds: float, fps: float) -> str:
    """SMPTE timecode of ``seconds`` at the video's rate (drop-frame ``;`` at 29.97/59.94)."""
    import opentimelineio as otio

    rate = frame_rate(fps)
    return otio.opentime.to_timecode(_rt(seconds, rate), float(rate))


# ================================================================================================== timeline
def _url(path: Path, base: Path | None) -> str:
    path = Path(path).absolute()
    if base is None:
        return path.as_uri()
    return urllib.parse.quote(os.path.relpath(path, base).replace(os.sep, "/"))


def _check(video: TimelineVideo, choices: Sequence[CueChoice]) -> None:
    for k, c in enumerate(choices):
        name = f"cue {k + 1}"
        if not (0 <= c.start < c.end <= video.duration + 1e-6):
            raise TimelineError(
                f"{name} ({c.start:.2f}-{c.end:.2f} s) is not inside the video (0-{video.duration:.2f} s)"
            )
        if not (0 <= c.section_start < c.section_end):
            raise TimelineError(f"{name}: the section {c.section_start:.2f}-{c.section_end:.2f} s is empty")
        if c.track_duration is not None and c.section_end > c.track_duration + 1e-6:
            raise TimelineError(f"{name}: the section ends after its track ({c.track_duration:.2f} s)")
    ordered = sorted(choices, key=lambda c: c.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end - 1e-6:
            raise TimelineError(f"cues overlap at {b.start:.2f} s: each part of the picture takes one cue")


def build_timeline(
    video: TimelineVideo,
    choices: Sequence[CueChoice],
    *,
    name: str = "Scored cut",
    fade_seconds: float = 0.0,
    overlap_seconds: float = 0.0,
    relative_to: Path | None = None,
):
    """The OTIO timeline: V1 = the whole video; A1/A2 = the cues' sections, alternating in time order.

    A section lasts as long as its cue, plus ``overlap_seconds`` under the next cue when its track has the audio
    (``track_duration``) and the video goes on; ``fade_seconds`` > 0 adds a fade in and out to every music
    clip. ``relative_to``: media URLs relative to this folder (None: absolute ``file://`` URLs).
    """
    import opentimelineio as otio

    _check(video, choices)
    rate = frame_rate(video.fps)
    frames = lambda s: _rt(s, rate)  # noqa: E731
    range_ = otio.opentime.TimeRange

    def dissolve(name: str, before, after):
        kind = otio.schema.TransitionTypes.SMPTE_Dissolve
        return otio.schema.Transition(name=name, transition_type=kind, in_offset=before, out_offset=after)

    timeline = otio.schema.Timeline(name=name)
    timeline.global_start_time = frames(0)
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    whole = range_(frames(0), frames(video.duration))
    v1.append(otio.schema.Clip(
        name=Path(video.path).name,
        media_reference=otio.schema.ExternalReference(target_url=_url(video.path, relative_to), available_range=whole),
        source_range=whole,
    ))
    audio = [otio.schema.Track(name=n, kind=otio.schema.TrackKind.Audio) for n in ("A1", "A2")]
    ends = [frames(0), frames(0)]  # where each audio track's content ends so far
    ordered = sorted(choices, key=lambda c: c.start)
    for k, c in enumerate(ordered):
        track = audio[k % 2]
        # The tail may run under the next cue, not into the one after it (same track) nor past the video.
        room = (ordered[k + 2].start if k + 2 < len(ordered) else video.duration) - c.end
        record_in = frames(c.start)
        length = frames(c.end) - record_in
        limit = c.track_duration if c.track_duration is not None else c.section_end
        extra = min(overlap_seconds, limit - c.section_start - (c.end - c.start), room)
        length = length + frames(max(0.0, extra))
        if record_in > ends[k % 2]:
            track.append(otio.schema.Gap(source_range=range_(frames(0), record_in - ends[k % 2])))
        available = range_(frames(0), max(frames(limit), frames(c.section_start) + length))
        clip = otio.schema.Clip(
            name=c.title or Path(c.track_path).stem,
            media_reference=otio.schema.ExternalReference(
                target_url=_url(c.track_path, relative_to), available_range=available
            ),
            source_range=range_(frames(c.section_start), length),
            metadata={"emomv": {"cue": k + 1, "label": c.label, "artist": c.artist, "album": c.album}},
        )
        fade = frames(min(fade_seconds, (c.end - c.start) / 2)) if fade_seconds > 0 else None
        if fade is not None:
            if not len(track):  # a transition needs something before it: an empty gap at the very start
                track.append(otio.schema.Gap(source_range=range_(frames(0), frames(0))))
            track.append(dissolve("fade in", frames(0), fade))
        track.append(clip)
        if fade is not None:
            track.append(dissolve("fade out", fade, frames(0)))
            track.append(otio.schema.Gap(source_range=range_(frames(0), frames(0))))
        ends[k % 2] = record_in + length
    timeline.tracks.extend([v1, *audio])
    return timeline


# ================================================================================================== writing
def _ensure_fcpx_rate(rate: Fraction) -> None:
    """Teach the FCPXML adapter the video's exact rate (its table is keyed by rounded floats: 29.97, 23.98)."""
    import opentimelineio as otio

    # The plug-in system loads the adapter as its own module object: patch that one.
    table = otio.adapters.from_name("fcpx_xml").module().FRAMERATE_FRAMEDURATION
    table.setdefault(float(rate), f"{rate.denominator}/{rate.numerator}s")


def _edl(timeline, rate: Fraction) -> str:
    """CMX 3600 text of V1, A1 and A2: the adapter's event writer per track, events in record order numbered
    as one list (A2's on the ``A2`` channel). Fades are left out: an EDL dissolve needs a source on both sides
    (the adapter refuses a dissolve from silence)."""
    import opentimelineio as otio
    from otio_cmx3600_adapter.cmx_3600 import EDLWriter

    copy = timeline.deepcopy()  # the writer changes what it is given
    for track in copy.tracks:
        for transition in [t for t in track if isinstance(t, otio.schema.Transition)]:
            track.remove(transition)
    writer = EDLWriter(tracks=copy.tracks, rate=float(rate), style="avid")
    events: list[tuple[int, int, str, list[str]]] = []  # (record in frames, track, channel, lines)
    for index, track in enumerate(copy.tracks):
        clips = list(track.find_clips())
        if not clips:
            continue
        channel = "V" if track.kind == otio.schema.TrackKind.Video else ("A2" if track.name == "A2" else "A")
        text = writer.get_content_for_track_at_index(index, title=None).strip("\n")
        for clip, block in zip(clips, re.split(r"\n(?=\d{3}\s)", text)):
            events.append((clip.range_in_parent().start_time.to_frames(), index, channel, block.splitlines()))
    drop = ";" in timecode(0, float(rate))
    lines = [f"TITLE: {timeline.name}", f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]
    for number, (_, _, channel, block) in enumerate(sorted(events, key=lambda e: (e[0], e[1])), start=1):
        reel, rest = block[0].split(None, 2)[1:]
        rest = rest.split(None, 1)[1]  # the adapter's channel field, replaced
        lines += [f"{number:03d}  {reel:<8} {channel:<5} {rest}", *block[1:]]
    return "\n".join(lines) + "\n"


def export_timeline(
    path: Path | str,
    video: TimelineVideo,
    choices: Sequence[CueChoice],
    *,
    fmt: str | None = None,
    name: str = "Scored cut",
    fade_seconds: float = 0.0,
    overlap_seconds: float = 0.0,
    relative_paths: bool = False,
) -> Path:
    """Write the scored cut to ``path`` as ``fmt`` (:data:`FORMATS`; default from the suffix); returns the path."""
    import opentimelineio as otio

    path = Path(path)
    fmt = fmt or SUFFIXES.get(path.suffix.lower())
    if fmt not in FORMATS:
        raise TimelineError(f"unknown timeline format {fmt or path.suffix!r}; use one of {', '.join(SUFFIXES)}")
    if not path.parent.is_dir():
        raise PathError(path, "the folder to export into does not exist")
    timeline = build_timeline(
        video, choices, name=name, fade_seconds=fade_seconds, overlap_seconds=overlap_seconds,
        relative_to=path.parent.absolute() if relative_paths else None,
    )
    rate = frame_rate(video.fps)
    if fmt == "cmx_3600":
        text = _edl(timeline, rate)
        write_atomically(path, lambda p: p.write_text(text, encoding="utf-8"))
        return path
    if fmt == "fcpx_xml":
        if rate.denominator != 1:
            raise TimelineError(
                f"FCPXML at {float(rate):.3f} fps is not supported: the fcpx_xml adapter rounds the rate to a whole "
                "number and would misplace the clips; export FCP 7 XML (.xml) instead"
            )
        _ensure_fcpx_rate(rate)
    write_atomically(path, lambda p: otio.adapters.write_to_file(timeline, str(p), adapter_name=FORMATS[fmt]))
    return path


# ================================================================================================== cue sheet
def cue_sheet_rows(video: TimelineVideo, choices: Sequence[CueChoice]) -> list[dict[str, str]]:
    """One row per cue in time order (:data:`CUE_SHEET_FIELDS`), timecodes at the video's rate."""
    _check(video, choices)
    rows = []
    for k, c in enumerate(sorted(choices, key=lambda c: c.start)):
        rows.append({
            "cue": str(k + 1),
            "label": c.label,
            "in": timecode(c.start, video.fps),
            "out": timecode(c.end, video.fps),
            "duration": timecode(c.end - c.start, video.fps),
            "duration_seconds": f"{c.end - c.start:.3f}",
            "title": c.title or Path(c.track_path).stem,
            "artist": c.artist or "",
            "composer": c.composer or "",
            "album": c.album or "",
            "publisher": c.publisher or "",
            "section_start": f"{c.section_start:.3f}",
            "section_end": f"{c.section_start + (c.end - c.start):.3f}",
            "file": str(Path(c.track_path).absolute()),
            "usage": c.usage,
        })
    return rows


def export_cue_sheet(path: Path | str, video: TimelineVideo, choices: Sequence[CueChoice]) -> Path:
    """Write the cue sheet CSV (UTF-8 with a BOM, so spreadsheet programs read accents right); returns the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise PathError(path, "the folder to export into does not exist")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CUE_SHEET_FIELDS)
    writer.writeheader()
    writer.writerows(cue_sheet_rows(video, choices))
    write_atomically(path, lambda p: p.write_text(buffer.getvalue(), encoding="utf-8-sig", newline=""))
    return path
