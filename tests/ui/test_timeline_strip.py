"""The mood timeline strip, driven by real mouse and key events (pytest-qt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QToolTip

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.ranking import VideoQuery
from emomv_desktop.engine.scenes import Scene, Shot, merge_scenes, split_scene
from emomv_desktop.ui.timeline_strip import EMOTION_COLOURS, TimelineStrip

BOUNDS = [(0.0, 4.0), (4.0, 10.0), (10.0, 12.0), (12.0, 20.0)]
MOODS = [(Emotion.SAD, 0.9), (Emotion.EXCITING, 0.5), (Emotion.TENSE, 0.22), (Emotion.RELAXING, 0.7)]


def _probs(emotion: Emotion, p: float) -> np.ndarray:
    probs = np.full(5, (1 - p) / 4)
    probs[int(emotion)] = p
    return probs


def _scenes() -> list[Scene]:
    return [Scene(k, a, b, (Shot(a, b),), np.zeros(2304, np.float32), 1,
                  VideoQuery(Path("cut.mp4"), b - a, np.ones(8, np.float32), _probs(*MOODS[k])))
            for k, (a, b) in enumerate(BOUNDS)]


@pytest.fixture
def strip(qtbot):
    widget = TimelineStrip()
    qtbot.addWidget(widget)
    widget.resize(600, widget.sizeHint().height())
    widget.set_scenes(_scenes())
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _at(strip: TimelineStrip, seconds: float) -> QPoint:
    return QPoint(strip.x_of(seconds), strip.SCENE_HEIGHT // 2)


def test_a_click_selects_the_scene_as_the_cue_and_seeks_there(qtbot, strip):
    with qtbot.waitSignal(strip.cueSelected) as selected, qtbot.waitSignal(strip.seekRequested) as seek:
        qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=_at(strip, 6.0))
    cue = selected.args[0]
    assert (cue.start, cue.end, cue.scenes) == (4.0, 10.0, (1,))
    assert seek.args == [4.0]
    assert strip.selected_cue() == cue and strip.current_scene() == 1


def test_shift_click_selects_the_run_of_scenes_between(qtbot, strip):
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=_at(strip, 2.0))
    with qtbot.waitSignal(strip.cueSelected) as selected:
        qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, _at(strip, 11.0))
    cue = selected.args[0]
    assert (cue.start, cue.end, cue.scenes) == (0.0, 12.0, (0, 1, 2))
    # backwards from the same anchor
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=_at(strip, 15.0))
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, _at(strip, 5.0))
    assert (strip.selected_cue().start, strip.selected_cue().end) == (4.0, 20.0)


def _send(widget, kind: QEvent.Type, pos: QPoint, buttons) -> None:
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_dragging_selects_any_range(qtbot, strip):
    left = Qt.MouseButton.LeftButton
    a, b = _at(strip, 5.0), _at(strip, 14.0)
    with qtbot.waitSignal(strip.cueSelected) as selected:
        _send(strip, QEvent.Type.MouseButtonPress, a, left)
        for x in range(a.x(), b.x() + 1, 20):  # the move events a real drag sends
            _send(strip, QEvent.Type.MouseMove, QPoint(x, a.y()), left)
        _send(strip, QEvent.Type.MouseMove, b, left)
        _send(strip, QEvent.Type.MouseButtonRelease, b, Qt.MouseButton.NoButton)
    cue = selected.args[0]
    second = 20.0 / (strip.width() - 2 * strip.MARGIN)  # one pixel
    assert abs(cue.start - 5.0) <= second and abs(cue.end - 14.0) <= second
    assert cue.scenes == (1, 2, 3)


def test_keys_move_between_scenes_extend_and_select_the_whole_video(qtbot, strip):
    strip.setFocus()
    seen = []
    strip.cueSelected.connect(lambda cue: seen.append((cue.start, cue.end)))
    qtbot.keyClick(strip, Qt.Key.Key_Right)  # nothing selected yet: the first scene
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    qtbot.keyClick(strip, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(strip, Qt.Key.Key_End)
    qtbot.keyClick(strip, Qt.Key.Key_Left)
    qtbot.keyClick(strip, Qt.Key.Key_Right)  # clamped at the last scene
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    qtbot.keyClick(strip, Qt.Key.Key_A)
    assert seen == [(0, 4), (4, 10), (4, 12), (12, 20), (10, 12), (12, 20), (12, 20), (0, 20)]


def test_s_and_m_ask_to_split_at_the_playhead_and_merge_with_the_next(qtbot, strip):
    strip.setFocus()
    strip.set_playhead(7.5)
    with qtbot.waitSignal(strip.splitRequested) as split:
        qtbot.keyClick(strip, Qt.Key.Key_S)
    assert split.args == [7.5]
    # what the owner of the scenes does with it, shown again
    strip.set_scenes(split_scene(strip.scenes(), 7.5))
    assert [(s.start, s.end) for s in strip.scenes()][1:3] == [(4.0, 7.5), (7.5, 10.0)]
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=_at(strip, 5.0))
    with qtbot.waitSignal(strip.mergeRequested) as merge:
        qtbot.keyClick(strip, Qt.Key.Key_M)
    assert merge.args == [1]
    strip.set_scenes(merge_scenes(strip.scenes(), 1))
    assert [(s.start, s.end) for s in strip.scenes()] == BOUNDS


def test_segments_are_coloured_by_dominant_emotion_and_confidence(qtbot, strip):
    image = strip.grab().toImage()
    y = strip.SCENE_HEIGHT - 4  # below the labels
    colours = [image.pixelColor(strip.x_of(t), y) for t in (0.3, 4.3, 10.3, 12.3)]
    sad, relaxing = EMOTION_COLOURS[Emotion.SAD], EMOTION_COLOURS[Emotion.RELAXING]
    assert colours[0] == strip.scene_colour(strip.scenes()[0])
    assert abs(colours[0].hueF() - sad.hueF()) < 0.02  # a confident scene shows its emotion's hue
    assert abs(colours[3].hueF() - relaxing.hueF()) < 0.03
    # an unsure scene (22 % tense) is paler (closer to the background) than a confident one (90 % sad)
    assert colours[2].saturationF() < colours[0].saturationF()


def test_hover_shows_the_five_probabilities(qtbot, strip):
    tip = strip.tooltip_text(6.0)
    assert tip.splitlines()[0] == "Scene 2: 0:04.0–0:10.0"
    assert "exciting 50%" in tip and len(tip.splitlines()) == 6
    from PySide6.QtGui import QHelpEvent

    pos = _at(strip, 6.0)
    QApplication.sendEvent(strip, QHelpEvent(QEvent.Type.ToolTip, pos, strip.mapToGlobal(pos)))
    qtbot.waitUntil(lambda: QToolTip.isVisible())
    assert QToolTip.text() == tip


def test_a_chosen_track_is_shown_in_its_cue(qtbot, strip):
    before = strip.grab().toImage()
    strip.set_assignments([(4.0, 10.0, "Night Drive")])
    after = strip.grab().toImage()
    band = strip.SCENE_HEIGHT + strip.MARGIN + strip.fontMetrics().height() // 2 + 2
    changed = [x for x in range(strip.width()) if before.pixelColor(x, band) != after.pixelColor(x, band)]
    assert changed and strip.x_of(4.0) - 1 <= min(changed) and max(changed) <= strip.x_of(10.0) + 1
    assert "♪ Night Drive" in strip.tooltip_text(5.0) and "♪" not in strip.tooltip_text(11.0)


# ------------------------------------------------------------------------------------------ in the window
@pytest.fixture(scope="module")
def cut_video(tmp_path_factory) -> Path:
    from tests import media_factory

    return media_factory.write_cut_video(tmp_path_factory.mktemp("cut") / "three-shots.mp4", [5.0, 5.0, 5.0])[0]


def test_the_window_scores_a_cut_cue_by_cue_and_remembers_it(qtbot, make_window, cut_video, tmp_path):
    import opentimelineio as otio

    from emomv_desktop.engine.beats import nudge
    from emomv_desktop.engine.choices import load_choices
    from emomv_desktop.ui.results import Column

    from .helpers import ANALYSIS_TIMEOUT_MS, drop_files

    window = make_window()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        drop_files(window, cut_video)
    strip = window.timeline
    scenes = strip.scenes()
    assert scenes and scenes[0].start == 0.0 and abs(scenes[-1].end - 15.0) < 0.1
    assert window.analysis.cue.label == "Whole video" and abs(done.args[0].query.duration - 15.0) < 0.1

    # split at the playhead (S), so the cut has at least two scenes whatever the random model merged
    strip.setFocus()
    strip.set_playhead(5.0 if len(scenes) == 1 else 2.5)
    with qtbot.waitSignal(window.analysis.scenesReady, timeout=ANALYSIS_TIMEOUT_MS):
        qtbot.keyClick(strip, Qt.Key.Key_S)
    assert len(strip.scenes()) == len(scenes) + 1 and all(s.query is not None for s in strip.scenes())
    first = strip.scenes()[0]

    # a click on the first scene ranks for it; Enter on a result assigns the track and its section
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as ranked:
        qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=_at(strip, (first.start + first.end) / 2))
    assert window.analysis.cue.scenes == (0,)
    assert abs(ranked.args[0].query.duration - first.duration) < 1e-6
    window.table.selectRow(1)
    track = window.selected_suggestion()
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    choice = window.choices.choices.at(first.start, first.end)
    assert choice.track_path == track.path and choice.section_start == track.best_start
    assert abs((choice.section_end - choice.section_start) - first.duration) < 0.05
    title = window.proxy.index(1, Column.TITLE).data()
    assert strip.assignments() == [(first.start, first.end, title)]
    assert title in window.cue_panel.cue_label.text()

    # nudged a beat later along the track's stored beat grid
    qtbot.waitUntil(lambda: window.choices.beats.get(choice.track_path) is not None, timeout=10_000)
    beats = window.choices.beats[choice.track_path]
    qtbot.mouseClick(window.cue_panel.nudge_buttons[2], Qt.MouseButton.LeftButton)
    nudged = window.choices.choices.at(first.start, first.end)
    assert nudged.section_start == nudge(beats, choice.section_start, 1, "beat") != choice.section_start

    # hand-off: the timeline reads back with the section; Preview cut plays the rendered mix on the video clock
    said = []
    window.handoff.message.connect(lambda message, _ms: said.append(message))
    with qtbot.waitSignal(window.handoff.message, timeout=30_000):
        window.export_choices("timeline", tmp_path / "cut.otio")
    assert said == [f"Saved {tmp_path / 'cut.otio'}"]
    timeline = otio.adapters.read_from_file(str(tmp_path / "cut.otio"))
    music = [c for c in timeline.find_clips() if c.name != cut_video.name]
    assert [round(c.source_range.start_time.to_seconds(), 1) for c in music] == [round(nudged.section_start, 1)]
    with qtbot.waitSignal(window.handoff.exported, timeout=60_000) as rendered:
        window.preview_cut()
    qtbot.waitUntil(lambda: window.player.track_path == rendered.args[0], timeout=5_000)
    assert window.player.track_offset == 0.0

    # remembered between launches: a new window shows the choice on the same video
    qtbot.waitUntil(lambda: load_choices(cut_video) == window.choices.choices, timeout=5_000)
    window.close()
    again = make_window()
    with qtbot.waitSignal(again.choices.changed, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(again, cut_video)
    assert again.timeline.assignments() == [(first.start, first.end, title)]


def test_a_later_scenes_section_is_auditioned_against_that_scene(qtbot, make_window, cut_video):
    """A cue that starts 5 s into the cut: its result's section starts sounding when the picture reaches the
    cue's start (before, the section began at video time 0, so at the scene the track was already 5 s past
    the section's start), and a double-click plays from there."""
    from .helpers import ANALYSIS_TIMEOUT_MS, drop_files

    window = make_window()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, cut_video)
    strip = window.timeline
    if not any(abs(s.start - 5.0) < 0.1 for s in strip.scenes()):
        strip.setFocus()
        strip.set_playhead(5.0)
        with qtbot.waitSignal(window.analysis.scenesReady, timeout=ANALYSIS_TIMEOUT_MS):
            qtbot.keyClick(strip, Qt.Key.Key_S)
    scene = next(s for s in strip.scenes() if abs(s.start - 5.0) < 0.1)
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=_at(strip, (scene.start + scene.end) / 2))
    assert window.analysis.cue.start == pytest.approx(scene.start)
    window.table.selectRow(0)
    track = window.selected_suggestion()
    player = window.player
    assert player.track_path == Path(track.path) and player.section_anchor == pytest.approx(scene.start)
    assert player.track_offset == pytest.approx(track.best_start - scene.start)
    qtbot.waitUntil(lambda: player.duration() > 0, timeout=20_000)
    window.play_from_section()
    assert player.position() == pytest.approx(scene.start, abs=0.05)
    qtbot.waitUntil(lambda: player.position() > scene.start + 0.5, timeout=20_000)
    audio = lambda: player._audio.player.position() / 1000.0  # noqa: E731, SLF001 - what QtMultimedia reports
    qtbot.waitUntil(lambda: abs(audio() - (track.best_start + player.position() - scene.start)) < 0.5,
                    timeout=10_000)
    player.pause()
