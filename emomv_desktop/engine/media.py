"""Decoding: music files to mono 16 kHz float32 (streamed), videos to RGB frames at chosen times.

Audio
    libsndfile (``soundfile``) reads wav/flac/ogg-vorbis/opus/mp3 fast and exactly; anything else FFmpeg
    reads (m4a/aac/alac, wma, ...) goes through PyAV. Both give float32 at the file's own rate; channels are
    averaged to mono (as torchvggish's reference frontend does: FFmpeg's own mono downmix weights stereo
    by 0.707, i.e. +3 dB, which would shift every log-mel value by 0.35) and the mono stream is resampled to
    16 kHz by swresample in one continuous stream, so block borders leave no seam. swresample was chosen by
    measurement (``benchmarks/bench_music_features.py --resamplers``, docs/engine-features.md): it moves
    VGGish's log-mel input the least from the reference (resampy ``kaiser_best``) of the fast resamplers and
    streams natively.

Video
    PyAV only (one decoder with seeking and timestamps). Frames are picked by presentation time, never by
    ``index / fps``, so variable-frame-rate files are sampled correctly; rotation metadata (phone clips) is
    applied; only the packets the requested times need are decoded: before each group of times the decoder
    seeks to the nearest keyframe when that skips frames, and otherwise decodes on. Audio tracks in a video
    are ignored (the engine treats every video as muted).

Every failure a user can cause (missing, folder, unreadable, empty, not media, truncated, no stream of the
needed kind) is a :class:`~emomv_desktop.engine.errors.DecodeError` carrying the path and a plain reason.
Files are opened by Python (``open(path, 'rb')``) and handed to the decoders as file objects, so any name
the OS accepts works, including names that are not valid UTF-8.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import av
import numpy as np
import soundfile as sf

from .errors import DecodeError
from .jobs import CancelToken, check
from .features import AudioInfo, VideoInfo
from .protocol import AUDIO_SAMPLE_RATE

__all__ = [
    "AudioInfo",
    "VideoInfo",
    "DEFAULT_BLOCK_SECONDS",
    "probe_audio",
    "iter_audio",
    "load_audio",
    "probe_video",
    "read_frames",
    "VideoReader",
    "MonoResampler",
    "NoAudioStreamError",
]

DEFAULT_BLOCK_SECONDS = 9.6
"""Audio block length: ten VGGish frames (0.96 s each), about 600 KB of float32 at 16 kHz."""

TRUNCATION_TOLERANCE_SECONDS = 1.0
"""A file whose decoded length falls short of its header's by more than this is reported as truncated."""

TIME_EPSILON = 1e-6
"""Seconds: a requested time this close to a frame's timestamp counts as that frame's (float rounding)."""

_NATIVE_BLOCK_FRAMES = 1 << 16

_EXACT_LENGTH_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "ogg", "flac", "wav", "aiff"})
"""FFmpeg containers whose header states the length exactly (others, e.g. raw ADTS AAC, estimate it from the
bitrate): only for these is a short decode reported as truncation."""
"""Frames read per soundfile call (~1.5 s at 44.1 kHz)."""


# --------------------------------------------------------------------------------------------------- files
@contextlib.contextmanager
def _open_media(path: Path | str) -> Iterator[BinaryIO]:
    """Open ``path`` for reading, turning every OS-level failure into a :class:`DecodeError` a user understands."""
    path = Path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; a file object keeps non-UTF-8 names working
    except FileNotFoundError:
        raise DecodeError(path, "file not found") from None
    except IsADirectoryError:
        raise DecodeError(path, "is a folder, not a media file") from None
    except PermissionError:
        raise DecodeError(path, "permission denied: the file is not readable by this user") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot open the file ({os.strerror(exc.errno or errno.EIO)})") from None
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise DecodeError(path, "the file is empty (0 bytes)")
        yield handle


def _ffmpeg_reason(exc: Exception) -> str:
    """A short, user-facing cause from an FFmpeg/libsndfile exception."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".") or type(exc).__name__


# --------------------------------------------------------------------------------------------------- resampling
class MonoResampler:
    """Streaming mono float32 resampler (swresample through PyAV): feed blocks, get blocks, no seams.

    The filter state carries across :meth:`push` calls, so resampling a signal in blocks gives the same
    samples as resampling it whole. Call :meth:`flush` once at the end to get the filter's tail.
    """

    def __init__(self, source_rate: int, target_rate: int = AUDIO_SAMPLE_RATE) -> None:
        self.source_rate = int(source_rate)
        self.target_rate = int(target_rate)
        self._swr = (
            None
            if self.source_rate == self.target_rate
            else av.AudioResampler(format="flt", layout="mono", rate=self.target_rate)
        )

    def push(self, mono: np.ndarray) -> np.ndarray:
        """Resample one block of mono samples; returns whatever output is ready (may be empty)."""
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if self._swr is None:
            return mono
        if mono.size == 0:
            return np.zeros(0, np.float32)
        frame = av.AudioFrame.from_ndarray(mono[None, :], format="flt", layout="mono")
        frame.sample_rate = self.source_rate
        return self._collect(self._swr.resample(frame))

    def flush(self) -> np.ndarray:
        """The samples still held in the filter (call once, after the last :meth:`push`)."""
        if self._swr is None:
            return np.zeros(0, np.float32)
        return self._collect(self._swr.resample(None))

    @staticmethod
    def _collect(frames: Sequence[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros(0, np.float32)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32, copy=False)


class _Rechunker:
    """Turns a stream of variable-size arrays into blocks of exactly ``size`` samples (the last may be short)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: list[np.ndarray] = []
        self._count = 0

    def push(self, data: np.ndarray) -> Iterator[np.ndarray]:
        if data.size:
            self._parts.append(data)
            self._count += data.size
        while self._count >= self.size:
            merged = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
            yield merged[: self.size]
            rest = merged[self.size :]
            self._parts = [rest] if rest.size else []
            self._count = rest.size

    def flush(self) -> Iterator[np.ndarray]:
        if self._count:
            yield np.concatenate(self._parts)
        self._parts, self._count = [], 0


# --------------------------------------------------------------------------------------------------- audio
@dataclasses.dataclass
class _NativeAudio:
    """An open audio source at its own rate: mono blocks plus what its header declared."""

    blocks: Iterator[np.ndarray]
    sample_rate: int
    declared_frames: int | None


def _downmix(data: np.ndarray, channel_axis: int) -> np.ndarray:
    """Mono float32 = the mean of the channels (torchvggish's downmix).

    A matrix-vector product: numpy's ``mean`` over a short axis of a long array is much slower (the figures:
    docs/engine-features.md, Decoding).
    """
    channels = data.shape[channel_axis]
    if channels == 1:
        return np.ascontiguousarray(data.reshape(-1), dtype=np.float32)
    weights = np.full(channels, 1.0 / channels, dtype=np.float32)
    return (data @ weights if channel_axis == 1 else weights @ data).astype(np.float32, copy=False)


def _metadata_tags(*dicts: dict[str, str]) -> dict[str, str]:
    """Merge FFmpeg metadata dictionaries (container and stream level) with lower-case keys."""
    tags: dict[str, str] = {}
    for meta in dicts:
        for key, value in meta.items():
            if value and key.lower() not in tags:
                tags[key.lower()] = str(value).strip()
    return tags


def _soundfile_info(path: Path, handle: BinaryIO) -> AudioInfo | None:
    """Header of a file libsndfile reads, or None when libsndfile does not know the format."""
    try:
        with sf.SoundFile(handle.fileno(), closefd=False) as snd:
            return AudioInfo(
                path=path,
                duration=snd.frames / snd.samplerate if snd.samplerate else 0.0,
                sample_rate=int(snd.samplerate),
                channels=int(snd.channels),
                codec=f"{snd.format}/{snd.subtype}".lower(),
                title=snd.title or None,
                artist=snd.artist or None,
                album=snd.album or None,
            )
    except (sf.LibsndfileError, RuntimeError):
        return None
    finally:
        handle.seek(0)


class NoAudioStreamError(DecodeError):
    """The file is media but holds no audio stream (a silent video, an image): nothing to hear."""


def _pyav_audio_stream(path: Path, container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise NoAudioStreamError(path, "contains no audio stream")
    return container.streams.audio[0]


def _pyav_open(path: Path, handle: BinaryIO) -> av.container.InputContainer:
    try:
        return av.open(handle, mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise DecodeError(path, f"not a media file that can be decoded ({_ffmpeg_reason(exc)})") from None


def _pyav_info(path: Path, handle: BinaryIO) -> AudioInfo:
    with _pyav_open(path, handle) as container:
        stream = _pyav_audio_stream(path, container)
        tags = _metadata_tags(container.metadata, stream.metadata)
        duration = _stream_seconds(stream) or (container.duration or 0) / av.time_base
        ctx = stream.codec_context
        return AudioInfo(
            path=path,
            duration=float(duration),
            sample_rate=int(ctx.sample_rate or stream.rate or 0),
            channels=int(ctx.channels or 0),
            codec=ctx.name,
            title=tags.get("title"),
            artist=tags.get("artist"),
            album=tags.get("album"),
        )


def _stream_seconds(stream: av.stream.Stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def probe_audio(path: Path | str) -> AudioInfo:
    """Read a music file's header: duration, rate, channels, codec and title/artist/album tags (no decoding)."""
    path = Path(path)
    with _open_media(path) as handle:
        return _soundfile_info(path, handle) or _pyav_info(path, handle)


def _soundfile_source(path: Path, handle: BinaryIO, start: float) -> _NativeAudio | None:
    """Mono blocks from libsndfile, or None when it does not read this format (PyAV is tried next)."""
    try:
        snd = sf.SoundFile(handle.fileno(), closefd=False)
    except (sf.LibsndfileError, RuntimeError):
        handle.seek(0)
        return None
    if start > 0 and snd.seekable():
        snd.seek(min(snd.frames, int(round(start * snd.samplerate))))

    def blocks() -> Iterator[np.ndarray]:
        with snd:
            while True:
                try:
                    data = snd.read(_NATIVE_BLOCK_FRAMES, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise DecodeError(path, f"the file is damaged or truncated ({_ffmpeg_reason(exc)})") from None
                if not len(data):
                    return
                yield _downmix(data, channel_axis=1)

    declared = snd.frames - (int(round(start * snd.samplerate)) if start > 0 else 0)
    if snd.format == "MP3" and not _mp3_length_is_exact(handle):
        declared = None  # estimated from the first frame's bitrate: no basis for calling the file truncated
    return _NativeAudio(blocks(), int(snd.samplerate), declared)


def _mp3_length_is_exact(handle: BinaryIO) -> bool:
    """Whether an mp3 states its length (Xing/Info/VBRI header in its first frame).

    Without one, decoders estimate the length from the first frame's bitrate, which for a VBR file can be
    off by a factor of several. Reads with ``pread``: the decoder's file position is left alone.
    """
    fd = handle.fileno()
    head = os.pread(fd, 10, 0)
    offset = 0
    if head[:3] == b"ID3" and len(head) == 10:  # skip an ID3v2 tag (syncsafe size, optional footer)
        offset = 10 + ((head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]) + (10 if head[5] & 0x10 else 0)
    first_frame = os.pread(fd, 2048, offset)
    return any(marker in first_frame for marker in (b"Xing", b"Info", b"VBRI"))


def _pyav_source(path: Path, handle: BinaryIO, start: float) -> _NativeAudio:
    """Mono blocks from FFmpeg (anything libsndfile cannot read: m4a/aac/alac, wma, ...)."""
    container = _pyav_open(path, handle)
    try:
        stream = _pyav_audio_stream(path, container)
    except DecodeError:
        container.close()
        raise
    rate = int(stream.codec_context.sample_rate or stream.rate)
    seconds = _stream_seconds(stream) or (container.duration or 0) / av.time_base
    exact = container.format.name in _EXACT_LENGTH_CONTAINERS
    declared = int(max(0.0, seconds - start) * rate) if seconds and exact else None
    if start > 0:
        container.seek(int(start / stream.time_base), stream=stream, backward=True)
    # Normalise every sample format to float planar at the source rate and layout; mono is our mean.
    to_float = av.AudioResampler(format="fltp", rate=rate)

    def planar(frame: av.AudioFrame) -> Iterator[av.AudioFrame]:
        if frame.format.name == "fltp":  # AAC, Vorbis, Opus... decode to it already: skip a conversion
            yield frame
        else:
            yield from to_float.resample(frame)

    def mono_frames() -> Iterator[np.ndarray]:
        drop: int | None = None if start <= 0 else -1  # samples before ``start`` left after the seek
        for frame in container.decode(stream):
            for out in planar(frame):
                data = _downmix(out.to_ndarray(), channel_axis=0)
                if drop == -1:
                    drop = max(0, int(round((start - (out.time or 0.0)) * rate)))
                if drop:
                    data, drop = data[drop:], max(0, drop - data.size)
                yield data
        for out in to_float.resample(None):
            yield _downmix(out.to_ndarray(), channel_axis=0)

    def blocks() -> Iterator[np.ndarray]:
        with container:
            try:
                # Codec frames are ~1024 samples: group them so the resampler works on big blocks.
                yield from _grouped(mono_frames(), _NATIVE_BLOCK_FRAMES)
            except av.FFmpegError as exc:
                raise DecodeError(path, f"the file is damaged or truncated ({_ffmpeg_reason(exc)})") from None

    return _NativeAudio(blocks(), rate, declared)


def _grouped(arrays: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Concatenate consecutive small arrays into blocks of at least ``size`` samples (the last may be smaller)."""
    parts: list[np.ndarray] = []
    count = 0
    for array in arrays:
        parts.append(array)
        count += array.size
        if count >= size:
            yield np.concatenate(parts)
            parts, count = [], 0
    if count:
        yield np.concatenate(parts)


def iter_audio(
    path: Path | str,
    *,
    sample_rate: int | None = AUDIO_SAMPLE_RATE,
    block_seconds: float = DEFAULT_BLOCK_SECONDS,
    start: float = 0.0,
) -> Iterator[np.ndarray]:
    """Decode a music file to mono float32 at ``sample_rate``, in blocks of ``block_seconds`` (the last shorter).

    ``sample_rate=None`` keeps the file's own rate (see :func:`probe_audio`). Streamed end to end: memory
    stays at a few blocks whatever the file's length. The blocks join without seams (one continuous
    resampler). Raises :class:`DecodeError` on open, mid-stream (corrupt data) or at the end when the file
    held clearly less audio than its header declared (truncated).
    """
    path = Path(path)
    with _open_media(path) as handle:
        source = _soundfile_source(path, handle, start) or _pyav_source(path, handle, start)
        rate = sample_rate or source.sample_rate
        resampler = MonoResampler(source.sample_rate, rate)
        chunks = _Rechunker(max(1, int(round(block_seconds * rate))))
        decoded = 0
        for native in source.blocks:
            decoded += native.size
            yield from chunks.push(resampler.push(native))
        yield from chunks.push(resampler.flush())
        yield from chunks.flush()
    _check_complete(path, decoded, source)


def _check_complete(path: Path, decoded: int, source: _NativeAudio) -> None:
    if decoded == 0:
        raise DecodeError(path, "contains no audio samples")
    if source.declared_frames is None:
        return
    missing = (source.declared_frames - decoded) / source.sample_rate
    if missing > TRUNCATION_TOLERANCE_SECONDS:
        have, want = decoded / source.sample_rate, source.declared_frames / source.sample_rate
        raise DecodeError(path, f"the file is truncated or damaged: only {have:.1f} s of {want:.1f} s could be decoded")


def load_audio(
    path: Path | str,
    *,
    sample_rate: int = AUDIO_SAMPLE_RATE,
    start: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode ``duration`` seconds from ``start`` (whole file when None) to mono float32; for short excerpts."""
    path = Path(path)
    wanted = None if duration is None else int(round(duration * sample_rate))
    parts: list[np.ndarray] = []
    count = 0
    blocks = iter_audio(path, sample_rate=sample_rate, start=start)
    try:
        for block in blocks:
            parts.append(block)
            count += block.size
            if wanted is not None and count >= wanted:
                break
    finally:
        blocks.close()
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return audio if wanted is None else audio[:wanted]


# --------------------------------------------------------------------------------------------------- video
def _video_stream(path: Path, container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise DecodeError(path, "contains no video stream (is it an audio-only file?)")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _display_rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees (0/90/180/270) to turn a decoded frame upright (FFmpeg stores counter-clockwise)."""
    return int(round(-(frame.rotation or 0) / 90.0)) % 4 * 90


def _first_frame(path: Path, container: av.container.InputContainer, stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise DecodeError(path, f"the video is corrupt ({_ffmpeg_reason(exc)})") from None
    raise DecodeError(path, "the video stream has no decodable frame")


def probe_video(path: Path | str) -> VideoInfo:
    """Duration, frame rate, displayed size (after rotation), rotation, frame count and whether audio exists."""
    path = Path(path)
    with _open_media(path) as handle, _pyav_open(path, handle) as container:
        stream = _video_stream(path, container)
        first = _first_frame(path, container, stream)
        rotation = _display_rotation(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        fps = float(stream.average_rate or stream.guessed_rate or stream.base_rate or 0.0)
        duration = _stream_seconds(stream) or (container.duration or 0) / av.time_base
        frames = int(stream.frames or round(duration * fps))
        return VideoInfo(
            path=path,
            duration=float(duration),
            fps=fps,
            width=int(width),
            height=int(height),
            rotation=rotation,
            frame_count=frames,
            has_audio=bool(container.streams.audio),
        )


def _scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """Coded size scaled so that its short side is ``short_side`` (aspect kept, even-rounded not required)."""
    if short_side is None:
        return width, height
    scale = short_side / min(width, height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def _to_rgb(frame: av.VideoFrame, short_side: int | None) -> np.ndarray:
    """One decoded frame as an upright (H, W, 3) uint8 RGB array, scaled by swscale in the same pass."""
    width, height = _scaled_size(frame.width, frame.height, short_side)
    rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BILINEAR")
    turns = _display_rotation(frame) // 90
    return np.ascontiguousarray(np.rot90(rgb, k=-turns)) if turns else rgb


def _keyframe_times(stream) -> np.ndarray | None:
    """Presentation times of the keyframes from the container index (mp4/mov/mkv cues), if it has one."""
    entries = [e.timestamp for e in stream.index_entries if e.is_keyframe] if stream.index_entries else []
    if not entries:
        return None
    return np.asarray(sorted(entries), dtype=np.float64) * float(stream.time_base)


class VideoReader:
    """An open video for repeated frame requests (one clip after another), decoding only what they need.

    Use as a context manager. :meth:`frames_at` is cheapest when successive calls ask for later times (the
    decoder runs on or seeks forward); earlier times are served too, by seeking back.
    """

    def __init__(self, path: Path | str, *, seek_gap: float = 1.0) -> None:
        self.path = Path(path)
        self.seek_gap = seek_gap
        self._stack = contextlib.ExitStack()
        self._container: av.container.InputContainer | None = None
        self.decoded_frames = 0  # frames decoded so far: what "decode only what the clips need" saves
        self.seeks = 0

    def __enter__(self) -> "VideoReader":
        handle = self._stack.enter_context(_open_media(self.path))
        self._container = self._stack.enter_context(_pyav_open(self.path, handle))
        self._stream = _video_stream(self.path, self._container)
        self._time_base = float(self._stream.time_base)
        self._first_time = float(self._stream.start_time or 0) * self._time_base
        self._keyframes = _keyframe_times(self._stream)
        self._frames: Iterator[av.VideoFrame] | None = None
        self._previous: av.VideoFrame | None = None  # the last frame decoded (shown until the next one)
        self._pending: av.VideoFrame | None = None  # decoded, but later than every time asked so far
        return self

    def __exit__(self, *exc_info) -> None:
        self._frames = self._previous = self._pending = None
        self._stack.close()

    def frames_at(self, times: Sequence[float], *, short_side: int | None = None) -> np.ndarray:
        """The frames shown at each of ``times`` (seconds) as (N, H, W, 3) uint8 RGB, upright.

        "Shown at t" is the last frame whose presentation time is <= t (a time before the first frame gives
        the first frame, one past the end the last), so variable frame rates are handled by timestamps, not
        by ``index / fps``. With ``short_side`` the frames are scaled (by swscale, while converting to RGB)
        so that their short side has that length.
        """
        if self._container is None:
            raise RuntimeError("VideoReader must be used as a context manager")
        wanted = np.asarray(times, dtype=np.float64).reshape(-1)
        if wanted.size == 0:
            raise ValueError("frames_at needs at least one time")
        order = np.argsort(wanted, kind="stable")
        out: list[np.ndarray | None] = [None] * wanted.size
        cache: dict[int, np.ndarray] = {}  # id(frame) -> converted, for times sharing a frame
        try:
            for k in order:
                frame = self._frame_shown_at(wanted[k])
                if id(frame) not in cache:
                    cache = {id(frame): _to_rgb(frame, short_side)}
                out[k] = cache[id(frame)]
        except av.FFmpegError as exc:
            self._frames = self._previous = self._pending = None  # the next request starts afresh, by seeking
            raise DecodeError(self.path, f"the video is corrupt ({_ffmpeg_reason(exc)})") from None
        return np.stack(out)  # type: ignore[arg-type]

    def _frame_shown_at(self, target: float) -> av.VideoFrame:
        """Advance (seeking when worth it) to the last frame with time <= target."""
        if self._needs_seek(target):
            self._seek(target)
        while True:
            frame = self._pending or self._next_frame()
            self._pending = None
            if frame is None:  # end of stream: the last frame stays on screen
                if self._previous is None:
                    raise DecodeError(self.path, "the video stream has no decodable frame")
                return self._previous
            if frame.time is not None and frame.time > target + TIME_EPSILON and self._previous is not None:
                self._pending = frame
                return self._previous
            self._previous = frame
            if frame.time is not None and frame.time >= target - TIME_EPSILON:
                return frame

    def _next_frame(self) -> av.VideoFrame | None:
        if self._frames is None:
            self._frames = self._container.decode(self._stream)  # type: ignore[union-attr]
        frame = next(self._frames, None)
        self.decoded_frames += frame is not None
        return frame

    def _position(self) -> float:
        """Time of the newest decoded frame (-inf before the first decode)."""
        newest = self._pending or self._previous
        return newest.time if newest is not None and newest.time is not None else -math.inf

    def _needs_seek(self, target: float) -> bool:
        position = self._position()
        if self._frames is None:
            return target - self._first_time > self.seek_gap
        if target < (self._previous.time if self._previous is not None and self._previous.time is not None else -math.inf):
            return True  # asked for an earlier time than already passed
        if target - position <= self.seek_gap:
            return False
        if self._keyframes is None:
            return True
        i = int(np.searchsorted(self._keyframes, target, side="right")) - 1
        return i >= 0 and self._keyframes[i] - position > self.seek_gap

    def _seek(self, target: float) -> None:
        offset = int(max(target, self._first_time) / self._time_base)
        self._container.seek(offset, stream=self._stream, backward=True)  # type: ignore[union-attr]
        self._frames = self._container.decode(self._stream)  # type: ignore[union-attr]
        self._previous = self._pending = None
        self.seeks += 1


def _small_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    if width <= target_width:
        return width, height
    return target_width, max(2, int(round(height * target_width / width)))


def decode_video_frames(path: Path | str, cancel: CancelToken | None = None) -> Iterator[tuple[float, av.VideoFrame]]:
    """Every frame of ``path`` in decode order as (time s, the decoded frame), unconverted: the shot detector's
    pass, which decodes in a helper thread and scales each frame with :func:`small_bgr` in its own (no rotation
    applied: cuts do not depend on it)."""
    path = Path(path)
    with _open_media(path) as handle, _pyav_open(path, handle) as container:
        stream = _video_stream(path, container)
        try:
            for frame in container.decode(stream):
                check(cancel)
                yield float(frame.time or 0.0), frame
        except av.FFmpegError as exc:
            raise DecodeError(path, f"the video is corrupt ({_ffmpeg_reason(exc)})") from None


def _plane(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A frame's plane as a (height, width) uint8 view (rows padded to ``line_size`` in the buffer)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def small_bgr(frame: av.VideoFrame, width: int) -> np.ndarray:
    """``frame`` as a BGR array at most ``width`` wide, area-averaged: a cheap picture for shot detection.

    8-bit 4:2:0 (yuv420p, what nearly every camera and editor delivers) is scaled plane by plane with OpenCV's
    INTER_AREA and converted at the small size (BT.601, as swscale's default): 2.3x cheaper than swscale's
    combined scale + convert (``benchmarks/bench_scenes.py``; the same cuts found); other formats go through
    swscale. The picture is for comparing neighbouring frames, so the height is rounded to even on that path.
    """
    target_w, target_h = _small_size(frame.width, frame.height, width)
    if frame.format.name != "yuv420p" or target_w == frame.width:
        return frame.to_ndarray(format="bgr24", width=target_w, height=target_h, interpolation="AREA")
    import cv2  # OpenCV comes with scenedetect-headless, the shot detector's own dependency

    target_w, target_h = target_w - target_w % 2, target_h - target_h % 2
    luma, blue, red = (_plane(p) for p in frame.planes)
    i420 = np.empty((target_h * 3 // 2, target_w), np.uint8)  # Y, then U and V, each a quarter of Y's size
    quarter = target_h * target_w // 4
    chroma = i420[target_h:].reshape(-1)
    i420[:target_h] = cv2.resize(luma, (target_w, target_h), interpolation=cv2.INTER_AREA)
    chroma[:quarter] = cv2.resize(blue, (target_w // 2, target_h // 2), interpolation=cv2.INTER_AREA).reshape(-1)
    chroma[quarter:] = cv2.resize(red, (target_w // 2, target_h // 2), interpolation=cv2.INTER_AREA).reshape(-1)
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


def read_frames(
    path: Path | str,
    times: Sequence[float],
    *,
    short_side: int | None = None,
) -> np.ndarray:
    """The frames shown at ``times`` (see :meth:`VideoReader.frames_at`) of one video, in one call."""
    with VideoReader(path) as reader:
        return reader.frames_at(times, short_side=short_side)
