"""Drops on the real window: anywhere, as a copy, never the app's own rows, music files a temp track."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent

from emomv_desktop.ui.query_panel import QueryState

from .helpers import ANALYSIS_TIMEOUT_MS, drop_files

COPY_OR_MOVE = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction


def widget_at(window, widget):
    """The innermost widget under ``widget``'s centre: what the pointer is over when a file is dropped there."""
    return window.childAt(window.mapFromGlobal(widget.mapToGlobal(widget.rect().center())))


def test_a_video_dropped_on_any_part_of_the_window_is_analysed_even_on_the_picture(qtbot, make_window, ui_media):
    window = make_window()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    assert window.preview.stack.currentWidget() is window.preview.video_widget  # the picture is shown
    parts = {"picture": window.preview.video_widget, "chart": window.query_panel.chart,
             "results": window.table.viewport(), "library": window.library_panel,
             "transport": window.preview.position_slider}
    videos = [ui_media.other_video, ui_media.video]
    for i, (name, part) in enumerate(parts.items()):
        target, video = widget_at(window, part), videos[i % 2]
        assert target is not None and (target is part or part.isAncestorOf(target)), name
        with qtbot.waitSignal(window.analysis.started, timeout=30_000, raising=False) as started:
            drop = drop_files(target, video)
        assert started.signal_triggered and started.args == [video], f"a drop on the {name} was ignored"
        assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction, name


def test_a_drop_is_taken_as_a_copy_never_a_move(qtbot, make_window, ui_media):
    window = make_window()
    empty = QMimeData()
    probe = QDragEnterEvent(QPointF(1, 1), COPY_OR_MOVE, empty, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.ShiftModifier)
    assert probe.proposedAction() == Qt.DropAction.MoveAction  # what the drag source proposes here
    with qtbot.waitSignal(window.analysis.started, timeout=30_000):
        drop = drop_files(window, ui_media.video, actions=COPY_OR_MOVE, modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    link = drop_files(window, ui_media.other_video, actions=Qt.DropAction.LinkAction | Qt.DropAction.MoveAction,
                      modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert link.dropAction() == Qt.DropAction.LinkAction
    drop_files(window, ui_media.video, actions=Qt.DropAction.MoveAction, refused=True)  # a move only: refused


def test_rows_dragged_and_released_inside_the_app_are_not_a_drop(qtbot, make_window, ui_media):
    window = make_window()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    started = []
    window.analysis.started.connect(started.append)
    rows = window.results.mimeData([window.results.index(0, 0)])
    for part in (window.table.viewport(), window.preview.video_widget, window.query_panel.chart):
        drop_files(widget_at(window, part), mime=rows, refused=True)
    qtbot.wait(200)
    assert started == [] and window.query_panel.state == QueryState.DONE
    assert "no video stream" not in window.query_panel.message.text()


def test_a_music_file_dropped_is_a_temp_track_not_a_video(qtbot, make_window, ui_media):
    window = make_window()
    track = next(ui_media.music.glob("*.flac"))
    started = []
    window.analysis.started.connect(started.append)
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        drop_files(window, track)
    assert started == [] and done.args[0].kind == "temp_track"  # no video analysis was started for it
    assert window.query_panel.state == QueryState.DONE
