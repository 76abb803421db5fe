"""The query: a video's score vector against every library window -> ranked tracks with their best section.

How a ranking is computed (vectorised; no Python loop over tracks)
    1. Music side, once per (library state, model, backbone): every stored window's 128-d VGGish mean goes
       through the model's music branch in batches -> the model's score vectors ``S`` (W, D) float32
       (:meth:`RetrievalModel.score_vector`: the unit embedding, D = 64, or for a blended model the embedding
       followed by ``sqrt(lambda) * softmax(logits)``, D = 69, stored zero-padded to 72 columns, see
       :data:`SCORE_ALIGN`) and, for a multi-task model, emotion logits (W, 5). Windows are sorted by track,
       so track ``i`` owns the run ``offsets[i] : offsets[i] + counts[i]``.
       This cache is shared by every :class:`Ranker` of the process (the GUI opens one per worker thread) and
       rebuilt when the library's generation changes. It is also persisted beside the library database
       (:func:`cache_file`, memory-mapped on load through :mod:`engine.cache`), keyed by the library's
       generation, the model id and the backbone, so the first query after a start maps it instead of
       rebuilding; :func:`refresh_cache` rebuilds it from a worker after a rescan.
    2. Per query: ``scores = S @ q`` with ``q`` the video's score vector: the model's score, i.e. the cosine
       (both embeddings unit length) plus, for a blended model, ``lambda * <p_video, p_music>``.
       ``np.maximum.reduceat`` over the runs gives each track's best score; the first window reaching it is
       the best section.
    3. Filters mask tracks; a stable sort by score (ties: lower track id first) gives the ranking.

Sections that fit a cue (``Ranker.rank(..., section_seconds=L)``)
    The stored windows are 30 s means every 4.8 s. A section of ``L`` >= one window is scored as the **mean of
    the scores of the k consecutive windows inside it** (k = 1 + (L - 29.76) // 4.8), computed for every start
    window at once from a prefix sum of the window scores (no re-embedding, nothing re-decoded); a shorter
    section is scored by the one window centred on it (the 30 s context the model was trained on; see
    docs/scenes-and-cues.md for why). Only start windows whose k windows lie inside the track count; a track
    with fewer windows is scored by the mean of all of them and, when shorter than ``L``, marked
    ``covers=False``. The per-length index arrays are kept in a small LRU (:data:`SECTION_ENTRIES`). The top
    tracks' sections are then moved to the nearest downbeat (else beat) from which the whole section fits in
    the track (:func:`fit_section`), using the beat grids stored by the indexer.

Displayed emotion probabilities (the query's and each suggestion's) are the model's calibrated ones,
``softmax(logits / T)`` with the head's temperature; the predicted emotion (the argmax) does not depend on T.
A single-task model has no emotion heads: its query and suggestions carry ``emotion_probs=None`` rather
than invented probabilities, and an emotion filter is refused with a clear error.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from . import cache as cache_file_format
from .beats import Beats
from .emotions import Emotion
from .errors import EngineError
from .jobs import CancelToken, ProgressCallback, check, report
from .library import GEOMETRY, Library, TrackTable, WindowMatrix
from .model import RetrievalModel
from .protocol import MUSIC_BACKBONE

if TYPE_CHECKING:
    from .backbones import SlowFastExtractor
    from .features import VideoFeatures

__all__ = [
    "EmbeddingCache",
    "RankingError",
    "RankFilter",
    "Ranker",
    "Suggestion",
    "VideoQuery",
    "analyse_video",
    "cache_file",
    "check_filter",
    "clear_caches",
    "embed_query",
    "refresh_cache",
    "softmax",
    "fit_section",
]

EMBED_BATCH_WINDOWS = 16_384
"""Windows per forward pass when building the cache (bounds the activations to ~10 MB)."""

SNAPSHOT_CHUNK_TRACKS = 1_024
"""Tracks read from SQLite at a time when building the cache (~45k windows, ~35 MB of copies)."""

_FEW_TRACKS = 256
"""Up to this many tracks, best windows are found per track (cheaper than a pass over every window)."""

SCORE_ALIGN = 8
"""The cached score vectors are zero-padded to a multiple of this many floats (32-byte rows; a blended model's
69 -> 72, the cosine's 64 unchanged): OpenBLAS's float32 matrix-vector product over 1M rows took ~20 ms with
69-float rows against ~15 ms with 72 (measured, one thread), for 4% more memory. Zeros add nothing to a score."""

SECTION_ENTRIES = 8
"""How many section lengths (per library state and model) keep their window index arrays (LRU)."""

CACHE_ENTRIES = 2
"""How many (library, model, backbone) embedding caches the process keeps (current + previous model)."""

CACHE_FORMAT = 3
"""Version of what :meth:`EmbeddingCache.save` stores; a file of another version is rebuilt."""


class RankingError(EngineError):
    """A ranking request that cannot be served as asked (e.g. an emotion filter with a single-task model)."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` over the last axis (the model's calibrated probabilities)."""
    if temperature != 1.0:
        logits = logits / np.float32(temperature)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _require_eval(model: RetrievalModel) -> None:
    if model.training:
        raise ValueError("the retrieval model is in training mode (dropout on); call model.eval() first")


# ------------------------------------------------------------------------------------------------ query
@dataclasses.dataclass(frozen=True)
class VideoQuery:
    """A video, ready to rank against: its 64-d unit embedding and (multi-task models) emotion probabilities.

    ``emotion_probs`` are the calibrated probabilities of the video head (``softmax(logits / T)``).
    ``features`` is the SlowFast analysis it came from (None when built from stored features).
    ``score_vector`` is what the ranking multiplies the library's score vectors with
    (:meth:`RetrievalModel.score_vector`); it defaults to ``embedding`` (the score of a cosine model).
    """

    path: Path | None
    duration: float | None
    embedding: np.ndarray
    emotion_probs: np.ndarray | None
    features: "VideoFeatures | None" = None
    score_vector: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.score_vector is None:
            object.__setattr__(self, "score_vector", self.embedding)

    @property
    def emotion(self) -> Emotion | None:
        """The most probable emotion, or None for a single-task model."""
        return None if self.emotion_probs is None else Emotion(int(np.argmax(self.emotion_probs)))


@torch.inference_mode()
def embed_query(
    model: RetrievalModel,
    features: np.ndarray,
    *,
    path: Path | None = None,
    duration: float | None = None,
    video_features: "VideoFeatures | None" = None,
) -> VideoQuery:
    """Raw 2304-d SlowFast features (pooled over the video) -> :class:`VideoQuery` through the video branch."""
    _require_eval(model)
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=device).reshape(1, -1)
    out = model.embed_video(x)
    probs = model.emotion_probabilities(out, "video")
    if probs is not None:
        probs = probs.float().cpu().numpy()[0]
    embedding = out.embedding.float().cpu().numpy()[0]
    vector = model.score_vector(out).float().cpu().numpy()[0]
    return VideoQuery(path, duration, embedding, probs, video_features, vector)


def analyse_video(
    path: Path | str,
    extractor: "SlowFastExtractor",
    model: RetrievalModel,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> VideoQuery:
    """Decode ``path``, extract SlowFast features (pooled over every sampled clip) and embed them."""
    features = extractor.video_features(Path(path), progress=progress, cancel=cancel)
    return embed_query(
        model, features.features, path=Path(path), duration=features.info.duration, video_features=features
    )


# -------------------------------------------------------------------------------------------- the cache
@dataclasses.dataclass(frozen=True)
class EmbeddingCache:
    """The model's music side of every rankable window of one library state, for one model and backbone.

    ``vectors`` (W, D') float32 score vectors (:meth:`RetrievalModel.score_vector`: the unit embedding,
    ``score_dim`` D = 64, or for a blended model ``[embedding, sqrt(lambda) * softmax(logits)]``, D = 69), each
    row zero-padded to D' (a multiple of :data:`SCORE_ALIGN`), so :meth:`scores` of a query's score vector is
    the model's score of every window; ``emotion_logits`` (W, 5) float32 or None (the emotion filter and the
    displayed probabilities); ``music_temperature`` the music head's calibration temperature (displayed
    probabilities are ``softmax(logits / T)``); ``starts``/``ends`` (W,) seconds; ``offsets`` (T,) first window
    of each track of ``tracks``; ``haystacks`` (T,) the case-folded text a text filter searches (title, artist,
    album, path).
    """

    generation: int
    tracks: TrackTable
    offsets: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray
    score_dim: int
    emotion_logits: np.ndarray | None
    music_temperature: float
    haystacks: list[str]

    @property
    def nbytes(self) -> int:
        arrays = (self.offsets, self.starts, self.ends, self.vectors, self.emotion_logits)
        return sum(a.nbytes for a in arrays if a is not None)

    @classmethod
    @torch.inference_mode()
    def build(
        cls,
        library: Library,
        model: RetrievalModel,
        backbone_id: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> "EmbeddingCache":
        """Embed every window of ``library`` indexed with ``backbone_id`` (one consistent snapshot)."""
        _require_eval(model)
        device = next(model.parameters()).device
        multitask = model.music_emotion is not None
        dim = model.score_dim
        padded = -(-dim // SCORE_ALIGN) * SCORE_ALIGN
        with library.window_snapshot(backbone_id, chunk_tracks=SNAPSHOT_CHUNK_TRACKS) as snap:
            total = snap.windows
            vectors = np.empty((total, padded), dtype=np.float32)
            vectors[:, dim:] = 0
            logits = np.empty((total, model.config.num_emotions), dtype=np.float32) if multitask else None
            starts = np.empty(total, dtype=np.float32)
            ends = np.empty(total, dtype=np.float32)
            filled = 0
            for chunk in snap.chunks:
                check(cancel)
                stop = filled + len(chunk)
                starts[filled:stop], ends[filled:stop] = chunk.starts, chunk.ends
                cls._embed_chunk(model, chunk, device, vectors[filled:stop], None if logits is None else logits[filled:stop])
                filled = stop
                report(progress, filled, total, "embedding library windows")
        offsets = np.zeros(len(snap.tracks), dtype=np.int64)
        np.cumsum(snap.tracks.counts[:-1], out=offsets[1:])
        return cls(snap.generation, snap.tracks, offsets, starts, ends, vectors, dim, logits,
                   float(model.config.music_temperature), _haystacks(snap.tracks))

    @staticmethod
    def _embed_chunk(model, chunk: WindowMatrix, device, out_vectors, out_logits) -> None:
        for lo in range(0, len(chunk), EMBED_BATCH_WINDOWS):
            hi = min(lo + EMBED_BATCH_WINDOWS, len(chunk))
            out = model.embed_music(torch.from_numpy(chunk.features[lo:hi]).to(device))
            vectors = model.score_vector(out)
            out_vectors[lo:hi, : vectors.shape[1]] = vectors.float().cpu().numpy()
            if out_logits is not None:
                out_logits[lo:hi] = out.emotion_logits.float().cpu().numpy()

    # ------------------------------------------------------------------ persistence
    _ARRAYS = ("offsets", "starts", "ends", "vectors", "emotion_logits")
    _TRACK_ARRAYS = ("ids", "counts", "durations", "bpms", "loudnesses")
    _TRACK_TEXT = ("paths", "titles", "artists", "albums")

    def save(self, path: Path, *, model_id: str, backbone_id: str, library_identity: list[int]) -> bool:
        """Write this cache to ``path`` (atomically); False if the disk refused (the next start rebuilds)."""
        arrays = {name: getattr(self, name) for name in self._ARRAYS if getattr(self, name) is not None}
        arrays.update({f"tracks.{name}": getattr(self.tracks, name) for name in self._TRACK_ARRAYS})
        for name in self._TRACK_TEXT:
            arrays.update(cache_file_format.text_arrays(f"tracks.{name}", getattr(self.tracks, name)))
        arrays.update(cache_file_format.text_arrays("haystacks", self.haystacks))
        meta = {"format": CACHE_FORMAT, "generation": self.generation, "model_id": model_id,
                "backbone_id": backbone_id, "library": library_identity, "score_dim": self.score_dim,
                "music_temperature": self.music_temperature}
        return cache_file_format.write(path, meta, arrays)

    @classmethod
    def load(cls, path: Path, *, generation: int, model_id: str, backbone_id: str,
             library_identity: list[int]) -> "EmbeddingCache | None":
        """The cache saved at ``path`` if it is for exactly this library state, model and backbone, else None
        (absent, stale, another model, another database at the same path, damaged)."""
        stored = cache_file_format.read(path)
        if stored is None:
            return None
        meta, arrays = stored
        expected = {"format": CACHE_FORMAT, "generation": generation, "model_id": model_id,
                    "backbone_id": backbone_id, "library": library_identity}
        if any(meta.get(k) != v for k, v in expected.items()):
            return None
        try:
            text = {name: cache_file_format.TextColumn(arrays, f"tracks.{name}", cache_file_format.decode_text)
                    for name in cls._TRACK_TEXT}
            text["paths"] = cache_file_format.TextColumn(arrays, "tracks.paths", cache_file_format.decode_path)
            tracks = TrackTable(**{n: arrays[f"tracks.{n}"] for n in cls._TRACK_ARRAYS}, **text)
            return cls(generation, tracks, *(arrays.get(n) for n in cls._ARRAYS[:4]), int(meta["score_dim"]),
                       arrays.get("emotion_logits"), float(meta["music_temperature"]),
                       cache_file_format.TextColumn(arrays, "haystacks", cache_file_format.decode_text))
        except (KeyError, TypeError, ValueError):
            return None

    def scores(self, score_vector: np.ndarray) -> np.ndarray:
        """The model's score of every window against a query's score vector (one matrix-vector product), (W,)."""
        vector = np.asarray(score_vector, dtype=np.float32)
        if vector.shape != (self.score_dim,):
            raise RankingError(f"the query's score vector has shape {vector.shape}, this model's are "
                               f"({self.score_dim},): embed the video with the ranker's model")
        padding = self.vectors.shape[1] - self.score_dim
        if padding:
            vector = np.concatenate([vector, np.zeros(padding, dtype=np.float32)])
        return self.vectors @ vector

    def track_scores(self, scores: np.ndarray) -> np.ndarray:
        """Per track, its best window's score (a segment max over each track's run of windows)."""
        return np.maximum.reduceat(scores, self.offsets)

    def best_windows(self, scores: np.ndarray, track_scores: np.ndarray, which: np.ndarray | None = None) -> np.ndarray:
        """Index of each track's best window (the first reaching its score), for every track or ``which``.

        For a few tracks (a top-N) a per-track argmax over their own windows is cheapest; for many, one
        vectorised pass finds the first window equal to its track's maximum.
        """
        if which is not None and len(which) <= _FEW_TRACKS:
            runs = zip(self.offsets[which], self.tracks.counts[which])
            return np.array([o + int(np.argmax(scores[o : o + c])) for o, c in runs], dtype=np.int64)
        hits = np.flatnonzero(scores == np.repeat(track_scores, self.tracks.counts))
        owner = np.searchsorted(self.offsets, hits, side="right") - 1
        first = np.ones(len(hits), dtype=bool)
        first[1:] = owner[1:] != owner[:-1]
        best = hits[first]
        return best if which is None else best[which]


def _haystacks(tracks: TrackTable) -> list[str]:
    """Per track, the text a text filter searches, case-folded once (fields joined by a newline)."""
    fields = zip(tracks.titles, tracks.artists, tracks.albums, tracks.paths)
    return ["\n".join(str(f) for f in row if f is not None).casefold() for row in fields]


class _CacheStore:
    """Process-wide LRU of :class:`EmbeddingCache` keyed by (database, model id, backbone id).

    Shared across threads (the arrays are read-only once built); the lock serialises builds so two
    workers do not embed the same library twice.
    """

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._items: collections.OrderedDict[tuple, EmbeddingCache] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, library: Library, model: RetrievalModel, model_id: str, backbone_id: str, *,
            progress: ProgressCallback | None, cancel: CancelToken | None) -> EmbeddingCache:
        """The cache of ``library``'s current state: from memory, else from its file, else built (and saved)."""
        key = (str(library.path.resolve()), model_id, backbone_id)
        generation = library.generation()
        with self._lock:
            cached = self._items.get(key)
            if cached is None or cached.generation != generation:
                self._items.pop(key, None)  # free the stale arrays before building the new ones
                file = cache_file(library.path, model_id, backbone_id)
                identity = _library_identity(library.path)
                cached = EmbeddingCache.load(file, generation=generation, model_id=model_id,
                                             backbone_id=backbone_id, library_identity=identity)
                if cached is None:
                    cached = EmbeddingCache.build(library, model, backbone_id, progress=progress, cancel=cancel)
                    cached.save(file, model_id=model_id, backbone_id=backbone_id, library_identity=identity)
            self._items[key] = cached
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)
            return cached

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_CACHES = _CacheStore()


def cache_file(library_path: Path, model_id: str, backbone_id: str) -> Path:
    """Where the embedding cache of the library at ``library_path`` for this model and backbone is kept:
    beside the database, one file per (model, backbone), replaced when the library changes."""
    key = hashlib.sha256(f"{model_id}\n{backbone_id}".encode()).hexdigest()[:16]
    return library_path.with_name(f"{library_path.name}.ranking-{key}.cache")


def _library_identity(library_path: Path) -> list[int]:
    """The database file's (device, inode): a library deleted and recreated at the same path (whose
    generation count restarts) does not match a cache file of the old one."""
    stat = os.stat(library_path)
    return [stat.st_dev, stat.st_ino]


def refresh_cache(library_path: Path | str, model: RetrievalModel, model_id: str, backbone_id: str = MUSIC_BACKBONE,
                  *, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> EmbeddingCache:
    """Bring the embedding cache (memory and file) up to date with the library at ``library_path``.

    For a worker thread after a rescan: it opens its own connection (SQLite connections belong to the thread
    that opened them), builds the cache if the library changed, saves it beside the database and installs
    it for every :class:`Ranker` of the process, so the next query (here or after a restart) needs no build.
    A stale cache is never used: a ranking checks the library's generation first.
    """
    with Library(library_path) as library:
        return _CACHES.get(library, model, model_id, backbone_id, progress=progress, cancel=cancel)


# ------------------------------------------------------------------------------------------ the ranking
@dataclasses.dataclass(frozen=True)
class RankFilter:
    """Which tracks may be suggested. ``None`` fields do not filter.

    ``emotions``: the track's predicted emotion (on its best section) is one of these; ``min_duration``:
    the track lasts at least this many seconds (e.g. the video's length, or a cue's: only tracks that cover
    it); ``text``: case-insensitive substring of title, artist, album or path; ``bpm_min``/``bpm_max``: the
    track's tempo lies in this range (inclusive; a track without a tempo is then left out); ``exclude``: track
    ids never suggested (a temp track and its duplicates).
    """

    emotions: frozenset[Emotion] | None = None
    min_duration: float | None = None
    text: str | None = None
    exclude: frozenset[int] = frozenset()
    bpm_min: float | None = None
    bpm_max: float | None = None

    def __post_init__(self) -> None:
        if self.emotions is not None:
            object.__setattr__(self, "emotions", frozenset(Emotion.parse(e) for e in self.emotions))
        object.__setattr__(self, "exclude", frozenset(int(i) for i in self.exclude))


def check_filter(model: RetrievalModel, filters: RankFilter) -> None:
    """Raise :class:`RankingError` if ``model`` cannot serve ``filters`` (an emotion filter needs emotion heads)."""
    if filters.emotions is not None and model.music_emotion is None:
        raise RankingError("this retrieval model has no emotion heads (single-task): cannot filter by emotion")


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """One ranked track. ``score`` is the model's score of its best window; that window is the best section.

    The score is the cosine of the video's and the window's embeddings, plus for a blended model (one with an
    ``agreement_weight`` lambda) the emotion agreement ``lambda * <p_video, p_music>`` of the raw head softmaxes.
    ``emotion_probs`` are the music head's calibrated probabilities on the best section (``softmax(logits / T)``).
    ``bpm`` is the track's tempo (None when none was found or not tracked yet), ``loudness`` its integrated
    loudness in LUFS (None when silent or not measured yet; the player's level matching). ``covers`` is set when a
    section length was asked for: False when the track is shorter than it (its section is then all of it).
    """

    rank: int
    track_id: int
    path: Path
    title: str | None
    artist: str | None
    album: str | None
    duration: float | None
    score: float
    best_start: float
    best_end: float
    emotion_probs: np.ndarray | None
    emotion: Emotion | None
    bpm: float | None = None
    covers: bool | None = None
    loudness: float | None = None



class Ranker:
    """Ranks a library's tracks for video queries with one retrieval model.

    ``model_id`` names the model's weights (e.g. its card's ``weights_sha256``): the embedding cache is
    kept per (library, model_id, backbone). ``backbone_id`` selects the stored features to use (default
    the official VGGish); tracks indexed with another backbone are not ranked until re-indexed.
    Nothing is computed until :meth:`prepare` or the first :meth:`rank`.
    """

    def __init__(self, library: Library, model: RetrievalModel, model_id: str, *,
                 backbone_id: str = MUSIC_BACKBONE) -> None:
        self.library = library
        self.model = model
        self.model_id = model_id
        self.backbone_id = backbone_id

    def prepare(self, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> EmbeddingCache:
        """Build (or reuse) the music score-vector cache for the library's current state."""
        return _CACHES.get(self.library, self.model, self.model_id, self.backbone_id, progress=progress, cancel=cancel)

    def rank(self, query: VideoQuery, *, top: int | None = None, filters: RankFilter = RankFilter(),
             section_seconds: float | None = None) -> list[Suggestion]:
        """The tracks best matching ``query``, best first (all that pass ``filters`` when ``top`` is None).

        ``section_seconds``: each track's best section has this length (a cue's) and starts on a beat (a
        downbeat where found); None: the best 30 s window, as stored.
        """
        return self.rank_by(lambda cache: cache.scores(query.score_vector), top=top, filters=filters,
                            section_seconds=section_seconds)

    def rank_by(self, window_scores: Callable[[EmbeddingCache], np.ndarray], *, top: int | None = None,
                filters: RankFilter = RankFilter(), section_seconds: float | None = None) -> list[Suggestion]:
        """Like :meth:`rank`, for any per-window score: ``window_scores(cache)`` gives one score per cached window
        (W,), e.g. a temp track's blend of feel and sound or the valence-arousal blend (engine.queries, engine.va).
        """
        if top is not None and top < 0:
            raise ValueError(f"top must be >= 0, not {top}")
        if section_seconds is not None and not section_seconds > 0:
            raise RankingError(f"a section must last more than 0 s, not {section_seconds}")
        check_filter(self.model, filters)
        cache = self.prepare()
        if len(cache.tracks) == 0:
            return []
        scores = window_scores(cache)
        sections = None
        if section_seconds is not None:
            sections = _SECTIONS.get(cache, section_seconds)
            scores = sections.scores(scores)
        track_scores = cache.track_scores(scores)
        every_best = None
        if filters.emotions is not None:  # the filter needs every track's best section first
            every_best = cache.best_windows(scores, track_scores)
        emotion_windows = every_best if sections is None or every_best is None else sections.middle(every_best)
        candidates = np.flatnonzero(self._mask(cache, filters, emotion_windows))
        order = _best_first(candidates, track_scores[candidates], top)
        best = every_best[order] if every_best is not None else cache.best_windows(scores, track_scores, order)
        if sections is None:
            return self._suggestions(cache, order, track_scores[order], best)
        found = self._suggestions(cache, order, track_scores[order], sections.middle(best))
        grids = self.library.beats(int(cache.tracks.ids[i]) for i in order)
        return [
            dataclasses.replace(s, **dict(zip(("best_start", "best_end", "covers"), fit_section(
                grids.get(s.track_id), sections.raw_start(cache, w), section_seconds, s.duration))))
            for s, w in zip(found, best)
        ]

    @staticmethod
    def _mask(cache: EmbeddingCache, filters: RankFilter, best: np.ndarray | None) -> np.ndarray:
        tracks = cache.tracks
        keep = np.ones(len(tracks), dtype=bool)
        if filters.min_duration is not None:
            keep &= tracks.durations >= filters.min_duration
        if filters.bpm_min is not None:
            keep &= tracks.bpms >= filters.bpm_min  # NaN (no tempo) compares False
        if filters.bpm_max is not None:
            keep &= tracks.bpms <= filters.bpm_max
        if filters.text:
            needle = filters.text.casefold()
            keep &= np.fromiter((needle in h for h in cache.haystacks), dtype=bool, count=len(tracks))
        if filters.emotions is not None:
            keep &= np.isin(cache.emotion_logits[best].argmax(axis=1), [int(e) for e in filters.emotions])
        if filters.exclude:
            keep &= ~np.isin(tracks.ids, np.fromiter(filters.exclude, dtype=np.int64))
        return keep

    @staticmethod
    def _suggestions(cache: EmbeddingCache, order: np.ndarray, scores: np.ndarray, windows: np.ndarray) -> list[Suggestion]:
        tracks = cache.tracks
        logits = None if cache.emotion_logits is None else cache.emotion_logits[windows]
        probs = None if logits is None else softmax(logits, cache.music_temperature)  # calibrated, for display
        # the predicted emotion: the argmax of the logits, as the emotion filter reads it (T does not change it)
        emotions = [None] * len(order) if logits is None else [Emotion(int(k)) for k in logits.argmax(axis=1)]
        return [
            Suggestion(
                rank=n + 1,
                track_id=int(tracks.ids[i]),
                path=tracks.paths[i],
                title=tracks.titles[i],
                artist=tracks.artists[i],
                album=tracks.albums[i],
                duration=float(tracks.durations[i]),
                score=float(scores[n]),
                best_start=round(float(cache.starts[windows[n]]), 3),
                best_end=round(float(cache.ends[windows[n]]), 3),
                emotion_probs=None if probs is None else probs[n],
                emotion=emotions[n],
                bpm=None if np.isnan(tracks.bpms[i]) else round(float(tracks.bpms[i]), 2),
                loudness=None if np.isnan(tracks.loudnesses[i]) else round(float(tracks.loudnesses[i]), 2),
            )
            for n, i in enumerate(order)
        ]


def _best_first(candidates: np.ndarray, scores: np.ndarray, top: int | None) -> np.ndarray:
    """``candidates`` by descending score (ties: lower index first), cut to ``top``.

    With a ``top``, an O(T) partition finds the cut score first so only the leaders (and ties at the cut)
    are sorted.
    """
    if top is not None and 0 < top < len(candidates):
        cut = np.partition(-scores, top - 1)[top - 1]
        leaders = -scores <= cut
        candidates, scores = candidates[leaders], scores[leaders]
    return candidates[np.lexsort((candidates, -scores))][:top]


def clear_caches() -> None:
    """Drop every cached score-vector matrix (frees memory; the next ranking rebuilds)."""
    _CACHES.clear()
    _SECTIONS.clear()


# ------------------------------------------------------------------------------- sections of a cue's length
@dataclasses.dataclass(frozen=True)
class SectionIndex:
    """For one section length over one :class:`EmbeddingCache`: which windows a section starting at each
    window averages. ``stops[j]``: one past the last window of the section starting at window ``j`` (inside
    its track); ``valid[j]``: whether such a section exists (its k windows fit in the track, or ``j`` is the
    first window of a track with fewer than k windows)."""

    seconds: float
    windows: int
    stops: np.ndarray
    valid: np.ndarray

    @classmethod
    def build(cls, cache: EmbeddingCache, seconds: float) -> "SectionIndex":
        window = GEOMETRY.window_frames * GEOMETRY.frame_seconds
        hop = GEOMETRY.hop_frames * GEOMETRY.frame_seconds
        k = 1 if seconds <= window else 1 + int((seconds - window) / hop + 1e-6)
        track_end = np.repeat(cache.offsets + cache.tracks.counts, cache.tracks.counts)
        index = np.arange(len(track_end), dtype=np.int64)
        stops = np.minimum(index + k, track_end).astype(np.int32)  # 2**31 windows is ~6M hours of music
        first = np.zeros(len(index), dtype=bool)
        first[cache.offsets] = True
        valid = (index + k <= track_end) | first
        return cls(seconds, k, stops, valid)

    def scores(self, window_scores: np.ndarray) -> np.ndarray:
        """Per start window, the mean score of its section's windows; -inf where no section starts."""
        if self.windows == 1:
            return window_scores
        prefix = np.zeros(len(window_scores) + 1, dtype=np.float64)
        np.cumsum(window_scores, dtype=np.float64, out=prefix[1:])
        index = np.arange(len(window_scores))
        means = (prefix[self.stops] - prefix[:-1]) / (self.stops - index)
        return np.where(self.valid, means, -np.inf).astype(np.float32)

    def middle(self, starts: np.ndarray) -> np.ndarray:
        """The middle window of the sections starting at ``starts`` (the music head's emotion is read there)."""
        return starts + (self.stops[starts] - starts - 1) // 2

    def raw_start(self, cache: EmbeddingCache, start: int) -> float:
        """Where the section starting at window ``start`` begins before snapping: the window's start, or for a
        section shorter than a window, centred in it."""
        begin, end = float(cache.starts[start]), float(cache.ends[start])
        return begin if self.seconds >= end - begin else begin + (end - begin - self.seconds) / 2


class _SectionStore:
    """LRU of :class:`SectionIndex` keyed by (cache identity and generation, section length)."""

    def __init__(self, entries: int = SECTION_ENTRIES) -> None:
        self._entries = entries
        self._items: collections.OrderedDict[tuple, tuple[EmbeddingCache, SectionIndex]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, cache: EmbeddingCache, seconds: float) -> SectionIndex:
        key = (id(cache), cache.generation, round(float(seconds), 3))
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] is not cache:
                item = (cache, SectionIndex.build(cache, float(seconds)))
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)
            return item[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_SECTIONS = _SectionStore()


def fit_section(beats: Beats | None, start: float, seconds: float, duration: float | None
                ) -> tuple[float, float, bool]:
    """A section of ``seconds`` near ``start`` that starts on a beat and fits in the track: ``(start, end, covers)``.

    The start is the downbeat (else, when the track has no downbeats, the beat) nearest ``start`` from which
    the whole section fits before ``duration``; without beats, ``start`` itself, moved back to fit. A track
    shorter than ``seconds`` gives its whole length and ``covers=False``.
    """
    duration = float("inf") if duration is None else float(duration)
    if duration + 1e-3 < seconds:
        return 0.0, round(duration, 3), False
    latest = duration - seconds + 1e-3
    for grid in (() if beats is None else (beats.downbeats, beats.beats)):
        fits = np.asarray(grid)[np.asarray(grid) <= latest]
        if len(fits):
            chosen = float(fits[np.argmin(np.abs(fits - start))])
            return round(chosen, 3), round(chosen + seconds, 3), True
    chosen = min(max(0.0, start), max(0.0, duration - seconds))
    return round(chosen, 3), round(chosen + seconds, 3), True
