"""Hand-off files: the ranked suggestions as CSV or JSON, and a preview MP4 of the video with a track muxed in.

No Qt here: the GUI runs these in a worker, the CLI or a script can call them directly.

The preview MP4 keeps the video's own compressed stream when MP4 can hold it (no re-encoding: fast and
lossless) and re-encodes it to H.264 otherwise. The audio is the track from the start of its best section,
resampled to 48 kHz stereo AAC, cut (or padded with silence) to the video's length, with short fades so it
does not click in and out. A scored cut (:func:`export_scored_preview`) is the same with one track per cue:
each plays its section under its cue, and the music switches at cue boundaries with an equal-power crossfade
centred on the boundary (so every track is exactly at its section's time throughout its cue). Output is
written to a temporary file beside the target and renamed at the end, so a cancelled or failed export never
leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import media
from .emotions import Emotion
from .errors import DecodeError, PathError
from .fileio import atomic_path, write_atomically
from .jobs import CancelToken, ProgressCallback, check, report
from .paths import display_path

if TYPE_CHECKING:
    import av

    from .loading import LoadedModel
    from .queries import TempTrackQuery
    from .ranking import RankFilter, Suggestion, VideoQuery

# ----------------------------------------------------------------------------------- result lists

# The format of :func:`suggestions_document` (``emomv-desktop suggest --json`` and the GUI's JSON export).
RESULTS_FORMAT = "emomv-desktop/suggestions"
RESULTS_VERSION = 1
CSV_FIELDS: tuple[str, ...] = (
    "rank",
    "title",
    "artist",
    "album",
    "path",
    "score",
    "best_start",
    "best_end",
    "duration",
    "emotion",
    *(f"p_{e.label}" for e in Emotion),
    "track_id",
    "bpm",
    "covers",
    "shortlisted",
    "loudness",
)


def _probabilities(probs: Iterable[float] | None) -> dict[str, float] | None:
    return None if probs is None else {e.label: round(float(p), 6) for e, p in zip(Emotion, probs)}


def _label(emotion: Emotion | int | None) -> str | None:
    return None if emotion is None else Emotion(int(emotion)).label


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def suggestion_record(s: "Suggestion", shortlist: "Collection[Path] | None" = None) -> dict[str, Any]:
    """One suggestion as plain JSON-able data (paths as text, emotions by label).

    ``shortlisted``: whether the user starred the track (``shortlist`` holds the starred paths); None when no
    shortlist was given (the CLI has none).
    """
    return {
        "rank": int(s.rank),
        "track_id": int(s.track_id),
        "path": display_path(s.path),
        "title": s.title,
        "artist": s.artist,
        "album": s.album,
        "duration": _seconds(s.duration),
        "score": round(float(s.score), 6),
        "best_section": {"start": _seconds(s.best_start), "end": _seconds(s.best_end)},
        "emotion": _label(s.emotion),
        "emotion_probs": _probabilities(s.emotion_probs),
        "bpm": None if s.bpm is None else round(float(s.bpm), 2),
        "covers": s.covers,
        "shortlisted": None if shortlist is None else Path(s.path) in shortlist,
        "loudness": None if s.loudness is None else round(float(s.loudness), 2),
    }


def video_record(query: "VideoQuery") -> dict[str, Any]:
    """The video's part of a document; ``skipped_seconds`` appears only when a damaged stretch was left out."""
    probs = query.emotion_probs
    record = {
        "path": display_path(query.path) if query.path is not None else None,
        "duration": _seconds(query.duration),
        **_emotion_fields(probs),
    }
    if query.features is not None and query.features.skipped_clips:
        record["skipped_seconds"] = _seconds(query.features.skipped_seconds)
    return record


def _emotion_fields(probs: "np.ndarray | None") -> dict[str, Any]:
    return {"emotion": None if probs is None else Emotion(int(np.argmax(probs))).label,
            "emotion_probs": _probabilities(probs)}


def temp_track_record(query: "TempTrackQuery", sound_weight: float | None) -> dict[str, Any]:
    """A temp-track query's part of a document: the file or the library track, the section, the weight."""
    by_id = not isinstance(query.source, Path)
    start, end = query.section
    return {"track_id": int(query.source) if by_id else None, "path": None if by_id else display_path(query.source),
            "section": {"start": _seconds(start), "end": _seconds(end)}, "sound_weight": sound_weight,
            **_emotion_fields(query.emotion_probs)}


def stills_record(query: "VideoQuery", images: Sequence[Path], note: str) -> dict[str, Any]:
    """A still or mood-board query's part of a document: the images, their emotion, and the caveat."""
    return {"images": [display_path(p) for p in images], **_emotion_fields(query.emotion_probs), "note": note}

def cue_record(cue: Any, query: "VideoQuery", suggestions: Sequence["Suggestion"]) -> dict[str, Any]:
    """One cue of a scene analysis (``suggest --scenes --json``): its range, label, emotion and suggestions."""
    video = video_record(query)
    return {
        "label": cue.label,
        "start": _seconds(cue.start),
        "end": _seconds(cue.end),
        "scenes": list(cue.scenes),
        "emotion": video["emotion"],
        "emotion_probs": video["emotion_probs"],
        "suggestions": [suggestion_record(s) for s in suggestions],
    }


def filter_record(filters: "RankFilter | Mapping[str, Any] | None") -> dict[str, Any] | None:
    """The filters a ranking applied, as JSON data (a mapping is taken as already being that data)."""
    if filters is None or isinstance(filters, Mapping):
        return None if filters is None else dict(filters)
    record = {
        "emotions": None if filters.emotions is None else sorted(e.label for e in filters.emotions),
        "min_duration": filters.min_duration,
        "text": filters.text,
    }
    if filters.bpm_min is not None or filters.bpm_max is not None:  # added fields: only when a range was asked
        record.update(bpm_min=filters.bpm_min, bpm_max=filters.bpm_max)
    return record


def suggestions_document(
    suggestions: Sequence["Suggestion"],
    query: "VideoQuery | None" = None,
    *,
    model: "LoadedModel | None" = None,
    filters: "RankFilter | Mapping[str, Any] | None" = None,
    random_networks: bool = False,
    shortlist: "Collection[Path] | None" = None,
    kind: str = "video",
    reference: Mapping[str, Any] | None = None,
    feedback: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The suggestions document: what ``suggest --json`` prints and the GUI's JSON export writes.

    ``{"format", "version", "random_networks", "query", "video", "reference", "feedback", "model", "filters",
    "suggestions": [...]}`` (documented in docs/engine-library.md). ``random_networks`` is True when the
    backbones had random weights (demo/test mode): the ranking then means nothing. ``kind`` is the query's kind
    ("video", "temp_track", "stills"); ``reference`` describes a query that is not a video (``video`` is then
    null), ``feedback`` the liked and disliked track ids it was re-ranked with (null when none). ``shortlist``:
    the starred tracks' paths (each suggestion's ``shortlisted``).
    """
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "random_networks": bool(random_networks),
        "query": kind,
        "video": video_record(query) if query is not None else None,
        "reference": None if reference is None else dict(reference),
        "feedback": None if feedback is None else dict(feedback),
        "model": None if model is None else {
            "path": display_path(model.path), "id": model.model_id, "multitask": model.multitask
        },
        "filters": filter_record(filters),
        "suggestions": [suggestion_record(s, shortlist) for s in suggestions],
    }


def write_results_json(
    path: Path | str, suggestions: Sequence["Suggestion"], query: "VideoQuery | None" = None, **fields: Any
) -> Path:
    """The :func:`suggestions_document` (``fields``: its keyword arguments) as UTF-8 JSON."""
    document = suggestions_document(suggestions, query, **fields)

    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return write_atomically(path, write)


def write_results_csv(path: Path | str, suggestions: Sequence["Suggestion"],
                      shortlist: "Collection[Path] | None" = None) -> Path:
    """One row per suggestion with the columns of :data:`CSV_FIELDS` (UTF-8 with BOM, opens in spreadsheets);
    ``shortlisted`` is 1/0, empty without a ``shortlist``."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8-sig") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for s in suggestions:
                record = suggestion_record(s, shortlist)
                if record["shortlisted"] is not None:
                    record["shortlisted"] = int(record["shortlisted"])
                section = record.pop("best_section")
                probs = record.pop("emotion_probs") or {}
                record.update(best_start=section["start"], best_end=section["end"])
                record.update({f"p_{label}": p for label, p in probs.items()})
                writer.writerow(record)

    return write_atomically(path, write)


# ----------------------------------------------------------------------------------- preview MP4

PREVIEW_SAMPLE_RATE = 48_000
PREVIEW_LAYOUT = "stereo"
PREVIEW_AUDIO_CODEC = "aac"
PREVIEW_VIDEO_CODEC = "libx264"
FADE_SECONDS = 0.05
DEFAULT_CROSSFADE_SECONDS = 1.0
"""A scored cut's music switches from one cue's track to the next over this long, centred on the boundary."""
# Codecs an MP4 file can hold as they are: their packets are copied, not re-encoded.
MP4_COPYABLE_CODECS = frozenset({"h264", "hevc", "mpeg4", "av1", "vp9"})
# Audio is muxed this far ahead of the video packets, so the muxer never has to buffer much.
AUDIO_LEAD_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class PreviewReport:
    path: Path
    duration: float
    video_copied: bool  # True: the video stream was copied as it was; False: re-encoded to H.264
    audio_start: float
    audio_seconds_from_track: float  # the rest (to the video's length) is silence


def _open_input(path: Path) -> "av.container.InputContainer":
    import av

    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise DecodeError(path, f"not a readable media file ({exc})") from exc


def _stream_duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    raise DecodeError(Path(container.name), "the file does not state its duration")


class _TrackAudio:
    """The track from ``start`` s (before 0: silence first), as 48 kHz stereo float planes, handed out in pieces."""

    def __init__(self, container, start: float) -> None:
        import av

        if not container.streams.audio:
            raise DecodeError(Path(container.name), "no audio stream")
        self._stream = container.streams.audio[0]
        self._start = max(0.0, start)
        if self._start > 0 and self._stream.time_base is not None:
            container.seek(int(self._start / self._stream.time_base), stream=self._stream, backward=True)
        self._resampler = av.AudioResampler(format="fltp", layout=PREVIEW_LAYOUT, rate=PREVIEW_SAMPLE_RATE)
        self._frames = self._decode(container)
        self._buffer = np.zeros((2, max(0, round(-start * PREVIEW_SAMPLE_RATE))), dtype=np.float32)
        self.from_track = -self._buffer.shape[1]  # samples that came from the track (not leading or trailing silence)
        self.exhausted = False

    def _decode(self, container) -> Iterator[np.ndarray]:
        """Resampled planes from exactly ``start`` on (samples before it, left by the keyframe seek, dropped)."""
        skip: int | None = None
        for frame in container.decode(self._stream):
            if skip is None:
                first = float(frame.time) if frame.time is not None else 0.0
                skip = max(0, int(round((self._start - first) * PREVIEW_SAMPLE_RATE)))
            for out in self._resampler.resample(frame):
                planes = out.to_ndarray().astype(np.float32, copy=False)
                if skip:
                    cut = min(skip, planes.shape[1])
                    planes, skip = planes[:, cut:], skip - cut
                if planes.shape[1]:
                    yield planes
        for out in self._resampler.resample(None):
            yield out.to_ndarray().astype(np.float32, copy=False)

    def take(self, samples: int) -> np.ndarray:
        """Exactly ``samples`` samples: the track's next ones, then silence once it has ended."""
        while self._buffer.shape[1] < samples and not self.exhausted:
            try:
                self._buffer = np.concatenate([self._buffer, next(self._frames)], axis=1)
            except StopIteration:
                self.exhausted = True
        piece, self._buffer = self._buffer[:, :samples], self._buffer[:, samples:]
        self.from_track += piece.shape[1]
        if piece.shape[1] < samples:
            piece = np.concatenate([piece, np.zeros((2, samples - piece.shape[1]), np.float32)], axis=1)
        return piece


@dataclasses.dataclass(frozen=True)
class MixCue:
    """``track`` from ``section_start`` s sounds under ``[start, end)`` s of the video (``end`` None: to its end)."""

    start: float
    end: float | None
    track: Path
    section_start: float


class _Span:
    """One cue on the output's sample clock: the samples it sounds over (fades included) and its gain ramps.

    A boundary shared with the next cue is crossfaded over ``[b - h, b + h]`` (equal power), so each track is
    at its section's own time throughout and at full level between the fades; any other edge (the video's
    ends, a gap) fades over :data:`FADE_SECONDS` inside the cue, so nothing clicks in or out.
    """

    def __init__(self, cue: MixCue, start: int, end: int, lead: int, tail: int) -> None:
        self.cue = cue
        self.fade_in = (start - lead, start + (lead or _edge_fade(start, end)))
        self.fade_out = (end - (tail or _edge_fade(start, end)), end + tail)
        self.first, self.last = self.fade_in[0], self.fade_out[1]
        self.source: _TrackAudio | None = None
        self.container = None

    def open(self) -> None:
        self.container = _open_input(self.cue.track)
        offset = (self.first - round(self.cue.start * PREVIEW_SAMPLE_RATE)) / PREVIEW_SAMPLE_RATE
        self.source = _TrackAudio(self.container, self.cue.section_start + offset)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def gain(self, index: np.ndarray) -> np.ndarray:
        def ramp(window: tuple[int, int]) -> np.ndarray:
            width = max(1, window[1] - window[0])
            return np.clip((index - window[0] + 1) / width, 0.0, 1.0)

        return (np.sin(np.pi / 2 * ramp(self.fade_in)) * np.cos(np.pi / 2 * ramp(self.fade_out))).astype(np.float32)


def _edge_fade(start: int, end: int) -> int:
    return min(int(FADE_SECONDS * PREVIEW_SAMPLE_RATE), (end - start) // 2)


class _CueMix:
    """The music of the whole cut: every cue's track, crossfaded at shared boundaries, silence between cues.

    Tracks are opened when their cue comes up and closed after it, so a cut with many cues holds at most two
    inputs open. :meth:`take` hands out the mix in order, like :class:`_TrackAudio` does one track.
    """

    def __init__(self, cues: Sequence[MixCue], duration: float, crossfade: float) -> None:
        rate = PREVIEW_SAMPLE_RATE
        total = round(duration * rate)
        bounds = [(round(c.start * rate), min(total, round((duration if c.end is None else c.end) * rate)))
                  for c in cues]
        self.spans: list[_Span] = []
        for k, (cue, (start, end)) in enumerate(zip(cues, bounds)):
            def half(a: tuple[int, int], b: tuple[int, int]) -> int:  # the crossfade at a boundary they share
                if a[1] != b[0]:
                    return 0
                return min(round(crossfade * rate / 2), (a[1] - a[0]) // 2, (b[1] - b[0]) // 2)

            lead = half(bounds[k - 1], (start, end)) if k else 0
            tail = half((start, end), bounds[k + 1]) if k + 1 < len(bounds) else 0
            self.spans.append(_Span(cue, start, end, lead, tail))
        self._position = 0

    def take(self, samples: int) -> np.ndarray:
        first, last = self._position, self._position + samples
        mixed = np.zeros((2, samples), dtype=np.float32)
        for span in self.spans:
            a, b = max(first, span.first), min(last, span.last)
            if a >= b:
                continue
            if span.source is None:
                span.open()
            mixed[:, a - first:b - first] += span.source.take(b - a) * span.gain(np.arange(a, b))
            if b == span.last:
                span.close()
        self._position = last
        return mixed

    def close(self) -> None:
        for span in self.spans:
            span.close()


class _AudioWriter:
    """Encodes the mix into the output, up to a given time on the video's timeline."""

    def __init__(self, out, mix: _CueMix, duration: float) -> None:
        self._out = out
        self._stream = out.add_stream(PREVIEW_AUDIO_CODEC, rate=PREVIEW_SAMPLE_RATE, layout=PREVIEW_LAYOUT)
        self._mix = mix
        self._total = int(round(duration * PREVIEW_SAMPLE_RATE))
        self._written = 0

    def write_until(self, seconds: float) -> None:
        import av

        target = min(self._total, int(math.ceil(seconds * PREVIEW_SAMPLE_RATE)))
        while self._written < target:
            n = min(4096, target - self._written)
            planes = self._mix.take(n)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes), format="fltp", layout=PREVIEW_LAYOUT)
            frame.sample_rate = PREVIEW_SAMPLE_RATE
            frame.pts = self._written
            frame.time_base = Fraction(1, PREVIEW_SAMPLE_RATE)
            self._out.mux(self._stream.encode(frame))
            self._written += n

    def finish(self) -> None:
        self.write_until(self._total / PREVIEW_SAMPLE_RATE)
        self._out.mux(self._stream.encode(None))


def _copy_video(video_in, v_in, out, make_audio: Callable[[], _AudioWriter], duration, progress, cancel) -> None:
    v_out = out.add_stream_from_template(v_in)
    audio = make_audio()
    for packet in video_in.demux(v_in):
        check(cancel)
        if packet.dts is None:  # the demuxer's empty flush packet
            continue
        t = float(packet.pts * v_in.time_base) if packet.pts is not None else 0.0
        audio.write_until(t + AUDIO_LEAD_SECONDS)
        packet.stream = v_out
        out.mux(packet)
        report(progress, min(t, duration), duration, "copying the video")
    audio.finish()


def _encode_video(video_in, v_in, out, make_audio: Callable[[], _AudioWriter], duration, progress, cancel) -> None:
    rate = v_in.average_rate or v_in.guessed_rate or Fraction(25)
    v_out = out.add_stream(PREVIEW_VIDEO_CODEC, rate=rate)
    v_out.width = v_in.codec_context.width - v_in.codec_context.width % 2
    v_out.height = v_in.codec_context.height - v_in.codec_context.height % 2
    v_out.pix_fmt = "yuv420p"
    v_out.codec_context.time_base = v_in.time_base  # keep each frame's own time (variable frame rates too)
    audio = make_audio()
    for frame in video_in.decode(v_in):
        check(cancel)
        t = float(frame.time) if frame.time is not None else 0.0
        audio.write_until(t + AUDIO_LEAD_SECONDS)
        image = frame.reformat(width=v_out.width, height=v_out.height, format="yuv420p")
        image.pts, image.time_base = frame.pts, v_in.time_base
        out.mux(v_out.encode(image))
        report(progress, min(t, duration), duration, "encoding the video")
    out.mux(v_out.encode(None))
    audio.finish()


def export_preview(
    video: Path | str,
    track: Path | str,
    start: float,
    output: Path | str,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PreviewReport:
    """Write ``output`` (MP4): ``video``'s picture with ``track``'s audio from ``start`` s, for the video's length.

    Raises :class:`DecodeError` for an unreadable input, :class:`PathError` when the output cannot be written,
    :class:`Cancelled` when ``cancel`` is set (no output file is left behind then).
    """
    return export_scored_preview(video, [MixCue(0.0, None, Path(track), start)], output,
                                 progress=progress, cancel=cancel)


def export_scored_preview(
    video: Path | str,
    cues: Sequence[MixCue],
    output: Path | str,
    *,
    crossfade_seconds: float = DEFAULT_CROSSFADE_SECONDS,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PreviewReport:
    """Write ``output`` (MP4): ``video``'s picture scored by ``cues`` (each its track from its section's start),
    switching at cue boundaries with an equal-power crossfade of ``crossfade_seconds`` centred on the boundary;
    silence where no cue is. Errors as :func:`export_preview`."""
    video, output = Path(video), Path(output)
    cues = sorted(cues, key=lambda c: c.start)
    media.probe_video(video)  # the engine's own checks and messages for files that are no usable video/audio
    for cue in cues:
        media.probe_audio(cue.track)
    with _open_input(video) as video_in, atomic_path(output) as tmp:
        tmp.touch()  # FFmpeg opens its output lazily: an unwritable folder must fail here, naming the output
        result = _write_preview(video_in, cues, max(0.0, crossfade_seconds), tmp, output, progress, cancel)
    report(progress, result.duration, result.duration, "done")
    return result


def _write_preview(video_in, cues: Sequence[MixCue], crossfade: float, tmp: Path, output: Path, progress,
                   cancel) -> PreviewReport:
    """Mux into ``tmp``; the report names ``output`` (where the caller moves the file)."""
    import av

    video = Path(video_in.name)
    v_in = video_in.streams.video[0]
    duration = _stream_duration(video_in, v_in)
    try:
        out = av.open(str(tmp), "w", format="mp4")
    except (av.FFmpegError, OSError) as exc:
        raise PathError(output, f"cannot write ({exc})") from exc
    copied = v_in.codec_context.name in MP4_COPYABLE_CODECS
    mix = _CueMix(cues, duration, crossfade)
    write_video = _copy_video if copied else _encode_video
    try:
        write_video(video_in, v_in, out, lambda: _AudioWriter(out, mix, duration), duration, progress, cancel)
    except av.FFmpegError as exc:
        raise DecodeError(video, f"cannot mix in the music ({exc})") from exc
    finally:
        out.close()
        mix.close()
    for span in mix.spans:
        if span.first < span.last and (span.source is None or span.source.from_track <= 0):
            raise DecodeError(span.cue.track, f"no audio could be decoded from {span.cue.section_start:.1f} s on")
    return PreviewReport(
        path=output,
        duration=duration,
        video_copied=copied,
        audio_start=max(0.0, cues[0].section_start) if cues else 0.0,
        audio_seconds_from_track=min(duration, sum(max(0, s.source.from_track) for s in mix.spans
                                                   if s.source is not None) / PREVIEW_SAMPLE_RATE),
    )
