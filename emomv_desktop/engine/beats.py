"""Tempo, beats and downbeats of a track, from the mono 16 kHz audio already decoded for VGGish.

Library choice
    librosa's dynamic-programming beat tracker (Ellis 2007) on a spectral-flux onset envelope: pure Python +
    numba, no weights, maintained. madmom is unmaintained for current Python versions, essentia is a large
    compiled binary with its own install story, and beat_this (the current state of the art) needs
    pretrained weights, which the app cannot download behind the user's back. librosa's first call in a process
    compiles its numba kernels (seconds; see docs/scenes-and-cues.md), later calls run at full speed.

Geometry
    The onset envelope uses 32 ms windows every 10 ms (``n_fft=512``, ``hop=160`` at 16 kHz: VGGish's own STFT
    hop), so beat times are quantised to 10 ms; longer windows smear a click later by half their length. The
    tempo is 60 / the beat period fitted by least squares over the tracked beats (finer than the 10 ms grid and
    than librosa's tempogram bins).

Memory
    librosa's one-call path holds whole-track intermediates: the STFT (257 bins per 10 ms frame) and, for the
    tempo, an 8 s autocorrelation window per frame (800 x frames, float64, several copies), +2.4 GiB for a
    10-minute track (`benchmarks/bench_index.py`). Here the mel spectrogram and the mean tempogram are computed
    in blocks of :data:`BLOCK_FRAMES` frames and handed to librosa's own estimator and tracker (``tempo(tg=)``,
    ``beat_track(bpm=)``); only the mel spectrogram (128 floats per frame, 31 MiB per 10 minutes) and the
    envelope are held for the whole track. The mel spectrogram is librosa's exactly; the mean tempogram is
    taken in float32 over every 4th frame (within 1e-3 of librosa's; it only seeds the tracker's tempo).

Downbeats (an estimate; its limits)
    Assuming 4/4 throughout, the bar's phase is the one of the four beat phases whose beats carry the most
    low-frequency (< 150 Hz) onset strength: downbeats usually carry the kick drum or a new bass note, while
    the snare's broadband hits on 2 and 4 would win on the full-band envelope. Downbeats are reported only when
    that phase stands out (:data:`DOWNBEAT_CONTRAST`); otherwise none are found and callers snap to beats. It
    knows no other meter (3/4, 6/8, changes), no pickups, and an accent on beat 3 as strong as on beat 1 can pick
    the wrong half of the bar.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from .errors import EngineError
from .protocol import AUDIO_SAMPLE_RATE

__all__ = ["Beats", "BeatError", "track_beats", "snap", "nudge", "BEATS_PER_BAR"]

HOP = 160
"""10 ms between onset-envelope frames at 16 kHz."""
N_FFT = 512
"""32 ms analysis windows (a 2048-sample window placed clicks ~20 ms late)."""
MEL_BANDS = 128
"""librosa's default mel resolution for its onset envelope."""
LOW_HZ = 150.0
"""Downbeats are judged by the onset strength below this (kick drum, bass notes)."""
BEATS_PER_BAR = 4
DOWNBEAT_CONTRAST = 1.15
"""The chosen phase's mean onset strength over the mean of the other three phases must reach this."""
MIN_SECONDS = 3.0
"""Shorter audio gives no beats (the tracker needs a few periods)."""
BLOCK_FRAMES = 3000
"""Frames (30 s) per block of the mel spectrogram and the tempogram: bounds their intermediates."""
TEMPO_WINDOW_SECONDS = 8.0
"""librosa's default autocorrelation window for the tempo (``ac_size``)."""
TEMPO_BLOCK_ROWS = 512
"""Autocorrelation windows per block (512 x 1600 float32: cache-sized)."""
TEMPO_STRIDE = 4
"""The tempo's mean tempogram takes every 4th frame (40 ms): ~13x less work than librosa's every frame."""


class BeatError(EngineError):
    """Beat tracking input that cannot be used (wrong rate or shape)."""


@dataclasses.dataclass(frozen=True)
class Beats:
    """``tempo`` in BPM (0 when no beat was found), ``beats`` and ``downbeats`` (s, ascending, float64);
    ``downbeats`` is empty when no bar phase stood out."""

    tempo: float
    beats: np.ndarray
    downbeats: np.ndarray

    @property
    def found(self) -> bool:
        return len(self.beats) > 1


def _fitted_period(beats: np.ndarray) -> float:
    """The beat period by least squares over beat indices (a missed beat counts its gap as two periods)."""
    rough = float(np.median(np.diff(beats)))
    index = np.round((beats - beats[0]) / rough)
    slope = np.polyfit(index, beats, 1)[0] if index[-1] > 0 else rough
    return float(slope)


def track_beats(audio: np.ndarray, sample_rate: int = AUDIO_SAMPLE_RATE) -> Beats:
    """Tempo, beats and (where found) downbeats of mono float32 ``audio`` at ``sample_rate`` (16 kHz)."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise BeatError(f"beat tracking needs mono audio, got an array of shape {audio.shape}")
    if sample_rate != AUDIO_SAMPLE_RATE:
        raise BeatError(f"beat tracking expects {AUDIO_SAMPLE_RATE} Hz audio (the VGGish decode), got {sample_rate} Hz")
    empty = Beats(0.0, np.zeros(0), np.zeros(0))
    if audio.size < MIN_SECONDS * sample_rate or not np.any(audio):
        return empty
    mel = _mel_db(audio, sample_rate)
    envelope = librosa.onset.onset_strength(S=mel, sr=sample_rate, hop_length=HOP, n_fft=N_FFT)
    if not envelope.any():
        return empty
    bpm = librosa.feature.tempo(tg=_mean_tempogram(envelope, sample_rate), sr=sample_rate, hop_length=HOP)
    _, frames = librosa.beat.beat_track(onset_envelope=envelope, bpm=bpm, sr=sample_rate, hop_length=HOP)
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size < 2:
        return empty
    beats = librosa.frames_to_time(frames, sr=sample_rate, hop_length=HOP).astype(np.float64)
    tempo = 60.0 / _fitted_period(beats)
    low_bands = int(np.searchsorted(librosa.mel_frequencies(MEL_BANDS, fmax=sample_rate / 2), LOW_HZ))
    low = librosa.onset.onset_strength(S=mel[:low_bands], sr=sample_rate, hop_length=HOP, n_fft=N_FFT)
    phase = _downbeat_phase(low[frames]) if frames.size >= 2 * BEATS_PER_BAR else -1
    return Beats(tempo, beats, beats[phase::BEATS_PER_BAR] if phase >= 0 else np.zeros(0))


def _mel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``power_to_db`` of the mel power spectrogram of librosa's centred, zero-padded Hann frames (its
    ``melspectrogram`` defaults), block by block with scipy's float32 FFT (2x numpy's here).

    The mel filters are applied as a sparse matrix (each of the 128 triangles spans a few of the 257 bins):
    single-threaded and ~30x fewer multiplications than the dense product, which numpy hands to OpenBLAS's
    thread pool, whose threads competed with the network for the two cores (4-9x slower than one thread
    under load; docs/indexing-speed.md)."""
    import librosa
    import scipy.fft
    import scipy.sparse

    padded = np.pad(audio.astype(np.float32), N_FFT // 2)  # centred frames; zeros: librosa's default pad_mode
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]  # a view: (1 + len // HOP, N_FFT)
    taper = librosa.filters.get_window("hann", N_FFT, fftbins=True).astype(np.float32)
    basis = librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=MEL_BANDS, fmax=sample_rate / 2)
    filters = scipy.sparse.csr_array(basis.astype(np.float32))
    power = np.empty((MEL_BANDS, len(frames)), np.float32)
    for start in range(0, len(frames), BLOCK_FRAMES):
        spectrum = scipy.fft.rfft(frames[start : start + BLOCK_FRAMES] * taper, axis=1)
        power[:, start : start + BLOCK_FRAMES] = filters @ (spectrum.real**2 + spectrum.imag**2).T
    return librosa.power_to_db(power)


def _mean_tempogram(envelope: np.ndarray, sample_rate: int) -> np.ndarray:
    """librosa's autocorrelation tempogram (centred 8 s Hann windows, each frame max-normalised) averaged over
    time, as ``tempo`` aggregates it: ``(window, 1)``. In float32 and over every :data:`TEMPO_STRIDE`-th frame,
    one block at a time (the mean of overlapping 8 s windows moves little in 40 ms; within 1e-3 of librosa's
    float64 every-frame mean, tested).

    One inverse FFT for the whole track instead of one per frame: an autocorrelation's largest magnitude is at
    lag 0 (the window's energy, by Cauchy-Schwarz), and the inverse FFT is linear, so the mean of the
    max-normalised autocorrelations is the inverse FFT of the mean of the power spectra, each divided by its
    window's energy."""
    import librosa
    import scipy.fft

    window = int(librosa.time_to_frames(TEMPO_WINDOW_SECONDS, sr=sample_rate, hop_length=HOP))
    padded = np.pad(envelope.astype(np.float32), window // 2, mode="linear_ramp", end_values=(0, 0))
    rows = np.lib.stride_tricks.sliding_window_view(padded, window)[: envelope.size : TEMPO_STRIDE]  # a view
    taper = librosa.filters.get_window("hann", window, fftbins=True).astype(np.float32)
    size = 2 * window  # >= 2 * window - 1: linear, not circular, autocorrelation
    total = np.zeros(size // 2 + 1)
    for start in range(0, len(rows), TEMPO_BLOCK_ROWS):
        tapered = rows[start : start + TEMPO_BLOCK_ROWS] * taper
        energy = np.einsum("ij,ij->i", tapered, tapered)  # each autocorrelation's lag 0, its peak
        spectrum = scipy.fft.rfft(tapered, n=size, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        total += (power / np.where(energy > np.finfo(np.float32).tiny, energy, 1.0)[:, None]).sum(axis=0)
    return (scipy.fft.irfft(total, n=size)[:window] / len(rows))[:, None]


def _downbeat_phase(strengths: np.ndarray) -> int:
    """The phase (0-3) of the beats with the most onset strength, or -1 when none stands out."""
    means = np.array([strengths[p::BEATS_PER_BAR].mean() for p in range(BEATS_PER_BAR)])
    best = int(np.argmax(means))
    others = np.delete(means, best).mean()
    return best if others <= 0 or means[best] / others >= DOWNBEAT_CONTRAST else -1


def _grid(beats: Beats, unit: Literal["beat", "bar"]) -> np.ndarray:
    if unit == "beat":
        return beats.beats
    # Bars: downbeats where found, else every fourth beat from the first.
    return beats.downbeats if len(beats.downbeats) else beats.beats[::BEATS_PER_BAR]


def snap(beats: Beats, time: float, unit: Literal["beat", "bar"] = "bar", *, tolerance: float = 1e-3) -> float | None:
    """The first beat (``unit="beat"``) or downbeat (``"bar"``) at or after ``time``; None when there is none."""
    grid = _grid(beats, unit)
    i = int(np.searchsorted(grid, time - tolerance, side="left"))
    return float(grid[i]) if i < len(grid) else None


def nudge(beats: Beats, time: float, steps: int, unit: Literal["beat", "bar"] = "beat") -> float:
    """``time`` moved by ``steps`` beats or bars along the grid (from the grid point at or after it), clamped to
    the first and last grid points; ``time`` itself when the track has no beats."""
    grid = _grid(beats, unit)
    if not len(grid):
        return time
    i = int(np.searchsorted(grid, time - 1e-3, side="left"))
    return float(grid[int(np.clip(i + steps, 0, len(grid) - 1))])
