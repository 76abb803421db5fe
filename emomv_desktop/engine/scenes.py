"""A video -> shots -> scenes -> cues, and each scene's SlowFast features, embedding and emotion.

Shots
    PySceneDetect's content-aware detector (:class:`scenedetect.ContentDetector`: HSV and luma change between
    consecutive frames against a threshold) on a cheap low-resolution pass: every frame is decoded by the
    engine's own PyAV decoder and scaled by swscale to :data:`DETECT_WIDTH` pixels wide while it is converted
    (no full-size RGB frame is ever made). Using the engine's decoder rather than PySceneDetect's OpenCV backend
    keeps the cut times in the same presentation timestamps :class:`media.VideoReader` samples clips by, so a
    cut is exactly the first frame of the next shot (rotation, odd names and error messages as everywhere
    else). PySceneDetect was chosen over TransNetV2 (needs weights) and hand-rolled histogram differences (its
    detector and flash filter are the field's maintained reference).

Scenes
    Shots are merged into scenes when neighbours feel the same: the cosine of their vectors (the retrieval
    model's video embeddings by default; emotion distributions work alike) is at least ``threshold``
    (:data:`DEFAULT_MERGE_THRESHOLD`), then scenes shorter than ``min_seconds`` (:data:`DEFAULT_MIN_SCENE_SECONDS`)
    join the more similar neighbour. :func:`merge_shots` is a pure function of per-shot vectors.

Clips
    SlowFast clips (32 frames, 2.13 s) are sampled inside a shot and never straddle a cut
    (:func:`plan_segment_clips`): about one per :data:`DEFAULT_SECONDS_PER_CLIP` of the shot (the density of the
    whole-video analysis: 4 clips per 30 s window), at least one. A shot shorter than one clip gets one clip
    centred on it whose frame times are clamped into the shot (its first and last frames are held): the clip
    sees only that shot, and the scene is flagged :attr:`Scene.short`.

Features
    A scene's feature is the mean of its clips' 2304-d features (the protocol's pooling); a cue's is the
    duration-weighted mean of the scenes it covers (the whole video is a cue too). Embedding and emotion go
    through the retrieval model's video branch (:func:`engine.ranking.embed_query`).

Editing
    :func:`split_scene` and :func:`merge_scenes` are pure functions on the scene list; a split scene's halves
    have no features until :func:`describe_scenes` analyses them (only them).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from . import media
from .backbones import CLIP_SECONDS, DEFAULT_CLIPS_PER_WINDOW, DEFAULT_WINDOW_SECONDS, SIDE, clip_times, plan_clips
from .backbones import preprocess_clip
from .errors import DecodeError, EngineError
from .jobs import CancelToken, ProgressCallback, check, report
from .prefetch import prefetched
from .protocol import VIDEO_FEATURE_DIM

if TYPE_CHECKING:
    from .backbones import SlowFastExtractor
    from .model import RetrievalModel
    from .ranking import VideoQuery

__all__ = [
    "Shot",
    "Scene",
    "Cue",
    "SceneError",
    "SegmentFeatures",
    "detect_shots",
    "plan_segment_clips",
    "segment_clip_frame_times",
    "segment_features",
    "merge_shots",
    "scenes_from_shots",
    "describe_scenes",
    "analyse_scenes",
    "cue_features",
    "cue_query",
    "scene_cues",
    "whole_video_cue",
    "range_cue",
    "split_scene",
    "merge_scenes",
]

DETECT_WIDTH = 256
"""Width of the frames the shot detector sees (PySceneDetect's own auto-downscale target)."""

DEFAULT_CUT_THRESHOLD = 27.0
"""ContentDetector's threshold on the weighted mean HSV change (its default, tuned by its authors)."""

DEFAULT_MIN_SHOT_SECONDS = 0.5
"""PySceneDetect's flash filter: cuts closer than this are merged (its default is 15 frames, 0.5 s at 30 fps)."""

DEFAULT_MERGE_THRESHOLD = 0.85
"""Neighbouring shots whose embeddings have at least this cosine are one scene. With the shipped model on EmoMV-C
it joins about two thirds of adjacent 30 s segments of one music video and ~7% of segments of different videos
(docs/scenes-and-cues.md; ``benchmarks/bench_scenes.py --threshold-data``)."""

DEFAULT_MIN_SCENE_SECONDS = 4.0
"""Scenes shorter than this join a neighbour: shorter music cues are rarely wanted (a setting)."""

DEFAULT_SECONDS_PER_CLIP = DEFAULT_WINDOW_SECONDS / DEFAULT_CLIPS_PER_WINDOW
"""One SlowFast clip per this many seconds of a shot (7.5 s: the whole-video analysis' density), at least one."""

MICROSECOND = Fraction(1, 1_000_000)
"""The time base the detector's timecodes use: integer pts, exact to well under a frame at any rate."""

CUT_GUARD_SECONDS = 1e-3
"""Clamped frame times stay this far before a cut, so the frame shown is the shot's own last frame."""


class SceneError(EngineError):
    """A scene edit or analysis that cannot be done as asked (a split outside a scene, a merge past the end)."""


# ================================================================================================== data
@dataclasses.dataclass(frozen=True)
class Shot:
    """A run of frames between two cuts, ``[start, end)`` seconds (start = the shot's first frame's time)."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclasses.dataclass(frozen=True)
class Scene:
    """Adjacent shots that feel the same, ``[start, end)`` seconds.

    ``features`` (2304,) float32 is the mean of ``clips`` SlowFast clip features sampled inside the scene's
    shots (None until analysed, e.g. right after a split); ``query`` is its embedding and emotion through the
    retrieval model (None until described).
    """

    index: int
    start: float
    end: float
    shots: tuple[Shot, ...]
    features: np.ndarray | None = None
    clips: int = 0
    query: "VideoQuery | None" = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def short(self) -> bool:
        """Shorter than one SlowFast clip: its clip held the scene's first/last frames to stay inside it."""
        return self.duration < CLIP_SECONDS


@dataclasses.dataclass(frozen=True)
class Cue:
    """A time range of the video that gets one piece of music: one scene, a run of scenes, or the whole video.

    ``scenes`` are the indices of the scenes it overlaps; ``label`` is what the timeline shows.
    """

    start: float
    end: float
    scenes: tuple[int, ...]
    label: str

    @property
    def duration(self) -> float:
        return self.end - self.start


# ================================================================================================== shots
def detect_shots(
    path: Path | str,
    *,
    threshold: float = DEFAULT_CUT_THRESHOLD,
    min_shot_seconds: float = DEFAULT_MIN_SHOT_SECONDS,
    width: int = DETECT_WIDTH,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[Shot]:
    """The shots of ``path``: PySceneDetect's ContentDetector on every frame scaled to ``width`` pixels wide.

    A cut's time is the presentation time of the new shot's first frame. The first shot starts at 0, the last
    ends at the video's duration. Raises :class:`DecodeError` for files that cannot be decoded.
    """
    from scenedetect import ContentDetector, FrameTimecode
    from scenedetect.common import Timecode

    path = Path(path)
    info = media.probe_video(path)
    fps = info.fps or 30.0
    detector = ContentDetector(threshold=threshold, min_scene_len=float(min_shot_seconds))
    cuts: list[FrameTimecode] = []
    exact: dict[int, float] = {}  # microsecond pts -> the frame's own time (cuts are reported as frame times)
    last = None
    # Decoding runs a few frames ahead in a helper thread; scaling (media.small_bgr) and the detector run here, so
    # both cores work (scaling in the decode thread left this one waiting: 1.95x slower, benchmarks/bench_scenes.py).
    frames = prefetched(media.decode_video_frames(path, cancel), depth=4, cancel=cancel)
    for count, (time, frame) in enumerate(frames):
        image = media.small_bgr(frame, width)
        last = FrameTimecode(Timecode(pts=int(round(time * 1e6)), time_base=MICROSECOND), fps=fps)
        exact[last.pts] = time
        cuts += detector.process_frame(last, image)
        if count % 64 == 0:
            report(progress, time, info.duration or None, f"{path.name}: shots")
    if last is not None:
        cuts += detector.post_process(last)
    end = max(info.duration, exact[last.pts] + 1.0 / fps if last is not None else 0.0)
    report(progress, end, end, f"{path.name}: shots")
    times = {exact.get(c.pts, c.seconds) for c in cuts}
    bounds = [0.0, *sorted(t for t in times if 0.0 < t < end), end]
    return [Shot(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


# ================================================================================================== clips
def plan_segment_clips(
    start: float, end: float, *, seconds_per_clip: float = DEFAULT_SECONDS_PER_CLIP
) -> np.ndarray:
    """Start times of the SlowFast clips of the segment ``[start, end)``; no clip reaches past either end.

    About one clip per ``seconds_per_clip``, at least one, spread evenly (:func:`backbones.plan_clips`) and
    clamped so each clip's 2.13 s lie inside the segment. A segment shorter than a clip gets one clip centred
    on it (it starts before ``start``): read its frames with :func:`segment_clip_frame_times`, which clamps them.
    """
    span = end - start
    if span < CLIP_SECONDS:
        return np.array([start + span / 2 - CLIP_SECONDS / 2])
    count = max(1, int(round(span / seconds_per_clip)))
    starts = plan_clips(start, end, count, end)
    return np.clip(starts, start, end - CLIP_SECONDS)


def segment_clip_frame_times(clip_start: float, start: float, end: float) -> np.ndarray:
    """The 32 frame times of a clip, clamped into ``[start, end)``: a clip never shows a frame across a cut."""
    return np.clip(clip_times(clip_start), start, max(start, end - CUT_GUARD_SECONDS))


@dataclasses.dataclass(frozen=True)
class SegmentFeatures:
    """SlowFast features of time segments: ``features`` (N, 2304) mean per segment, ``clips`` (N,) clips each,
    ``clip_rows`` (C, 3) float64 ``(segment index, clip start, clip end)`` of every clip looked at."""

    features: np.ndarray
    clips: np.ndarray
    clip_rows: np.ndarray


def segment_features(
    extractor: "SlowFastExtractor",
    path: Path | str,
    segments: Sequence[tuple[float, float]],
    *,
    seconds_per_clip: float = DEFAULT_SECONDS_PER_CLIP,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SegmentFeatures:
    """Run SlowFast on clips planned inside each ``(start, end)`` segment; the mean clip feature per segment."""
    path = Path(path)
    plans = [
        (i, s, a, b) for i, (a, b) in enumerate(segments) for s in plan_segment_clips(a, b, seconds_per_clip=seconds_per_clip)
    ]
    sums = np.zeros((len(segments), VIDEO_FEATURE_DIM), np.float64)
    counts = np.zeros(len(segments), np.int64)

    def clips() -> Iterator[np.ndarray]:
        with media.VideoReader(path) as reader:
            for _, clip_start, a, b in plans:
                check(cancel)
                frames = reader.frames_at(segment_clip_frame_times(clip_start, a, b), short_side=SIDE)
                yield preprocess_clip(frames).unsqueeze(0)

    # The next clip is decoded and preprocessed in a helper thread while the network runs on this one.
    for k, batch in enumerate(prefetched(clips(), cancel=cancel)):
        segment = plans[k][0]
        sums[segment] += extractor.clip_features(batch)[0].numpy()
        counts[segment] += 1
        report(progress, k + 1, len(plans), f"{path.name}: scenes")
    rows = np.array([(i, s, s + CLIP_SECONDS) for i, s, _, _ in plans], np.float64).reshape(-1, 3)
    features = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return SegmentFeatures(features, counts, rows)


# ================================================================================================== merging
def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def merge_shots(
    durations: Sequence[float],
    vectors: np.ndarray,
    *,
    threshold: float = DEFAULT_MERGE_THRESHOLD,
    min_seconds: float = DEFAULT_MIN_SCENE_SECONDS,
) -> list[list[int]]:
    """Group consecutive shots into scenes; returns the shot indices of each scene, in order.

    1. Left to right, a shot joins the current scene when the cosine between its vector and the scene's
       (the duration-weighted mean of its shots' vectors) is at least ``threshold``; otherwise it starts a new
       scene.
    2. While a scene is shorter than ``min_seconds`` (and there are two or more), the shortest one joins the
       neighbour whose vector is more similar (ties: the earlier one).

    ``vectors`` (N, D): one per shot (the model's video embeddings, or emotion distributions).
    """
    durations = np.asarray(durations, dtype=np.float64)
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(durations) != len(vectors):
        raise ValueError("one vector per shot is needed")
    if len(durations) == 0:
        return []
    groups: list[list[int]] = [[0]]
    sums = [vectors[0] * durations[0]]
    for i in range(1, len(durations)):
        if float(_unit(sums[-1]) @ _unit(vectors[i])) >= threshold:
            groups[-1].append(i)
            sums[-1] = sums[-1] + vectors[i] * durations[i]
        else:
            groups.append([i])
            sums.append(vectors[i] * durations[i])
    lengths = [float(durations[g].sum()) for g in groups]
    while len(groups) > 1 and min(lengths) < min_seconds:
        k = int(np.argmin(lengths))
        neighbours = [j for j in (k - 1, k + 1) if 0 <= j < len(groups)]
        j = max(neighbours, key=lambda n: (float(_unit(sums[n]) @ _unit(sums[k])), -n))
        lo, hi = min(j, k), max(j, k)
        groups[lo:hi + 1] = [groups[lo] + groups[hi]]
        sums[lo:hi + 1] = [sums[lo] + sums[hi]]
        lengths[lo:hi + 1] = [lengths[lo] + lengths[hi]]
    return groups


def _pooled(features: Sequence[np.ndarray | None], weights: Sequence[float]) -> np.ndarray | None:
    """Weighted mean of feature rows (None when any is missing or the weights sum to nothing)."""
    if any(f is None for f in features) or sum(weights) <= 0:
        return None
    stacked = np.stack([np.asarray(f, np.float64) for f in features])  # type: ignore[arg-type]
    return (np.asarray(weights, np.float64) @ stacked / sum(weights)).astype(np.float32)


def scenes_from_shots(
    shots: Sequence[Shot], groups: Sequence[Sequence[int]], shot_features: SegmentFeatures | None = None
) -> list[Scene]:
    """One :class:`Scene` per group of shot indices; with ``shot_features`` each scene's feature is the mean of
    every clip sampled in its shots."""
    scenes = []
    for index, group in enumerate(groups):
        members = tuple(shots[i] for i in group)
        features, clips = None, 0
        if shot_features is not None:
            counts = [int(shot_features.clips[i]) for i in group]
            features, clips = _pooled([shot_features.features[i] for i in group], counts), sum(counts)
        scenes.append(Scene(index, members[0].start, members[-1].end, members, features, clips))
    return scenes


def describe_scenes(
    scenes: Sequence[Scene],
    model: "RetrievalModel",
    *,
    extractor: "SlowFastExtractor | None" = None,
    path: Path | str | None = None,
    seconds_per_clip: float = DEFAULT_SECONDS_PER_CLIP,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[Scene]:
    """``scenes`` with features (SlowFast on the scenes that have none, e.g. after a split: needs ``extractor``
    and ``path``) and their embedding and emotion through ``model`` (:func:`engine.ranking.embed_query`)."""
    from .ranking import embed_query

    missing = [s for s in scenes if s.features is None]
    if missing:
        if extractor is None or path is None:
            raise SceneError("scenes without features need the video and the SlowFast extractor to analyse them")
        # Each shot of a missing scene is its own segment, so no clip straddles a cut inside the scene.
        spans = [(shot.start, shot.end) for s in missing for shot in s.shots]
        found = segment_features(
            extractor, path, spans, seconds_per_clip=seconds_per_clip, progress=progress, cancel=cancel
        )
        filled, k = {}, 0
        for s in missing:
            counts = [int(c) for c in found.clips[k:k + len(s.shots)]]
            filled[s.index] = (_pooled(list(found.features[k:k + len(s.shots)]), counts), sum(counts))
            k += len(s.shots)
        scenes = [
            dataclasses.replace(s, features=filled[s.index][0], clips=filled[s.index][1]) if s.index in filled else s
            for s in scenes
        ]
    source = Path(path) if path is not None else None
    return [
        s if s.query is not None else dataclasses.replace(s, query=embed_query(model, s.features, path=source, duration=s.duration))
        for s in scenes
    ]


def analyse_scenes(
    path: Path | str,
    extractor: "SlowFastExtractor",
    model: "RetrievalModel",
    *,
    cut_threshold: float = DEFAULT_CUT_THRESHOLD,
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD,
    min_scene_seconds: float = DEFAULT_MIN_SCENE_SECONDS,
    seconds_per_clip: float = DEFAULT_SECONDS_PER_CLIP,
    use_emotions: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[Scene]:
    """Shots, their SlowFast features and embeddings, merged into described scenes.

    Shots are compared by the model's video embeddings, or with ``use_emotions`` by their emotion
    distributions (multi-task models only).
    """
    from .ranking import embed_query

    path = Path(path)
    shots = detect_shots(path, threshold=cut_threshold, progress=progress, cancel=cancel)
    found = segment_features(
        extractor, path, [(s.start, s.end) for s in shots], seconds_per_clip=seconds_per_clip,
        progress=progress, cancel=cancel,
    )
    queries = [embed_query(model, f) for f in found.features]
    if use_emotions and queries[0].emotion_probs is None:
        raise SceneError("comparing shots by emotion needs a multi-task model (this one has no emotion heads)")
    vectors = np.stack([q.emotion_probs if use_emotions else q.embedding for q in queries])
    groups = merge_shots([s.duration for s in shots], vectors, threshold=merge_threshold, min_seconds=min_scene_seconds)
    return describe_scenes(scenes_from_shots(shots, groups, found), model, path=path)


# ================================================================================================== cues
def cue_features(scenes: Sequence[Scene], start: float, end: float) -> np.ndarray:
    """The 2304-d feature of ``[start, end)``: the mean of the scenes it overlaps, weighted by the overlap."""
    overlaps = [max(0.0, min(end, s.end) - max(start, s.start)) for s in scenes]
    used = [(s.features, w) for s, w in zip(scenes, overlaps) if w > 0]
    pooled = _pooled([f for f, _ in used], [w for _, w in used]) if used else None
    if pooled is None:
        raise SceneError(f"no analysed scene covers {start:.2f}-{end:.2f} s")
    return pooled


def cue_query(
    scenes: Sequence[Scene], cue: Cue, model: "RetrievalModel", *, path: Path | str | None = None
) -> "VideoQuery":
    """The cue ready to rank with: its duration-weighted feature through the model's video branch."""
    from .ranking import embed_query

    features = cue_features(scenes, cue.start, cue.end)
    return embed_query(model, features, path=Path(path) if path is not None else None, duration=cue.duration)


def _overlapping(scenes: Sequence[Scene], start: float, end: float) -> tuple[int, ...]:
    return tuple(s.index for s in scenes if min(end, s.end) > max(start, s.start))


def scene_cues(scenes: Sequence[Scene]) -> list[Cue]:
    """One cue per scene."""
    return [Cue(s.start, s.end, (s.index,), f"Scene {s.index + 1}") for s in scenes]


def whole_video_cue(scenes: Sequence[Scene]) -> Cue:
    """The whole video as one cue."""
    if not scenes:
        raise SceneError("the video has no scenes")
    return Cue(scenes[0].start, scenes[-1].end, _overlapping(scenes, scenes[0].start, scenes[-1].end), "Whole video")


def range_cue(scenes: Sequence[Scene], start: float, end: float, label: str | None = None) -> Cue:
    """A cue over any range the user drags (clamped to the video)."""
    if not scenes:
        raise SceneError("the video has no scenes")
    start, end = max(start, scenes[0].start), min(end, scenes[-1].end)
    if end <= start:
        raise SceneError(f"the range {start:.2f}-{end:.2f} s is empty")
    return Cue(start, end, _overlapping(scenes, start, end), label or f"{start:.1f}-{end:.1f} s")


# ================================================================================================== editing
def _renumbered(scenes: Sequence[Scene]) -> list[Scene]:
    return [dataclasses.replace(s, index=i) for i, s in enumerate(scenes)]


def split_scene(scenes: Sequence[Scene], at: float, *, min_seconds: float = 0.1) -> list[Scene]:
    """The scene list with the scene containing ``at`` split there (a shot spanning ``at`` is split too).

    The two halves have no features or query until :func:`describe_scenes` analyses them. Raises
    :class:`SceneError` when ``at`` is outside the video or within ``min_seconds`` of a scene boundary.
    """
    for k, scene in enumerate(scenes):
        if scene.start < at < scene.end:
            break
    else:
        raise SceneError(f"{at:.2f} s is not inside a scene")
    if at - scene.start < min_seconds or scene.end - at < min_seconds:
        raise SceneError(f"{at:.2f} s is too close to the scene's edge to split there")
    left = tuple(Shot(s.start, min(s.end, at)) for s in scene.shots if s.start < at)
    right = tuple(Shot(max(s.start, at), s.end) for s in scene.shots if s.end > at)
    halves = [Scene(0, scene.start, at, left), Scene(0, at, scene.end, right)]
    return _renumbered([*scenes[:k], *halves, *scenes[k + 1:]])


def merge_scenes(scenes: Sequence[Scene], index: int) -> list[Scene]:
    """The scene list with scenes ``index`` and ``index + 1`` merged into one.

    The merged feature is the clip-weighted mean of the two (exactly the mean of all their clips); its query is
    cleared for :func:`describe_scenes` to recompute.
    """
    if not 0 <= index < len(scenes) - 1:
        raise SceneError(f"there is no scene after scene {index + 1} to merge with")
    a, b = scenes[index], scenes[index + 1]
    features = _pooled([a.features, b.features], [a.clips, b.clips]) if a.clips + b.clips else None
    merged = Scene(0, a.start, b.end, a.shots + b.shots, features, a.clips + b.clips if features is not None else 0)
    return _renumbered([*scenes[:index], merged, *scenes[index + 2:]])
