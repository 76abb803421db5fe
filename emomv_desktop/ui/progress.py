"""A progress bar that shows the engine's :class:`~emomv_desktop.engine.jobs.Progress` as it is."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QWidget

from emomv_desktop.engine.jobs import Progress

PROGRESS_STEPS = 1000  # resolution of the bars: a permille of the job


class ProgressBar(QProgressBar):
    """Determinate when the job knows its total, a busy indicator when it does not; text says what is done."""

    def __init__(self, accessible_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(accessible_name)
        self.setRange(0, PROGRESS_STEPS)
        self.setValue(0)
        self.setTextVisible(True)

    def show_progress(self, progress: Progress, text: str | None = None) -> None:
        """``text`` replaces the job's own message (``%p%`` is the percentage)."""
        fraction = progress.fraction
        if fraction is None:
            self.busy(text or progress.message or "Working…")
            return
        self.setRange(0, PROGRESS_STEPS)
        self.setValue(round(fraction * PROGRESS_STEPS))
        self.setFormat(text if text is not None else f"{progress.message or 'Working'} – %p%")

    def busy(self, text: str) -> None:
        self.setRange(0, 0)
        self.setFormat(text)

    def stop(self, text: str, *, complete: bool = False) -> None:
        """Leave busy mode showing ``text``; full when ``complete``, else where it was."""
        value = self.value()
        self.setRange(0, PROGRESS_STEPS)
        self.setValue(PROGRESS_STEPS if complete else max(0, value))
        self.setFormat(text)
