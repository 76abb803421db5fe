"""The real window, driven like a user: drop a video, read the results, sort, filter, preview, hand off.

Every test uses the real engine (random-init SlowFast with one clip per window, the indexed test library,
SQLite, PyAV) and real Qt widgets offscreen; it waits on signals, never on sleeps.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QSlider

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.ui.main_window import TEST_MODE_TEXT
from emomv_desktop.ui.query_panel import QueryState
from emomv_desktop.ui.results import Column

from .conftest import TRACKS
from .helpers import ANALYSIS_TIMEOUT_MS, drop_files


def analyse(qtbot, window, video):
    """Drop ``video`` on the window and wait for its ranked tracks."""
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        drop_files(window, video)
    return done.args[0]


def column_values(window, column: Column) -> list:
    from emomv_desktop.ui.results import SORT_ROLE

    proxy = window.proxy
    return [proxy.index(row, column).data(SORT_ROLE) for row in range(proxy.rowCount())]


def test_dropped_video_gets_ranked_tracks_that_sort_filter_and_preview_from_the_best_section(
    qtbot, make_window, ui_media, indexed_library
):
    window = make_window()
    assert window.test_mode_label.isVisible() and TEST_MODE_TEXT in window.windowTitle()
    analysis = analyse(qtbot, window, ui_media.video)

    # results: every indexed track once, in rank order, described as the engine ranked them
    assert window.query_panel.state == QueryState.DONE
    assert window.results.rowCount() == indexed_library.tracks == len(TRACKS)
    assert column_values(window, Column.RANK) == list(range(1, len(TRACKS) + 1))
    scores = column_values(window, Column.SCORE)
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    titles = {window.proxy.index(r, Column.TITLE).data() for r in range(window.proxy.rowCount())}
    assert {"Morning Light — String Trio", "field-recording.wav"} <= titles
    video_emotion = Emotion(int(analysis.query.emotion_probs.argmax()))
    assert window.query_panel.chart.top_emotion() == video_emotion
    assert video_emotion.label in window.results.headerData(Column.EMOTION, Qt.Orientation.Horizontal)
    first = window.proxy.suggestion(0)
    assert window.proxy.index(0, Column.SECTION).data() == (
        f"{int(first.best_start) // 60}:{int(first.best_start) % 60:02d}-"
        f"{int(first.best_end) // 60}:{int(first.best_end) % 60:02d}"
    )

    # sorting by clicking a header
    header = window.table.horizontalHeader()
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(Column.DURATION) + 5, header.height() // 2))
    durations = column_values(window, Column.DURATION)
    assert durations in (sorted(durations), sorted(durations, reverse=True)) and durations != scores
    window.table.sortByColumn(Column.SCORE, Qt.SortOrder.AscendingOrder)
    assert column_values(window, Column.SCORE) == sorted(scores)

    # filters: text, emotion, at least as long as the video
    QTest.keyClicks(window.search, "trio")
    assert window.proxy.rowCount() == 1 and window.proxy.suggestion(0).title == "Morning Light"
    window.search.clear()
    emotion = window.proxy.suggestion(0).emotion
    window.emotion_filter.setCurrentIndex(window.emotion_filter.findData(int(emotion)))
    kept = [window.proxy.suggestion(r) for r in range(window.proxy.rowCount())]
    assert kept and all(s.emotion == emotion for s in kept)
    assert len(kept) == sum(s.emotion == emotion for s in analysis.suggestions)
    window.emotion_filter.setCurrentIndex(0)
    window.length_filter.setChecked(True)
    assert window.proxy.rowCount() == len(TRACKS) - 1  # the 2 s sting is shorter than the 3.5 s video
    assert all(s.duration >= analysis.query.duration for s in window.visible_suggestions())
    assert window.count_label.text() == f"{len(TRACKS) - 1} of {len(TRACKS)}"
    window.length_filter.setChecked(False)

    # preview: selecting a row plays that track from its best section against the muted video
    window.table.sortByColumn(Column.RANK, Qt.SortOrder.AscendingOrder)
    row = max(range(window.proxy.rowCount()), key=lambda r: window.proxy.suggestion(r).best_start)
    chosen = window.proxy.suggestion(row)
    assert chosen.best_start > 0, "no track's best section starts after 0:00; the test library is too uniform"
    window.table.selectRow(row)
    assert window.player.track_path == chosen.path
    assert window.player.track_offset == pytest.approx(chosen.best_start)
    qtbot.waitUntil(lambda: abs(window.player.audio_position() - chosen.best_start) < 0.05, timeout=10_000)
    window.table.setFocus()
    QTest.keyClick(window.table, Qt.Key.Key_Space)  # Space plays
    qtbot.waitUntil(lambda: window.player.playing and window.player.position() > 0.3, timeout=20_000)
    # the audio runs at offset + video position
    qtbot.waitUntil(
        lambda: abs(window.player.audio_position() - (chosen.best_start + window.player.position())) < 0.5,
        timeout=10_000,
    )
    QTest.keyClick(window.table, Qt.Key.Key_Space)  # Space pauses
    assert not window.player.playing
    video_position = window.player.position()
    step, key = (1, Qt.Key.Key_Down) if row + 1 < window.proxy.rowCount() else (-1, Qt.Key.Key_Up)
    QTest.keyClick(window.table, key, Qt.KeyboardModifier.ControlModifier)  # next / previous track
    following = window.proxy.suggestion(row + step)
    assert window.selected_suggestion() == following and window.player.track_path == following.path
    assert window.player.position() == pytest.approx(video_position, abs=0.05)  # the video keeps its place
    qtbot.waitUntil(
        lambda: abs(window.player.audio_position() - (following.best_start + video_position)) < 0.1,
        timeout=10_000,
    )

    # hand-off: rows drag out as file URLs, Copy path puts the path on the clipboard
    mime = window.results.mimeData([window.results.index(0, 0), window.results.index(0, Column.SCORE)])
    assert [u.toLocalFile() for u in mime.urls()] == [str(window.results.suggestion(0).path)]
    window.copy_selected_path()
    assert QGuiApplication.clipboard().text() == str(window.selected_suggestion().path)


def test_exports_write_valid_csv_json_and_a_preview_mp4_with_the_best_section(qtbot, make_window, ui_media,
                                                                               tmp_path):
    window = make_window()
    analysis = analyse(qtbot, window, ui_media.video)
    window.table.selectRow(0)
    chosen = window.selected_suggestion()

    with qtbot.waitSignal(window.export_results(tmp_path / "music.csv").returned, timeout=30_000):
        pass
    with open(tmp_path / "music.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["rank"]) for r in rows] == [s.rank for s in window.visible_suggestions()]
    assert rows[0]["path"] == str(window.visible_suggestions()[0].path)
    assert float(rows[0]["best_start"]) == pytest.approx(window.visible_suggestions()[0].best_start, abs=1e-3)

    window.length_filter.setChecked(True)  # JSON gets what is shown
    with qtbot.waitSignal(window.export_results(tmp_path / "music.json").returned, timeout=30_000):
        pass
    document = json.loads((tmp_path / "music.json").read_text(encoding="utf-8"))
    assert document["format"] == "emomv-desktop/suggestions"
    assert document["video"]["path"] == str(ui_media.video)
    assert document["video"]["emotion"] == analysis.query.emotion.label
    assert len(document["suggestions"]) == window.proxy.rowCount() == len(TRACKS) - 1
    assert all(s["duration"] >= analysis.query.duration for s in document["suggestions"])
    # the one suggestions document: the GUI's export carries what `suggest --json` does
    assert document["random_networks"] is True and document["model"]["multitask"] is True
    assert set(document["filters"]) == {"emotions", "min_duration", "text"}

    out = tmp_path / "preview.mp4"
    progress = []
    job = window.export_preview(out)
    job.progressed.connect(lambda _id, p: progress.append(p.done))
    assert window.handoff.progress.isVisible()
    with qtbot.waitSignal(job.returned, timeout=60_000) as done:
        pass
    assert done.args[1].audio_start == pytest.approx(chosen.best_start)
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
    assert video_seconds == pytest.approx(analysis.query.duration, abs=0.1)
    assert audio_seconds == pytest.approx(video_seconds, abs=0.05)
    assert progress, "the export reported no progress"
    qtbot.waitUntil(lambda: not window.handoff.progress.isVisible())


def test_a_second_drop_supersedes_the_first(qtbot, make_window, ui_media):
    window = make_window()
    finished, cancelled = [], []
    window.analysis.finished.connect(lambda a: finished.append(a.query.path))
    window.analysis.cancelled.connect(cancelled.append)
    started = []
    window.analysis.started.connect(started.append)
    with qtbot.waitSignal(window.analysis.started, timeout=30_000):
        drop_files(window, ui_media.long_video)
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.other_video)
    qtbot.waitUntil(lambda: window.lanes.inference.idle, timeout=ANALYSIS_TIMEOUT_MS)
    assert started == [ui_media.long_video, ui_media.other_video]
    assert finished == [ui_media.other_video]  # the first one's results never reach the window
    assert cancelled == []  # a superseded request is stale: its cancellation is not reported either
    assert window.analysis.analysis.query.path == ui_media.other_video
    assert window.query_panel.video_label.text().startswith(ui_media.other_video.name)


def test_cancel_stops_the_analysis_and_says_so(qtbot, make_window, ui_media):
    window = make_window()
    with qtbot.waitSignal(window.analysis.progressed, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.long_video)
    assert window.cancel_action.isEnabled() and window.query_panel.cancel_button.isVisible()
    with qtbot.waitSignal(window.analysis.cancelled, timeout=ANALYSIS_TIMEOUT_MS):
        QTest.mouseClick(window.query_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert window.query_panel.state == QueryState.CANCELLED
    assert "cancelled" in window.query_panel.message.text().lower()
    assert window.results.rowCount() == 0 and window.analysis.analysis is None
    qtbot.waitUntil(lambda: not window.cancel_action.isEnabled())


def test_bad_drops_say_what_is_wrong_and_the_app_works_without_multimedia(qtbot, make_window, ui_media):
    window = make_window(multimedia=False)
    assert not window.player.available
    assert "turned off" in window.preview.video_widget.text()
    for bad, reason in ((ui_media.audio_only_mp4, "no video stream"), (ui_media.text_file, str(ui_media.text_file))):
        with qtbot.waitSignal(window.analysis.failed, timeout=30_000):
            drop_files(window, bad)
        assert reason in window.query_panel.message.text(), window.query_panel.message.text()
        assert window.query_panel.state == QueryState.FAILED
    drop_files(window, ui_media.music)  # a folder is refused at once
    assert "is a folder" in window.query_panel.message.text()
    analysis = analyse(qtbot, window, ui_media.video)  # no player, analysis and results still work
    assert window.results.rowCount() == len(analysis.suggestions) > 0
    window.table.selectRow(0)  # selecting previews nothing, and nothing breaks
    assert window.player.track_path == analysis.suggestions[0].path
    # a bad drop after a good one keeps the results on screen
    with qtbot.waitSignal(window.analysis.failed, timeout=30_000):
        drop_files(window, ui_media.audio_only_mp4)
    assert window.results.rowCount() == len(analysis.suggestions)
    assert window.query_panel.state == QueryState.DONE
    assert "no video stream" in window.query_panel.message.text()


def test_controls_have_accessible_names_and_the_about_box_shows_the_model_card(make_window):
    window = make_window()
    unnamed = [
        w for cls in (QAbstractButton, QSlider, QLineEdit, QComboBox) for w in window.findChildren(cls)
        if w.isVisibleTo(window) and not (w.accessibleName() or (isinstance(w, QAbstractButton) and w.text()))
    ]
    assert unnamed == []
    assert window.table.accessibleName() and window.query_panel.chart.accessibleName()
    text = window.about_text()
    assert "random test model" in text and "nothing (tests only)" in text and TEST_MODE_TEXT in text
    box = window.show_about()
    assert box.isVisible()
    box.close()
    assert window.device_label.text() == "Device: CPU"


def test_geometry_volume_and_filters_are_remembered_in_the_config_dir(qtbot, make_window):
    from emomv_desktop.ui.settings import settings_path

    window = make_window()
    window.resize(760, 560)  # within the offscreen screen (800x600): restoring clamps to the screen
    size = (window.width(), window.height())  # the minimum height may have raised the height
    window.preview.volume_slider.setValue(30)
    window.length_filter.setChecked(True)
    window.emotion_filter.setCurrentIndex(window.emotion_filter.findData(int(Emotion.SAD)))
    window.close()
    assert settings_path().is_file()
    again = make_window(size=None)
    assert (again.width(), again.height()) == size and size[0] == 760
    assert again.player.volume == pytest.approx(0.3) and again.preview.volume_slider.value() == 30
    assert again.length_filter.isChecked()
    assert again.emotion_filter.currentData() == int(Emotion.SAD)


def test_run_gui_opens_the_window_and_returns_when_it_closes(qtbot, qapp, ui_media, tmp_path):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from emomv_desktop.app import run_gui
    from emomv_desktop.ui.main_window import MainWindow

    seen = {}

    def inspect_then_close():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows or windows[0].analysis.problem is None or "not loaded" in windows[0].analysis.problem:
            QTimer.singleShot(50, inspect_then_close)  # the models have not reported yet
            return
        seen["title"] = windows[0].windowTitle()
        seen["setup"] = windows[0].model_setup_dialog().isVisible()
        seen["pending"] = windows[0]._pending_files  # noqa: SLF001 - kept until analysis is possible
        seen["library"] = windows[0].backends.library_path_or_default()
        windows[0].close()

    QTimer.singleShot(0, inspect_then_close)
    assert run_gui(str(ui_media.video), library=tmp_path / "cues.db") == 0
    assert seen == {"title": "EmoMV Desktop", "setup": True, "pending": [ui_media.video],
                    "library": tmp_path / "cues.db"}


def test_keys_seek_the_preview_but_keep_their_usual_meaning_on_sliders_and_buttons(qtbot, make_window, ui_media):
    window = make_window()
    window.player.set_video(ui_media.long_video)
    qtbot.waitUntil(lambda: window.player.duration() > 60, timeout=20_000)
    window.table.setFocus()
    QTest.keyClick(window.table, Qt.Key.Key_Right)
    assert window.player.position() == pytest.approx(5.0, abs=0.05)
    QTest.keyClick(window.table, Qt.Key.Key_Left)
    assert window.player.position() == pytest.approx(0.0, abs=0.05)

    volume = window.preview.volume_slider
    volume.setFocus()
    before = volume.value()
    QTest.keyClick(volume, Qt.Key.Key_Right)
    assert volume.value() == before + 1 and window.player.volume == pytest.approx((before + 1) / 100)
    assert window.player.position() == pytest.approx(0.0, abs=0.05)

    window.length_filter.setFocus()
    QTest.keyClick(window.length_filter, Qt.Key.Key_Space)
    assert window.length_filter.isChecked() and not window.player.playing


def test_help_opens_the_log_folder(make_window, monkeypatch, tmp_path):
    from emomv_desktop.engine import logs
    from emomv_desktop.ui import main_window

    opened = []
    monkeypatch.setattr(main_window, "QDesktopServices",
                        type("Desktop", (), {"openUrl": staticmethod(lambda url: opened.append(url) or True)}))
    monkeypatch.setenv("EMOMV_LOG_DIR", str(tmp_path / "logs"))
    window = make_window()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert window.log_action in help_menu.actions()
    window.log_action.trigger()
    assert [Path(url.toLocalFile()) for url in opened] == [logs.log_file().parent] == [tmp_path / "logs"]
    assert (tmp_path / "logs").is_dir()


def test_a_bad_video_given_at_start_is_refused_before_the_models_are_ready(qtbot, make_window, ui_media):
    window = make_window()
    started = []
    window.analysis.started.connect(started.append)
    with qtbot.waitSignal(window.analysis.failed, timeout=30_000) as failure:
        window.start(ui_media.text_file, rescan=False)
    assert failure.args[0] == ui_media.text_file and str(ui_media.text_file.name) in failure.args[1]
    qtbot.waitUntil(lambda: window.analysis.ready, timeout=60_000)
    assert window._pending_files == [] and started == []  # noqa: SLF001 - nothing analysed once loaded


def test_a_video_dropped_while_the_networks_load_is_analysed_once_they_are_ready(qtbot, make_window, ui_media):
    """Seen under Xvfb: a video dropped a few seconds after start-up said "Analysis is disabled: the models are
    not loaded yet" and was never analysed. Now it waits, says so, and runs when the networks are ready; the
    newest drop wins."""
    import threading

    window = make_window()
    release = threading.Event()
    real_load = window.analysis.session.load
    window.analysis.session.load = lambda *a, **k: (release.wait(60), real_load(*a, **k))[1]
    started, failed = [], []
    window.analysis.started.connect(started.append)
    window.analysis.failed.connect(lambda path, message: failed.append(message))
    window.analysis.load()
    assert window.analysis.loading and not window.analysis.ready
    window.open_files([ui_media.text_file])
    window.open_files([ui_media.video])  # the newer drop replaces the older one
    assert "networks" in window.query_panel.progress.format() and failed == [] and started == []
    release.set()
    qtbot.waitUntil(lambda: started == [ui_media.video], timeout=60_000)
    assert failed == [] and not window.analysis.loading


def test_the_precision_setting_reloads_the_networks_and_is_remembered(make_window, monkeypatch):
    window = make_window()
    assert window.precision() == "auto" and window.backends.precision is None
    reloads = []
    monkeypatch.setattr(window, "_weights_changed", lambda: reloads.append(window.backends.precision))
    exact = next(a for a in window.precision_group.actions() if a.data() == "exact")
    exact.trigger()
    assert reloads == ["exact"] and exact.isChecked() and window.precision() == "exact"
    exact.trigger()  # the same choice again: nothing to reload
    assert reloads == ["exact"]
    window.settings.sync()
    again = make_window()
    assert again.precision() == "exact" and again.backends.precision == "exact"
