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


def test_a_cues_section_sounds_at_the_cues_start_and_waits_for_the_tracks_beginning(qtbot, player, media):
    """A scene cue from 2.0 s with its section at 0.5 s into the track: the section's start sounds when the
    picture reaches 2.0 s (audio = 0.5 + video - 2.0). Before 1.5 s the track has not begun: the picture
    plays alone and the track starts from its beginning when the picture gets there. (Before, the section
    started at video time 0 whatever the cue, so a scene's section played 2 s late into the track.)"""
    player.set_video(media["video"])
    player.set_track(media["track"], 0.5, at=2.0)
    assert player.section_anchor == 2.0 and player.track_offset == pytest.approx(-1.5)
    qtbot.waitUntil(lambda: player.duration() > 0, timeout=LOAD_TIMEOUT_MS)
    player.seek(2.0)
    assert player.audio_position() == pytest.approx(0.5, abs=0.05)
    player.seek(0.3)  # before the track's beginning
    player.play()
    qtbot.waitUntil(lambda: player.position() > 0.6, timeout=LOAD_TIMEOUT_MS)
    assert player.position() < 1.4 and real_audio_position(player) == pytest.approx(0.0, abs=0.01)
    qtbot.waitUntil(lambda: player.position() > 2.4, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: abs(real_audio_position(player) - (player.position() - 1.5)) < 0.3, timeout=5_000)
    player.pause()


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


# ------------------------------------------------------------------ sync on a real audio device
@pytest.fixture(scope="module")
def long_media(tmp_path_factory):
    root = tmp_path_factory.mktemp("player-sync")
    return {
        "video": media_factory.write_video(root / "cut.mp4", seconds=30.0, fps=10, width=160, height=120),
        "track": media_factory.write_audio(root / "track.wav", seconds=60, seed=1),
        "other": media_factory.write_audio(root / "other.wav", seconds=60, seed=2),
    }


def run_and_measure(qtbot, player, seconds: float) -> tuple[float, float, list[float]]:
    """Once the picture has run 0.5 s, watch for ``seconds``: (video advance, audio advance, track - video)."""
    start = player.position()
    qtbot.waitUntil(lambda: player.position() > start + 0.5, timeout=LOAD_TIMEOUT_MS)
    video0, audio0, gaps = player.position(), real_audio_position(player), []
    for _ in range(int(seconds / 0.1)):
        qtbot.wait(100)
        gaps.append(real_audio_position(player) - player.track_offset - player.position())
    return player.position() - video0, real_audio_position(player) - audio0, gaps


def test_the_track_sounds_on_with_the_picture_through_play_pause_play_and_switches(
        qtbot, audio_device, player, long_media, monkeypatch):
    """Space, Space, Space, then other tracks while playing: the track advances with the video, no re-seeking.

    On a real device the track's position stays put for a while after each seek; a player that re-seeks on
    every "lag" keeps the track silent (a few 0.1 s fragments in seconds).
    """
    from PySide6.QtMultimedia import QMediaDevices

    from emomv_desktop.ui import player as player_module

    assert not QMediaDevices.defaultAudioOutput().isNull(), "the null sink is not QtMultimedia's audio device"
    seeks = []
    real_seek = player_module._Seekable.seek  # noqa: SLF001
    monkeypatch.setattr(player_module._Seekable, "seek", lambda self, ms: (seeks.append(ms), real_seek(self, ms)))
    player.set_video(long_media["video"])
    player.set_track(long_media["track"], 5.0)
    qtbot.waitUntil(lambda: player.duration() > 0, timeout=LOAD_TIMEOUT_MS)
    steps = [("play", lambda: player.toggle()), ("pause + play", lambda: (player.toggle(), qtbot.wait(300),
                                                                        player.toggle())),
             ("switch", lambda: player.set_track(long_media["other"], 10.0)),
             ("switch back", lambda: player.set_track(long_media["track"], 5.0))]
    for name, step in steps:
        seeks.clear()
        step()
        video, audio, gaps = run_and_measure(qtbot, player, 2.0)
        assert audio == pytest.approx(video, abs=0.3), f"{name}: track moved {audio:.2f} s, video {video:.2f} s"
        assert max(abs(g) for g in gaps) < player_module.MAX_DRIFT_MS / 1000, f"{name}: track - video {gaps}"
        assert len(seeks) <= 1, f"{name}: the track was seeked {len(seeks)} times: {seeks}"


def test_a_loaded_video_shows_its_first_frame_before_play(qtbot, player, media):
    sink = player.video_player().videoSink()
    frames = []
    sink.videoFrameChanged.connect(lambda frame: frames.append(frame.isValid()))
    player.set_video(media["video"])
    qtbot.waitUntil(lambda: any(frames), timeout=LOAD_TIMEOUT_MS)
    assert not player.playing and player.position() == 0.0
    frames.clear()
    player.seek(1.5)  # scrubbing while paused shows the frame there
    qtbot.waitUntil(lambda: any(frames), timeout=LOAD_TIMEOUT_MS)
