"""Indexing: bring a :class:`~emomv_desktop.engine.library.Library` up to date with its folders.

:func:`index_library` takes a store and an extractor (anything with ``backbone_id``, ``precision``,
``stream_examples`` and ``embed``, i.e. :class:`~emomv_desktop.engine.backbones.VGGishExtractor`), so the store
knows no network and the network knows no SQL. Each track is stored with the precision it was computed in.

Thread roles (decode ahead):

* the **decode thread** ("emomv-index-decode", :func:`engine.prefetch.prefetched`) opens each file, decodes
  it streamed (``engine.media``) and turns it into VGGish log-mel examples (the extractor's own
  ``stream_examples``, so the indexer's features are exactly ``track_features``'), chunk by chunk, at most
  :data:`DECODE_AHEAD_CHUNKS` ahead. It also keeps the decoded 16 kHz mono audio of the track in flight and,
  at its end, tracks its beats (:func:`engine.beats.track_beats`) and measures its integrated loudness
  (:func:`engine.loudness.integrated_loudness`, for level-matched auditioning; on this 16 kHz mono stream,
  which is fine for matching tracks to each other: see that module): no second decode; the audio of one
  track is held, 3.8 MB per minute. It never touches the network or SQLite. A file it cannot decode becomes a per-file
  outcome, not an exception.
* the **calling thread is the inference thread**: it runs the network on each chunk as it arrives and, between
  tracks, stores the finished track (one transaction). One model, one thread; the SQLite connection stays in
  the thread that opened it.

Tracks indexed before beats were tracked or loudness measured (features stored, no beat or loudness row) get
what they lack after the main pass: decoded again, VGGish not run (:func:`_analyse_missing_audio`).

Memory is bounded by the longest track's 16 kHz audio (beats) plus the decode-ahead queue. Cancel is checked by the decode thread between blocks and
by the inference loop between chunks (the track in flight is dropped, the report says ``cancelled``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from . import media
from .beats import Beats, track_beats
from .errors import Cancelled, EngineError, PathError
from .features import AudioInfo, TrackFeatures
from .loudness import integrated_loudness
from .jobs import CancelToken, ProgressCallback, check
from .library import VIDEO_EXTENSIONS, FileEntry, IndexProgress, IndexReport, Library, Scan, walk_music
from .paths import display_path
from .prefetch import prefetched
from .protocol import AUDIO_SAMPLE_RATE, MUSIC_FEATURE_DIM

if TYPE_CHECKING:  # the network itself is only needed by whoever builds the extractor
    from .backbones import VGGishExtractor

__all__ = ["DECODE_AHEAD_CHUNKS", "index_library"]

_log = logging.getLogger(__name__)

DECODE_AHEAD_CHUNKS = 8
"""Log-mel chunks (64 examples, ~1.5 MB each) the decode thread may prepare ahead of the network."""

NO_AUDIO_REASON = "skipped: a video without an audio track (nothing to index)"
"""What a video in a music folder without an audio stream is recorded with (shown in the failure list)."""


def index_library(
    library: Library,
    extractor: "VGGishExtractor",
    *,
    folders: Iterable[Path | str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> IndexReport:
    """Bring ``library`` up to date with ``folders`` (registering them) or every registered folder.

    Incremental: unchanged files (size, mtime, backbone, geometry) are skipped; files gone from a folder that
    could be listed are dropped; a file that fails is recorded with its error and the run goes on; a video
    without an audio track is recorded as skipped. Each track is stored in its own transaction. Cancelling
    stops between tracks (the one in flight is not stored) and returns the report with ``cancelled=True``.
    """
    started = time.perf_counter()
    report = IndexReport()
    scan = Scan()
    for folder, folder_id in library.folder_ids(folders).items():
        if not folder.is_dir():
            report.errors.append((folder, "library folder not found (not mounted?); its tracks are kept"))
            continue
        scan.scanned_folders.append(folder_id)
        walk_music(folder, folder_id, scan)
    report.errors.extend(scan.errors)
    report.removed = library.drop_missing(scan, scan.scanned_folders)
    todo = library.changed(scan.files, extractor.backbone_id)
    report.unchanged = len(scan.files) - len(todo)
    folder_paths = {i: p for p, i in library.folder_ids(None).items()}
    try:
        for entry, outcome, analysed in _extract(extractor, todo, progress, cancel, started):
            _record(library, entry, outcome, analysed, extractor.backbone_id, folder_paths[entry.folder_id], report)
        _analyse_missing_audio(library, extractor.backbone_id, report, progress, cancel)
    except Cancelled:
        report.cancelled = True
    report.seconds = time.perf_counter() - started
    return report


def _record(library: Library, entry: FileEntry, outcome: TrackFeatures | EngineError,
            analysed: "_Analysed | None", backbone_id: str, folder: Path, report: IndexReport) -> None:
    """Store one extraction outcome (features, beats and loudness, a skip, or a per-file error) and count it."""
    stat_kw = {"size": entry.size, "mtime_ns": entry.mtime_ns, "folder": folder}
    if not isinstance(outcome, EngineError):
        try:
            library.store_features(entry.path, outcome, backbone_id, beats=analysed.beats,
                                   loudness=analysed.loudness, **stat_kw)
        except PathError as exc:
            outcome = exc
        else:
            report.indexed += 1
            report.audio_seconds += outcome.duration
            return
    skipped = isinstance(outcome, media.NoAudioStreamError) and entry.path.suffix.lower() in VIDEO_EXTENSIONS
    reason = NO_AUDIO_REASON if skipped else outcome.reason if isinstance(outcome, PathError) else str(outcome)
    library.store_failure(entry.path, reason, backbone_id, **stat_kw)
    if skipped:
        report.skipped += 1
    else:
        report.failed += 1
    report.errors.append((entry.path, reason))


@dataclasses.dataclass(frozen=True)
class _Analysed:
    """What the indexer measures on a track's decoded 16 kHz audio besides its features."""

    beats: Beats | None
    loudness: float | None  # LUFS, NaN when silent or too short (None: not measured)


def _analyse(audio: list[np.ndarray], path: Path, *, beats: bool = True, loudness: bool = True) -> _Analysed:
    """Beats and/or loudness of a track's decoded 16 kHz blocks. A beat tracker failing on odd audio gives no
    beats (tempo 0): it must not cost the track its features."""
    samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
    grid = None
    if beats:
        try:
            grid = track_beats(samples)
        except Exception:
            _log.exception("beat tracking failed for %s", display_path(path))
            grid = Beats(0.0, np.zeros(0), np.zeros(0))
    lufs = integrated_loudness(samples) if loudness else None
    return _Analysed(grid, (np.nan if lufs is None else lufs) if loudness else None)


def _analyse_missing_audio(library: Library, backbone_id: str, report: IndexReport,
                           progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
    """Beats and loudness for indexed tracks that lack them (a library indexed before either existed): one decode
    per track, what is missing measured and stored.

    VGGish is not run. A file that cannot be decoded any more gets an empty grid and no loudness (NULL), so it
    is not retried every rescan; its features stay usable.
    """
    missing = library.missing_audio_analysis(backbone_id)
    for done, (track_id, path, no_beats, no_loudness) in enumerate(missing):
        check(cancel)
        if progress is not None:
            what = " and ".join(w for w, lacking in (("beats", no_beats), ("loudness", no_loudness)) if lacking)
            progress(IndexProgress(done, len(missing), f"{what}: {display_path(path)}", path=path))
        audio: list[np.ndarray] = []
        try:
            for block in media.iter_audio(path, sample_rate=AUDIO_SAMPLE_RATE):
                check(cancel)
                audio.append(block)
        except EngineError as exc:
            _log.warning("no beats or loudness for %s: %s", display_path(path), exc)
            audio = []
        analysed = _analyse(audio, path, beats=no_beats, loudness=no_loudness)
        if no_beats:
            library.store_beats(track_id, analysed.beats)
            report.beats_tracked += 1
        if no_loudness:
            library.store_loudness(track_id, analysed.loudness)
            report.loudness_measured += 1


# ------------------------------------------------------------------------------------------ decode ahead
@dataclasses.dataclass(frozen=True)
class _Chunk:
    """A batch of log-mel examples of one track, and how many samples of it were decoded so far."""

    entry: FileEntry
    index: int
    info: AudioInfo
    examples: object  # torch.Tensor (N, 96, 64); the decode thread makes it, the inference loop embeds it
    samples: int


@dataclasses.dataclass(frozen=True)
class _Decoded:
    """The end of a track's stream."""

    entry: FileEntry
    index: int
    info: AudioInfo
    samples: int
    analysed: _Analysed


@dataclasses.dataclass(frozen=True)
class _Failed:
    entry: FileEntry
    index: int
    error: EngineError


def _decode_all(extractor: "VGGishExtractor", files: list[FileEntry], cancel: CancelToken | None) -> Iterator:
    """The decode thread's stream: every file's chunks then its end, or its failure (decode thread only)."""
    for index, entry in enumerate(files):
        check(cancel)
        try:
            info = media.probe_audio(entry.path)
            samples = 0
            audio: list[np.ndarray] = []
            for examples, samples in extractor.stream_examples(entry.path, cancel, on_audio=audio.append):
                yield _Chunk(entry, index, info, examples, samples)
            analysed = _analyse(audio, entry.path)
            del audio
            yield _Decoded(entry, index, info, samples, analysed)
        except Cancelled:
            raise
        except EngineError as exc:
            yield _Failed(entry, index, exc)
        except Exception as exc:  # a decoder bug on one odd file must not stop the whole library
            _log.exception("unexpected error while decoding %s", display_path(entry.path))
            yield _Failed(entry, index, PathError(entry.path, f"unexpected error ({type(exc).__name__}: {exc})"))


def _extract(extractor: "VGGishExtractor", files: list[FileEntry], progress: ProgressCallback | None,
             cancel: CancelToken | None, started: float
             ) -> Iterator[tuple[FileEntry, TrackFeatures | EngineError, _Analysed | None]]:
    """Each file's features, beats and loudness (or its error), in order, decoding running ahead of the network."""
    rows: list[np.ndarray] = []
    messages = prefetched(_decode_all(extractor, files, cancel), DECODE_AHEAD_CHUNKS, cancel=cancel,
                          name="emomv-index-decode")
    with contextlib.closing(messages):
        for message in messages:
            if isinstance(message, _Chunk):
                rows.append(extractor.embed(message.examples, cancel=cancel).numpy())
                _report(progress, started, len(files), message.index, message.entry,
                        message.samples / AUDIO_SAMPLE_RATE, message.info)
                continue
            if isinstance(message, _Decoded):
                features = np.concatenate(rows) if rows else np.zeros((0, MUSIC_FEATURE_DIM), np.float32)
                outcome = TrackFeatures(features, message.samples / AUDIO_SAMPLE_RATE, message.info,
                                        extractor.precision)
                analysed = message.analysed
            else:
                outcome, analysed = message.error, None
            rows = []
            _report(progress, started, len(files), message.index + 1, message.entry, 0.0, None)
            yield message.entry, outcome, analysed


def _report(progress: ProgressCallback | None, started: float, total: int, done: int, entry: FileEntry,
            seconds: float, info: AudioInfo | None) -> None:
    """Files done (fractional within the current track) out of the total, the file, the rate so far.

    Called from the inference thread only, so ``done`` never goes backwards.
    """
    if progress is None:
        return
    fraction = min(1.0, seconds / info.duration) if info is not None and info.duration else 0.0
    elapsed = time.perf_counter() - started
    rate = 60.0 * done / elapsed if done and elapsed > 0 else None
    progress(IndexProgress(done + fraction, total, display_path(entry.path), path=entry.path,
                           tracks_per_minute=rate))
