"""The library panel: music folders, background indexing with progress, pause and cancel, and failed files.

Every library operation runs as a job: folder changes and reads on the io lane (:class:`LibraryReader`),
indexing on the indexing lane (:class:`IndexSession`). The panel never opens the database itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from emomv_desktop.engine.errors import Cancelled
from emomv_desktop.engine.jobs import Progress

from . import text
from emomv_desktop.engine.service import IndexSession, LibraryReader, LibrarySnapshot

from .progress import ProgressBar
from .settings import Key, Settings
from .worker import Job, WorkerLane, describe_error, job

if TYPE_CHECKING:
    from emomv_desktop.engine.library import IndexReport, LibraryStats


HELD_TEXT = "Waiting for the video analysis…"
STATS_REFRESH_S = 2.0  # while indexing, the track counts are re-read at most this often


class LibraryPanel(QWidget):
    """Folders on the left, indexing in the middle, failed files on the right."""

    libraryChanged = Signal()  # tracks were added, changed or removed
    statsChanged = Signal(object)  # engine.library.LibraryStats
    indexingChanged = Signal(bool)  # an index run started (True) or ended (False)

    def __init__(
        self,
        io_lane: WorkerLane,
        index_lane: WorkerLane,
        reader: LibraryReader,
        index_session: IndexSession,
        settings: Settings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.io_lane, self.index_lane = io_lane, index_lane
        self.reader, self.index_session = reader, index_session
        self.settings = settings
        self.index_job: Job | None = None
        self.last_report: IndexReport | None = None
        self.snapshot: LibrarySnapshot | None = None
        self._held = False
        self._user_paused = False
        self._stats_shown_at = 0.0  # time.monotonic() of the last count refresh during indexing
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.folder_list = QListWidget(self)
        self.folder_list.setAccessibleName("Music folders")
        self.folder_list.setToolTip("Folders whose audio files are indexed (sub-folders included)")
        self.folder_list.itemSelectionChanged.connect(self._update_buttons)
        self.add_button = QPushButton("Add folder…", self)
        self.add_button.setToolTip("Add a folder of music and index it")
        self.add_button.clicked.connect(lambda: self.add_folder())
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Remove the selected folder and its tracks from the index (files stay)")
        self.remove_button.clicked.connect(lambda: self.remove_folder())
        self.rescan_button = QPushButton("Rescan", self)
        self.rescan_button.setToolTip("Index new and changed files of every folder (unchanged ones are skipped)")
        self.rescan_button.clicked.connect(self.start_index)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause indexing after the current step; click again to resume")
        self.pause_button.toggled.connect(self.set_paused)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop indexing; tracks done so far are kept")
        self.cancel_button.clicked.connect(self.cancel_index)
        for button, name in (
            (self.add_button, "Add music folder"),
            (self.remove_button, "Remove music folder"),
            (self.rescan_button, "Rescan library"),
            (self.pause_button, "Pause indexing"),
            (self.cancel_button, "Cancel indexing"),
        ):
            button.setAccessibleName(name)

        self.progress = ProgressBar("Indexing progress", self)
        self.progress.setFormat("Idle")
        self.current_label = self._message_label("File being indexed")
        self.current_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rate_label = self._message_label("Indexing rate and time left")
        self.summary_label = self._message_label("Library summary")

        self.failure_title = QLabel("Failed files", self)
        self.failure_list = QTreeWidget(self)
        self.failure_list.setAccessibleName("Failed files")
        self.failure_list.setHeaderLabels(["File", "Reason"])
        self.failure_list.setRootIsDecorated(False)
        self.failure_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.failure_list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.failure_list.header().setStretchLastSection(True)
        self.failure_list.setColumnWidth(0, 180)

        folders = QVBoxLayout()
        folders.addWidget(QLabel("Music folders", self))
        folders.addWidget(self.folder_list, 1)
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(self.add_button)
        folder_buttons.addWidget(self.remove_button)
        folders.addLayout(folder_buttons)

        indexing = QGridLayout()
        indexing.addWidget(QLabel("Indexing", self), 0, 0, 1, 3)
        indexing.addWidget(self.progress, 1, 0, 1, 3)
        indexing.addWidget(self.current_label, 2, 0, 1, 3)
        indexing.addWidget(self.rate_label, 3, 0, 1, 3)
        indexing.addWidget(self.rescan_button, 4, 0)
        indexing.addWidget(self.pause_button, 4, 1)
        indexing.addWidget(self.cancel_button, 4, 2)
        indexing.addWidget(self.summary_label, 5, 0, 1, 3)
        indexing.setRowStretch(6, 1)

        failures = QVBoxLayout()
        failures.addWidget(self.failure_title)
        failures.addWidget(self.failure_list, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(folders, 3)
        layout.addLayout(indexing, 4)
        layout.addLayout(failures, 5)
        self._update_buttons()

    def _message_label(self, name: str) -> QLabel:
        """A label for what the workers report: it wraps and never widens the panel (nor the window, whose
        width is saved); what a long path leaves out is in the tooltip (see :meth:`_say`)."""
        label = QLabel("", self)
        label.setAccessibleName(name)
        label.setWordWrap(True)
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        return label

    @staticmethod
    def _say(label: QLabel, message: str, tooltip: str | None = None) -> None:
        label.setText(message)
        label.setToolTip(message if tooltip is None else tooltip)

    # ------------------------------------------------------------------ state
    @property
    def indexing(self) -> bool:
        return self.index_job is not None

    def _update_buttons(self) -> None:
        running = self.indexing
        self.remove_button.setEnabled(bool(self.folder_list.selectedItems()) and not running)
        self.rescan_button.setEnabled(not running and self.folder_list.count() > 0)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)

    def selected_folder(self) -> Path | None:
        items = self.folder_list.selectedItems()
        return Path(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    # ------------------------------------------------------------------ library reads and folder changes
    def _submit_io(self, fn, *args) -> Job:
        io_job = Job(job(fn, *args), name=getattr(fn, "__name__", "library"))
        io_job.returned.connect(lambda _id, snap: self._show_snapshot(snap))
        io_job.errored.connect(lambda _id, exc: self._show_error(exc))
        return self.io_lane.submit(io_job)

    def refresh(self) -> Job:
        """Reload folders, counts and failures (in the io lane)."""
        return self._submit_io(self.reader.snapshot)

    def add_folder(self, folder: Path | str | None = None) -> Job | None:
        """Register ``folder`` (asks when None) and index the library."""
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(
                self, "Add a music folder", self.settings.get_path(Key.LAST_MUSIC_DIR)
            )
            if not chosen:
                return None
            folder = chosen
        folder = Path(folder)
        self.settings.set(Key.LAST_MUSIC_DIR, str(folder.parent))
        added = self._submit_io(self.reader.add_folder, folder)
        added.returned.connect(lambda *_: self.start_index())
        added.returned.connect(lambda *_: self.libraryChanged.emit())
        return added

    def remove_folder(self, folder: Path | str | None = None, *, confirm: bool = True) -> Job | None:
        folder = Path(folder) if folder is not None else self.selected_folder()
        if folder is None or self.indexing:
            return None
        if confirm:
            answer = QMessageBox.question(
                self,
                "Remove music folder",
                f"Remove {folder} from the library?\nIts tracks leave the index; the files are not touched.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        removed = self._submit_io(self.reader.remove_folder, folder)
        removed.returned.connect(lambda *_: self.libraryChanged.emit())
        return removed

    def _show_snapshot(self, snapshot: LibrarySnapshot) -> None:
        self.snapshot = snapshot
        selected = self.selected_folder()
        self.folder_list.clear()
        for folder in snapshot.folders:
            item = QListWidgetItem(folder.name or str(folder), self.folder_list)
            item.setData(Qt.ItemDataRole.UserRole, str(folder))
            item.setToolTip(str(folder))
            item.setSelected(folder == selected)
        self._show_failures()
        self._show_stats(snapshot.stats)
        self._update_buttons()
        self.statsChanged.emit(snapshot.stats)

    def _show_stats(self, stats: "LibraryStats") -> None:
        parts = [f"{stats.indexed} tracks indexed"]
        if stats.failed:
            parts.append(f"{stats.failed} failed")
        parts.append(f"index {text.file_size(stats.db_bytes)}")
        self._say(self.summary_label, " · ".join(parts))

    def _show_failures(self) -> None:
        """The files the index could not read (from the database), plus this run's folder-level problems."""
        rows: dict[str, str] = {}
        if self.last_report is not None:
            rows.update({str(path): reason for path, reason in self.last_report.errors})
        if self.snapshot is not None:
            rows.update({str(track.path): track.error or "failed" for track in self.snapshot.failures})
        self.failure_list.clear()
        for path, reason in sorted(rows.items()):
            item = QTreeWidgetItem(self.failure_list, [Path(path).name, reason])
            item.setToolTip(0, path)
            item.setToolTip(1, reason)
        self.failure_title.setText(f"Failed files ({len(rows)})" if rows else "Failed files (none)")
        if self.last_report is not None and not self.indexing:
            self._show_report()

    def _show_error(self, exc: BaseException) -> None:
        self._say(self.summary_label, describe_error(exc))

    # ------------------------------------------------------------------ indexing
    def start_index(self) -> Job | None:
        """Index every registered folder incrementally (new and changed files only), unless already running."""
        if self.indexing:
            return None
        index_job = Job(job(self.index_session.index, None), name="index")
        index_job.progressed.connect(lambda _id, p: self._show_progress(p))
        index_job.returned.connect(lambda _id, report: self._index_done(report))
        index_job.errored.connect(lambda _id, exc: self._index_failed(exc))
        index_job.finished.connect(lambda _id: self._index_finished())
        self.index_job = index_job
        self.last_report = None  # the figures shown are this run's once it ends
        self._user_paused = False
        self.pause_button.setChecked(False)
        if self._held:
            index_job.pause()
        self.progress.busy("Scanning folders…")
        self._say(self.current_label, "")
        self._say(self.rate_label, HELD_TEXT if self._held else "")
        self._stats_shown_at = time.monotonic()
        self._update_buttons()
        self.indexingChanged.emit(True)
        return self.index_lane.submit(index_job)

    def cancel_index(self) -> None:
        if self.index_job is not None:
            self.index_job.cancel()
            self.progress.setFormat("Cancelling…")

    def set_paused(self, paused: bool) -> None:
        """The user's Pause button."""
        self._user_paused = paused
        self._apply_pause()

    def hold(self, held: bool) -> None:
        """Pause indexing while something more urgent (a video analysis) needs the device."""
        self._held = held
        self._apply_pause()

    def _apply_pause(self) -> None:
        if self.index_job is None:
            return
        if self._user_paused or self._held:
            self.index_job.pause()
        else:
            self.index_job.resume()
        self.pause_button.setText("Resume" if self._user_paused else "Pause")
        # running again: the rate comes back with the next file
        self._say(self.rate_label, "Paused" if self._user_paused else HELD_TEXT if self._held else "")

    def _show_progress(self, progress: Progress) -> None:
        total = progress.total
        if not total:
            self.progress.show_progress(progress)
            return
        self.progress.show_progress(progress, f"{int(progress.done)} / {int(total)} files")
        path = getattr(progress, "path", None)
        self._say(self.current_label, Path(path).name if path else progress.message, str(path or progress.message))
        if time.monotonic() - self._stats_shown_at >= STATS_REFRESH_S:  # the counts grow while indexing
            self._stats_shown_at = time.monotonic()
            self.refresh()
        if self._user_paused or self._held:
            return
        rate = getattr(progress, "tracks_per_minute", None)
        if rate:
            left = (total - progress.done) / rate * 60.0
            self._say(self.rate_label, f"{rate:.1f} tracks/min · {text.remaining(left)}")

    def _index_done(self, report: "IndexReport") -> None:
        self.last_report = report
        verb = "Cancelled after" if report.cancelled else "Done:"
        self.progress.stop("Cancelled" if report.cancelled else "Up to date", complete=not report.cancelled)
        self._show_report()
        if report.indexed or report.removed or report.failed:
            self.libraryChanged.emit()

    def _show_report(self) -> None:
        """The last run's figures; "failed" counts what the failure list shows, old failures included."""
        report = self.last_report
        verb = "Cancelled after" if report.cancelled else "Done:"
        failed = max(report.failed, self.failure_list.topLevelItemCount())
        self._say(self.rate_label, f"{verb} {report.indexed} indexed, {report.unchanged} unchanged, {failed} failed, "
                                   f"{report.removed} removed in {text.clock(report.seconds)}")

    def _index_failed(self, exc: BaseException) -> None:
        self.progress.stop("Cancelled" if isinstance(exc, Cancelled) else "Failed")
        self._say(self.rate_label, "" if isinstance(exc, Cancelled) else describe_error(exc))

    def _index_finished(self) -> None:
        self.index_job = None
        self._say(self.current_label, "")
        self.pause_button.setChecked(False)
        self._update_buttons()
        self.indexingChanged.emit(False)
        self.refresh()
