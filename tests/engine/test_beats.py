"""engine.beats: tempo and beats of generated music with known tempi, downbeats, snapping and nudging."""

from __future__ import annotations

import numpy as np
import pytest

from emomv_desktop.engine import beats
from tests.media_factory import beat_pattern, click_track


def _nearest_error(found: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.abs(found[:, None] - true[None, :]).min(axis=1)


@pytest.mark.parametrize(
    "bpm, make",
    [
        (120, lambda: click_track(120, 40, accent_every=4, offset=0.31)),
        (97, lambda: beat_pattern(97, 40, offset=0.23)),
    ],
)
def test_tempo_within_two_percent_beats_within_30_ms_and_downbeats(bpm, make):
    audio, true = make()
    found = beats.track_beats(audio)
    assert found.tempo == pytest.approx(bpm, rel=0.02)
    assert len(found.beats) >= 0.9 * len(true)
    assert _nearest_error(found.beats, true).max() < 0.030
    # Downbeats: every 4th true beat from the first (the accented kick).
    assert len(found.downbeats) >= 0.8 * len(true) / 4
    assert _nearest_error(found.downbeats, true[::4]).max() < 0.030


def test_blockwise_mel_and_tempogram_equal_librosas_whole_track_computation(monkeypatch):
    """The tracker's bounded-memory path (blocks of frames) gives librosa's one-call numbers: the mel
    spectrogram of the centred frames, and the tempogram averaged over time (float32, every 4th frame: within
    1e-3), across block boundaries (block size made small so a 20 s track spans several, the last partial)."""
    import librosa

    monkeypatch.setattr(beats, "BLOCK_FRAMES", 700)
    monkeypatch.setattr(beats, "TEMPO_BLOCK_ROWS", 300)
    audio, _ = beat_pattern(97, 20, offset=0.23)
    sr = beats.AUDIO_SAMPLE_RATE
    whole = librosa.power_to_db(librosa.feature.melspectrogram(
        y=audio, sr=sr, n_fft=beats.N_FFT, hop_length=beats.HOP, n_mels=beats.MEL_BANDS, fmax=sr / 2))
    mel = beats._mel_db(audio, sr)
    assert mel.shape == whole.shape and mel.shape[1] > 2 * beats.BLOCK_FRAMES
    np.testing.assert_allclose(mel, whole, atol=1e-3)
    envelope = librosa.onset.onset_strength(S=whole, sr=sr, hop_length=beats.HOP, n_fft=beats.N_FFT)
    tempogram = librosa.feature.tempogram(onset_envelope=envelope, sr=sr, hop_length=beats.HOP,
                                          win_length=800)
    np.testing.assert_allclose(beats._mean_tempogram(envelope, sr)[:, 0], tempogram.mean(axis=1), atol=1e-3)


def test_the_one_fft_mean_tempogram_is_the_mean_of_each_windows_max_normalised_autocorrelation(monkeypatch):
    """``_mean_tempogram`` takes one inverse FFT for the track (each window's power spectrum over its energy,
    summed): the same as normalising every window's autocorrelation by its largest magnitude and averaging,
    computed here directly in float64 at the tracker's stride, including all-zero windows (8 s of silence),
    which add nothing; across block boundaries."""
    import librosa

    monkeypatch.setattr(beats, "TEMPO_BLOCK_ROWS", 300)
    sr = beats.AUDIO_SAMPLE_RATE
    audio, _ = beat_pattern(97, 20, offset=0.23)
    envelope = librosa.onset.onset_strength(S=beats._mel_db(audio, sr), sr=sr, hop_length=beats.HOP,
                                            n_fft=beats.N_FFT)
    envelope = np.concatenate([np.zeros(1300, np.float32), envelope])
    window = 800
    padded = np.pad(envelope.astype(np.float64), window // 2, mode="linear_ramp", end_values=(0, 0))
    rows = np.lib.stride_tricks.sliding_window_view(padded, window)[: envelope.size : beats.TEMPO_STRIDE]
    rows = rows * librosa.filters.get_window("hann", window, fftbins=True)
    assert len(rows) > 2 * beats.TEMPO_BLOCK_ROWS and not rows[:50].any()
    correlations = np.array([np.correlate(r, r, "full")[window - 1 :] for r in rows])  # lags 0 .. window - 1
    peaks = np.abs(correlations).max(axis=1, keepdims=True)
    expected = (correlations / np.where(peaks > 0, peaks, 1.0)).mean(axis=0)
    np.testing.assert_allclose(beats._mean_tempogram(envelope, sr)[:, 0], expected, atol=1e-5)


def test_evenly_accented_clicks_have_beats_but_no_downbeats():
    audio, true = click_track(120, 30, offset=0.5)
    found = beats.track_beats(audio)
    assert found.found and len(found.downbeats) == 0
    # Bars then fall back to every fourth beat.
    assert beats.nudge(found, found.beats[0], 1, "bar") == pytest.approx(found.beats[4])


def test_silence_and_short_audio_have_no_beats_and_bad_input_is_refused():
    assert not beats.track_beats(np.zeros(16_000 * 10, np.float32)).found
    assert beats.track_beats(click_track(120, 2)[0]).tempo == 0.0
    with pytest.raises(beats.BeatError, match="16000 Hz"):
        beats.track_beats(np.zeros(44_100 * 5, np.float32), 44_100)
    with pytest.raises(beats.BeatError, match="mono"):
        beats.track_beats(np.zeros((2, 16_000 * 5), np.float32))


def test_snap_and_nudge_along_the_grid():
    grid = beats.Beats(120.0, np.arange(0.5, 20, 0.5), np.arange(0.5, 20, 2.0))
    assert beats.snap(grid, 3.2, "beat") == 3.5
    assert beats.snap(grid, 3.5, "beat") == 3.5  # on a beat: that beat
    assert beats.snap(grid, 3.2, "bar") == 4.5
    assert beats.snap(grid, 19.9, "bar") is None
    assert beats.nudge(grid, 4.5, 1, "beat") == 5.0
    assert beats.nudge(grid, 4.5, -1, "bar") == 2.5
    assert beats.nudge(grid, 4.5, -10, "bar") == 0.5  # clamped to the first downbeat
    empty = beats.Beats(0.0, np.zeros(0), np.zeros(0))
    assert beats.snap(empty, 1.0) is None and beats.nudge(empty, 1.0, 2) == 1.0
