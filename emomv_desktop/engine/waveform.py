"""A track's waveform for display: the peaks (min, max) and loudness (RMS) of its mono signal per bucket.

The track is decoded by the engine's own decoder (:func:`engine.media.iter_audio`, so every format the library
indexes draws) to mono at the file's own rate, streamed: each block is cut into chunks whose min, max and sum of
squares are kept, never the samples, so memory stays bounded whatever the file's length. The chunk length comes from the
header's duration (:data:`CHUNKS_PER_BUCKET` chunks per bucket); when a file turns out much longer than its header
said, neighbouring chunks are merged in pairs, so at most ``2 * CHUNKS_PER_BUCKET`` chunks per bucket are ever
held. At the end the chunks are grouped into ``buckets`` equal spans of time (a bucket's edges are off by at most
half a chunk: an eighth of a bucket). Cancellable between blocks; progress in seconds decoded.

Why the file's own rate and not a low one: resampling saves nothing measurable (decoding dominates; measured in
docs/gui.md, *Waveform*), and a low-passed signal would understate the peaks of bright music (cymbals, hats).

Results are kept in a small in-process cache (:data:`CACHE_SIZE` entries, least recently used dropped) keyed by
the file's path, size and modification time and the bucket count: selecting a track again draws at once, a file
edited since is read afresh.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .errors import DecodeError
from .jobs import CancelToken, ProgressCallback, check, report

__all__ = ["CACHE_SIZE", "DEFAULT_BUCKETS", "Peaks", "clear_cache", "track_peaks"]

DEFAULT_BUCKETS = 2000
"""Buckets over the whole track: one per pixel column of a wide screen."""
BLOCK_SECONDS = 10.0
"""Decoded per step (between cancel checks): 441k samples at 44.1 kHz, 1.8 MB."""
CHUNKS_PER_BUCKET = 4
CACHE_SIZE = 32
_FALLBACK_SECONDS = 600.0
"""Chunk length basis when the header states no duration (merging corrects it if the file is longer)."""


@dataclasses.dataclass(frozen=True)
class Peaks:
    """``minimum``, ``maximum`` and ``rms`` (float32, one per bucket, in [-1, 1] / [0, 1]) of a track whose
    decoded length is ``duration`` s; bucket ``k`` covers ``[k, k + 1) * duration / buckets``."""

    path: Path
    duration: float
    minimum: np.ndarray
    maximum: np.ndarray
    rms: np.ndarray

    @property
    def buckets(self) -> int:
        return int(self.minimum.size)


class _Chunks:
    """Min, max, sum of squares and length of consecutive ``hop``-sample chunks of a stream; beyond ``limit``
    chunks, neighbours are merged in pairs (and ``hop`` doubles)."""

    def __init__(self, hop: int, limit: int) -> None:
        self.hop, self.limit = max(1, hop), limit
        self.parts: list[tuple[np.ndarray, ...]] = []  # (min, max, sum of squares, samples) per pushed run
        self.stored = 0
        self._rest = np.zeros(0, np.float32)

    def push(self, samples: np.ndarray) -> None:
        data = np.concatenate([self._rest, samples]) if self._rest.size else samples
        whole = data.size // self.hop * self.hop
        self._rest = data[whole:].copy()
        if whole:
            self._add(data[:whole].reshape(-1, self.hop))
        while self.stored > self.limit:
            self._merge_pairs()

    def finish(self) -> tuple[np.ndarray, ...]:
        """(min, max, sum of squares, samples) of every chunk, the last partial one included."""
        if self._rest.size:
            self._add(self._rest[None, :])
            self._rest = np.zeros(0, np.float32)
        return self._joined()

    def _add(self, chunks: np.ndarray) -> None:
        self.parts.append((chunks.min(axis=1), chunks.max(axis=1),
                           np.einsum("ij,ij->i", chunks, chunks, dtype=np.float64),
                           np.full(chunks.shape[0], chunks.shape[1], np.int64)))
        self.stored += chunks.shape[0]

    def _joined(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0), np.zeros(0, np.int64)
        return tuple(np.concatenate(column) for column in zip(*self.parts))

    def _merge_pairs(self) -> None:
        """Halve the resolution: chunk pairs become one chunk (an odd last one stays as it is)."""
        low, high, squares, lengths = self._joined()
        even = low.size // 2 * 2
        self.parts = [(np.minimum(low[:even:2], low[1:even:2]), np.maximum(high[:even:2], high[1:even:2]),
                       squares[:even:2] + squares[1:even:2], lengths[:even:2] + lengths[1:even:2]),
                      (low[even:], high[even:], squares[even:], lengths[even:])]
        self.stored = even // 2 + (low.size - even)
        self.hop *= 2


def _bucketed(chunks: tuple[np.ndarray, ...], buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunks grouped into ``buckets`` equal spans of samples, each chunk in the span holding its middle; a span
    holding no middle (a chunk longer than a span) takes the chunk that covers it."""
    low, high, squares, lengths = chunks
    ends = np.cumsum(lengths)
    total = float(ends[-1])
    owner = np.minimum(((ends - lengths / 2) * buckets / total).astype(np.int64), buckets - 1)
    present, first = np.unique(owner, return_index=True)
    out = np.zeros((3, buckets))
    out[0, present] = np.minimum.reduceat(low, first)
    out[1, present] = np.maximum.reduceat(high, first)
    out[2, present] = np.add.reduceat(squares, first) / np.add.reduceat(lengths, first)
    missing = np.setdiff1d(np.arange(buckets), present)
    covering = np.searchsorted(ends, (missing + 0.5) * total / buckets, side="right")
    out[:, missing] = np.stack([low[covering], high[covering], squares[covering] / lengths[covering]])
    return out[0].astype(np.float32), out[1].astype(np.float32), np.sqrt(out[2]).astype(np.float32)


def _read_peaks(path: Path, buckets: int, sample_rate: int | None, progress: ProgressCallback | None,
                cancel: CancelToken | None) -> Peaks:
    from .media import iter_audio, probe_audio

    info = probe_audio(path)
    rate, declared = sample_rate or info.sample_rate, info.duration
    if rate <= 0:
        raise DecodeError(path, "states no sample rate: not audio that can be drawn")
    basis = declared if declared > 0 else _FALLBACK_SECONDS
    chunks = _Chunks(int(basis * rate / (buckets * CHUNKS_PER_BUCKET)), 2 * buckets * CHUNKS_PER_BUCKET)
    samples = 0
    report(progress, 0.0, declared or None, "reading the waveform")
    blocks = iter_audio(path, sample_rate=sample_rate, block_seconds=BLOCK_SECONDS)
    try:
        for block in blocks:
            check(cancel)
            chunks.push(block)
            samples += block.size
            report(progress, min(samples / rate, declared or np.inf), declared or None, "reading the waveform")
    finally:
        blocks.close()
    stats = chunks.finish()
    low, high, rms = _bucketed(stats, min(buckets, stats[0].size))
    return Peaks(path, samples / rate, low, high, rms)


_CACHE: OrderedDict[tuple, Peaks] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def track_peaks(path: Path | str, buckets: int = DEFAULT_BUCKETS, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None, *, sample_rate: int | None = None) -> Peaks:
    """The waveform of ``path`` in ``buckets`` buckets (fewer for a track shorter than ``buckets`` chunks), read
    at the file's own rate (or resampled to ``sample_rate``: the benchmark's comparison).

    A :class:`~engine.errors.DecodeError` naming the file when it cannot be decoded; ``Cancelled`` on cancel.
    """
    path = Path(path)
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    try:
        stat = path.stat()
    except OSError:
        stat = None  # the decoder says what is wrong with it
    key = (str(path.absolute()), stat.st_size, stat.st_mtime_ns, buckets, sample_rate) if stat is not None else None
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    peaks = _read_peaks(path, buckets, sample_rate, progress, cancel)
    if key is not None:
        with _CACHE_LOCK:
            _CACHE[key] = peaks
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    return peaks


def clear_cache() -> None:
    """Forget every cached waveform."""
    with _CACHE_LOCK:
        _CACHE.clear()
