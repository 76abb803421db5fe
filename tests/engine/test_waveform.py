"""A track's waveform (engine.waveform): streamed peaks that match the whole signal, cached, cancellable."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from emomv_desktop.engine import service, waveform
from emomv_desktop.engine.errors import Cancelled, DecodeError
from emomv_desktop.engine.jobs import CancelToken
from tests import media_factory

RATE = 44_100


@pytest.fixture(autouse=True)
def empty_cache():
    waveform.clear_cache()
    yield
    waveform.clear_cache()


def quiet_then_loud(seconds: float = 20.0, *, seed: int = 4) -> np.ndarray:
    """Music at a tenth of full scale for the first half, at full scale for the second."""
    signal = media_factory.music_signal(seconds, RATE, seed=seed)
    half = len(signal) // 2
    signal[:half] *= 0.1
    return signal


def mono(path) -> np.ndarray:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == RATE
    return data.mean(axis=1)


@pytest.mark.parametrize("suffix", [".wav", ".m4a"])  # libsndfile and FFmpeg (PyAV) decode paths
def test_the_loud_half_of_a_track_has_the_larger_peaks(tmp_path, suffix):
    path = media_factory.write_audio(tmp_path / f"track{suffix}", data=quiet_then_loud())
    peaks = waveform.track_peaks(path, 200)
    assert peaks.buckets == 200 and peaks.duration == pytest.approx(20.0, abs=0.1)
    first, second = slice(5, 95), slice(105, 195)  # clear of the middle and of the encoder's edges
    height = peaks.maximum - peaks.minimum
    assert np.median(height[second]) > 5 * np.median(height[first])  # the music has its own quiet moments
    assert peaks.rms[second].mean() > 5 * peaks.rms[first].mean()
    assert height[second].max() > 5 * height[first].max()
    assert np.all(peaks.minimum <= 0) and np.all(peaks.maximum >= 0)
    assert np.all(peaks.rms <= peaks.maximum - peaks.minimum)


def test_peaks_are_those_of_the_whole_signal_within_one_chunk_of_each_bucket_edge(tmp_path):
    path = media_factory.write_audio(tmp_path / "track.wav", data=quiet_then_loud(12.0))
    signal = mono(path)
    buckets = 300
    peaks = waveform.track_peaks(path, buckets)
    assert peaks.maximum.max() == signal.max() and peaks.minimum.min() == signal.min()  # exact: no resampling
    assert np.sqrt(np.mean(peaks.rms.astype(np.float64) ** 2)) == pytest.approx(np.sqrt(np.mean(signal**2)), rel=0.02)
    chunk = len(signal) // (buckets * waveform.CHUNKS_PER_BUCKET) + 1
    edges = np.linspace(0, len(signal), buckets + 1).astype(int)
    for k in range(buckets):
        outer = signal[max(0, edges[k] - chunk): edges[k + 1] + chunk]
        inner = signal[edges[k] + chunk: edges[k + 1] - chunk]
        assert inner.max() <= peaks.maximum[k] <= outer.max(), k
        assert outer.min() <= peaks.minimum[k] <= inner.min(), k


def test_a_file_longer_than_its_header_says_keeps_memory_bounded_and_the_peaks_right(tmp_path, monkeypatch):
    """Chunks are merged in pairs when the stream runs past the header's length: the same peaks come out."""
    from emomv_desktop.engine import media

    path = media_factory.write_audio(tmp_path / "track.flac", data=quiet_then_loud(12.0))
    honest = waveform.track_peaks(path, 100)
    waveform.clear_cache()
    real_probe = media.probe_audio
    monkeypatch.setattr(media, "probe_audio", lambda p: __import__("dataclasses").replace(real_probe(p), duration=0.5))
    stored = []
    real_push = waveform._Chunks.push  # noqa: SLF001
    monkeypatch.setattr(waveform._Chunks, "push", lambda self, s: (real_push(self, s), stored.append(self.stored)))
    lying = waveform.track_peaks(path, 100)
    assert max(stored) <= 2 * 100 * waveform.CHUNKS_PER_BUCKET
    assert lying.buckets == 100 and lying.duration == honest.duration
    assert lying.maximum.max() == honest.maximum.max() and lying.minimum.min() == honest.minimum.min()
    loud = slice(55, 95)
    np.testing.assert_allclose(lying.rms[loud], honest.rms[loud], rtol=0.15)


def test_memory_stays_small_for_a_long_track(tmp_path):
    """Four minutes at 44.1 kHz is 42 MB as mono float32: the peaks never hold the samples."""
    rng = np.random.default_rng(0)
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=RATE, channels=2, subtype="PCM_16") as f:
        for _ in range(24):
            f.write((0.2 * rng.standard_normal((RATE * 10, 2))).astype(np.float32))
    tracemalloc.start()
    try:
        peaks = waveform.track_peaks(path)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peaks.buckets == waveform.DEFAULT_BUCKETS and peaks.duration == pytest.approx(240.0)
    assert peak_bytes < 20e6, f"{peak_bytes / 1e6:.1f} MB traced"


def test_progress_is_reported_and_cancel_stops_it(tmp_path):
    path = media_factory.write_audio(tmp_path / "track.wav", seconds=25, seed=2)
    seen = []
    waveform.track_peaks(path, 50, seen.append)
    assert seen[0].done == 0 and seen[-1].done == pytest.approx(25.0, abs=0.05)
    assert seen[-1].total == pytest.approx(25.0)
    assert len(seen) >= 3  # one report per block (10 s)
    waveform.clear_cache()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        waveform.track_peaks(path, 50, cancel=token)


def test_a_track_is_read_once_until_its_file_changes(tmp_path, monkeypatch):
    path = media_factory.write_audio(tmp_path / "track.wav", seconds=4, seed=1)
    first = waveform.track_peaks(path, 100)
    assert waveform.track_peaks(path, 100) is first
    assert waveform.track_peaks(path, 50) is not first  # another bucket count is another waveform
    media_factory.write_audio(path, data=quiet_then_loud(6.0))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = waveform.track_peaks(path, 100)
    assert again is not first and again.duration == pytest.approx(6.0, abs=0.05)


def test_an_undecodable_file_is_a_decode_error_naming_it(tmp_path):
    junk = tmp_path / "notes.mp3"
    junk.write_text("not music\n" * 100, encoding="utf-8")
    with pytest.raises(DecodeError) as caught:
        service.track_waveform(junk)
    assert caught.value.path == junk and str(junk) in str(caught.value)
    with pytest.raises(DecodeError, match="file not found"):
        service.track_waveform(tmp_path / "gone.wav")


def test_the_service_reads_the_default_bucket_count(tmp_path):
    path = media_factory.write_audio(tmp_path / "track.ogg", seconds=8, seed=3)
    peaks = service.track_waveform(path)
    assert peaks.buckets == waveform.DEFAULT_BUCKETS and peaks.path == path
    short = media_factory.write_audio(tmp_path / "click.wav", data=np.ones((300, 1), np.float32) * 0.5)
    assert 0 < service.track_waveform(short).buckets <= 300  # never more buckets than samples
