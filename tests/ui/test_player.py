"""The preview Player on real QtMultimedia (offscreen: no audio device, positions still advance)."""

from __future__ import annotations

import pytest

from emomv_desktop.ui.player import Player
from tests import media_factory

LOAD_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("player")
    return {
        "video": media_factory.write_video(root / "cut.mp4", seconds=3.0),
        "track": media_factory.write_audio(root / "track.wav", seconds=30, seed=1),
        "other": media_factory.write_audio(root / "other.flac", seconds=40, seed=2),
    }


@pytest.fixture
def player(qtbot):
    from PySide6.QtMultimedia import QVideoSink

    player = Player()
    assert player.available, player.unavailable_reason
    sink = QVideoSink()  # what the preview's QVideoWidget is to the player: somewhere to render frames
    player.video_player().setVideoOutput(sink)
    yield player
    player.stop()


def real_audio_position(player: Player) -> float:
    return player._audio.player.position() / 1000.0  # noqa: SLF001 - what QtMultimedia itself reports


def test_a_track_starts_at_its_offset_even_when_set_before_it_has_loaded(qtbot, player, media):
    player.set_video(media["video"])
    with qtbot.waitSignal(player.trackChanged) as changed:
        player.set_track(media["track"], 7.25)
    assert changed.args == [str(media["track"]), 7.25]
    assert player.audio_position() == pytest.approx(7.25)  # pending until loaded
    qtbot.waitUntil(lambda: abs(real_audio_position(player) - 7.25) < 0.01, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: player.duration() == pytest.approx(3.0, abs=0.1), timeout=LOAD_TIMEOUT_MS)


def test_play_pause_and_seek_keep_the_audio_at_offset_plus_video_time(qtbot, player, media):
    player.set_video(media["video"])
    player.set_track(media["track"], 10.0)
    playing = []
    player.playingChanged.connect(playing.append)
    player.play()
    assert player.playing and playing == [True]
    qtbot.waitUntil(lambda: player.position() > 0.5, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: abs(real_audio_position(player) - (10.0 + player.position())) < 0.5, timeout=5_000)
    player.pause()
    assert not player.playing and playing == [True, False]
    player.seek(1.5)
    assert player.position() == pytest.approx(1.5, abs=0.05)
    qtbot.waitUntil(lambda: abs(real_audio_position(player) - 11.5) < 0.05, timeout=5_000)


def test_switching_tracks_keeps_the_video_position(qtbot, player, media):
    player.set_video(media["video"])
    player.set_track(media["track"], 4.0)
    qtbot.waitUntil(lambda: player.duration() > 0, timeout=LOAD_TIMEOUT_MS)
    player.seek(2.0)
    qtbot.waitUntil(lambda: abs(player.position() - 2.0) < 0.05, timeout=5_000)
    player.set_track(media["other"], 20.0)
    assert player.track_path == media["other"] and player.track_offset == 20.0
    assert player.position() == pytest.approx(2.0, abs=0.05)
    qtbot.waitUntil(lambda: abs(real_audio_position(player) - 22.0) < 0.05, timeout=LOAD_TIMEOUT_MS)


def test_the_end_of_the_video_stops_both(qtbot, player, media):
    player.set_video(media["video"])
    player.set_track(media["track"], 0.0)
    qtbot.waitUntil(lambda: player.duration() > 0, timeout=LOAD_TIMEOUT_MS)
    player.seek(2.6)
    with qtbot.waitSignal(player.playingChanged, timeout=LOAD_TIMEOUT_MS, check_params_cb=lambda p: not p):
        player.play()
    assert not player.playing and player.position() > 2.6


def test_volume_is_clamped_and_reported(qtbot, player):
    with qtbot.waitSignal(player.volumeChanged) as changed:
        player.set_volume(1.7)
    assert changed.args == [1.0] and player.volume == 1.0
    player.set_volume(-1)
    assert player.volume == 0.0


def test_without_multimedia_every_command_is_a_harmless_no_op(qtbot, media):
    player = Player(unavailable_reason="no multimedia here")
    assert not player.available and player.unavailable_reason == "no multimedia here"
    assert player.video_player() is None
    player.set_video(media["video"])
    player.set_track(media["track"], 3.0)
    player.play()
    player.seek(1.0)
    assert not player.playing and player.position() == 0.0 and player.audio_position() == 0.0
    assert player.track_path == media["track"]  # what was asked for is still known to the window
