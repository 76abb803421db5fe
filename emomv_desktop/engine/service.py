"""The use cases both front-ends call: load the models, index folders, analyse and rank a video, read and
change the library, export the results. No Qt; plain dataclasses in and out; every problem a user can fix
is an :class:`~emomv_desktop.engine.errors.EngineError`; every slow call takes ``progress`` and ``cancel``.

The CLI calls these directly; the GUI runs each call as a job on one of its worker lanes. Each session
object below is created and used by one thread only (one lane), so nothing here is shared between threads:

* :class:`InferenceSession` — the SlowFast extractor, the retrieval model and the ranker (with its own read
  connection to the library). Video analysis and ranking, one request at a time.
* :class:`IndexSession` — the VGGish extractor and a write connection to the library. Indexing may take hours,
  so it has its own thread and keeps the inference one free for queries.
* :class:`LibraryReader` — short reads and writes of the library (folders, stats, failures).

Beyond a video, :class:`InferenceSession` answers a temp track (:meth:`~InferenceSession.query_temp_track`),
stills or a mood board (:meth:`~InferenceSession.query_stills`), more-like-this feedback
(:meth:`~InferenceSession.apply_feedback`, instant) and draws the valence-arousal map
(:meth:`~InferenceSession.va_map`); :func:`probe_input` tells a video, a music file and images apart by content.

Plus the stateless calls :func:`probe_video` (before any network loads: a bad file costs milliseconds),
:func:`cut_sound` (the video's own sound, measured for ducking the music under it), :func:`export_results` and
:func:`export_preview`. :class:`~emomv_desktop.engine.loading.Backends` says where
the models come from (pretrained weights; random ones in the demo/test mode).
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Sequence

from .errors import PathError
from .jobs import CancelToken, ProgressCallback, report
from .loading import Backends, LoadedModel

if TYPE_CHECKING:
    import numpy as np

    from .beats import Beats
    from .choices import VideoChoices
    from .scenes import Scene
    from .backbones import SlowFastExtractor, VGGishExtractor
    from .export import PreviewReport
    from .library import IndexReport, Library, LibraryStats, Track
    from .loudness import CutSound
    from .media import VideoInfo
    from .queries import Feedback, TempTrackQuery
    from .va import VASpace
    from .waveform import Peaks
    from .ranking import RankFilter, Ranker, Suggestion, VideoQuery
    from .scenes import Cue, Scene

_log = logging.getLogger(__name__)

__all__ = [
    "Analysis",
    "Backends",
    "IndexSession",
    "InferenceSession",
    "LibraryReader",
    "LibrarySnapshot",
    "ModelInfo",
    "QUERY_KINDS",
    "STILLS_NOTE",
    "VAMap",
    "SceneAnalysis",
    "check_video_path",
    "cut_sound",
    "export_cue_sheet",
    "export_preview",
    "export_results",
    "probe_input",
    "export_scored_preview",
    "export_timeline",
    "edit_scenes",
    "track_beats",
    "track_waveform",
    "probe_video",
]

QUERY_KINDS = ("video", "temp_track", "stills")
"""What an :class:`Analysis` answers: a video, a temp track (an audio file or a library track), stills."""

STILLS_NOTE = "stills: the model was trained on video"
"""Shown with every still query: each image is a motionless clip, outside what the video branch saw."""


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the inference session loaded, for the status bar and the About box."""

    device: str
    pretrained: bool
    card: dict[str, Any]
    model_path: Path

    @property
    def random_networks(self) -> bool:
        return not self.pretrained


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One finished query: what was asked, its ranked tracks, and what produced them.

    ``kind`` is one of :data:`QUERY_KINDS`; ``query`` the video's analysis or the stills' query
    (``VideoQuery``), or the temp track (``TempTrackQuery``), as asked: ``feedback`` (the liked and disliked
    tracks, None when none) and ``sound_weight`` (temp track) are applied on top of it when ranking, so a new
    rating or weight re-ranks from the original (:meth:`InferenceSession.requery`). ``images``: the stills.
    """

    query: "VideoQuery | TempTrackQuery"
    suggestions: list["Suggestion"]
    model: LoadedModel | None = None
    filters: "RankFilter | None" = None
    random_networks: bool = False
    kind: str = "video"
    feedback: "Feedback | None" = None
    sound_weight: float | None = None
    images: tuple[Path, ...] = ()
    cue: "Cue | None" = None
    """The cue these suggestions are for (:meth:`InferenceSession.rank_cue`); None for a whole-video query."""

    def document(self, suggestions: Sequence["Suggestion"] | None = None) -> dict[str, Any]:
        """The suggestions document (``suggest --json``, the JSON export) of these or the given ``suggestions``."""
        from .export import suggestions_document

        return suggestions_document(self.suggestions if suggestions is None else suggestions,
                                    **self._document_fields())

    def _document_fields(self) -> dict[str, Any]:
        return {"query": self.query if self.kind == "video" else None, "model": self.model,
                "filters": self.filters, "random_networks": self.random_networks, "kind": self.kind,
                "reference": self._reference(), "feedback": self._feedback()}

    def _reference(self) -> dict[str, Any] | None:
        """What a query that is not a video was made of (the document's ``reference``)."""
        from .export import stills_record, temp_track_record

        if self.kind == "stills":
            return stills_record(self.query, self.images, STILLS_NOTE)
        return temp_track_record(self.query, self.sound_weight) if self.kind == "temp_track" else None

    def _feedback(self) -> dict[str, list[int]] | None:
        if self.feedback is None or not (self.feedback.liked or self.feedback.disliked):
            return None
        return {"liked": sorted(self.feedback.liked), "disliked": sorted(self.feedback.disliked)}


@dataclasses.dataclass(frozen=True)
class VAMap:
    """The valence-arousal map of the library (:meth:`InferenceSession.va_map`), in one space's coordinates.

    ``track_ids``/``paths``/``titles``/``artists``: every rankable track; ``positions`` (T, 2) their (valence,
    arousal) (``va.track_positions``); ``emotions`` (T,) the most probable emotion of each track's mean
    distribution (the dot's colour); ``query`` (2,) the query's position (None without a query);
    ``results`` the suggested track ids, best first; ``anchors`` (5, 2) the emotions' own coordinates.
    """

    space: "VASpace"
    track_ids: "np.ndarray"
    paths: list[Path]
    titles: list[str | None]
    artists: list[str | None]
    positions: "np.ndarray"
    emotions: "np.ndarray"
    query: "np.ndarray | None"
    results: tuple[int, ...]

    @property
    def anchors(self) -> "np.ndarray":
        return self.space.coordinates


@dataclasses.dataclass(frozen=True)
class SceneAnalysis:
    """A video cut into scenes (:meth:`InferenceSession.analyse_scenes`): one cue per scene and the whole video.

    ``scenes`` carry their SlowFast features and queries; ``cues[k]`` is scene ``k``'s cue; ``whole`` the whole
    video (its feature is the duration-weighted mean over the scenes).
    """

    path: Path
    info: "VideoInfo"
    scenes: list["Scene"]
    cues: list["Cue"]
    whole: "Cue"
    random_networks: bool = False

    def document(self, whole: Analysis, cues: Sequence[Analysis]) -> dict[str, Any]:
        """The suggestions document of ``whole`` (the whole-video cue's ranking) plus ``cues``: one record per
        ranked cue (:func:`engine.export.cue_record`: label, start, end, scenes, emotion, suggestions)."""
        from .export import cue_record

        return {**whole.document(), "cues": [cue_record(a.cue, a.query, a.suggestions) for a in cues]}


@dataclasses.dataclass(frozen=True)
class LibrarySnapshot:
    """What a library view shows: the database, folders, counts and the files that failed.

    ``removed``: tracks dropped by the change that produced this snapshot (:meth:`LibraryReader.remove_folder`).
    """

    database: Path
    folders: list[Path]
    stats: "LibraryStats"
    failures: list["Track"]
    removed: int = 0


# ----------------------------------------------------------------------------------------- inputs
def check_video_path(path: Path | str) -> Path:
    """``path`` if it names a file; a :class:`PathError` saying it is missing or a folder otherwise (no decoding)."""
    path = Path(path)
    if path.is_dir():
        raise PathError(path, "is a folder, not a video file")
    if not path.is_file():
        raise PathError(path, "video file not found")
    return path


def probe_video(path: Path | str, _progress: ProgressCallback | None = None,
                _cancel: CancelToken | None = None) -> "VideoInfo":
    """Check that ``path`` is a decodable video, in milliseconds: call it before loading any network."""
    from .media import probe_video as probe

    return probe(check_video_path(path))


def probe_input(path: Path | str, _progress: ProgressCallback | None = None,
                _cancel: CancelToken | None = None) -> str:
    """What ``path`` holds, by its content (milliseconds, no network, no torch for a file): "images" (an image
    file, or a folder with images), "video" (a moving picture) or "audio" (sound only; a music file's cover art
    is no video).

    Images are recognised by their header signature (OpenCV's decoders; HEIC/HEIF, which FFmpeg may not open,
    by name), the rest by what FFmpeg finds in the container. A sound-only file named as a video (``.mp4``
    without a picture, e.g. a voice-over export) is taken as the video it claims to be: a ``DecodeError``.
    """
    import av
    import cv2

    from .errors import DecodeError
    from .library import VIDEO_EXTENSIONS

    path = Path(path)
    if path.is_dir():
        from .queries import image_paths

        image_paths(path)  # a QueryError when the folder has no images
        return "images"
    if not path.is_file():
        raise PathError(path, "file not found")
    if cv2.haveImageReader(str(path)):
        return "images"
    try:
        with av.open(str(path)) as container:
            moving = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
            if moving:
                return "video"
            if container.streams.audio and path.suffix.lower() not in VIDEO_EXTENSIONS:
                return "audio"
    except (av.FFmpegError, ValueError, OSError):
        from .images import HEIF_EXTENSIONS

        if path.suffix.lower() in HEIF_EXTENSIONS:
            return "images"
        raise DecodeError(path, "not a video, music or image file that can be decoded") from None
    raise DecodeError(path, "contains no video stream (is it an audio-only file?)")


def cut_sound(path: Path | str, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> "CutSound | None":
    """The video's own sound measured every 100 ms (``engine.loudness.measure_cut_sound``: the music can be ducked
    under it), or None when the video has no audio stream. No network; about a second per minute of video."""
    from .loudness import measure_cut_sound
    from .media import NoAudioStreamError

    try:
        return measure_cut_sound(check_video_path(path), progress, cancel)
    except NoAudioStreamError:
        return None


# ----------------------------------------------------------------------------------------- sessions
class InferenceSession:
    """Video analysis and ranking (see the module docstring). Every method runs on the session's thread."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._extractor: SlowFastExtractor | None = None
        self._loaded: LoadedModel | None = None
        self._ranker: Ranker | None = None
        self._library: Library | None = None
        self._vggish: VGGishExtractor | None = None

    def load(self, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> ModelInfo:
        """Load the model and the video backbone. Raises ``WeightsError``/``ModelFileError`` with the fix."""
        from .jobs import check
        from .ranking import Ranker

        device = self.backends.resolve_device()
        report(progress, 0, 3, "checking the pretrained backbones")
        self.backends.check_weights()
        report(progress, 0, 3, "loading the retrieval model")
        loaded = self.backends.model(device)
        check(cancel)
        report(progress, 1, 3, "loading SlowFast")
        extractor = self.backends.video_extractor(device)
        check(cancel)
        report(progress, 2, 3, "opening the library")
        self.close()
        self._library = self.backends.library()
        self._ranker = Ranker(self._library, loaded.model, loaded.model_id)
        self._loaded, self._extractor = loaded, extractor
        self._ranker.prepare(progress=progress, cancel=cancel)  # embed the library now: the first query is fast
        report(progress, 3, 3, "ready")
        return ModelInfo(str(device), bool(extractor.pretrained), loaded.card, loaded.path)

    def analyse(
        self,
        path: Path | str,
        top: int | None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        filters: "RankFilter | None" = None,
        at_least_video_length: bool = False,
    ) -> Analysis:
        """Probe, analyse and rank ``path``. ``at_least_video_length``: only tracks as long as the video.

        The filter is checked against the model before the video is decoded (a single-task model has no
        emotions to filter by).
        """
        from .ranking import RankFilter, analyse_video, check_filter

        loaded, extractor, _ranker = self._require()
        filters = filters or RankFilter()
        check_filter(loaded.model, filters)
        probe_video(path)
        query = analyse_video(Path(path), extractor, loaded.model, progress=progress, cancel=cancel)
        if at_least_video_length:
            filters = dataclasses.replace(filters, min_duration=query.duration)
        return self.rerank(query, top, progress, cancel, filters=filters)

    def rerank(
        self,
        query: "VideoQuery",
        top: int | None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        filters: "RankFilter | None" = None,
    ) -> Analysis:
        """Rank an analysed video (again, when the library changed): no video decoding, milliseconds."""
        from .ranking import RankFilter

        loaded, extractor, ranker = self._require()
        filters = filters or RankFilter()
        ranker.prepare(progress=progress, cancel=cancel)  # re-embeds the library only if it changed
        suggestions = ranker.rank(query, top=top, filters=filters)
        return Analysis(query, suggestions, loaded, filters, random_networks=not extractor.pretrained)

    def analyse_scenes(
        self,
        path: Path | str,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        min_scene_seconds: float | None = None,
        merge_threshold: float | None = None,
    ) -> SceneAnalysis:
        """Probe ``path``, find its shots, analyse them with SlowFast and merge them into scenes (no ranking).

        ``min_scene_seconds``: the shortest scene (default :data:`engine.scenes.DEFAULT_MIN_SCENE_SECONDS`);
        ``merge_threshold``: the cosine at which neighbouring shots join (default
        :data:`engine.scenes.DEFAULT_MERGE_THRESHOLD`; above 1 keeps every shot a scene).
        """
        from . import scenes as scene_module

        loaded, extractor, _ranker = self._require()
        info = probe_video(path)
        minimum = scene_module.DEFAULT_MIN_SCENE_SECONDS if min_scene_seconds is None else min_scene_seconds
        merge = scene_module.DEFAULT_MERGE_THRESHOLD if merge_threshold is None else merge_threshold
        found = scene_module.analyse_scenes(Path(path), extractor, loaded.model, min_scene_seconds=minimum,
                                            merge_threshold=merge, progress=progress, cancel=cancel)
        return SceneAnalysis(Path(path), info, found, scene_module.scene_cues(found),
                             scene_module.whole_video_cue(found), random_networks=not extractor.pretrained)

    def rank_cue(
        self,
        scene_analysis: SceneAnalysis,
        cue: "Cue",
        top: int | None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        filters: "RankFilter | None" = None,
    ) -> Analysis:
        """Suggestions for ``cue``: its duration-weighted query, each track's best section of the cue's length
        snapped to the track's beats (``Suggestion.covers`` False where the track is shorter). Scenes without
        features (a split's halves) are analysed first. No ranking of the whole video; milliseconds once the
        library is embedded.
        """
        from .ranking import RankFilter, check_filter
        from .scenes import cue_query, describe_scenes

        loaded, extractor, ranker = self._require()
        filters = filters or RankFilter()
        check_filter(loaded.model, filters)
        scenes = scene_analysis.scenes
        if any(scenes[i].features is None for i in cue.scenes):
            scenes = describe_scenes(scenes, loaded.model, extractor=extractor, path=scene_analysis.path,
                                     progress=progress, cancel=cancel)
        query = cue_query(scenes, cue, loaded.model, path=scene_analysis.path)
        ranker.prepare(progress=progress, cancel=cancel)
        suggestions = ranker.rank(query, top=top, filters=filters, section_seconds=cue.duration)
        return Analysis(query, suggestions, loaded, filters, random_networks=not extractor.pretrained, cue=cue)

    def _require(self) -> "tuple[LoadedModel, SlowFastExtractor, Ranker]":
        if self._ranker is None or self._extractor is None or self._loaded is None:
            raise RuntimeError("analysis requested before the models were loaded")
        return self._loaded, self._extractor, self._ranker

    def close(self, *_job_args: object) -> None:
        if self._library is not None:
            self._library.close()
        self._library = self._ranker = None

    # ------------------------------------------------------------------------- queries beyond a video
    def query_temp_track(
        self,
        source: Path | str | int,
        top: int | None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        sound_weight: float = 0.5,
        filters: "RankFilter | None" = None,
        section: tuple[float, float] | None = None,
    ) -> Analysis:
        """Rank the library for a temp track: an audio file (VGGish, loaded on first use) or a library track id.

        ``sound_weight`` in [0, 1] blends how the tracks sound (VGGish) into how they feel (the model); the
        reference and its duplicates are never suggested (``engine.queries.temp_track_query``).
        """
        from .queries import temp_track_query

        loaded, _extractor, ranker = self._require()
        filters = self._checked(filters, sound_weight)
        vggish = None
        if isinstance(source, numbers.Integral):
            source = int(source)
        else:
            from .media import probe_audio

            source = Path(source)
            if probe_input(source) != "audio":
                raise PathError(source, "is not a music file (a temp track is audio only)")
            probe_audio(source)
            if self._vggish is None:
                report(progress, 0, None, "loading VGGish")
                self._vggish = self.backends.music_extractor(self.backends.resolve_device())
            vggish = self._vggish
        ranker.prepare(progress=progress, cancel=cancel)
        query = temp_track_query(ranker, source, section=section, vggish=vggish, progress=progress, cancel=cancel)
        return self._ranked(Analysis(query, [], loaded, filters, kind="temp_track", sound_weight=sound_weight), top)

    def query_stills(
        self,
        images: Path | str | Sequence[Path | str],
        top: int | None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        filters: "RankFilter | None" = None,
    ) -> Analysis:
        """Rank the library for one still, several, or a folder of them (one query: the mean; see
        :data:`STILLS_NOTE`). Bad images are ``DecodeError``s naming the file."""
        from .queries import image_paths, still_query

        loaded, extractor, _ranker = self._require()
        filters = self._checked(filters)
        paths = tuple(image_paths(images))
        query = still_query(extractor, loaded.model, images, progress=progress, cancel=cancel)
        return self._ranked(Analysis(query, [], loaded, filters, kind="stills", images=paths), top)

    def apply_feedback(self, analysis: Analysis, feedback: "Feedback", top: int | None,
                       _progress: ProgressCallback | None = None, _cancel: CancelToken | None = None) -> Analysis:
        """``analysis`` re-ranked with ``feedback`` (Rocchio, ``engine.queries.apply_feedback``) from its original
        query: instant, no decoding; the previous ``Analysis`` is the undo."""
        return self.requery(analysis, top, feedback=feedback)

    def requery(
        self,
        analysis: Analysis,
        top: int | None,
        _progress: ProgressCallback | None = None,
        _cancel: CancelToken | None = None,
        *,
        feedback: "Feedback | None" = None,
        sound_weight: float | None = None,
        filters: "RankFilter | None" = None,
    ) -> Analysis:
        """``analysis`` ranked again with new feedback, sound weight or filters (unset: kept); no decoding."""
        filters = self._checked(filters or analysis.filters, sound_weight)
        changes = {"filters": filters}
        if feedback is not None:
            changes["feedback"] = feedback
        if sound_weight is not None:
            changes["sound_weight"] = sound_weight
        return self._ranked(dataclasses.replace(analysis, **changes), top)

    def va_map(self, analysis: Analysis | None = None, _progress: ProgressCallback | None = None,
               _cancel: CancelToken | None = None, *, space: "VASpace | None" = None) -> VAMap:
        """The library on the valence-arousal map, with ``analysis``'s query and results (``engine.va``).
        A single-task model has no map (``RankingError``)."""
        from .va import RUSSELL_1980, query_position, track_distributions

        space = space or RUSSELL_1980
        _loaded, _extractor, ranker = self._require()
        cache = ranker.prepare()
        distributions = track_distributions(cache)
        tracks = cache.tracks
        return VAMap(space, tracks.ids.copy(), list(tracks.paths), list(tracks.titles), list(tracks.artists),
                     space.position(distributions), distributions.argmax(axis=1),
                     None if analysis is None else query_position(analysis.query, space),
                     () if analysis is None else tuple(s.track_id for s in analysis.suggestions))

    def _checked(self, filters: "RankFilter | None", sound_weight: float | None = None) -> "RankFilter":
        from .queries import QueryError
        from .ranking import RankFilter, check_filter

        filters = filters or RankFilter()
        check_filter(self._require()[0].model, filters)
        if sound_weight is not None and not 0.0 <= sound_weight <= 1.0:
            raise QueryError(f"the sound weight must be between 0 and 1, not {sound_weight:g}")
        return filters

    def _ranked(self, analysis: Analysis, top: int | None) -> Analysis:
        """``analysis`` with its suggestions: its query moved by its feedback, ranked as its kind ranks."""
        from .queries import Feedback, apply_feedback, rank_temp_track

        loaded, extractor, ranker = self._require()
        ranker.prepare()
        query = apply_feedback(ranker, analysis.query, analysis.feedback or Feedback())
        filters = analysis.filters or self._checked(None)
        if analysis.kind == "temp_track":
            suggestions = rank_temp_track(ranker, query, sound_weight=analysis.sound_weight, top=top, filters=filters)
        else:
            suggestions = ranker.rank(query, top=top, filters=filters)
        return dataclasses.replace(analysis, suggestions=suggestions, model=loaded,
                                   random_networks=not extractor.pretrained)


class IndexSession:
    """Indexing: the VGGish extractor (loaded on first use) and a write connection per run."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._extractor: VGGishExtractor | None = None

    @property
    def random_networks(self) -> bool:
        """True once a random-init VGGish was loaded (demo/test mode)."""
        return self._extractor is not None and not self._extractor.pretrained

    def index(
        self, folders: Sequence[Path] | None, progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> "IndexReport":
        """Add ``folders`` (default: every known one) and index their audio files incrementally."""
        for folder in folders or ():
            if not Path(folder).is_dir():
                raise PathError(folder, "not a folder (index takes music folders)")
        if self._extractor is None:
            report(progress, 0, None, "loading VGGish")
            self._extractor = self.backends.music_extractor(self.backends.resolve_device())
        from .indexer import index_library

        with self.backends.library() as library:
            result = index_library(library, self._extractor, folders=list(folders) if folders else None,
                                   progress=progress, cancel=cancel)
        if (result.indexed or result.removed) and not result.cancelled:
            self._refresh_ranking(progress, cancel)
        return result

    def _refresh_ranking(self, progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
        """Re-embed the changed library for the retrieval model and save that cache beside the database, here in
        the indexing thread, so the next query (in this process or after a restart) ranks without building it.

        Only an optimisation: without a usable model (it is checked when a query loads it) nothing is done."""
        from .errors import EngineError
        from .ranking import refresh_cache

        try:
            loaded = self.backends.model(self.backends.resolve_device())
        except EngineError as exc:
            _log.info("ranking cache not refreshed: %s", exc)
            return
        report(progress, 0, None, "updating the ranking cache")
        refresh_cache(self.backends.library_path_or_default(), loaded.model, loaded.model_id,
                      self._extractor.backbone_id, progress=progress, cancel=cancel)

    def forget_extractor(self, *_job_args: object) -> None:
        """Drop the extractor so the next run loads the (new) weights."""
        self._extractor = None


class LibraryReader:
    """Short library reads and writes: one connection, opened on first use."""

    def __init__(self, backends: Backends, *, create: bool = True) -> None:
        """``create=False``: look only — a missing library is a ``LibraryError`` and nothing is created."""
        self.backends = backends
        self.create = create
        self._library: Library | None = None

    def _open(self) -> "Library":
        if self._library is None:
            self._library = self.backends.library(create=self.create)
        return self._library

    def snapshot(self, _progress: ProgressCallback | None = None, _cancel: CancelToken | None = None,
                 *, removed: int = 0) -> LibrarySnapshot:
        """The library's state; a look-only reader (``create=False``) sees a library not made yet as empty."""
        if not self.create and self._library is None:
            path = self.backends.library_path_or_default()
            if not path.exists():
                from .library import LibraryStats

                return LibrarySnapshot(path, [], LibraryStats(0, 0, 0, 0, 0), [], removed)
        library = self._open()
        return LibrarySnapshot(library.path, library.folders(), library.stats(), library.failures(), removed)

    def add_folder(self, folder: Path, progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None) -> LibrarySnapshot:
        self._open().add_folder(folder)
        return self.snapshot(progress, cancel)

    def remove_folder(self, folder: Path, progress: ProgressCallback | None = None,
                      cancel: CancelToken | None = None) -> LibrarySnapshot:
        removed = self._open().remove_folder(folder)
        return self.snapshot(progress, cancel, removed=removed)

    def close(self, *_job_args: object) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None

    def __enter__(self) -> "LibraryReader":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------------------- exports
def export_results(
    path: Path | str, analysis: Analysis, rows: Sequence["Suggestion"] | None = None,
    _progress: ProgressCallback | None = None, _cancel: CancelToken | None = None,
    *, shortlist: "Collection[Path] | None" = None,
) -> Path:
    """Save ``rows`` (default: every suggestion) as CSV, or as the suggestions document when ``path`` is .json;
    ``shortlist`` (the starred tracks' paths) fills each row's ``shortlisted``."""
    from . import export

    path = Path(path)
    rows = analysis.suggestions if rows is None else list(rows)
    if path.suffix.lower() == ".json":
        return export.write_results_json(path, rows, shortlist=shortlist, **analysis._document_fields())
    return export.write_results_csv(path, rows, shortlist)


def export_preview(
    video: Path | str, track: Path | str, start: float, output: Path | str,
    progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
) -> "PreviewReport":
    """An MP4 of ``video`` with ``track``'s audio from ``start`` s (see :func:`engine.export.export_preview`)."""
    from .export import export_preview as write

    return write(video, track, start, output, progress=progress, cancel=cancel)


# ----------------------------------------------------------------------------------------- the editor's choices
def export_timeline(
    path: Path | str, choices: "VideoChoices",
    _progress: ProgressCallback | None = None, _cancel: CancelToken | None = None,
    *, fmt: str | None = None, fade_seconds: float = 0.0, overlap_seconds: float = 0.0, relative_paths: bool = False,
) -> Path:
    """The scored cut as an editor's timeline: ``fmt`` (``engine.timeline.FORMATS``) or by the file's suffix."""
    from .timeline import export_timeline as write

    return write(path, choices.video, choices.cue_choices(), fmt=fmt, fade_seconds=fade_seconds,
                 overlap_seconds=overlap_seconds, relative_paths=relative_paths)


def export_cue_sheet(path: Path | str, choices: "VideoChoices", _progress: ProgressCallback | None = None,
                     _cancel: CancelToken | None = None) -> Path:
    """The cue sheet (CSV) of the chosen music."""
    from .timeline import export_cue_sheet as write

    return write(path, choices.video, choices.cue_choices())


def export_scored_preview(
    video: Path | str, choices: "VideoChoices", output: Path | str,
    progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
    *, crossfade_seconds: float | None = None,
) -> "PreviewReport":
    """An MP4 of the whole cut with every cue's chosen section, crossfading at cue boundaries
    (``crossfade_seconds``; default :data:`engine.export.DEFAULT_CROSSFADE_SECONDS`)."""
    from .export import DEFAULT_CROSSFADE_SECONDS, MixCue, export_scored_preview as write

    cues = [MixCue(c.cue_start, c.cue_end, c.track_path, c.section_start) for c in choices.choices]
    fade = DEFAULT_CROSSFADE_SECONDS if crossfade_seconds is None else crossfade_seconds
    return write(video, cues, output, crossfade_seconds=fade, progress=progress, cancel=cancel)


def edit_scenes(
    session: InferenceSession, analysis: "SceneAnalysis", scenes: Sequence["Scene"],
    progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
) -> "SceneAnalysis":
    """``analysis`` with its scenes replaced by an edit of them (``scenes.split_scene``/``merge_scenes``): the
    scenes that lost their features (split halves) are analysed, only they, and every scene gets its mood."""
    from .scenes import describe_scenes, scene_cues, whole_video_cue

    loaded, extractor, _ranker = session._require()
    described = describe_scenes(scenes, loaded.model, extractor=extractor, path=analysis.path,
                                progress=progress, cancel=cancel)
    return dataclasses.replace(analysis, scenes=described, cues=scene_cues(described),
                               whole=whole_video_cue(described))


def track_beats(reader: LibraryReader, track_id: int, _progress: ProgressCallback | None = None,
                _cancel: CancelToken | None = None) -> "Beats | None":
    """The stored beat grid of an indexed track (None when it has none yet), for nudging a section."""
    return reader._open().beats([track_id]).get(track_id)


def track_waveform(path: Path | str, buckets: int | None = None, progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None) -> "Peaks":
    """A track's waveform for display (``engine.waveform.track_peaks``: min/max/RMS per bucket, streamed, cached
    by path, size and modification time); a ``DecodeError`` naming the file when it cannot be decoded."""
    from .waveform import DEFAULT_BUCKETS, track_peaks

    return track_peaks(path, buckets or DEFAULT_BUCKETS, progress, cancel)
