"""The library panel: add a folder, index it in the background with progress, list failures, pause, cancel,
remove, and find it all again after a restart."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .conftest import BAD_TRACK, TRACKS

INDEX_TIMEOUT_MS = 180_000


def test_adding_a_folder_indexes_it_with_progress_and_lists_the_failed_file(qtbot, make_window, ui_media):
    window = make_window(empty_library=True)
    panel = window.library_panel
    progress_texts, stats = [], []
    panel.statsChanged.connect(stats.append)
    with qtbot.waitSignal(panel.indexingChanged, timeout=30_000, check_params_cb=lambda running: running):
        add = panel.add_folder(ui_media.music)
    assert add is not None
    panel.index_job.progressed.connect(lambda _id, p: progress_texts.append(panel.progress.format()))
    with qtbot.waitSignal(panel.indexingChanged, timeout=INDEX_TIMEOUT_MS, check_params_cb=lambda running: not running):
        pass
    qtbot.waitUntil(lambda: panel.snapshot is not None and panel.snapshot.stats.indexed == len(TRACKS))
    assert any(text.endswith(f"/ {len(TRACKS) + 1} files") for text in progress_texts), progress_texts
    assert panel.progress.format() == "Up to date"
    assert f"{len(TRACKS)} indexed" in panel.rate_label.text() and "1 failed" in panel.rate_label.text()
    assert [panel.folder_list.item(i).toolTip() for i in range(panel.folder_list.count())] == [str(ui_media.music)]
    assert panel.failure_list.topLevelItemCount() == 1
    failed = panel.failure_list.topLevelItem(0)
    assert failed.text(0) == BAD_TRACK and failed.text(1)
    assert panel.failure_title.text() == "Failed files (1)"
    qtbot.waitUntil(lambda: window.library_label.text() == f"Library: {len(TRACKS)} tracks")
    assert stats[-1].failed == 1

    # a rescan finds nothing new: incremental
    with qtbot.waitSignal(panel.indexingChanged, timeout=30_000, check_params_cb=lambda running: running):
        QTest.mouseClick(panel.rescan_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.indexingChanged, timeout=INDEX_TIMEOUT_MS, check_params_cb=lambda running: not running):
        pass
    assert panel.last_report.unchanged == len(TRACKS) + 1 and panel.last_report.indexed == 0


def test_index_persists_across_launches_and_a_removed_folder_takes_its_tracks(qtbot, make_window, indexed_library,
                                                                               ui_media):
    window = make_window()  # a library indexed in an earlier session
    panel = window.library_panel
    qtbot.waitUntil(lambda: panel.snapshot is not None)
    assert panel.snapshot.folders == [ui_media.music.resolve()]
    assert panel.snapshot.stats.indexed == indexed_library.tracks
    panel.folder_list.item(0).setSelected(True)
    assert panel.remove_button.isEnabled()
    with qtbot.waitSignal(panel.libraryChanged, timeout=30_000):
        panel.remove_folder(confirm=False)
    qtbot.waitUntil(lambda: panel.snapshot.stats.tracks == 0 and panel.folder_list.count() == 0)
    assert not panel.rescan_button.isEnabled()


def test_indexing_pauses_resumes_and_cancels(qtbot, make_window, ui_media):
    window = make_window(empty_library=True)
    panel = window.library_panel
    with qtbot.waitSignal(panel.indexingChanged, timeout=30_000):
        panel.add_folder(ui_media.music)
    job = panel.index_job
    QTest.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.isChecked() and job.paused
    assert panel.pause_button.text() == "Resume" and panel.rate_label.text() == "Paused"

    # an analysis holds the indexer; the user's pause and the hold are independent
    panel.hold(True)
    QTest.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)  # the user resumes...
    assert panel.pause_button.text() == "Pause"
    assert job.paused and "Waiting for the video analysis" in panel.rate_label.text()  # ...but the hold stays
    QTest.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    panel.hold(False)
    assert job.paused  # still paused by the user

    with qtbot.waitSignal(panel.indexingChanged, timeout=INDEX_TIMEOUT_MS, check_params_cb=lambda running: not running):
        QTest.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert job.cancelled
    assert panel.progress.format() == "Cancelled"
    assert panel.index_job is None and panel.rescan_button.isEnabled() and not panel.pause_button.isChecked()


def test_reopening_the_app_rescans_the_library_incrementally(qtbot, make_window, ui_media):
    window = make_window()
    panel = window.library_panel
    # start() ran with rescan=False; a launch does what start(rescan=True) does
    with qtbot.waitSignal(panel.indexingChanged, timeout=30_000, check_params_cb=lambda running: running):
        window.start(rescan=True)
    with qtbot.waitSignal(panel.indexingChanged, timeout=INDEX_TIMEOUT_MS, check_params_cb=lambda running: not running):
        pass
    report = panel.last_report
    assert report.unchanged == len(TRACKS) + 1 and report.indexed == 0 and report.removed == 0
    assert Path(panel.snapshot.folders[0]) == ui_media.music.resolve()


def test_long_messages_wrap_in_the_panel_with_a_tooltip_and_never_widen_the_window(qtbot, make_window, tmp_path):
    """What the workers report (an error naming a deep path, the file being indexed) fits the window's width."""
    from emomv_desktop.engine.errors import EngineError, PathError
    from emomv_desktop.engine.jobs import Progress

    window = make_window(size=(1024, 700))
    panel = window.library_panel
    qtbot.waitUntil(lambda: panel.snapshot is not None)  # the start-up read is in: nothing overwrites what follows
    deep = tmp_path.joinpath(*["a-folder-whose-name-goes-on-and-on-without-a-single-space"] * 6, "track.flac")
    error = PathError(deep, "the file cannot be read")
    with qtbot.waitSignal(panel.statsChanged, timeout=30_000):  # a progress report re-reads the counts
        panel._show_progress(Progress(3, 10, message=str(deep)))  # noqa: SLF001 - the indexing lane's progressed
    panel._show_error(error)  # noqa: SLF001 - what the io lane's errored signal calls
    panel._index_failed(EngineError(f"indexing stopped: {error}"))  # noqa: SLF001 - its errored signal
    qtbot.wait(50)
    assert window.minimumSizeHint().width() <= 1024 and window.width() == 1024
    for label in (panel.summary_label, panel.current_label, panel.rate_label):
        assert label.width() <= panel.width() and str(deep) in label.toolTip(), label.accessibleName()


def test_counts_follow_indexing_and_no_stale_status_is_left(qtbot, make_window, ui_media, monkeypatch):
    from emomv_desktop.ui import library_panel

    monkeypatch.setattr(library_panel, "STATS_REFRESH_S", 0.0, raising=False)  # re-read the counts after each file
    window = make_window(empty_library=True)
    panel = window.library_panel
    during = []
    panel.statsChanged.connect(lambda stats: during.append(stats.indexed) if panel.indexing else None)
    with qtbot.waitSignal(panel.indexingChanged, timeout=30_000, check_params_cb=lambda running: running):
        panel.add_folder(ui_media.music)
    panel.hold(True)  # a video analysis starts...
    assert "Waiting for the video analysis" in panel.rate_label.text()
    panel.hold(False)  # ...and ends
    assert "Waiting for the video analysis" not in panel.rate_label.text()
    with qtbot.waitSignal(panel.indexingChanged, timeout=INDEX_TIMEOUT_MS, check_params_cb=lambda running: not running):
        pass
    qtbot.waitUntil(lambda: panel.snapshot.stats.indexed == len(TRACKS))
    assert any(0 < n for n in during), f"the counts did not move while indexing: {during}"
    assert window.library_label.text() == f"Library: {len(TRACKS)} tracks"

    # a rescan: nothing new, the bad file still fails, and the figures say so
    with qtbot.waitSignal(panel.indexingChanged, timeout=30_000, check_params_cb=lambda running: running):
        panel.start_index()
    with qtbot.waitSignal(panel.indexingChanged, timeout=INDEX_TIMEOUT_MS, check_params_cb=lambda running: not running):
        pass
    qtbot.waitUntil(lambda: not panel.indexing and panel.failure_list.topLevelItemCount() == 1)
    qtbot.waitUntil(lambda: "1 failed" in panel.rate_label.text(), timeout=10_000)
    assert panel.last_report.failed == 0 and "0 indexed" in panel.rate_label.text()
