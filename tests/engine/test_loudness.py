"""Loudness: BS.1770 measurement against pyloudnorm, matching gains, the cut's sound and its ducking curve,
and the library's per-track loudness (measured by the indexer on its one decode, filled in for old libraries)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pyloudnorm
import pytest

from emomv_desktop.engine import indexer as indexer_module
from emomv_desktop.engine import loudness
from emomv_desktop.engine import media
from emomv_desktop.engine.indexer import index_library
from emomv_desktop.engine.library import Library
from emomv_desktop.engine.protocol import AUDIO_SAMPLE_RATE, MUSIC_BACKBONE
from tests import media_factory

RATE = AUDIO_SAMPLE_RATE


def _mono(seconds: float, seed: int = 0) -> np.ndarray:
    return media_factory.music_signal(seconds, RATE, 1, seed=seed)[:, 0]


# ------------------------------------------------------------------------------------------- measuring
@pytest.mark.parametrize("seconds", [0.4, 0.45, 0.55, 3.33, 31.0])
def test_integrated_and_block_loudness_equal_pyloudnorms_meter(seconds):
    signal = _mono(seconds, seed=int(seconds * 10))
    signal[: signal.size // 3] *= 0.01  # a quiet stretch the relative gate must drop
    meter = pyloudnorm.Meter(RATE)
    reference = meter.integrated_loudness(signal.astype(np.float64))
    assert loudness.integrated_loudness(signal) == pytest.approx(reference, abs=1e-3)
    np.testing.assert_allclose(loudness.block_loudness(signal), meter.blockwise_loudness, atol=1e-3)


def test_silence_and_a_signal_shorter_than_a_block_have_no_loudness():
    assert loudness.integrated_loudness(np.zeros(RATE * 3, np.float32)) is None
    assert loudness.integrated_loudness(np.full(RATE * 3, 1e-6, np.float32)) is None  # below the -70 LUFS gate
    assert loudness.integrated_loudness(_mono(0.39)) is None
    assert loudness.block_loudness(_mono(0.39)).size == 0


def test_a_copy_12_db_down_measures_12_db_lower():
    signal = _mono(10.0)
    assert loudness.integrated_loudness(signal) - loudness.integrated_loudness(signal * 10 ** (-12 / 20)) == (
        pytest.approx(12.0, abs=0.01))


def test_the_matching_gain_brings_a_track_to_the_target_and_caps_the_boost():
    assert loudness.matching_gain_db(-10.0) == pytest.approx(loudness.TARGET_LUFS + 10.0)
    assert loudness.matching_gain_db(-22.0) == pytest.approx(loudness.TARGET_LUFS + 22.0)
    assert loudness.matching_gain_db(-60.0) == loudness.MAX_BOOST_DB
    assert loudness.matching_gain_db(None) == loudness.matching_gain_db(float("nan")) == 0.0


# ------------------------------------------------------------------------------------------- the cut's sound
def cut_with_sound(path, quiet: float = 1.5, loud: float = 2.0) -> tuple:
    """A 6 s video: silence, a loud stretch (speech-like level) from ``quiet`` s for ``loud`` s, silence."""
    rate = 44_100
    audio = np.zeros((int(6 * rate), 2), np.float32)
    start, stop = int(quiet * rate), int((quiet + loud) * rate)
    audio[start:stop] = media_factory.music_signal(loud, rate, 2)[: stop - start] * 0.5
    return media_factory.write_video(path, seconds=6.0, with_audio=True, audio=audio), quiet, quiet + loud


def test_the_cuts_sound_is_measured_every_100_ms_and_the_duck_follows_it(tmp_path):
    path, loud_from, loud_to = cut_with_sound(tmp_path / "cut.mp4")
    progress = []
    sound = loudness.measure_cut_sound(path, progress.append)
    assert progress and progress[-1].fraction == pytest.approx(1.0, abs=0.05)
    assert sound.levels.size == pytest.approx(6.0 / loudness.STEP_SECONDS - 3, abs=2)
    assert sound.loudness is not None and sound.loudness > loudness.DUCK_FULL_LUFS
    duck = loudness.duck_curve(sound.levels)
    at = lambda t: duck[int(round(t / loudness.STEP_SECONDS))]  # noqa: E731
    assert at(0.5) == 0.0 and at(loud_from - 0.5) == 0.0  # silence: the music stays
    assert at(loud_from) > 0.0  # the block starting here reaches into the sound: the duck begins as it starts
    assert at(loud_from + 0.5) == pytest.approx(loudness.DUCK_DEPTH_DB, abs=0.5)
    assert at(loud_to + 0.2) > at(loud_to + 1.0) > at(loud_to + 1.8) > 0.0  # released slowly
    assert np.all(duck >= 0.0) and duck.max() <= loudness.DUCK_DEPTH_DB + 1e-9


def test_the_duck_goes_down_faster_than_it_comes_back():
    levels = np.r_[np.full(10, -80.0), np.full(20, -20.0), np.full(30, -80.0)]
    duck = loudness.duck_curve(levels)
    half = loudness.DUCK_DEPTH_DB / 2
    down = np.argmax(duck[10:] >= half)
    up = np.argmax(duck[30:] <= half)
    assert down <= 1 < 4 <= up  # attack 0.1 s, release 0.8 s: half-way within a step, then after ~0.5 s
    assert duck[29] == pytest.approx(loudness.DUCK_DEPTH_DB, abs=0.01)


def test_a_video_without_sound_says_so(tmp_path):
    silent = media_factory.write_video(tmp_path / "mute.mp4", seconds=1.0)
    with pytest.raises(media.NoAudioStreamError):
        loudness.measure_cut_sound(silent)


# ------------------------------------------------------------------------------------------- the library
def _two_levels(folder) -> dict[str, float]:
    """Two tracks of the same music 12 dB apart (44.1 kHz stereo), plus a silent one."""
    signal = media_factory.music_signal(8.0)
    names = {"loud.flac": 1.0, "quiet.flac": 10 ** (-12 / 20)}
    for name, gain in names.items():
        media_factory.write_audio(folder / name, data=signal * gain)
    media_factory.write_audio(folder / "silent.wav", data=np.zeros((44_100 * 3, 2), np.float32))
    return names


def test_indexing_measures_each_tracks_loudness_on_its_one_decode(tmp_path, vggish, monkeypatch):
    music = tmp_path / "music"
    music.mkdir()
    _two_levels(music)
    decodes = []
    real_iter = indexer_module.media.iter_audio
    monkeypatch.setattr(indexer_module.media, "iter_audio", lambda *a, **k: decodes.append(a) or real_iter(*a, **k))
    with Library(tmp_path / "lib.sqlite3") as lib:
        report = index_library(lib, vggish, folders=[music])
        assert report.indexed == 3 and report.loudness_measured == 0
        assert len(decodes) == 3  # one decode per file serves VGGish, beats and loudness
        by_name = {t.path.name: t for t in lib.tracks()}
        assert by_name["silent.wav"].loudness is None
        loud, quiet = by_name["loud.flac"].loudness, by_name["quiet.flac"].loudness
        assert loud - quiet == pytest.approx(12.0, abs=0.05)
        assert loud == pytest.approx(loudness.integrated_loudness(media.load_audio(music / "loud.flac")), abs=1e-6)
        with lib.window_snapshot(MUSIC_BACKBONE) as snapshot:
            lufs = dict(zip((p.name for p in snapshot.tracks.paths), snapshot.tracks.loudnesses))
        assert lufs["loud.flac"] == pytest.approx(loud) and np.isnan(lufs["silent.wav"])
        assert index_library(lib, vggish).loudness_measured == 0  # the silent one is not measured again


def test_a_library_from_before_loudness_gets_it_at_its_rescan_without_vggish(tmp_path, vggish, monkeypatch):
    db, music = tmp_path / "lib.sqlite3", tmp_path / "music"
    music.mkdir()
    _two_levels(music)
    with Library(db) as lib:
        index_library(lib, vggish, folders=[music])
        measured = {t.path.name: t.loudness for t in lib.tracks()}
    with sqlite3.connect(db) as raw:  # back to the schema before loudness
        raw.execute("DROP TABLE loudness")
        raw.execute("DELETE FROM migrations WHERE name = '0004_loudness'")
    calls = []
    monkeypatch.setattr(type(vggish), "embed", lambda *a, **k: calls.append("embed"))
    monkeypatch.setattr(type(vggish), "stream_examples", lambda *a, **k: calls.append("stream") or iter(()))
    with Library(db) as lib:
        assert len(list(tmp_path.glob("lib.sqlite3.backup-schema3-*"))) == 1
        assert all(t.loudness is None for t in lib.tracks())
        report = index_library(lib, vggish)
        assert (report.unchanged, report.loudness_measured, report.beats_tracked) == (3, 3, 0)
        assert calls == []
        again = {t.path.name: t.loudness for t in lib.tracks()}
        assert again.pop("silent.wav") is None and measured.pop("silent.wav") is None
        assert again == pytest.approx(measured, abs=1e-6)
        assert index_library(lib, vggish).loudness_measured == 0  # done once, the silent track included
