"""The window's queries beyond a video: a dropped temp track (and "More like this track"), dropped stills with
their caveat, the sound-weight slider, thumbs up/down re-ranking at once and undone with Ctrl+Z."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from emomv_desktop.engine.service import STILLS_NOTE

from .helpers import ANALYSIS_TIMEOUT_MS, drop_files


def ranked(window) -> list[int]:
    return [s.track_id for s in window.analysis.analysis.suggestions]


@pytest.fixture
def temp_track_window(qtbot, make_window, ui_media):
    window = make_window()
    track = ui_media.music / "night.flac"
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        drop_files(window, track)
    return window, done.args[0]


def test_a_dropped_temp_track_ranks_the_rest_and_shows_the_sound_weight(qtbot, temp_track_window, ui_media):
    window, analysis = temp_track_window
    assert analysis.kind == "temp_track" and analysis.query.source == ui_media.music / "night.flac"
    names = [s.path.name for s in analysis.suggestions]
    assert "night.flac" not in names and len(names) == 4  # the reference itself is never suggested back
    assert window.results.rowCount() == 4 and "night.flac" in window.query_panel.video_label.text()
    assert window.modes.weight_box.isVisible() and analysis.sound_weight == 0.5
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as moved:
        window.modes.weight_box.slider.setValue(100)  # all "sounds like"
    assert moved.args[0].sound_weight == 1.0 and moved.args[0].query is analysis.query
    assert [s.score for s in moved.args[0].suggestions] != [s.score for s in analysis.suggestions]


def test_thumbs_rerank_at_once_and_ctrl_z_undoes(qtbot, temp_track_window):
    window, analysis = temp_track_window
    before = ranked(window)
    window.table.selectRow(window.proxy.rowCount() - 1)
    last = window.selected_suggestion().track_id
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as liked:
        window.like_action.trigger()
    assert liked.args[0].feedback.liked == {last} and window.modes.can_undo
    window.table.selectRow(0)
    first = window.selected_suggestion().track_id
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as disliked:
        qtbot.keyClick(window, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert disliked.args[0].feedback.liked == {last} and disliked.args[0].feedback.disliked == {first}
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.analysis.analysis is liked.args[0]
    window.undo_rating_action.trigger()
    assert ranked(window) == before and window.analysis.analysis is analysis and not window.modes.can_undo


def test_more_like_this_track_is_a_temp_track_of_the_library_track(qtbot, temp_track_window):
    window, _ = temp_track_window
    window.table.selectRow(0)
    chosen = window.selected_suggestion()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        window.like_track_action.trigger()
    assert done.args[0].kind == "temp_track" and done.args[0].query.source == chosen.track_id
    assert chosen.track_id not in ranked(window)
    assert chosen.path.name in window.query_panel.video_label.text()


def test_dropped_stills_are_one_query_with_the_video_caveat(qtbot, make_window, tmp_path):
    window = make_window()
    rng = np.random.default_rng(5)
    for name in ("shot-1.png", "shot-2.jpg"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        drop_files(window, tmp_path / "shot-1.png", tmp_path / "shot-2.jpg")
    assert done.args[0].kind == "stills" and [p.name for p in done.args[0].images] == ["shot-1.png", "shot-2.jpg"]
    assert STILLS_NOTE in window.query_panel.message.text()
    assert not window.modes.weight_box.isVisible() and window.results.rowCount() > 0


def test_export_preview_needs_a_video_query_and_says_so(qtbot, make_window, ui_media, tmp_path):
    window = make_window()
    action = window.export_preview_action
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    video_tip = action.toolTip()
    assert action.isEnabled() and "needs a video" not in video_tip
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.music / "night.flac")
    assert not action.isEnabled() and "needs a video query: a temp track has no picture" in action.toolTip()
    assert action.statusTip() == action.toolTip()
    said = []
    window.handoff.message.connect(lambda message, _ms: said.append(message))
    window.table.selectRow(0)
    assert window.export_preview(tmp_path / "preview.mp4") is None  # called anyway: refused with a reason
    assert said and "needs a video query" in said[-1] and not (tmp_path / "preview.mp4").exists()
    cv2.imwrite(str(tmp_path / "board.png"), np.full((90, 120, 3), 128, np.uint8))
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, tmp_path / "board.png")
    assert not action.isEnabled() and "stills are no video" in action.toolTip()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.other_video)
    assert action.isEnabled() and action.toolTip() == video_tip


def test_the_controller_runs_and_reranks_queries_of_any_kind_through_its_public_methods(qtbot, make_window, tmp_path):
    window = make_window()
    controller, label = window.analysis, tmp_path / "temp.wav"
    with qtbot.waitSignal(controller.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        running = controller.run_query(label, "temp_track", lambda progress, cancel: controller.session.query_temp_track(
            1, None, progress, cancel))  # the session works on the inference lane, as the query does
        assert running is not None and controller.busy and controller.rerank_query(lambda *_args: None) is None
    temp = done.args[0]
    assert temp.kind == "temp_track" and temp.query.source == 1
    assert controller.analysis is temp and controller.current_path == label
    qtbot.waitUntil(lambda: not controller.busy, timeout=10_000)  # the job's finished signal follows its result
    with qtbot.waitSignal(controller.finished, timeout=ANALYSIS_TIMEOUT_MS) as again:
        controller.rerank_query(lambda analysis, top, progress, cancel: controller.session.requery(
            analysis, top, progress, cancel, sound_weight=1.0))
    assert again.args[0].sound_weight == 1.0 and again.args[0].query is temp.query
    with qtbot.waitSignal(controller.finished, timeout=1000) as shown:
        controller.show_again(temp)
    assert shown.args[0] is temp and controller.analysis is temp
    controller.info = None  # the models unloaded: a query is refused with the reason
    with qtbot.waitSignal(controller.failed, timeout=1000) as refused:
        assert controller.run_query(label, "stills", lambda _progress, _cancel: temp) is None
    assert refused.args[0] == label and "Analysis is disabled" in refused.args[1]
