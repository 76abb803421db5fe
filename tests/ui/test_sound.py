"""Levels while auditioning, on the real Player (QtMultimedia, offscreen): loudness matching and the cut's own
sound with the music ducked under it; and both actions in the real window."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from emomv_desktop.engine import loudness, media
from emomv_desktop.ui.player import Player
from emomv_desktop.ui.settings import Key, Settings
from emomv_desktop.ui.sound import SoundControl
from emomv_desktop.ui.worker import WorkerLane
from tests import media_factory

from .helpers import ANALYSIS_TIMEOUT_MS, drop_files

LOAD_TIMEOUT_MS = 20_000


@dataclasses.dataclass(frozen=True)
class Row:
    """What the window hands the SoundControl: a ranking's suggestion (path and the measured loudness)."""

    path: Path
    loudness: float | None


@pytest.fixture(scope="module")
def media_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sound")
    signal = media_factory.music_signal(6.0, seed=3)
    signal = np.tanh(4 * signal) * 0.9 / np.tanh(4 * 0.8)  # saturated: dense like a modern master (~ -11 LUFS)
    rate = 44_100
    speech = np.zeros((6 * rate, 2), np.float32)  # the cut: silence, 2 s of loud sound from 1.5 s, silence
    speech[int(1.5 * rate): int(3.5 * rate)] = media_factory.music_signal(2.0, rate, 2, seed=4) * 0.5
    return {
        "loud": media_factory.write_audio(root / "loud.flac", data=signal),
        "quiet": media_factory.write_audio(root / "quiet.flac", data=signal * 10 ** (-12 / 20)),
        "cut": media_factory.write_video(root / "cut.mp4", seconds=6.0, with_audio=True, audio=speech),
        "mute": media_factory.write_video(root / "mute.mp4", seconds=2.0),
    }


@pytest.fixture
def player(qtbot):
    from PySide6.QtMultimedia import QVideoSink

    player = Player()
    assert player.available, player.unavailable_reason
    sink = QVideoSink()
    player.video_player().setVideoOutput(sink)
    yield player
    player.stop()


@pytest.fixture
def control(qtbot, player, tmp_path):
    lane = WorkerLane("io-test")
    control = SoundControl(player, lane, Settings(tmp_path / "settings.ini"))
    yield control
    lane.shutdown()


def measured(path: Path) -> float:
    """The track's loudness as the indexer measures it (16 kHz mono decode)."""
    return loudness.integrated_loudness(media.load_audio(path))


def effective_level(control: SoundControl, row: Row) -> float:
    """The level the listener hears (LUFS): the track's loudness plus the output volume in dB."""
    control.track_selected(row)
    control.player.set_track(row.path)
    return row.loudness + 20 * math.log10(control.player.output_volume())


def test_two_tracks_12_db_apart_play_at_one_level_and_matching_off_restores_the_volume(control, media_files):
    rows = [Row(media_files[name], measured(media_files[name])) for name in ("loud", "quiet")]
    assert rows[0].loudness - rows[1].loudness == pytest.approx(12.0, abs=0.05)
    control.player.set_volume(0.25)  # 12 dB of headroom: the quiet track can be raised all the way
    assert control.matching  # on by default
    loud, quiet = (effective_level(control, row) for row in rows)
    assert loud == pytest.approx(quiet, abs=0.01)
    assert loud == pytest.approx(loudness.TARGET_LUFS + 20 * math.log10(0.25), abs=0.01)
    assert "Loudness matched" in control.gain_text() and "LUFS" in control.match_action.toolTip()

    control.match_action.setChecked(False)
    assert control.player.output_volume() == pytest.approx(0.25)  # the plain volume
    assert effective_level(control, rows[0]) - effective_level(control, rows[1]) == pytest.approx(12.0, abs=0.05)
    assert control.settings.get(Key.MATCH_LOUDNESS, True) is False  # remembered
    assert not SoundControl(control.player, control.io_lane, control.settings).matching


def test_a_boost_beyond_the_volumes_headroom_is_cut_short_and_said(control, media_files):
    quiet = Row(media_files["quiet"], loudness.TARGET_LUFS - 8.0)  # as if it measured 8 dB under the target
    wanted = loudness.matching_gain_db(quiet.loudness)
    assert wanted > 3.0
    control.player.set_volume(1.0)  # no headroom: the output never goes above the file's own level
    control.track_selected(quiet)
    assert control.player.output_volume() == pytest.approx(1.0)
    assert control.player.applied_gain_db() == pytest.approx(0.0)
    assert "headroom" in control.gain_text()
    control.track_selected(Row(quiet.path, None))  # not measured: played as it is
    assert control.player.output_volume() == pytest.approx(1.0) and "not measured" in control.gain_text()


def test_the_cuts_sound_is_offered_only_when_there_is_one_and_the_music_is_ducked_under_it(
        qtbot, control, media_files):
    player = control.player
    action = control.cut_sound_action
    assert not action.isChecked() and not action.isEnabled()
    player.set_video(media_files["mute"])
    control.video_changed(media_files["mute"])
    qtbot.waitUntil(lambda: "no sound" in action.toolTip(), timeout=LOAD_TIMEOUT_MS)
    assert not action.isEnabled() and player.video_player().audioOutput() is None

    player.set_video(media_files["cut"])
    control.video_changed(media_files["cut"])
    qtbot.waitUntil(action.isEnabled, timeout=LOAD_TIMEOUT_MS)
    assert not action.isChecked() and player.video_player().audioOutput() is None  # muted until asked
    player.set_volume(0.5)
    control.track_selected(Row(media_files["loud"], measured(media_files["loud"])))
    player.set_track(media_files["loud"])
    undocked = player.output_volume()
    curve = loudness.duck_curve(control.sound.levels)

    action.setChecked(True)
    assert player.video_player().audioOutput() is not None and player.cut_volume() == pytest.approx(0.5)
    qtbot.waitUntil(lambda: player.duration() > 5.0, timeout=LOAD_TIMEOUT_MS)
    for t in (0.5, 1.45, 2.0, 3.0, 3.8, 4.5, 5.5):
        player.seek(t)
        expected = undocked * 10 ** (-np.interp(t / loudness.STEP_SECONDS, np.arange(curve.size), curve) / 20)
        assert player.output_volume() == pytest.approx(expected, rel=1e-3), t
    player.seek(2.5)
    assert player.duck_db() == pytest.approx(loudness.DUCK_DEPTH_DB, abs=0.5)
    player.seek(0.5)
    assert player.duck_db() == 0.0 and player.output_volume() == pytest.approx(undocked)

    # while playing, the volume follows the curve at the positions the video reports
    seen = []
    player.positionChanged.connect(lambda s: seen.append((s, player.output_volume())))
    player.seek(1.0)
    player.play()
    qtbot.waitUntil(lambda: player.position() > 3.0, timeout=LOAD_TIMEOUT_MS)
    player.pause()
    samples = [(s, v) for s, v in seen if 1.0 <= s <= 3.0]
    assert len(samples) > 5
    for s, v in samples:
        expected = undocked * 10 ** (-np.interp(s / loudness.STEP_SECONDS, np.arange(curve.size), curve) / 20)
        assert v == pytest.approx(expected, rel=1e-3), s
    assert min(v for _s, v in samples) < undocked / 3 < max(v for _s, v in samples)

    action.setChecked(False)
    assert player.video_player().audioOutput() is None and player.output_volume() == pytest.approx(undocked)


def test_the_window_offers_both_in_the_view_menu_and_applies_each_rows_gain(qtbot, make_window, ui_media):
    window = make_window()
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert {window.sound.match_action, window.sound.cut_sound_action} <= set(view.actions())
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)  # the test cut has no sound
    qtbot.waitUntil(lambda: "no sound" in window.sound.cut_sound_action.toolTip(), timeout=LOAD_TIMEOUT_MS)
    assert not window.sound.cut_sound_action.isEnabled()
    window.player.set_volume(0.25)
    levels = []
    for row in range(min(3, window.proxy.rowCount())):
        window.table.selectRow(row)
        s = window.selected_suggestion()
        assert s.loudness is not None  # measured when the library was indexed
        assert window.player.applied_gain_db() == pytest.approx(loudness.matching_gain_db(s.loudness))
        levels.append(s.loudness + 20 * math.log10(window.player.output_volume()))
    assert max(levels) - min(levels) < 0.01
