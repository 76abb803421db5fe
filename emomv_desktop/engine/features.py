"""The small records that flow between decoding, the backbones, the library and the ranking.

Plain dataclasses over numpy arrays: no torch, no I/O, so the library (SQLite) and the GUI can import them
without pulling in the networks. :mod:`engine.media` fills :class:`AudioInfo`/:class:`VideoInfo`;
:mod:`engine.backbones` fills :class:`TrackFeatures`/:class:`VideoFeatures`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .protocol import MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS, VIDEO_FEATURE_DIM


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a music file says about itself (from its container header, before decoding).

    ``duration`` is the container's figure in seconds (estimated by FFmpeg for some mp3s; the decoded length
    is in :attr:`TrackFeatures.duration`). Tags are ``None`` when the file has none.
    """

    path: Path
    duration: float
    sample_rate: int
    channels: int
    codec: str
    title: str | None = None
    artist: str | None = None
    album: str | None = None


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself.

    ``width``/``height`` are as displayed, i.e. after applying ``rotation`` (degrees clockwise, one of 0, 90,
    180, 270): a phone clip stored 1920x1080 with rotation 90 has width 1080, height 1920. ``fps`` is the
    average frame rate (variable-frame-rate files are decoded by timestamps, never by ``index / fps``).
    ``frame_count`` is the container's count, or ``round(duration * fps)`` when the container has none.
    ``has_audio`` is informational only: the engine treats every video as muted.
    """

    path: Path
    duration: float
    fps: float
    width: int
    height: int
    rotation: int
    frame_count: int
    has_audio: bool


@dataclasses.dataclass(frozen=True)
class TrackFeatures:
    """VGGish features of one music track: one 128-d row per 0.96 s frame (no PCA), in time order.

    Row ``i`` covers ``[i * 0.96, (i + 1) * 0.96)`` seconds. ``duration`` is the decoded length in seconds
    (samples / 16 kHz); a track shorter than one frame has zero rows. ``precision`` says how the network
    computed them ("fp32", "bf16", "fp16"; None when unknown, e.g. features brought from elsewhere).
    """

    frame_features: np.ndarray
    duration: float
    info: AudioInfo
    precision: str | None = None

    def __post_init__(self) -> None:
        feats = self.frame_features
        if feats.ndim != 2 or feats.shape[1] != MUSIC_FEATURE_DIM or feats.dtype != np.float32:
            raise ValueError(f"frame_features must be (n, {MUSIC_FEATURE_DIM}) float32, got {feats.shape} {feats.dtype}")

    @property
    def frame_seconds(self) -> float:
        """Length of one feature row in seconds (0.96)."""
        return VGGISH_FRAME_SECONDS


@dataclasses.dataclass(frozen=True)
class VideoFeatures:
    """SlowFast features of one video, per analysis window and pooled over the whole video.

    * ``starts``/``ends`` (W,) float64: each window's span in seconds;
    * ``window_features`` (W, 2304) float32: the mean of the clip features sampled in that window;
    * ``features`` (2304,) float32: the mean over every clip of the video (the whole-video descriptor);
    * ``clips`` (C, 3) float64: one row per sampled clip, ``(window index, start s, end s)``, so callers can
      show or re-use what was looked at;
    * ``skipped_clips``/``skipped_seconds``: the sampled clips (and their length in seconds) that could not be
      decoded (a damaged stretch of the file) and were left out; windows without any clip are left out too.
      Front-ends say so when it is not 0.
    """

    starts: np.ndarray
    ends: np.ndarray
    window_features: np.ndarray
    features: np.ndarray
    info: VideoInfo
    clips: np.ndarray
    skipped_clips: int = 0
    skipped_seconds: float = 0.0

    def __post_init__(self) -> None:
        windows = self.window_features
        if windows.ndim != 2 or windows.shape[1] != VIDEO_FEATURE_DIM:
            raise ValueError(f"window_features must be (W, {VIDEO_FEATURE_DIM}), got {windows.shape}")
        if not (len(self.starts) == len(self.ends) == len(windows)):
            raise ValueError("starts, ends and window_features must have one entry per window")
        if self.features.shape != (VIDEO_FEATURE_DIM,):
            raise ValueError(f"features must be ({VIDEO_FEATURE_DIM},), got {self.features.shape}")
