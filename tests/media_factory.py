"""Generate real media files for tests: music in every supported format, videos of every awkward kind, bad inputs.

Every writer takes a target path (put it under pytest's ``tmp_path``) and returns it; files are encoded by the
real encoders (libsndfile, FFmpeg through PyAV), so decoders see what users' files look like.

Audio
    :func:`music_signal` is a deterministic, music-like stereo signal (harmonic notes with envelopes, noise
    hits, a slow sweep), so spectra are non-trivial across the whole 125-7500 Hz mel range.
    :func:`write_audio` writes it in one of :data:`AUDIO_FORMATS` (``wav flac ogg opus mp3 m4a alac``) with
    optional title/artist/album tags; :func:`write_audio_set` writes one file per format.

Video
    :func:`write_video` encodes frames whose content tells the decoder-under-test what it got: the frame's
    index as a 12-bit binary code in the top band (:func:`frame_index_of` reads it back from an upright
    RGB frame) and a white marker block in the top-left corner. ``rotation`` stores the picture the way a
    phone does (pixels turned, display matrix telling players to turn them back), so an upright decode shows
    the marker top-left again. ``frame_times`` gives exact presentation times (variable frame rate).

Bad inputs
    :func:`write_bad_inputs` writes the issue's bad-input set into a folder (see its docstring for the names
    and what each decoder must do with them).
"""

from __future__ import annotations

import dataclasses
import fractions
import os
from pathlib import Path
from typing import Callable, Sequence

import av
import numpy as np
import soundfile as sf

__all__ = [
    "AUDIO_FORMATS",
    "AudioFormat",
    "music_signal",
    "write_audio",
    "write_audio_set",
    "write_video",
    "vfr_times",
    "frame_index_of",
    "write_audio_only_mp4",
    "write_bad_inputs",
    "damage",
    "BAD_INPUT_ERRORS",
    "NON_UTF8_NAME",
]

DEFAULT_TAGS = {"title": "Test Tone", "artist": "EmoMV Tests", "album": "Generated"}


# --------------------------------------------------------------------------------------------------- audio
def music_signal(seconds: float, sample_rate: int = 44_100, channels: int = 2, *, seed: int = 0) -> np.ndarray:
    """A (frames, channels) float32 music-like signal in [-0.8, 0.8]; channels differ slightly (stereo image)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    mono = np.zeros_like(t)
    roots = rng.choice([110.0, 146.8, 196.0, 220.0, 293.7, 392.0, 440.0, 587.3], size=6, replace=False)
    for k, f0 in enumerate(roots):
        envelope = np.clip(np.sin(2 * np.pi * (0.4 + 0.15 * k) * t + k), 0, None) ** 2
        for harmonic in range(1, 10):
            if f0 * harmonic < sample_rate / 2:
                mono += envelope * np.sin(2 * np.pi * f0 * harmonic * t + rng.uniform(0, 2 * np.pi)) / (harmonic * 6)
    hits = ((t * 2.0) % 1.0) < 0.04  # a noise "drum" every half second
    mono += 0.4 * rng.standard_normal(t.size) * hits
    sweep_hz = 200.0 + 7000.0 * ((t / max(seconds, 1e-9)) % 1.0)
    mono += 0.05 * np.sin(2 * np.pi * np.cumsum(sweep_hz) / sample_rate)
    out = np.stack([mono * (1.0 - 0.1 * c) + 0.01 * rng.standard_normal(t.size) for c in range(channels)], axis=1)
    peak = np.abs(out).max() or 1.0
    return (out / peak * 0.8).astype(np.float32)


def _write_soundfile(format_: str, subtype: str) -> Callable[[Path, np.ndarray, int, dict | None], None]:
    def write(path: Path, data: np.ndarray, sample_rate: int, tags: dict | None) -> None:
        # A Python file object: soundfile would encode a str path as UTF-8 and fail on non-UTF-8 names.
        with open(path, "wb") as handle, sf.SoundFile(
            handle, "w", samplerate=sample_rate, channels=data.shape[1], format=format_, subtype=subtype
        ) as f:
            for key, value in (tags or {}).items():
                setattr(f, key, value)
            f.write(data)

    return write


def _write_pyav(codec: str, sample_format: str) -> Callable[[Path, np.ndarray, int, dict | None], None]:
    """Encode with FFmpeg into an mp4 (m4a) container; tags become iTunes atoms."""

    def write(path: Path, data: np.ndarray, sample_rate: int, tags: dict | None) -> None:
        layout = {1: "mono", 2: "stereo"}[data.shape[1]]
        with av.open(str(path), "w", format="ipod") as container:
            container.metadata.update(tags or {})
            stream = container.add_stream(codec, rate=sample_rate, layout=layout)
            stream.format = sample_format
            _encode_audio(container, stream, data, sample_rate, layout)

    return write


def _encode_audio(container, stream, data: np.ndarray, sample_rate: int, layout: str) -> None:
    """Feed ``data`` (frames, channels) float32 to ``stream`` in 1024-sample frames, converting the format."""
    resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=sample_rate)
    pts = 0
    for start in range(0, len(data), 1024):
        block = np.ascontiguousarray(data[start : start + 1024].T)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, pts, fractions.Fraction(1, sample_rate)
        pts += block.shape[1]
        for converted in resampler.resample(frame):
            container.mux(stream.encode(converted))
    for converted in resampler.resample(None):
        container.mux(stream.encode(converted))
    container.mux(stream.encode(None))


@dataclasses.dataclass(frozen=True)
class AudioFormat:
    """One way to store music: file suffix, encoder, and the sample rates it accepts."""

    suffix: str
    write: Callable[[Path, np.ndarray, int, dict | None], None]
    rates: tuple[int, ...] = ()  # empty: any rate

    def rate_for(self, wanted: int) -> int:
        return wanted if not self.rates or wanted in self.rates else self.rates[-1]


AUDIO_FORMATS: dict[str, AudioFormat] = {
    "wav": AudioFormat(".wav", _write_soundfile("WAV", "PCM_16")),
    "flac": AudioFormat(".flac", _write_soundfile("FLAC", "PCM_16")),
    "ogg": AudioFormat(".ogg", _write_soundfile("OGG", "VORBIS")),
    "opus": AudioFormat(".opus", _write_soundfile("OGG", "OPUS"), rates=(8000, 12000, 16000, 24000, 48000)),
    "mp3": AudioFormat(".mp3", _write_soundfile("MP3", "MPEG_LAYER_III")),
    "m4a": AudioFormat(".m4a", _write_pyav("aac", "fltp")),
    "alac": AudioFormat(".m4a", _write_pyav("alac", "s16p")),
}
"""Format name -> how to write it. ``m4a`` is AAC in MP4, ``alac`` Apple Lossless in MP4 (both ``.m4a``)."""


def write_audio(
    path: Path | str,
    fmt: str | None = None,
    *,
    seconds: float = 3.0,
    sample_rate: int = 44_100,
    channels: int = 2,
    seed: int = 0,
    tags: dict[str, str] | None = None,
    data: np.ndarray | None = None,
) -> Path:
    """Write music to ``path`` in ``fmt`` (default: from the suffix); returns the path.

    ``data`` (frames, channels) float32 replaces the generated :func:`music_signal`. Opus only takes
    8/12/16/24/48 kHz: other rates are written at 48 kHz.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    spec = AUDIO_FORMATS[fmt]
    rate = spec.rate_for(sample_rate)
    signal = data if data is not None else music_signal(seconds, rate, channels, seed=seed)
    spec.write(path, np.asarray(signal, dtype=np.float32).reshape(len(signal), -1), rate, tags)
    return path


def write_audio_set(folder: Path | str, *, seconds: float = 3.0, tags: dict[str, str] | None = DEFAULT_TAGS) -> dict[str, Path]:
    """One file per :data:`AUDIO_FORMATS` entry in ``folder`` (``music-<fmt><suffix>``), same signal, same tags."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        fmt: write_audio(folder / f"music-{fmt}{spec.suffix}", fmt, seconds=seconds, tags=tags)
        for fmt, spec in AUDIO_FORMATS.items()
    }


# --------------------------------------------------------------------------------------------------- video
CODE_BITS = 12
MARKER = 0.25  # the marker block is the top-left quarter (height and width) of the upright picture


def _frame_picture(index: int, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Upright RGB picture of frame ``index``: binary index code in the top band, marker top-left, moving bar."""
    img = np.full((height, width, 3), 40, np.uint8)
    img[height // 3 :, :, 1] = rng.integers(60, 120, dtype=np.uint8)  # a little texture for the encoder
    bar = (index * 7) % max(1, width - width // 10)
    img[height // 2 :, bar : bar + width // 10] = (200, 80, 30)
    band = height // 8
    for bit in range(CODE_BITS):
        if (index >> bit) & 1:
            img[band : 2 * band, bit * width // CODE_BITS : (bit + 1) * width // CODE_BITS] = 255
    img[: band, : int(width * MARKER)] = 255  # marker: above the code band, left quarter
    return img


def frame_index_of(rgb: np.ndarray) -> int:
    """Read back the frame index :func:`write_video` drew into an upright (H, W, 3) RGB frame (any scale)."""
    height, width = rgb.shape[:2]
    band = height / 8
    cell = width / CODE_BITS
    row = rgb[int(band * 1.25) : int(band * 1.75)].mean(axis=(0, 2))
    bits = [row[int(cell * (b + 0.25)) : int(cell * (b + 0.75))].mean() > 150 for b in range(CODE_BITS)]
    return sum(1 << b for b, on in enumerate(bits) if on)


def vfr_times(seconds: float) -> list[float]:
    """Presentation times of a variable-frame-rate clip: alternating 1 s stretches at 30 fps and at 8 fps."""
    times, t = [], 0.0
    while t < seconds - 1e-9:
        times.append(round(t, 6))
        t += 1 / 30 if int(t) % 2 == 0 else 1 / 8
    return times


def write_video(
    path: Path | str,
    *,
    seconds: float = 3.0,
    fps: float = 30.0,
    width: int = 320,
    height: int = 240,
    rotation: int = 0,
    frame_times: Sequence[float] | None = None,
    codec: str = "libx264",
    gop: int | None = None,
    with_audio: bool = False,
    audio: np.ndarray | None = None,
    seed: int = 0,
) -> Path:
    """Encode a test video; returns the path.

    ``width``/``height`` are the *displayed* size. ``rotation`` (0/90/180/270, clockwise, as phones tag it)
    stores the pixels turned the other way plus a display matrix, like a phone's portrait clip. Odd sizes are
    are encoded 4:4:4 (4:2:0 needs even sizes).
    ``frame_times`` (seconds) sets each frame's presentation time exactly (variable frame rate); otherwise
    frames are ``1/fps`` apart. ``gop`` is the keyframe interval in frames (encoder default when None).
    ``with_audio`` adds an AAC track (the engine must ignore it): :func:`music_signal`, or ``audio`` ((frames,
    2) float32 at 44.1 kHz) when given.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    times = list(frame_times) if frame_times is not None else [i / fps for i in range(int(round(seconds * fps)))]
    turns = (rotation // 90) % 4
    coded_w, coded_h = (height, width) if turns % 2 else (width, height)
    time_base = fractions.Fraction(1, 15_360)  # exact for 24/30/60 fps and 8 fps steps; mpeg4 needs < 65536
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fractions.Fraction(fps).limit_denominator(1001))
        # 4:2:0 needs even sizes; odd sizes are stored 4:4:4 (a real, if rarer, H.264 profile).
        odd = coded_w % 2 or coded_h % 2
        stream.width, stream.height, stream.pix_fmt = coded_w, coded_h, "yuv444p" if odd else "yuv420p"
        stream.codec_context.time_base = time_base
        if gop:
            stream.codec_context.gop_size = gop
            stream.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0"} if codec == "libx264" else {}
        if turns:
            stream.set_display_rotation(-90 * turns)  # FFmpeg's matrix angle is counter-clockwise
        audio_stream = container.add_stream("aac", rate=44_100, layout="stereo") if with_audio else None
        for index, t in enumerate(times):
            picture = np.rot90(_frame_picture(index, width, height, rng), k=turns)  # stored turned back
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts, frame.time_base = int(round(t / time_base)), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            signal = music_signal(seconds, 44_100, 2, seed=seed) if audio is None else audio
            _encode_audio(container, audio_stream, np.asarray(signal, np.float32), 44_100, "stereo")
    return path


def write_audio_only_mp4(path: Path | str, *, seconds: float = 2.0) -> Path:
    """An ``.mp4`` holding only an AAC track: a "video" file without a video stream."""
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44_100, layout="stereo")
        _encode_audio(container, stream, music_signal(seconds, 44_100, 2), 44_100, "stereo")
    return path


# --------------------------------------------------------------------------------------------------- bad inputs
NON_UTF8_NAME = b"caf\xe9 \xff music.wav"
"""A Latin-1 file name that is not valid UTF-8 (Linux allows any bytes but '/' and NUL)."""

BAD_INPUT_ERRORS: dict[str, str | None] = {
    "zero_byte": "empty",
    "truncated_flac": "truncated",
    "truncated_mp3": "truncated",
    "truncated_m4a": "not a media file",
    "text_as_mp3": "not a media file",
    "no_video_mp4": "no video stream",
    "unreadable_dir": "permission denied",
    "multichannel_96k": None,
    "non_utf8_name": None,
}
"""Bad-input name -> a fragment of the :class:`DecodeError` reason decoding it must give, or None when the
file is awkward but valid and must decode (8-channel 96 kHz wav, a non-UTF-8 name). ``no_video_mp4`` decodes
as audio (it is a valid AAC track) but fails as a video. ``unreadable_dir`` is a file inside a folder without
permissions: the message appears only when the process lacks root's permission override."""


def damage(path: Path | str, start: float = 0.4, end: float = 0.6, *, seed: int = 0) -> Path:
    """Overwrite the bytes between fractions ``start`` and ``end`` of the file's size with random bytes.

    For an mp4 written by :func:`write_video` the middle of the file is the ``mdat`` payload (the index, ``moov``,
    is at the end), so the packets there fail to decode while the container still opens: a file damaged in
    transfer or on disk.
    """
    path = Path(path)
    size = path.stat().st_size
    lo, hi = int(size * start), int(size * end)
    with open(path, "r+b") as handle:
        handle.seek(lo)
        handle.write(np.random.default_rng(seed).integers(0, 256, hi - lo, dtype=np.uint8).tobytes())
    return path


def _truncate(path: Path, keep: float = 0.5) -> Path:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(int(size * keep))
    return path


def write_bad_inputs(folder: Path | str, *, seconds: float = 4.0) -> dict[str, Path]:
    """Write the bad-input set into ``folder``; returns name -> path (names as in :data:`BAD_INPUT_ERRORS`).

    ``unreadable_dir`` is a folder with mode 000 holding a valid wav (returned path: the wav); restore the
    folder's permissions (``chmod 0o755``) before the temporary folder is deleted, or let pytest do it.
    ``non_utf8_name`` is a valid wav whose name is :data:`NON_UTF8_NAME` (the path decodes with
    surrogate escapes, as Python does for such names).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    out["zero_byte"] = folder / "zero.mp3"
    out["zero_byte"].write_bytes(b"")
    out["truncated_flac"] = _truncate(write_audio(folder / "truncated.flac", seconds=seconds * 2))
    out["truncated_mp3"] = _truncate(write_audio(folder / "truncated.mp3", seconds=seconds * 2))
    out["truncated_m4a"] = _truncate(write_audio(folder / "truncated.m4a", seconds=seconds * 2))
    out["text_as_mp3"] = folder / "notes.mp3"
    out["text_as_mp3"].write_text("These are my notes, not music.\n" * 50, encoding="utf-8")
    out["no_video_mp4"] = write_audio_only_mp4(folder / "no-video.mp4", seconds=seconds)
    out["multichannel_96k"] = write_audio(folder / "surround-96k.wav", seconds=seconds, sample_rate=96_000, channels=8)
    name = os.fsdecode(NON_UTF8_NAME)
    out["non_utf8_name"] = write_audio(folder / name, "wav", seconds=seconds)
    locked = folder / "locked"
    locked.mkdir(exist_ok=True)
    out["unreadable_dir"] = write_audio(locked / "inside.wav", seconds=seconds)
    locked.chmod(0)
    return out


# --------------------------------------------------------------------------------------------------- cuts and beats
SHOT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (200, 40, 40), (40, 170, 60), (40, 60, 200), (220, 200, 40), (150, 40, 170), (30, 190, 190), (240, 240, 240),
)
"""RGB backgrounds of :func:`write_cut_video`'s shots: far apart in hue and brightness (hard cuts)."""


def write_cut_video(
    path: Path | str,
    shot_seconds: Sequence[float],
    *,
    fps: float | fractions.Fraction = 30,
    width: int = 320,
    height: int = 180,
    looks: Sequence[int] | None = None,
) -> tuple[Path, list[float]]:
    """A video of hard cuts: shot ``k`` lasts ``shot_seconds[k]`` (rounded to whole frames) on a solid
    background (:data:`SHOT_COLOURS`, or ``looks[k]`` indexes them, so two shots can look alike) with a small
    square moving across it (motion within a shot, no change at a cut's scale).

    Returns the path and the true cut times (the first frame time of every shot after the first). Frames are
    exactly ``1/fps`` apart (``fps`` may be rational, e.g. ``Fraction(30000, 1001)``).
    """
    path = Path(path)
    rate = fractions.Fraction(fps).limit_denominator(1001)
    counts = [int(round(s * rate)) for s in shot_seconds]
    looks = list(looks) if looks is not None else list(range(len(counts)))
    cuts = [float(sum(counts[: k + 1]) / rate) for k in range(len(counts) - 1)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = 1 / rate
        index = 0
        for count, look in zip(counts, looks):
            colour = np.array(SHOT_COLOURS[look % len(SHOT_COLOURS)], np.uint8)
            for i in range(count):
                img = np.empty((height, width, 3), np.uint8)
                img[:] = colour
                side = height // 6
                x = (i * 3) % (width - side)
                img[height // 2 - side // 2 : height // 2 + side // 2, x : x + side] = 255 - colour
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = index, 1 / rate
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode(None))
    return path, cuts


def click_track(
    bpm: float, seconds: float, sample_rate: int = 16_000, *, accent_every: int = 0, offset: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A mono float32 click track: a 20 ms decaying 1 kHz burst on every beat from ``offset`` s, with faint noise.

    ``accent_every`` > 0 makes every that-many-th beat (from the first) twice as loud with a low thump (a bar's
    downbeat). Returns the signal and the true beat times.
    """
    rng = np.random.default_rng(seed)
    signal = 0.003 * rng.standard_normal(int(round(seconds * sample_rate)))
    beats = np.arange(offset, seconds - 0.05, 60.0 / bpm)
    t = np.arange(int(0.02 * sample_rate)) / sample_rate
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.005)
    thump = np.sin(2 * np.pi * 80 * t) * np.exp(-t / 0.01)
    for k, beat in enumerate(beats):
        i = int(round(beat * sample_rate))
        accent = accent_every > 0 and k % accent_every == 0
        burst = (1.0 * click + thump) if accent else 0.5 * click
        signal[i : i + burst.size] += burst[: signal.size - i]
    return (signal / np.abs(signal).max() * 0.8).astype(np.float32), beats


def beat_pattern(bpm: float, seconds: float, sample_rate: int = 16_000, *, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A drum-like pattern in 4/4: kick on beats 1 and 3, snare (noise) on 2 and 4, a held chord underneath;
    returns the signal and the true beat times (downbeats are every 4th from the first)."""
    rng = np.random.default_rng(1)
    n = int(round(seconds * sample_rate))
    time = np.arange(n) / sample_rate
    signal = 0.05 * (np.sin(2 * np.pi * 220 * time) + np.sin(2 * np.pi * 277.2 * time) + np.sin(2 * np.pi * 329.6 * time))
    beats = np.arange(offset, seconds - 0.1, 60.0 / bpm)
    t = np.arange(int(0.12 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t / 0.02)) * t) * np.exp(-t / 0.05)
    snare = rng.standard_normal(t.size) * np.exp(-t / 0.03) * 0.6
    for k, beat in enumerate(beats):
        i = int(round(beat * sample_rate))
        hit = kick * (1.5 if k % 4 == 0 else 1.0) if k % 2 == 0 else snare
        signal[i : i + hit.size] += hit[: n - i]
    return (signal / np.abs(signal).max() * 0.8).astype(np.float32), beats
