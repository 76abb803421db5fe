"""The preview pane: the video picture, the transport controls and what is playing.

The pane only displays and forwards: every command goes to the :class:`~emomv_desktop.ui.player.Player`.
Without QtMultimedia it shows the player's reason instead of the picture and disables its controls.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import text
from .player import Player

DROP_HINT = "Drop a video here\nor use File → Open video… (Ctrl+O)"
SLIDER_STEPS_PER_SECOND = 10


def _tool_button(parent: QWidget, icon: QStyle.StandardPixmap, name: str, tip: str) -> QToolButton:
    button = QToolButton(parent)
    button.setIcon(parent.style().standardIcon(icon))
    button.setAccessibleName(name)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    return button


class PreviewPane(QWidget):
    """Picture (or drop hint) on top, transport row below, the current track's name under it."""

    previousRequested = Signal()
    nextRequested = Signal()

    def __init__(self, player: Player, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self._dragging = False
        self._build()
        self._connect()
        self.set_enabled(False)

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        self.stack = QStackedWidget(self)
        self.stack.setMinimumSize(320, 112)  # short: the window fits a 1024x700 screen with its frame
        self.stack.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.hint = QLabel(DROP_HINT, self.stack)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setObjectName("dropHint")
        self.hint.setAccessibleName("Drop zone")
        self.stack.addWidget(self.hint)
        self.video_widget = self._make_video_widget()
        self.stack.addWidget(self.video_widget)

        self.play_button = _tool_button(self, QStyle.StandardPixmap.SP_MediaPlay, "Play", "Play / pause (Space)")
        self.previous_button = _tool_button(
            self, QStyle.StandardPixmap.SP_MediaSkipBackward, "Previous track", "Previous track (Ctrl+Up)"
        )
        self.next_button = _tool_button(
            self, QStyle.StandardPixmap.SP_MediaSkipForward, "Next track", "Next track (Ctrl+Down)"
        )
        self.position_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.position_slider.setAccessibleName("Position")
        self.position_slider.setToolTip("Position in the video (Left / Right: 5 s back / ahead)")
        self.time_label = QLabel(self._time_text(0.0, 0.0), self)
        self.time_label.setAccessibleName("Time")
        self.time_label.setMinimumWidth(self.time_label.fontMetrics().horizontalAdvance("00:00:00 / 00:00:00"))
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        volume_icon = QLabel(self)
        volume_icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaVolume).pixmap(16, 16))
        self.volume_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.volume_slider.setRange(0, 100)
        self.volume_slider.setValue(round(self.player.volume * 100))
        self.volume_slider.setMaximumWidth(110)
        self.volume_slider.setAccessibleName("Volume")
        self.volume_slider.setToolTip("Volume of the track")
        self.track_label = QLabel("", self)
        self.track_label.setAccessibleName("Now playing")
        self.track_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        transport = QHBoxLayout()
        transport.setContentsMargins(0, 0, 0, 0)
        for widget in (self.previous_button, self.play_button, self.next_button):
            transport.addWidget(widget)
        transport.addWidget(self.position_slider, 1)
        transport.addWidget(self.time_label)
        transport.addSpacing(8)
        transport.addWidget(volume_icon)
        transport.addWidget(self.volume_slider)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addLayout(transport)
        layout.addWidget(self.track_label)

    def _make_video_widget(self) -> QWidget:
        """A QVideoWidget attached to the player, or a label saying why there is no preview."""
        if not self.player.available:
            label = QLabel(f"No preview: {self.player.unavailable_reason}.\nAnalysis and hand-off still work.")
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setObjectName("previewUnavailable")
            return label
        from PySide6.QtMultimediaWidgets import QVideoWidget

        widget = QVideoWidget(self.stack)
        widget.setAccessibleName("Video preview")
        # The widget paints through a window container, which accepts every drop for its native window (and
        # tells the file manager so) but does nothing with it: let drops through to the main window instead.
        for child in widget.findChildren(QWidget):
            child.setAcceptDrops(False)
        self.player.video_player().setVideoOutput(widget)
        return widget

    def _connect(self) -> None:
        self.play_button.clicked.connect(self.player.toggle)
        self.previous_button.clicked.connect(self.previousRequested)
        self.next_button.clicked.connect(self.nextRequested)
        self.position_slider.sliderPressed.connect(lambda: setattr(self, "_dragging", True))
        self.position_slider.sliderReleased.connect(self._on_slider_released)
        self.position_slider.valueChanged.connect(self._on_slider_value)
        self.volume_slider.valueChanged.connect(lambda v: self.player.set_volume(v / 100.0))
        self.player.positionChanged.connect(self._on_position)
        self.player.durationChanged.connect(self._on_duration)
        self.player.playingChanged.connect(self._on_playing)

    # ---------------------------------------------------------------- state
    def set_enabled(self, enabled: bool) -> None:
        """Controls work only with a video loaded and a working player."""
        enabled = enabled and self.player.available
        for widget in (self.play_button, self.position_slider, self.previous_button, self.next_button):
            widget.setEnabled(enabled)

    def show_hint(self, message: str = DROP_HINT) -> None:
        self.hint.setText(message)
        self.stack.setCurrentWidget(self.hint)
        self.set_enabled(False)

    def show_video(self) -> None:
        self.stack.setCurrentWidget(self.video_widget)

    def set_track_text(self, description: str) -> None:
        self.track_label.setText(description)

    # ---------------------------------------------------------------- player -> widgets
    @staticmethod
    def _time_text(position: float, duration: float) -> str:
        return f"{text.clock(position)} / {text.clock(duration)}"

    def _on_position(self, seconds: float) -> None:
        if not self._dragging:
            self.position_slider.blockSignals(True)
            self.position_slider.setValue(round(seconds * SLIDER_STEPS_PER_SECOND))
            self.position_slider.blockSignals(False)
        self.time_label.setText(self._time_text(seconds, self.player.duration()))

    def _on_duration(self, seconds: float) -> None:
        self.position_slider.setRange(0, max(0, round(seconds * SLIDER_STEPS_PER_SECOND)))
        self.time_label.setText(self._time_text(self.player.position(), seconds))

    def _on_playing(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.play_button.setAccessibleName("Pause" if playing else "Play")

    # ---------------------------------------------------------------- widgets -> player
    def _on_slider_value(self, value: int) -> None:
        """Keyboard and clicks on the slider seek at once; a mouse drag seeks when released."""
        if not self._dragging:
            self.player.seek(value / SLIDER_STEPS_PER_SECOND)

    def _on_slider_released(self) -> None:
        self._dragging = False
        self.player.seek(self.position_slider.value() / SLIDER_STEPS_PER_SECOND)
