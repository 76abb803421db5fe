"""The model-setup dialog (the first-run welcome): what is needed, one download with progress, import a file.

Status checks re-hash the weight files, downloads and imports take long: all of it runs in worker lanes.
The dialog never loads a network; it tells the window (``weightsChanged``) when a file was installed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
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

WELCOME = "Welcome to EmoMV Desktop"
PRESENT_MARK = " ✓"
ROLES = {"slowfast_r50": "watches the video", "vggish": "listens to the music"}


def intro_text() -> str:
    """What the app needs, in words, with the size of the downloads from the weights registry."""
    from emomv_desktop.engine import weights

    names = " and ".join(spec.plain_name for spec in weights.REGISTRY.values())
    return (f"To find music for a video, EmoMV Desktop needs {len(weights.REGISTRY)} pretrained networks, "
            f"{names}: {weights.total_size_text()} to download once. They are checked before use. "
            f"No internet here? Use Import file… with copies fetched on another computer.")


def addresses_text() -> str:
    """Each file name and its official address, one a line (to copy for a download elsewhere)."""
    from emomv_desktop.engine import weights

    return "\n".join(f"{spec.filename}  {spec.url}" for spec in weights.REGISTRY.values())


def _statuses(_progress: ProgressCallback, _cancel: CancelToken) -> list["WeightStatus"]:
    from emomv_desktop.engine import weights

    return [weights.weight_status(key) for key in weights.REGISTRY]


def _download(keys: list[str], urls: dict[str, str], progress: ProgressCallback, cancel: CancelToken) -> Path:
    """Download ``keys`` one after the other, reported as one transfer (bytes of all of them together)."""
    from emomv_desktop.engine import weights
    from emomv_desktop.engine.jobs import Progress

    sizes = {key: weights.approx_size(key) for key in keys}
    path = Path()
    for i, key in enumerate(keys):
        before = sum(sizes[k] for k in keys[:i])

        def step(p: Progress, before: int = before, key: str = key) -> None:
            rest = sum(sizes[k] for k in keys[i + 1:])
            total = before + (p.total or sizes[key]) + rest
            progress(Progress(before + p.done, total, p.message))

        path = weights.download(key, url=urls.get(key), progress=step, cancel=cancel)
    return path


def _import(key: str, source: Path, progress: ProgressCallback, cancel: CancelToken) -> Path:
    from emomv_desktop.engine import weights
    from emomv_desktop.engine.jobs import report

    report(progress, 0, None, f"verifying {source.name}")
    return weights.import_file(key, source)


def _is_present(status: "WeightStatus") -> bool:
    from emomv_desktop.engine.weights import WeightState

    return status.state == WeightState.PRESENT


def rate_text(done: float, total: float | None, seconds: float, since: float) -> str:
    """``120 of 427 MB · 4.0 MB/s · 1 min 17 s left``: bytes ``since`` the start count for the speed."""
    mb = 1e6
    text = f"{done / mb:.0f} of {total / mb:.0f} MB" if total else f"{done / mb:.0f} MB"
    speed = (done - since) / seconds if seconds > 0.5 else 0.0
    if speed <= 0:
        return text
    text += f" · {speed / mb:.1f} MB/s"
    if total and total > done:
        left = round((total - done) / speed)
        text += f" · {left // 60} min {left % 60} s left" if left >= 60 else f" · {left} s left"
    return text


class _BackboneRow:
    """The widgets of one backbone in the dialog's grid: its name and role, state, Import, Download again."""

    def __init__(self, parent: QWidget, name: str, role: str) -> None:
        self.name = name
        self.title = QLabel(f"<b>{name}</b> {role}" if role else f"<b>{name}</b>", parent)
        self.state = QLabel("Checking…", parent)
        self.state.setMinimumWidth(self.state.fontMetrics().horizontalAdvance("Present" + PRESENT_MARK + "  "))
        self.message = QLabel("", parent)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download = QPushButton("Download again", parent)
        self.download.hide()  # the dialog's one Download button gets what is missing; this one re-fetches
        self.import_ = QPushButton("Import file…", parent)
        for widget, label in ((self.download, "Download again"), (self.import_, "Import file for"),
                              (self.state, "State of"), (self.message, "Details of")):
            widget.setAccessibleName(f"{label} {name}")
        self.download.setToolTip(f"Download {name} again from its official address")
        self.import_.setToolTip(f"Install a copy of the {name} file fetched on another computer")

    def show(self, status: "WeightStatus") -> None:
        present = _is_present(status)
        self.state.setText(status.state.value.capitalize() + (PRESENT_MARK if present else ""))
        self.message.setText(status.plain)
        self.download.setVisible(status.state.value != "missing")


class ModelSetupDialog(QDialog):
    """The welcome: what is needed, one Download (with size, speed, time left, cancel, resume), Import file…"""

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
        """``urls`` replaces official download addresses (a mirror; tests use local URLs)."""
        super().__init__(parent)
        from emomv_desktop.engine import weights

        self.io_lane, self.transfer_lane = io_lane, transfer_lane
        self.settings = settings
        self.urls = dict(urls or {})
        self.statuses: dict[str, WeightStatus] = {}
        self.transfer: Job | None = None
        self._started = (0.0, 0.0)  # monotonic time and bytes done when the transfer's first report came
        self.setWindowTitle("Model setup")
        self.setAccessibleName("Model setup")
        self.rows = {key: _BackboneRow(self, spec.plain_name, ROLES.get(key, "")) for key, spec in weights.REGISTRY.items()}
        self._build()

    def _build(self) -> None:
        heading = QLabel(f"<h3>{WELCOME}</h3>", self)
        self.intro = QLabel(intro_text(), self)
        self.intro.setWordWrap(True)
        self.intro.setAccessibleName("What is needed")
        self.download_button = QPushButton("Download", self)
        self.download_button.setDefault(True)
        self.download_button.setAccessibleName("Download the networks")
        self.download_button.setToolTip("Download every missing network (an interrupted download resumes)")
        self.download_button.clicked.connect(lambda: self.download())
        grid = QGridLayout()
        for i, (key, row) in enumerate(self.rows.items()):
            grid.addWidget(row.title, i, 0)
            grid.addWidget(row.state, i, 1)
            grid.addWidget(row.message, i, 2)
            grid.addWidget(row.download, i, 3)
            grid.addWidget(row.import_, i, 4)
            row.download.clicked.connect(lambda _=False, k=key: self.download(k))
            row.import_.clicked.connect(lambda _=False, k=key: self.import_file(k))
        grid.setColumnStretch(2, 1)
        self.progress = ProgressBar("Transfer progress", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel transfer")
        self.cancel_button.clicked.connect(self.cancel)
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName("Transfer message")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.addresses = QPlainTextEdit(addresses_text(), self)
        self.addresses.setReadOnly(True)
        self.addresses.setAccessibleName("File names and addresses")
        self.addresses.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.addresses.setMaximumHeight(self.addresses.fontMetrics().lineSpacing() * 4)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setAccessibleName("Copy file names and addresses")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.addresses.toPlainText()))
        offline = QHBoxLayout()
        offline.addWidget(self.addresses, 1)
        offline.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        self.offline_box = QWidget(self)
        self.offline_box.setLayout(offline)
        self.offline_box.hide()  # shown when a download fails: what to fetch on another computer
        transfer = QHBoxLayout()
        transfer.addWidget(self.download_button)
        transfer.addWidget(self.progress, 1)
        transfer.addWidget(self.cancel_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.intro)
        layout.addLayout(transfer)
        layout.addLayout(grid)
        layout.addWidget(self.status_label)
        layout.addWidget(self.offline_box)
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
        self.download_button.setVisible(not self.all_present())
        self.statusesChanged.emit(statuses)

    def all_present(self) -> bool:
        return bool(self.statuses) and all(_is_present(s) for s in self.statuses.values())

    def missing(self) -> list[str]:
        """The keys to download: those not present (every key before the first status check)."""
        return [key for key in self.rows if key not in self.statuses or not _is_present(self.statuses[key])]

    # ------------------------------------------------------------------ transfers
    def download(self, key: str | None = None) -> Job | None:
        """Download ``key`` again, or (no key) every missing network as one transfer."""
        keys = [key] if key else self.missing()
        if not keys:
            return None
        return self._start(Job(job(_download, keys, self.urls), name="download"), "Downloading…")

    def import_file(self, key: str, source: Path | str | None = None) -> Job | None:
        if source is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self, f"Import the {self.rows[key].name} file", self.settings.get_path(Key.LAST_WEIGHTS_DIR)
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
        self._started = (0.0, 0.0)
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
        self.download_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)

    def _show_progress(self, progress: Progress) -> None:
        now = time.monotonic()
        if not self._started[0]:
            self._started = (now, progress.done)
        started, since = self._started
        self.progress.show_progress(progress, rate_text(progress.done, progress.total, now - started, since)
                                    if progress.total else None)
        if progress.message:
            self.status_label.setText(progress.message)

    def _transfer_done(self, path: Path) -> None:
        self.status_label.setText(f"Installed {path.name}")
        self.offline_box.hide()
        self.refresh()
        self.weightsChanged.emit()

    def _transfer_failed(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.status_label.setText("Cancelled. Download again resumes where it stopped.")
        else:
            self.status_label.setText(describe_error(exc))
            self.offline_box.show()
        self.refresh()
