"""Hand-off: getting tracks out of the app — result lists, preview MP4s, the file's folder and path.

File writing runs in workers (CSV/JSON on the io lane, the MP4 on the transfer lane, with progress and
cancel); the writers themselves are in :mod:`emomv_desktop.engine.export`. Outcomes are reported as
``message`` signals for the status bar.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Sequence

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QToolButton, QWidget

from emomv_desktop.engine import service
from emomv_desktop.engine.errors import Cancelled
from emomv_desktop.engine.service import Analysis

from .progress import ProgressBar
from .settings import Key, Settings
from .worker import Job, WorkerLane, describe_error, job

if TYPE_CHECKING:
    from emomv_desktop.engine.choices import VideoChoices
    from emomv_desktop.engine.ranking import Suggestion

RESULT_FILTERS = "CSV (*.csv);;JSON (*.json)"
MP4_FILTER = "MP4 video (*.mp4)"
TIMELINE_FILTERS = ("OpenTimelineIO (*.otio);;Final Cut Pro 7 XML: Premiere Pro, DaVinci Resolve (*.xml);;"
                    "FCPXML: Final Cut Pro (*.fcpxml);;CMX 3600 EDL: Avid, any editor (*.edl)")
CUE_SHEET_FILTER = "Cue sheet CSV (*.csv)"
MESSAGE_MS = 8000
SILENT_END_S = 0.1  # a preview whose last this-many seconds have no track gets a warning


class HandOff(QObject):
    """Exports and file actions for the window; ``progress``/``cancel_button`` go in its status bar."""

    message = Signal(str, int)  # text, milliseconds to show it
    exported = Signal(object)  # Path of a file written

    def __init__(self, io_lane: WorkerLane, transfer_lane: WorkerLane, settings: Settings, window: QWidget) -> None:
        super().__init__(window)
        self.io_lane, self.transfer_lane = io_lane, transfer_lane
        self.settings = settings
        self.window = window
        self.preview_job: Job | None = None
        self.progress = ProgressBar("Export progress", window)
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QToolButton(window)
        self.cancel_button.setText("Cancel export")
        self.cancel_button.setAccessibleName("Cancel export")
        self.cancel_button.clicked.connect(self.cancel_export)
        self.cancel_button.hide()

    # ------------------------------------------------------------------ files
    def _ask_save_path(self, title: str, suggested: str, filters: str, key: Key) -> Path | None:
        """A file name from the save dialog, opened in ``key``'s last folder (the first time: the user's
        Documents or Videos folder, see :func:`Settings.get_path`); remembers the folder chosen."""
        folder = Path(self.settings.get_path(key))
        chosen, _ = QFileDialog.getSaveFileName(self.window, title, str(folder / suggested), filters)
        if not chosen:
            return None
        self.settings.set(key, str(Path(chosen).parent))
        return Path(chosen)

    def export_results(self, analysis: Analysis | None, rows: Sequence["Suggestion"],
                       path: Path | str | None = None, shortlist: Collection[Path] | None = None) -> Job | None:
        """Save ``rows`` as CSV or JSON (by the file's suffix; asks for a file when ``path`` is None);
        ``shortlist``: the starred tracks (each row's ``shortlisted``)."""
        if analysis is None:
            self.message.emit("Nothing to export yet: drop a video first.", MESSAGE_MS)
            return None
        if path is None:
            path = self._ask_save_path("Export results", f"{Path(analysis.query.path).stem}-music.csv", RESULT_FILTERS,
                                       Key.LAST_EXPORT_DIR)
            if path is None:
                return None
        writing = Job(job(functools.partial(service.export_results, shortlist=shortlist), Path(path), analysis, list(rows)), name="export results")
        writing.returned.connect(lambda _id, out: self._saved(out))
        writing.errored.connect(lambda _id, exc: self._failed(exc))
        return self.io_lane.submit(writing)

    def export_preview(self, analysis: Analysis | None, track: "Suggestion | None",
                       path: Path | str | None = None) -> Job | None:
        """Save the video with ``track``'s best section muxed in, as MP4 (one export at a time)."""
        if analysis is None or track is None or self.preview_job is not None:
            self.message.emit("Select a track first (and wait for a running export to end).", MESSAGE_MS)
            return None
        if analysis.kind != "video":
            self.message.emit("A preview MP4 needs a video query: a temp track or stills have no picture.", MESSAGE_MS)
            return None
        video = Path(analysis.query.path)
        if path is None:
            path = self._ask_save_path("Export preview", f"{video.stem}-{Path(track.path).stem}.mp4", MP4_FILTER,
                                       Key.LAST_PREVIEW_DIR)
            if path is None:
                return None
        writing = Job(job(service.export_preview, video, Path(track.path), float(track.best_start), Path(path)),
                      name="export preview")
        return self._run_preview(writing)

    def _run_preview(self, writing: Job) -> Job:
        writing.progressed.connect(lambda _id, p: self.progress.show_progress(p, "Export %p%"))
        writing.returned.connect(lambda _id, report: self._preview_saved(report))
        writing.errored.connect(lambda _id, exc: self._failed(exc))
        writing.finished.connect(lambda _id: self._preview_finished())
        self.preview_job = writing
        self.progress.busy("Export…")
        self.progress.show()
        self.cancel_button.show()
        return self.transfer_lane.submit(writing)

    # ------------------------------------------------------------------ the editor's choices
    def export_choices(self, kind: str, choices: "VideoChoices | None", path: Path | str | None = None) -> Job | None:
        """Save the chosen music as a ``"timeline"`` (format by the file's suffix), a ``"cue sheet"`` (CSV) or a
        ``"scored preview"`` (MP4 of the whole cut); asks for a file when ``path`` is None."""
        if choices is None or not choices.choices:
            self.message.emit("Choose music for a cue first (Use for this cue).", MESSAGE_MS)
            return None
        if kind == "scored preview" and self.preview_job is not None:
            self.message.emit("Wait for the running export to end.", MESSAGE_MS)
            return None
        stem = Path(choices.video.path).stem
        suggested, filters = {"timeline": (f"{stem}.otio", TIMELINE_FILTERS),
                              "cue sheet": (f"{stem}-cue-sheet.csv", CUE_SHEET_FILTER),
                              "scored preview": (f"{stem}-scored.mp4", MP4_FILTER)}[kind]
        if path is None:
            path = self._ask_save_path(f"Export {kind}", suggested, filters)
            if path is None:
                return None
        if kind == "scored preview":
            return self._run_preview(Job(job(service.export_scored_preview, choices.video.path, choices, Path(path)),
                                         name="export scored preview"))
        write = service.export_timeline if kind == "timeline" else service.export_cue_sheet
        writing = Job(job(write, Path(path), choices), name=f"export {kind}")
        writing.returned.connect(lambda _id, out: self._saved(out))
        writing.errored.connect(lambda _id, exc: self._failed(exc))
        return self.io_lane.submit(writing)

    def cancel_export(self) -> None:
        if self.preview_job is not None:
            self.preview_job.cancel()

    def _saved(self, path: Path) -> None:
        self.message.emit(f"Saved {path}", MESSAGE_MS)
        self.exported.emit(Path(path))

    def _preview_saved(self, report: "PreviewReport") -> None:
        """Saved; a track that ends before the video leaves the preview's end silent: say so."""
        self._saved(report.path)
        silent = report.duration - report.audio_seconds_from_track
        if silent > SILENT_END_S:
            self.message.emit(f"Saved {report.path}; the track ends before the video: its last "
                              f"{silent:.1f} s are silent.", MESSAGE_MS)

    def _failed(self, exc: BaseException) -> None:
        text = "Export cancelled" if isinstance(exc, Cancelled) else f"Export failed: {describe_error(exc)}"
        self.message.emit(text, MESSAGE_MS)

    def _preview_finished(self) -> None:
        self.preview_job = None
        self.progress.hide()
        self.cancel_button.hide()

    # ------------------------------------------------------------------ the file itself
    def reveal(self, path: Path | str) -> bool:
        """Open the folder holding ``path`` in the file manager."""
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))

    def copy_path(self, path: Path | str) -> None:
        QGuiApplication.clipboard().setText(str(path))
        self.message.emit(f"Copied {path}", MESSAGE_MS)

