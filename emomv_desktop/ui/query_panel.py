"""The query pane: which video is analysed, how far the analysis is, and the video's emotion."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QWidget

from emomv_desktop.engine.jobs import Progress

from . import text
from .emotion_chart import EmotionChart
from .progress import ProgressBar


class QueryState(str, enum.Enum):
    """What the pane shows; tests and the window read it instead of parsing labels."""

    EMPTY = "empty"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class QueryPanel(QWidget):
    """Video name and length, analysis progress with Cancel, a message line, and the emotion chart."""

    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = QueryState.EMPTY
        self.video_label = QLabel("No video yet", self)
        self.video_label.setObjectName("videoName")
        self.video_label.setAccessibleName("Video")
        self.video_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.video_label.font()
        font.setBold(True)
        self.video_label.setFont(font)
        self.progress = ProgressBar("Analysis progress", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel analysis")
        self.cancel_button.setToolTip("Stop analysing this video (Esc)")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Analysis message")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = EmotionChart(self)

        layout = QGridLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.video_label, 0, 0, 1, 2)
        layout.addWidget(self.progress, 1, 0)
        layout.addWidget(self.cancel_button, 1, 1)
        layout.addWidget(self.message, 2, 0, 1, 2)
        layout.addWidget(self.chart, 3, 0, 1, 2)
        layout.setColumnStretch(0, 1)
        self._show_progress(False)

    def _show_progress(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)

    def _set_video(self, path: Path, duration: float | None = None) -> None:
        suffix = f"  ({text.clock(duration)})" if duration is not None else ""
        self.video_label.setText(f"{path.name}{suffix}")
        self.video_label.setToolTip(str(path))

    # ---- states
    def start(self, path: Path) -> None:
        self.state = QueryState.RUNNING
        self._set_video(path)
        self.progress.busy("Starting…")
        self.message.setText("")
        self.chart.set_probabilities(None)
        self._show_progress(True)

    def wait(self, path: Path) -> None:
        """``path`` was opened while the networks still load: it runs as soon as they are ready."""
        self.start(path)
        self.progress.busy("Loading the networks… the analysis starts when they are ready")

    def set_progress(self, progress: Progress) -> None:
        self.progress.show_progress(progress)

    def finish(self, path: Path, duration: float | None, probs: Sequence[float] | None, count: int) -> None:
        """Analysis done: ``probs`` are the video's five emotion probabilities, ``count`` tracks were ranked."""
        self.state = QueryState.DONE
        self._set_video(path, duration)
        self._show_progress(False)
        self.chart.set_probabilities(probs)
        top = self.chart.top_emotion()
        feels = f"Feels {top.label}." if top is not None else "(This model predicts no emotions.)"
        if count:
            self.message.setText(f"{feels} {count} tracks ranked, best first.")
        else:
            self.message.setText(f"{feels} No indexed tracks to rank yet: add a music folder in the Library panel.")

    def fail(self, path: Path | None, message: str) -> None:
        self.state = QueryState.FAILED
        if path is not None:
            self._set_video(path)
        self._show_progress(False)
        self.message.setText(message)

    def notice(self, message: str) -> None:
        """A message about another file; the state (and a running analysis) is unchanged."""
        self.message.setText(message)

    def cancelled(self, path: Path) -> None:
        self.state = QueryState.CANCELLED
        self._set_video(path)
        self._show_progress(False)
        self.message.setText("Analysis cancelled.")
