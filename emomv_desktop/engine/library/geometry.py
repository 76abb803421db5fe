"""Window geometry: how per-frame VGGish features are pooled into the library's 30 s windows.

Windows are the paper's 30 s segments: 31 VGGish frames (29.76 s), hop 5 frames (4.8 s); a track shorter
than a window gets one window covering all of it; the last window is aligned to the track's end so the tail
is never lost (measured choice, see docs/engine-library.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..protocol import VGGISH_FRAME_SECONDS

WINDOW_SECONDS = 30.0
"""Nominal window length (the paper's segment); the exact length is a whole number of VGGish frames."""

HOP_SECONDS = 5.0
"""Nominal hop between window starts (the best-section resolution)."""


@dataclasses.dataclass(frozen=True)
class WindowGeometry:
    """How per-frame VGGish features are pooled into windows, in whole frames (what is pooled is reported)."""

    window_frames: int
    hop_frames: int
    frame_seconds: float = VGGISH_FRAME_SECONDS

    @classmethod
    def from_seconds(cls, window: float, hop: float, frame_seconds: float = VGGISH_FRAME_SECONDS) -> "WindowGeometry":
        """Nominal seconds -> frames: the window never exceeds ``window`` (30 s -> 31 frames = 29.76 s)."""
        return cls(max(1, int(window / frame_seconds + 1e-9)), max(1, round(hop / frame_seconds)), frame_seconds)

    @property
    def key(self) -> str:
        """Identifies the geometry in the database: features made with another geometry are re-indexed."""
        return f"vggish-frames:{self.window_frames}/{self.hop_frames}@{self.frame_seconds:g}s"

    def first_frames(self, n_frames: int) -> np.ndarray:
        """First frame of each window of a track with ``n_frames`` frames (the last one aligned to the end)."""
        if n_frames <= self.window_frames:
            return np.zeros(1, dtype=np.int64)
        last = n_frames - self.window_frames
        firsts = np.arange(0, last + 1, self.hop_frames, dtype=np.int64)
        return firsts if firsts[-1] == last else np.append(firsts, last)

    def pool(self, frame_features: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(n, 128)`` frame features -> window ``starts``, ``ends`` (s, float32) and means ``(K, 128)`` float32.

        Means are taken from a float64 cumulative sum (exact enough, one pass, no per-window loop). A track
        shorter than one window gets one window ``[0, duration]`` over all its frames.
        """
        n = len(frame_features)
        if n == 0:
            raise ValueError("no frames to pool")
        firsts = self.first_frames(n)
        stops = np.minimum(firsts + self.window_frames, n)
        cumsum = np.zeros((n + 1, frame_features.shape[1]), dtype=np.float64)
        np.cumsum(frame_features, axis=0, dtype=np.float64, out=cumsum[1:])
        means = (cumsum[stops] - cumsum[firsts]) / (stops - firsts)[:, None]
        starts = firsts * self.frame_seconds
        ends = stops * self.frame_seconds
        if n <= self.window_frames:
            ends = np.array([duration])
        return starts.astype(np.float32), ends.astype(np.float32), means.astype(np.float32)


GEOMETRY = WindowGeometry.from_seconds(WINDOW_SECONDS, HOP_SECONDS)
