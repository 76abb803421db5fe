"""Auditioning in the real window: a re-ranking keeps the track being heard; a double-click plays its section."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .helpers import ANALYSIS_TIMEOUT_MS, drop_files


def test_a_rerank_keeps_the_selected_track_and_a_double_click_plays_its_best_section(qtbot, make_window, ui_media):
    window = make_window()
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    window.table.selectRow(2)
    chosen = window.selected_suggestion()
    window.player.play()
    qtbot.waitUntil(lambda: window.player.position() > 0.5, timeout=20_000)

    sources = []
    window.player.trackChanged.connect(lambda path, offset: sources.append(path))
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        window.analysis.rerank()  # what a rescan or the end of indexing does
    assert window.selected_suggestion().path == chosen.path
    assert window.player.track_path == chosen.path and window.player.playing
    assert sources == []  # the track plays on: not reloaded

    window.player.pause()
    assert window.player.position() > 0.5
    row = window.table.selectionModel().currentIndex().row()
    rect = window.table.visualRect(window.proxy.index(row, 1))
    QTest.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a double-click's
    QTest.mouseDClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # two halves
    assert window.player.playing and window.player.position() < 0.1
    assert window.player.track_path == chosen.path


def test_reveal_without_a_file_launcher_offers_copy_path_and_a_short_track_preview_warns(qtbot, make_window,
                                                                                       ui_media, tmp_path):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    window = make_window()  # offscreen Qt has no file launcher: opening a folder fails, as on a bare desktop
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    QGuiApplication.clipboard().clear()
    assert window.reveal_selected() is False
    box = window.findChild(QMessageBox, "revealFailed")
    assert box is not None and box.isVisible() and str(window.selected_suggestion().path.parent) in box.text()
    copy = next(b for b in box.buttons() if b.text() == "Copy path")
    QTest.mouseClick(copy, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == str(window.selected_suggestion().path)

    # a preview made with a track shorter than the video says that its end is silent
    messages = []
    window.handoff.message.connect(lambda message, _ms: messages.append(message))
    sting = next(r for r in range(window.proxy.rowCount()) if window.proxy.suggestion(r).duration < 3)
    window.table.selectRow(sting)
    with qtbot.waitSignal(window.handoff.exported, timeout=120_000):
        window.export_preview(tmp_path / "preview.mp4")
    assert any("its last 1.5 s are silent" in m for m in messages), messages  # a 2 s track, a 3.5 s video


def test_every_toolbar_action_has_a_tooltip_of_its_own(make_window):
    from PySide6.QtWidgets import QToolBar

    window = make_window()
    actions = [a for a in window.findChild(QToolBar, "mainToolbar").actions() if not a.isSeparator()]
    assert len(actions) >= 6
    for action in actions:
        tip = action.toolTip()
        assert tip and tip.replace("&", "") != action.text().replace("&", ""), action.text()
