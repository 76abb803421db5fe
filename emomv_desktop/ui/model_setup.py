"""The model-setup dialog: each pretrained backbone's state, download with progress and cancel, import a file.

Status checks re-hash the weight files, downloads and imports take long: all of it runs in worker lanes.
The dialog never loads a network; it tells the window (``weightsChanged``) when a file was installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from emomv_desktop.engine.errors import Cancelled
from emomv_desktop.engine.jobs import CancelToken, Progress, ProgressCallback

from .progress import ProgressBar
from .settings import Key, Settings
from .worker import Job, WorkerLane, describe_error, job

if TYPE_CHECKING:
    from emomv_desktop.engine.weights import WeightStatus

INTRO = (
    "EmoMV Desktop compares videos and music through two pretrained networks. They are large downloads "
    "(about 0.5 GB together) and are checked before use. Video analysis stays disabled until both are present."
)
PRESENT_MARK = " ✓"


def _statuses(_progress: ProgressCallback, _cancel: CancelToken) -> list["WeightStatus"]:
    from emomv_desktop.engine import weights

    return [weights.weight_status(key) for key in weights.REGISTRY]


def _download(key: str, url: str | None, progress: ProgressCallback, cancel: CancelToken) -> Path:
    from emomv_desktop.engine import weights

    return weights.download(key, url=url, progress=progress, cancel=cancel)


def _import(key: str, source: Path, progress: ProgressCallback, cancel: CancelToken) -> Path:
    from emomv_desktop.engine import weights
    from emomv_desktop.engine.jobs import report

    report(progress, 0, None, f"verifying {source.name}")
    return weights.import_file(key, source)


def _is_present(status: "WeightStatus") -> bool:
    from emomv_desktop.engine.weights import WeightState

    return status.state == WeightState.PRESENT


class _BackboneRow:
    """The widgets of one backbone in the dialog's grid."""

    def __init__(self, parent: QWidget, title: str) -> None:
        self.title = QLabel(title, parent)
        self.title.setWordWrap(True)
        self.state = QLabel("Checking…", parent)
        self.state.setMinimumWidth(self.state.fontMetrics().horizontalAdvance("Present" + PRESENT_MARK + "  "))
        self.message = QLabel("", parent)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download = QPushButton("Download", parent)
        self.import_ = QPushButton("Import file…", parent)
        for widget, name in ((self.download, "Download"), (self.import_, "Import"), (self.state, "State")):
            widget.setAccessibleName(f"{name} {title}")
        self.download.setToolTip("Download from the official address (resumes an interrupted download)")
        self.import_.setToolTip("Install a copy of the file fetched on another machine")

    def show(self, status: "WeightStatus") -> None:
        present = _is_present(status)
        self.state.setText(status.state.value.capitalize() + (PRESENT_MARK if present else ""))
        self.message.setText(status.message)
        self.download.setText("Download again" if present else "Download")


class ModelSetupDialog(QDialog):
    """Per backbone: present / missing / corrupt, Download, Import file…; a progress bar with Cancel."""

    weightsChanged = Signal()
    statusesChanged = Signal(object)  # list[WeightStatus]

    def __init__(
        self,
        io_lane: WorkerLane,
        transfer_lane: WorkerLane,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        urls: dict[str, str] | None = None,
    ) -> None:
        """``urls`` replaces official download addresses (a mirror; tests use local ``file://`` URLs)."""
        super().__init__(parent)
        from emomv_desktop.engine import weights

        self.io_lane, self.transfer_lane = io_lane, transfer_lane
        self.settings = settings
        self.urls = dict(urls or {})
        self.statuses: dict[str, WeightStatus] = {}
        self.transfer: Job | None = None
        self.setWindowTitle("Model setup")
        self.setAccessibleName("Model setup")
        self.rows = {key: _BackboneRow(self, spec.title) for key, spec in weights.REGISTRY.items()}
        self._build()

    def _build(self) -> None:
        intro = QLabel(INTRO, self)
        intro.setWordWrap(True)
        grid = QGridLayout()
        for i, (key, row) in enumerate(self.rows.items()):
            grid.addWidget(row.title, 2 * i, 0)
            grid.addWidget(row.state, 2 * i, 1)
            grid.addWidget(row.download, 2 * i, 2)
            grid.addWidget(row.import_, 2 * i, 3)
            grid.addWidget(row.message, 2 * i + 1, 0, 1, 4)
            row.download.clicked.connect(lambda _=False, k=key: self.download(k))
            row.import_.clicked.connect(lambda _=False, k=key: self.import_file(k))
        grid.setColumnStretch(0, 1)
        self.progress = ProgressBar("Transfer progress", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel transfer")
        self.cancel_button.clicked.connect(self.cancel)
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName("Transfer message")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        transfer = QHBoxLayout()
        transfer.addWidget(self.progress, 1)
        transfer.addWidget(self.cancel_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addLayout(transfer)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)
        self._set_transferring(False)
        self.resize(720, self.sizeHint().height())

    # ------------------------------------------------------------------ status
    def refresh(self) -> Job:
        """Re-check every weight file (hashes them: in the io lane)."""
        check = Job(_statuses, name="weight status")
        check.returned.connect(lambda _id, statuses: self._show_statuses(statuses))
        check.errored.connect(lambda _id, exc: self.status_label.setText(describe_error(exc)))
        return self.io_lane.submit(check)

    def _show_statuses(self, statuses: list["WeightStatus"]) -> None:
        self.statuses = {s.key: s for s in statuses}
        for status in statuses:
            self.rows[status.key].show(status)
        self.statusesChanged.emit(statuses)

    def all_present(self) -> bool:
        return bool(self.statuses) and all(_is_present(s) for s in self.statuses.values())

    # ------------------------------------------------------------------ transfers
    def download(self, key: str) -> Job | None:
        return self._start(Job(job(_download, key, self.urls.get(key)), name=f"download {key}"), f"Downloading {key}…")

    def import_file(self, key: str, source: Path | str | None = None) -> Job | None:
        if source is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self, f"Import {self.rows[key].title.text()}", self.settings.get_path(Key.LAST_WEIGHTS_DIR)
            )
            if not chosen:
                return None
            source = chosen
        source = Path(source)
        self.settings.set(Key.LAST_WEIGHTS_DIR, str(source.parent))
        return self._start(Job(job(_import, key, source), name=f"import {key}"), f"Importing {source.name}…")

    def _start(self, transfer: Job, message: str) -> Job | None:
        if self.transfer is not None:
            return None
        transfer.progressed.connect(lambda _id, p: self._show_progress(p))
        transfer.returned.connect(lambda _id, path: self._transfer_done(path))
        transfer.errored.connect(lambda _id, exc: self._transfer_failed(exc))
        transfer.finished.connect(lambda _id: self._set_transferring(False))
        self.transfer = transfer
        self.status_label.setText(message)
        self.progress.busy(message)
        self._set_transferring(True)
        return self.transfer_lane.submit(transfer)

    def cancel(self) -> None:
        if self.transfer is not None:
            self.transfer.cancel()
            self.status_label.setText("Cancelling…")

    def _set_transferring(self, running: bool) -> None:
        if not running:
            self.transfer = None
        for row in self.rows.values():
            row.download.setEnabled(not running)
            row.import_.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)

    def _show_progress(self, progress: Progress) -> None:
        self.progress.show_progress(progress)
        if progress.message:
            self.status_label.setText(progress.message)

    def _transfer_done(self, path: Path) -> None:
        self.status_label.setText(f"Installed {path}")
        self.refresh()
        self.weightsChanged.emit()

    def _transfer_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.status_label.setText("Cancelled. A download started again resumes where it stopped.")
        else:
            self.status_label.setText(describe_error(exc))
        self.refresh()
