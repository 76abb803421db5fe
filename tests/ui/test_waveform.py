"""The waveform under the picture: pixels and seconds, dragging and keys, the peaks read in a worker, and in the
window: a moved section is what the player, the table, the choices and the exports use; Home brings it back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from emomv_desktop.engine import waveform as engine_waveform
from emomv_desktop.engine.beats import Beats
from emomv_desktop.ui import text
from emomv_desktop.ui.player import Player
from emomv_desktop.ui.results import Column
from emomv_desktop.ui.waveform import LOADING_TEXT, WaveformController, WaveformView
from emomv_desktop.ui.worker import WorkerLane
from tests import media_factory

from .helpers import ANALYSIS_TIMEOUT_MS, drop_files

LOAD_TIMEOUT_MS = 60_000
LEFT = Qt.MouseButton.LeftButton
NO_KEYS = Qt.KeyboardModifier.NoModifier


@pytest.fixture(autouse=True)
def empty_waveform_cache():
    engine_waveform.clear_cache()
    yield
    engine_waveform.clear_cache()


@pytest.fixture
def view(qtbot):
    view = WaveformView()
    qtbot.addWidget(view)
    view.resize(406, 56)  # 400 px of track between the 3 px margins: 4 px a second for a 100 s track
    view.show()
    view.set_track(100.0, 20.0, 30.0, best=20.0)
    return view


def drag(widget, start: QPoint, end: QPoint, steps: int = 8) -> None:
    QTest.mousePress(widget, LEFT, NO_KEYS, start)
    for step in range(1, steps + 1):
        QTest.mouseMove(widget, start + (end - start) * (step / steps))
    QTest.mouseRelease(widget, LEFT, NO_KEYS, end)


def test_pixels_and_seconds_map_both_ways(view):
    assert view.x_of(0.0) == 3 and view.x_of(100.0) == 403 and view.x_of(25.0) == pytest.approx(103.0)
    for seconds in (0.0, 12.5, 37.25, 100.0):
        assert view.time_at(view.x_of(seconds)) == pytest.approx(seconds)
    assert view.time_at(-20) == 0.0 and view.time_at(2000) == 100.0
    rect = view.section_rect()
    assert rect.left() == pytest.approx(83.0) and rect.width() == pytest.approx(120.0)  # 20-50 s


def test_dragging_the_section_moves_its_start_keeping_its_length_inside_the_track(qtbot, view):
    moves = []
    view.sectionMoved.connect(moves.append)
    drag(view, QPoint(100, 28), QPoint(140, 28))  # grabbed inside the section, 40 px = 10 s later
    assert moves == [pytest.approx(30.0)] and view.section_start() == pytest.approx(30.0)
    assert view.section_length() == 30.0
    drag(view, QPoint(150, 28), QPoint(400, 28))  # far right: the section ends with the track
    assert moves[-1] == pytest.approx(70.0) and view.section_start() + view.section_length() == pytest.approx(100.0)
    assert "1:10-1:40" in view.accessibleDescription()


def test_a_click_or_a_drag_off_the_section_scrubs_and_leaves_the_section(qtbot, view):
    moves, scrubs = [], []
    view.sectionMoved.connect(moves.append)
    view.scrubRequested.connect(scrubs.append)
    QTest.mouseClick(view, LEFT, NO_KEYS, QPoint(303, 28))
    assert scrubs == [pytest.approx(75.0)]
    drag(view, QPoint(223, 28), QPoint(263, 28))
    assert scrubs[-1] == pytest.approx(65.0) and len(scrubs) == 2  # one seek, at the release
    QTest.mouseClick(view, LEFT, NO_KEYS, QPoint(123, 28))  # a click on the section: a jump, not a move
    drag(view, QPoint(143, 28), QPoint(145, 28), steps=2)  # 2 px: still a click
    assert scrubs[-2:] == [pytest.approx(30.0), pytest.approx(35.5)]
    assert moves == [] and view.section_start() == 20.0


def test_keys_move_the_section_by_a_second_a_beat_or_five_seconds_and_home_restores_it(qtbot, view):
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Right)
    assert view.section_start() == pytest.approx(21.0)
    QTest.keyClick(view, Qt.Key.Key_Left)
    QTest.keyClick(view, Qt.Key.Key_Left)
    assert view.section_start() == pytest.approx(19.0)
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # no beats, no tempo: 5 s
    assert view.section_start() == pytest.approx(24.0)
    view.set_beats(None, 120.0)  # a tempo: half a second a beat
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert view.section_start() == pytest.approx(24.5)
    grid = np.arange(0.3, 100.0, 0.6)
    view.set_beats(Beats(100.0, grid, grid[::4]), 100.0)  # a beat grid wins: the next beat after 24.5
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert view.section_start() == pytest.approx(grid[grid >= 24.5 - 1e-3][1])
    QTest.keyClick(view, Qt.Key.Key_Home)
    assert view.section_start() == 20.0
    for _ in range(25):
        QTest.keyClick(view, Qt.Key.Key_Left)
    assert view.section_start() == 0.0  # clamped to the track's start


def test_the_controller_reads_the_peaks_in_a_worker_and_says_why_when_it_cannot(qtbot, tmp_path):
    from emomv_desktop.engine.ranking import Suggestion

    def suggestion(path, duration):
        return Suggestion(1, 1, path, None, None, None, duration, 0.5, 2.0, 6.0, None, None)

    track = media_factory.write_audio(tmp_path / "track.wav", seconds=12, seed=1)
    junk = tmp_path / "notes.mp3"
    junk.write_text("not music\n" * 100, encoding="utf-8")
    lane = WorkerLane("waveform-test")
    controller = WaveformController(Player(unavailable_reason="not needed here"), lane)
    view = controller.view
    qtbot.addWidget(view)
    try:
        reading = controller.show(suggestion(track, 12.0))
        assert view.message() == LOADING_TEXT and view.peaks() is None
        with qtbot.waitSignal(reading.finished, timeout=LOAD_TIMEOUT_MS):
            pass
        assert view.peaks() is not None and view.peaks().path == track and view.message() == ""
        assert view.section_start() == 2.0 and view.section_length() == 4.0

        stale = controller.show(suggestion(junk, 5.0))
        newer = controller.show(suggestion(junk, 5.0))  # supersedes: the first one's end is not shown
        with qtbot.waitSignals([stale.finished, newer.finished], timeout=LOAD_TIMEOUT_MS):
            pass
        assert view.peaks() is None and view.message().startswith("No waveform: not a media file")
        assert "\n" not in view.message() and str(junk) in view.toolTip()
    finally:
        lane.shutdown()


def test_moving_the_offset_while_playing_seeks_the_track_once_and_keeps_the_picture(qtbot, tmp_path, monkeypatch):
    from PySide6.QtMultimedia import QVideoSink

    from emomv_desktop.ui import player as player_module

    video = media_factory.write_video(tmp_path / "cut.mp4", seconds=6.0, fps=10, width=160, height=120)
    track = media_factory.write_audio(tmp_path / "track.wav", seconds=60, seed=1)
    player = Player()
    sink = QVideoSink()
    player.video_player().setVideoOutput(sink)
    try:
        player.set_video(video)
        player.set_track(track, 5.0)
        player.play()
        qtbot.waitUntil(lambda: player.position() > 1.0, timeout=LOAD_TIMEOUT_MS)
        sources, seeks = [], []
        player._audio.player.sourceChanged.connect(sources.append)  # noqa: SLF001
        real_seek = player_module._Seekable.seek  # noqa: SLF001
        monkeypatch.setattr(player_module._Seekable, "seek", lambda self, ms: (seeks.append(ms), real_seek(self, ms)))
        with qtbot.waitSignal(player.trackChanged) as changed:
            player.set_offset(30.0)
        assert changed.args == [str(track), 30.0] and player.track_offset == 30.0
        assert sources == [] and len(seeks) == 1  # the track is moved, not reloaded
        qtbot.waitUntil(lambda: player.position() > 2.5, timeout=LOAD_TIMEOUT_MS)
        qtbot.waitUntil(lambda: abs(real_audio_position(player) - (30.0 + player.position())) < 0.5, timeout=10_000)
        player.pause()
        position = player.position()
        player.set_offset(12.0)  # paused: the track waits at the new place, the picture stays
        assert player.position() == position
        qtbot.waitUntil(lambda: abs(real_audio_position(player) - (12.0 + position)) < 0.05, timeout=10_000)
    finally:
        player.stop()


# ------------------------------------------------------------------ in the window
def real_audio_position(player) -> float:
    return player._audio.player.position() / 1000.0  # noqa: SLF001 - what QtMultimedia itself reports


def select_long_track(qtbot, window):
    """Select a track much longer than the video (room to move its section) and wait for its waveform."""
    row = next(r for r in range(window.proxy.rowCount()) if window.proxy.suggestion(r).duration > 60)
    window.table.selectRow(row)
    s = window.selected_suggestion()
    qtbot.waitUntil(lambda: window.waveform.view.peaks() is not None, timeout=LOAD_TIMEOUT_MS)
    return row, s


def test_dragging_the_section_in_the_window_moves_what_plays_and_what_is_exported(qtbot, make_window, ui_media,
                                                                                 tmp_path):
    window = make_window()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    row, original = select_long_track(qtbot, window)
    view = window.waveform.view
    assert view.isVisible() and view.width() > 200
    assert view.section_start() == pytest.approx(original.best_start)
    qtbot.waitUntil(lambda: window.player.duration() > 0, timeout=LOAD_TIMEOUT_MS)

    # drag the section 1/4 of the track later, with the mouse
    grab = QPoint(round(view.section_rect().center().x()), view.height() // 2)
    seconds_per_pixel = view.time_at(view.x_of(10.0) + 1) - 10.0
    target = min(original.best_start + original.duration / 4, original.duration - view.section_length())
    end = grab + QPoint(round((target - original.best_start) / seconds_per_pixel), 0)
    drag(view, grab, end)
    start = view.section_start()
    assert abs(start - original.best_start) > 5.0
    moved = window.selected_suggestion()
    assert moved.path == original.path and moved.best_start == pytest.approx(start)
    assert moved.best_end - moved.best_start == pytest.approx(original.best_end - original.best_start)
    assert window.player.track_offset == pytest.approx(start) and window.player.track_path == original.path
    section = window.proxy.index(window.table.currentIndex().row(), Column.SECTION).data()
    assert section == text.section(start, start + view.section_length())  # the table shows it too

    # playing: the sound is at the new start + the video's position (as the player's own tests measure it)
    window.player.play()
    qtbot.waitUntil(lambda: window.player.position() > 0.5, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: abs(real_audio_position(window.player) - (start + window.player.position())) < 0.5,
                    timeout=10_000)
    window.player.pause()
    assert view._playhead == pytest.approx(start + window.player.position(), abs=0.05)  # noqa: SLF001

    # the moved start reaches the preview MP4, the cue's choice, the results document
    exporting = window.export_preview(tmp_path / "preview.mp4")
    with qtbot.waitSignal(exporting.returned, timeout=120_000) as done:
        pass
    assert done.args[1].audio_start == pytest.approx(start)
    qtbot.waitUntil(lambda: window.choices.choices is not None, timeout=LOAD_TIMEOUT_MS)
    assert window.use_for_cue()
    chosen = window.choices.choice_for(window.analysis.cue)
    assert chosen.section_start == pytest.approx(start) and chosen.track_path == original.path
    with qtbot.waitSignal(window.handoff.exported, timeout=LOAD_TIMEOUT_MS):
        window.export_results(tmp_path / "results.json")
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    record = next(r for r in document["suggestions"] if r["path"] == str(original.path))
    assert record["best_section"]["start"] == pytest.approx(start, abs=1e-3)

    # a re-ranking of the same cue keeps the moved section
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        window.analysis.rerank()
    assert window.selected_suggestion().best_start == pytest.approx(start)

    # Home: back to the best section, everywhere; the chosen cue follows the waveform
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Home)
    assert view.section_start() == pytest.approx(original.best_start)
    assert window.selected_suggestion().best_start == pytest.approx(original.best_start)
    assert window.player.track_offset == pytest.approx(original.best_start)
    assert window.choices.choice_for(window.analysis.cue).section_start == pytest.approx(original.best_start)
    position = window.player.position()
    QTest.keyClick(view, Qt.Key.Key_Right)  # the window's own Right (seek 5 s) gives way while it has focus
    assert view.section_start() == pytest.approx(original.best_start + 1.0)
    assert window.player.position() == pytest.approx(position)


def test_clicking_the_waveform_seeks_the_picture_and_the_sound_together(qtbot, make_window, ui_media):
    window = make_window()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    _row, s = select_long_track(qtbot, window)
    qtbot.waitUntil(lambda: window.player.duration() > 0, timeout=LOAD_TIMEOUT_MS)
    view = window.waveform.view
    middle = view.height() // 2
    x = round(view.section_rect().center().x())  # on the section: the picture goes to that point of it
    QTest.mouseClick(view, LEFT, NO_KEYS, QPoint(x, middle))
    expected = view.time_at(x) - s.best_start
    assert 0.5 < expected < window.player.duration() - 0.5
    assert window.player.position() == pytest.approx(expected, abs=0.01)
    qtbot.waitUntil(lambda: abs(real_audio_position(window.player) - (s.best_start + expected)) < 0.05,
                    timeout=LOAD_TIMEOUT_MS)
    if view.section_rect().left() > 10:  # left of the section: the picture's start
        QTest.mouseClick(view, LEFT, NO_KEYS, QPoint(round(view.section_rect().left()) - 6, middle))
        assert window.player.position() == 0.0
        qtbot.waitUntil(lambda: abs(real_audio_position(window.player) - s.best_start) < 0.05, timeout=10_000)
    assert view.section_start() == pytest.approx(s.best_start)  # scrubbing leaves the section alone
