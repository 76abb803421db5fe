"""A small bar chart of the five emotion probabilities, painted with the palette's colours.

Drawing with ``QPalette`` roles (highlight for the predicted emotion, mid for the others, the window's text
colour for labels) makes the chart follow the system's light or dark theme with no colours of its own.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from emomv_desktop.engine.emotions import Emotion

from . import text


class EmotionChart(QWidget):
    """Horizontal bars, one per emotion: label, bar, percentage. Empty until :meth:`set_probabilities`."""

    ROW_SPACING = 4

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._probs: tuple[float, ...] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Video emotion")
        self.setToolTip("The video's predicted emotion: probability of each of the five EmoMV emotions")
        self._describe()

    def set_probabilities(self, probs: Sequence[float] | None) -> None:
        """Show ``probs`` (five values summing to 1, in :class:`Emotion` order), or nothing."""
        if probs is not None and len(probs) != len(Emotion):
            raise ValueError(f"expected {len(Emotion)} probabilities, got {len(probs)}")
        self._probs = None if probs is None else tuple(float(p) for p in probs)
        self._describe()
        self.update()

    def probabilities(self) -> tuple[float, ...] | None:
        return self._probs

    def top_emotion(self) -> Emotion | None:
        if self._probs is None:
            return None
        return Emotion(max(range(len(self._probs)), key=self._probs.__getitem__))

    def _describe(self) -> None:
        """Screen readers get the numbers the bars show."""
        if self._probs is None:
            self.setAccessibleDescription("no video analysed yet")
        else:
            self.setAccessibleDescription(
                ", ".join(f"{e.label} {text.percent(p)}" for e, p in zip(Emotion, self._probs))
            )

    def _row_height(self) -> int:
        return self.fontMetrics().height() + self.ROW_SPACING

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        label_width = max(metrics.horizontalAdvance(e.label) for e in Emotion)
        return QSize(label_width + 160, self._row_height() * len(Emotion))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.sizeHint().width() - 80, self.sizeHint().height())

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        metrics = self.fontMetrics()
        label_width = max(metrics.horizontalAdvance(e.label) for e in Emotion) + 8
        value_width = metrics.horizontalAdvance("100%") + 8
        bar_width = max(10, self.width() - label_width - value_width)
        row = self._row_height()
        top = self.top_emotion()
        for i, emotion in enumerate(Emotion):
            y = i * row
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            painter.drawText(QRectF(0, y, label_width - 8, row), Qt.AlignmentFlag.AlignVCenter, emotion.label)
            track = QRectF(label_width, y + 3, bar_width, row - 6)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(track, 3, 3)
            if self._probs is None:
                continue
            p = self._probs[i]
            role = QPalette.ColorRole.Highlight if emotion == top else QPalette.ColorRole.Mid
            painter.setBrush(palette.color(role))
            painter.drawRoundedRect(QRectF(track.x(), track.y(), max(2.0, bar_width * p), track.height()), 3, 3)
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            painter.drawText(
                QRectF(label_width + bar_width, y, value_width, row),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                text.percent(p),
            )
        painter.end()
