"""Queries beyond a video: a temp track, stills and mood boards, more-like-this feedback, and music -> video.

Each ends as what :class:`~emomv_desktop.engine.ranking.Ranker` ranks: a score vector against the cached score
vectors of the library's windows (:meth:`RetrievalModel.score_vector`), a track's score being its best window's
(that window is its section).

Temp track (:func:`temp_track_query`, :func:`rank_temp_track`)
    The reference is an audio file (VGGish features through the extractor) or a library track (its stored
    window features), pooled into windows exactly as the library pools them. Its section (the whole track, or
    a chosen ``(start, end)``) is the mean of the windows overlapping it, weighted by the overlap. Each library
    window is scored by

        (1 - sound_weight) * feel + sound_weight * sound

    *feel*: the model's score of the section's music score vector with the window's (the cosine of the two
    music embeddings in the shared space, plus for a blended model ``lambda`` times the agreement of their
    emotion distributions), mapped from the range it can take (:func:`engine.va.score_range`) onto [-1, 1];
    *sound*: the cosine of the two VGGish feature vectors after the model's music standardisation (centred, so
    it spans [-1, 1] too; the raw features are non-negative and nearly all alike). The reference's own track
    and its duplicates (same path, or the same file size and the same windows' features to within the
    library's storage precision) are never suggested.

Stills and mood boards (:func:`still_query`, :func:`storyboard_queries`)
    PNG, JPEG, WebP, AVIF, BMP and TIFF are decoded by OpenCV (EXIF orientation applied); HEIC/HEIF only where
    the optional ``pillow-heif`` decoder is installed (it is not a dependency; without it such files get a
    :class:`DecodeError` saying so). Each still is shown to SlowFast as a motionless clip: the frame, scaled to
    the short side 256 and centre-cropped like video frames, repeated for the 32 fast-pathway frames (the slow
    pathway takes 8 of them). The model was trained on video: a still has no motion, which the video branch
    never saw in training, so its emotion reads the picture's content and colour only. Several stills are one
    query (the mean of their features, as a video's clips are pooled); a storyboard of ``(image, seconds)`` is
    one cue per still.

More like this / not this (:class:`Feedback`, :func:`apply_feedback`)
    Rocchio's relevance feedback in the score-vector space: ``q' = a q + b mean(liked) - c mean(disliked)``
    with ``q`` the original query's score vector and each rated track represented by the score vector of its
    section for ``q`` (the window the editor auditioned). Default weights ``a = 1, b = 0.75, c = 0.15``, the
    values Manning, Raghavan & Schütze suggest (Introduction to Information Retrieval, Cambridge University
    Press 2008, Sec. 9.1.1, Rocchio's 1971 algorithm). A pure function of the original query and the two sets:
    deterministic, undone by removing a rating, one :class:`Feedback` per cue.

Music -> video (:func:`scenes_for_track`)
    The paper's reverse direction: the scenes of a cut ranked by how well one track fits them, each scene's
    score being the track's best window for it.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence, TypeVar

import cv2
import numpy as np
import torch

from .backbones import FAST_FRAMES, SIDE, preprocess_clip
from .emotions import Emotion
from .errors import DecodeError, EngineError
from .jobs import CancelToken, ProgressCallback, check, report
from .images import HEIF_EXTENSIONS, IMAGE_EXTENSIONS
from .library import GEOMETRY, TrackStatus
from .model import RetrievalModel
from .protocol import VIDEO_FEATURE_DIM
from .ranking import (EmbeddingCache, RankFilter, Ranker, RankingError, Suggestion, VideoQuery, embed_query,
                      register_cache)
from .va import score_range

if TYPE_CHECKING:
    from .backbones import SlowFastExtractor, VGGishExtractor

__all__ = [
    "DEFAULT_SOUND_WEIGHT",
    "Feedback",
    "HEIF_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "QueryError",
    "ROCCHIO",
    "RocchioWeights",
    "SceneFit",
    "StillCue",
    "TempTrackQuery",
    "apply_feedback",
    "image_paths",
    "rank_temp_track",
    "read_image",
    "scenes_for_track",
    "still_clip",
    "still_features",
    "still_query",
    "storyboard_queries",
    "temp_track_query",
    "track_windows",
]


class QueryError(EngineError):
    """A query that cannot be built as asked (no images in a folder, a section outside the track, ...)."""


def _rows(cache: EmbeddingCache, track_ids: Iterable[int]) -> np.ndarray:
    """Rows of ``cache.tracks`` holding ``track_ids`` (ids are sorted there); unknown ids are an error."""
    ids = np.asarray(sorted(int(i) for i in track_ids), dtype=np.int64)
    rows = np.searchsorted(cache.tracks.ids, ids)
    known = (rows < len(cache.tracks)) & (cache.tracks.ids[np.minimum(rows, len(cache.tracks) - 1)] == ids)
    if not known.all():
        raise RankingError(f"track {int(ids[~known][0])} is not a rankable track of this library")
    return rows


def _run(cache: EmbeddingCache, row: int) -> slice:
    start = int(cache.offsets[row])
    return slice(start, start + int(cache.tracks.counts[row]))


# ================================================================================================ temp track
DEFAULT_SOUND_WEIGHT = 0.5
"""Temp-track blend: half how it feels (the model), half how it sounds (VGGish); the GUI's slider starts here."""

DUPLICATE_RTOL = 2e-3
"""Two copies of one file have the same stored features, to within float16 rounding (relative 4.9e-4)."""


@dataclasses.dataclass(frozen=True)
class SoundIndex:
    """The library's window features in the ranking cache's order, standardised, for the VGGish-space cosine.

    ``standardised`` (W, 128) float32 ``(x - mean) / std`` of each stored window (``mean``/``std`` the model's
    music standardisation; kept standardised rather than raw so the cosine needs no subtraction of large, nearly
    equal float32 dot products); ``inverse_norms`` (W,) their inverse lengths. Memory: 512 bytes a window (about
    1.8x the ranking cache of a blended model).
    """

    generation: int
    standardised: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    inverse_norms: np.ndarray

    @classmethod
    def build(cls, ranker: Ranker) -> "SoundIndex":
        scaler = ranker.model.music_scaler
        mean = scaler.mean.detach().float().cpu().numpy()
        std = scaler.std.detach().float().cpu().numpy()
        with ranker.library.window_snapshot(ranker.backbone_id) as snap:
            parts = [(c.features - mean) / std for c in snap.chunks]
        standardised = np.concatenate(parts) if parts else np.zeros((0, mean.size), np.float32)
        norms = np.linalg.norm(standardised, axis=1)
        return cls(snap.generation, standardised, mean, std, 1.0 / np.maximum(norms, 1e-12))

    def features(self, windows: slice) -> np.ndarray:
        """The stored (raw) features of a run of windows."""
        return self.standardised[windows] * self.std + self.mean

    def cosines(self, reference: np.ndarray) -> np.ndarray:
        """(W,) cosine of every window with the 128-d ``reference``, both standardised."""
        r = (np.asarray(reference, np.float32) - self.mean) / self.std
        return (self.standardised @ (r / max(float(np.linalg.norm(r)), 1e-12))) * self.inverse_norms


_SOUNDS: dict[tuple, SoundIndex] = {}
_SOUNDS_LOCK = threading.Lock()


@register_cache  # ranking.clear_caches() empties it with the ranking caches it is built beside
def _clear_sound_index() -> None:
    with _SOUNDS_LOCK:
        _SOUNDS.clear()


def _sound_index(ranker: Ranker, cache: EmbeddingCache) -> SoundIndex:
    """The (one, process-wide) sound index of ``ranker``'s library, for the same library state as ``cache``."""
    key = (str(ranker.library.path.resolve()), ranker.model_id, ranker.backbone_id)
    with _SOUNDS_LOCK:
        index = _SOUNDS.get(key)
        if index is None or index.generation != cache.generation:
            _SOUNDS.clear()  # one library at a time: free the old arrays first
            index = _SOUNDS[key] = SoundIndex.build(ranker)
    if index.generation != cache.generation:
        raise RankingError("the library changed while the query was built; run it again")
    return index


@dataclasses.dataclass(frozen=True)
class TempTrackQuery:
    """A reference track, ready to rank with :func:`rank_temp_track` (or to take :func:`apply_feedback`).

    ``source`` is the file or the library track id; ``section`` the ``(start, end)`` seconds used;
    ``features`` its 128-d VGGish mean; ``score_vector`` its music score vector ("how it feels");
    ``emotion_probs`` the music head's calibrated probabilities (None for a single-task model); ``exclude``
    the reference's own track and its duplicates.
    """

    source: Path | int
    section: tuple[float, float]
    features: np.ndarray
    score_vector: np.ndarray
    emotion_probs: np.ndarray | None
    exclude: frozenset[int]

    @property
    def emotion(self) -> Emotion | None:
        return None if self.emotion_probs is None else Emotion(int(np.argmax(self.emotion_probs)))


def _section_mean(windows: np.ndarray, starts: np.ndarray, ends: np.ndarray, section: tuple[float, float],
                  source: Path | int) -> np.ndarray:
    """Mean of the windows overlapping ``section``, each weighted by its overlap in seconds."""
    start, end = section
    overlap = np.clip(np.minimum(ends, end) - np.maximum(starts, start), 0.0, None).astype(np.float64)
    if end <= start or overlap.sum() <= 0:
        name = source if isinstance(source, Path) else f"track {source}"
        raise QueryError(f"{name}: the section {start:g}-{end:g} s lies outside the track (0-{float(ends.max()):g} s)")
    return (overlap @ windows / overlap.sum()).astype(np.float32)


def _duplicates(ranker: Ranker, cache: EmbeddingCache, sound: SoundIndex, size: int, windows: np.ndarray) -> set[int]:
    """Tracks with the file size ``size`` whose stored windows equal ``windows`` (as the library stores them)."""
    stored = windows.astype(ranker.library.feature_dtype).astype(np.float32)
    same_size = {t.id for t in ranker.library.tracks(status=TrackStatus.INDEXED) if t.size == size}
    same_size &= set(cache.tracks.ids.tolist())  # tracks of another backbone are not ranked anyway
    found = set()
    for track_id, row in zip(sorted(same_size), _rows(cache, same_size)):
        mine = sound.features(_run(cache, int(row)))
        if mine.shape == stored.shape and np.allclose(mine, stored, rtol=DUPLICATE_RTOL, atol=DUPLICATE_RTOL):
            found.add(track_id)
    return found


@torch.inference_mode()
def temp_track_query(
    ranker: Ranker,
    source: Path | str | int,
    *,
    section: tuple[float, float] | None = None,
    vggish: "VGGishExtractor | None" = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TempTrackQuery:
    """A temp-track query from an audio file (``vggish`` extracts it) or a library track id.

    ``section``: the part of the reference to match, in seconds (default: all of it).
    """
    cache = ranker.prepare(progress=progress, cancel=cancel)
    sound = _sound_index(ranker, cache)
    if isinstance(source, (int, np.integer)):
        row = int(_rows(cache, [source])[0])
        run = _run(cache, row)
        windows, starts, ends = sound.features(run), cache.starts[run], cache.ends[run]
        duration = float(cache.tracks.durations[row])
        size = next(t.size for t in ranker.library.tracks() if t.id == source)
        own = {int(source)}
        source = int(source)
    else:
        if vggish is None:
            raise ValueError("a temp track given as a file needs the VGGish extractor")
        source = Path(source)
        features = vggish.track_features(source, progress=progress, cancel=cancel)
        if len(features.frame_features) == 0:
            raise DecodeError(source, f"too short for a temp track ({features.duration:.2f} s)")
        starts, ends, windows = GEOMETRY.pool(features.frame_features, features.duration)
        duration = features.duration
        size = source.stat().st_size
        names = {source.absolute(), source.resolve()}
        own = {int(i) for i, p in zip(cache.tracks.ids, cache.tracks.paths) if p in names}
    check(cancel)
    section = (0.0, duration) if section is None else (float(section[0]), float(section[1]))
    mean = _section_mean(windows, starts, ends, section, source)
    model = ranker.model
    out = model.embed_music(torch.from_numpy(mean[None]).to(next(model.parameters()).device))
    probs = model.emotion_probabilities(out, "music")
    return TempTrackQuery(
        source, section, mean, model.score_vector(out).float().cpu().numpy()[0],
        None if probs is None else probs.float().cpu().numpy()[0],
        frozenset(own | _duplicates(ranker, cache, sound, size, windows)),
    )


def rank_temp_track(
    ranker: Ranker,
    query: TempTrackQuery,
    *,
    sound_weight: float = DEFAULT_SOUND_WEIGHT,
    top: int | None = None,
    filters: RankFilter = RankFilter(),
) -> list[Suggestion]:
    """The library ranked for a temp track: ``(1 - sound_weight) * feel + sound_weight * sound`` per window."""
    if not 0.0 <= sound_weight <= 1.0:
        raise ValueError(f"sound_weight must be between 0 and 1, not {sound_weight}")
    lo, hi = score_range(ranker.model)

    def blended(cache: EmbeddingCache) -> np.ndarray:
        feel = -1.0 + 2.0 * (cache.scores(query.score_vector) - lo) / (hi - lo)
        if sound_weight == 0.0:
            return feel
        sound = _sound_index(ranker, cache).cosines(query.features)
        return ((1.0 - sound_weight) * feel + sound_weight * sound).astype(np.float32)

    exclude = filters.exclude | query.exclude
    return ranker.rank_by(blended, top=top, filters=dataclasses.replace(filters, exclude=exclude))


# ==================================================================================================== stills


def _read_heif(path: Path) -> np.ndarray:
    try:
        import pillow_heif
    except ImportError:
        raise DecodeError(path, "HEIC/HEIF images need the optional pillow-heif decoder, which is not installed "
                                "(pip install pillow-heif), or convert the image to JPEG or PNG") from None
    try:
        image = np.asarray(pillow_heif.open_heif(path, convert_hdr_to_8bit=True))
    except Exception as exc:  # the decoder raises its own types for damaged files
        raise DecodeError(path, f"not a readable HEIF image ({exc})") from exc
    return np.ascontiguousarray(image[..., :3])


def read_image(path: Path | str) -> np.ndarray:
    """An image file as an upright (H, W, 3) uint8 RGB array (alpha dropped, grey expanded, 16-bit reduced)."""
    path = Path(path)
    if path.suffix.lower() in HEIF_EXTENSIONS:
        return _read_heif(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # np.fromfile + imdecode: any file name, unlike cv2.imread
    except FileNotFoundError:
        raise DecodeError(path, "file not found") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DecodeError(path, "not a readable image (PNG, JPEG, WebP, AVIF, BMP or TIFF expected)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_paths(sources: Path | str | Sequence[Path | str]) -> list[Path]:
    """Image files of ``sources``: files as given, a folder's images (by name, not recursive, hidden skipped)."""
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    found: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            inside = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS | HEIF_EXTENSIONS
                            and not p.name.startswith(".") and p.is_file())
            if not inside:
                raise QueryError(f"{item}: no images in this folder (PNG, JPEG, WebP, AVIF, BMP, TIFF, HEIC)")
            found.extend(inside)
        else:
            found.append(item)
    if not found:
        raise QueryError("no images given")
    return found


def still_clip(image: np.ndarray) -> torch.Tensor:
    """(3, 32, 256, 256) SlowFast input of a motionless clip: the frame scaled to the short side 256 (area
    filter), centre-cropped and normalised by :func:`backbones.preprocess_clip`, repeated 32 times."""
    height, width = image.shape[:2]
    scale = SIDE / min(height, width)
    size = (max(SIDE, round(width * scale)), max(SIDE, round(height * scale)))
    scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    frame = preprocess_clip(scaled[None])  # (3, 1, 256, 256): the per-frame transform, done once
    return frame.expand(-1, FAST_FRAMES, -1, -1).contiguous()


def still_features(
    extractor: "SlowFastExtractor",
    sources: Path | str | Sequence[Path | str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[list[Path], np.ndarray]:
    """The images of ``sources`` (see :func:`image_paths`) and their (N, 2304) SlowFast features, one clip each
    (an image given twice, e.g. a still reused on a storyboard, is decoded and run once)."""
    paths = image_paths(sources)
    unique = list(dict.fromkeys(paths))
    rows = np.empty((len(unique), VIDEO_FEATURE_DIM), dtype=np.float32)
    for i, path in enumerate(unique):
        check(cancel)
        rows[i] = extractor.clip_features(still_clip(read_image(path))[None])[0].numpy()
        report(progress, i + 1, len(unique), path.name)
    return paths, rows[[unique.index(p) for p in paths]]


def still_query(
    extractor: "SlowFastExtractor",
    model: RetrievalModel,
    sources: Path | str | Sequence[Path | str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> VideoQuery:
    """One query from one still, several, or a folder (a mood board): the mean of their SlowFast features.

    ``path`` is the folder or the single image given (None for a list of several); ``duration`` is None.
    """
    paths, features = still_features(extractor, sources, progress=progress, cancel=cancel)
    single = Path(sources) if isinstance(sources, (str, os.PathLike)) else (paths[0] if len(paths) == 1 else None)
    return embed_query(model, features.mean(axis=0), path=single)


@dataclasses.dataclass(frozen=True)
class StillCue:
    """One still of a storyboard as a cue: its image, its span on the board's timeline, its query."""

    path: Path
    start: float
    end: float
    query: VideoQuery


def storyboard_queries(
    extractor: "SlowFastExtractor",
    model: RetrievalModel,
    board: Sequence[tuple[Path | str, float]],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[StillCue]:
    """A storyboard, ``[(image, seconds), ...]`` in order, as one cue per still, laid end to end from 0 s."""
    if not board:
        raise QueryError("the storyboard has no stills")
    for image, seconds in board:
        if not seconds > 0:
            raise QueryError(f"{image}: a storyboard still needs a duration above 0 s, not {seconds}")
    paths, features = still_features(extractor, [image for image, _ in board], progress=progress, cancel=cancel)
    ends = np.cumsum([float(seconds) for _, seconds in board])
    starts = ends - [float(seconds) for _, seconds in board]
    return [StillCue(path, float(s), float(e), embed_query(model, f, path=path, duration=float(e - s)))
            for path, s, e, f in zip(paths, starts, ends, features)]


# ================================================================================================== feedback
@dataclasses.dataclass(frozen=True)
class RocchioWeights:
    """``q' = alpha q + beta mean(liked) - gamma mean(disliked)``; defaults from Manning et al. (2008), 9.1.1."""

    alpha: float = 1.0
    beta: float = 0.75
    gamma: float = 0.15


ROCCHIO = RocchioWeights()

Q = TypeVar("Q", VideoQuery, TempTrackQuery)


@dataclasses.dataclass(frozen=True)
class Feedback:
    """The ratings of one cue's results: liked and disliked track ids (never both). Immutable: each change
    returns a new one, so the GUI's undo is keeping the previous value."""

    liked: frozenset[int] = frozenset()
    disliked: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "liked", frozenset(int(i) for i in self.liked))
        object.__setattr__(self, "disliked", frozenset(int(i) for i in self.disliked))
        if self.liked & self.disliked:
            raise ValueError(f"tracks both liked and disliked: {sorted(self.liked & self.disliked)}")

    def like(self, track_id: int) -> "Feedback":
        return Feedback(self.liked | {track_id}, self.disliked - {track_id})

    def dislike(self, track_id: int) -> "Feedback":
        return Feedback(self.liked - {track_id}, self.disliked | {track_id})

    def clear(self, track_id: int) -> "Feedback":
        return Feedback(self.liked - {track_id}, self.disliked - {track_id})


def _section_vectors(cache: EmbeddingCache, vector: np.ndarray, track_ids: frozenset[int]) -> np.ndarray:
    """(n, D) score vectors of the best window of each track (ascending id) for the query ``vector``."""
    rows = _rows(cache, track_ids)
    scores = cache.scores(vector)
    best = cache.best_windows(scores, cache.track_scores(scores), rows)
    return cache.vectors[best, : cache.score_dim]


def apply_feedback(ranker: Ranker, query: Q, feedback: Feedback, weights: RocchioWeights = ROCCHIO) -> Q:
    """``query`` with its score vector moved by Rocchio's formula towards the liked and away from the disliked
    tracks' sections (each rated track's best window for the *original* query). Rank the result as the original
    (``Ranker.rank`` or :func:`rank_temp_track`); an empty ``feedback`` returns ``query`` itself."""
    if not feedback.liked and not feedback.disliked:
        return query
    cache = ranker.prepare()
    original = np.asarray(query.score_vector, dtype=np.float32)
    moved = weights.alpha * original.astype(np.float64)
    if feedback.liked:
        moved += weights.beta * _section_vectors(cache, original, feedback.liked).astype(np.float64).mean(axis=0)
    if feedback.disliked:
        moved -= weights.gamma * _section_vectors(cache, original, feedback.disliked).astype(np.float64).mean(axis=0)
    return dataclasses.replace(query, score_vector=moved.astype(np.float32))


# ============================================================================================ music -> video
@dataclasses.dataclass(frozen=True)
class SceneFit:
    """How well one track fits one scene: ``scene`` indexes the scenes given; ``score`` is the model's score of
    the scene with the track's best window for it, ``section_start``/``section_end`` (seconds of the track)."""

    rank: int
    scene: int
    start: float
    end: float
    score: float
    section_start: float
    section_end: float


def track_windows(ranker: Ranker, track_id: int) -> tuple[np.ndarray, np.ndarray]:
    """A library track's window score vectors (K, D) and spans (K, 2) in seconds, from the ranking cache."""
    cache = ranker.prepare()
    run = _run(cache, int(_rows(cache, [track_id])[0]))
    return cache.vectors[run, : cache.score_dim], np.column_stack([cache.starts[run], cache.ends[run]])


def scenes_for_track(
    scene_vectors: Sequence[np.ndarray] | np.ndarray,
    scene_spans: Sequence[tuple[float, float]],
    window_vectors: np.ndarray,
    window_spans: np.ndarray,
) -> list[SceneFit]:
    """The scenes ranked by how well a track fits them (best first; ties: the earlier scene first).

    ``scene_vectors``: each scene's video score vector (``embed_query(...).score_vector``), ``scene_spans``
    their ``(start, end)``; ``window_vectors`` (K, D) the track's window score vectors, ``window_spans`` (K, 2).
    """
    scenes = np.asarray(scene_vectors, dtype=np.float32).reshape(len(scene_spans), -1)
    windows = np.asarray(window_vectors, dtype=np.float32)
    if windows.ndim != 2 or len(windows) == 0 or windows.shape[1] != scenes.shape[1]:
        raise RankingError(f"the scenes' score vectors are {scenes.shape[1]}-d, the track's windows "
                           f"{windows.shape}: score both with the same model")
    scores = scenes @ windows.T  # (S, K)
    best = scores.argmax(axis=1)
    fit = scores[np.arange(len(scenes)), best]
    order = np.lexsort((np.arange(len(scenes)), -fit))
    spans = np.asarray(window_spans, dtype=np.float64)
    return [SceneFit(n + 1, int(s), float(scene_spans[s][0]), float(scene_spans[s][1]), float(fit[s]),
                     float(spans[best[s], 0]), float(spans[best[s], 1])) for n, s in enumerate(order)]
