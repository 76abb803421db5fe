"""The mood timeline under the picture: the video's scenes as segments, coloured by their dominant emotion.

Each segment's colour is its scene's most probable emotion (:data:`EMOTION_COLOURS`, a fixed hue per emotion
so a mood reads the same in light and dark themes), its strength the model's confidence (a near-uniform
distribution is pale, a confident one full); a scene without an emotion (a single-task model, or halves of a
split not analysed yet) is drawn in the palette's mid colour. Hovering shows the five probabilities. A band
under the scenes shows the music chosen per cue (its title). The selected cue is outlined, the playhead is a
line.

Mouse: click a scene to select it as the cue (the picture seeks to its start); shift-click another to select
the run of scenes between; drag to select any range. Keys (while focused): Left/Right move to the previous/next
scene and select it, Shift+Left/Right extend the selection by a scene, Home/End the first/last scene, A the
whole video, S split at the playhead, M merge the current scene with the next.

The strip only shows and asks: scene edits are requested by signal and done by whoever owns the scenes, who
then calls :meth:`set_scenes` again.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QHelpEvent, QKeyEvent, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.scenes import Cue, Scene, range_cue, scene_cues, whole_video_cue

from . import text

EMOTION_COLOURS: dict[Emotion, QColor] = {
    Emotion.EXCITING: QColor("#f28e2b"),
    Emotion.FEARFUL: QColor("#8e5ab5"),
    Emotion.TENSE: QColor("#d64541"),
    Emotion.SAD: QColor("#3a78c2"),
    Emotion.RELAXING: QColor("#3ba55c"),
}
"""One hue per emotion (warm for aroused moods, cool for calm ones), far apart for colour-blind readers too."""

DRAG_PIXELS = 4
"""A press that moves further than this is a range drag, not a click."""
_KEYS = {Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_S, Qt.Key.Key_M,
         Qt.Key.Key_A}


def _seconds(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:04.1f}"


class TimelineStrip(QWidget):
    """See the module docstring. Empty until :meth:`set_scenes`."""

    cueSelected = Signal(object)  # engine.scenes.Cue
    seekRequested = Signal(float)  # seconds
    splitRequested = Signal(float)  # seconds (the playhead)
    mergeRequested = Signal(int)  # the index of the scene to merge with the next

    SCENE_HEIGHT = 30
    MARGIN = 2

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scenes: list[Scene] = []
        self._assigned: list[tuple[float, float, str]] = []
        self._cue: Cue | None = None
        self._current = -1  # the scene keyboard moves start from
        self._anchor = -1  # the scene a shift-selection extends from
        self._playhead = 0.0
        self._press: QPointF | None = None
        self._dragging = False
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Mood timeline")
        self._describe()

    # ------------------------------------------------------------------ state
    def set_scenes(self, scenes: Sequence[Scene], *, keep: Cue | None = None) -> None:
        """Show ``scenes`` (their emotions come from each scene's query); the selection becomes ``keep``."""
        self._scenes = list(scenes)
        self._cue = keep
        self._current = self.scene_at(keep.start) if keep is not None else -1
        self._anchor = self._current
        self._describe()
        self.update()

    def scenes(self) -> list[Scene]:
        return list(self._scenes)

    def set_assignments(self, assigned: Sequence[tuple[float, float, str]]) -> None:
        """Show the chosen music: ``(cue start, cue end, title)`` per cue that has a track."""
        self._assigned = list(assigned)
        self.update()

    def assignments(self) -> list[tuple[float, float, str]]:
        return list(self._assigned)

    def set_playhead(self, seconds: float) -> None:
        self._playhead = float(seconds)
        self.update()

    def playhead(self) -> float:
        return self._playhead

    def selected_cue(self) -> Cue | None:
        return self._cue

    def current_scene(self) -> int:
        return self._current

    @property
    def duration(self) -> float:
        return self._scenes[-1].end if self._scenes else 0.0

    def scene_at(self, seconds: float) -> int:
        """The index of the scene at ``seconds`` (the last one at or past the end), -1 with no scenes."""
        for scene in self._scenes:
            if seconds < scene.end:
                return scene.index
        return len(self._scenes) - 1

    # ------------------------------------------------------------------ selection
    def select(self, cue: Cue, *, seek: bool = True) -> None:
        self._cue = cue
        self._describe()
        self.update()
        self.cueSelected.emit(cue)
        if seek:
            self.seekRequested.emit(cue.start)

    def select_scene(self, index: int) -> None:
        index = max(0, min(len(self._scenes) - 1, index))
        self._current = self._anchor = index
        self.select(scene_cues(self._scenes)[index])

    def select_scenes(self, first: int, last: int) -> None:
        """The run of scenes ``first``..``last`` (either order) as one cue; ``current`` moves to ``last``."""
        last = max(0, min(len(self._scenes) - 1, last))
        lo, hi = sorted((first, last))
        if lo == hi:
            self._cue = None
            self.select(scene_cues(self._scenes)[lo])
        else:
            cue = range_cue(self._scenes, self._scenes[lo].start, self._scenes[hi].end, f"Scenes {lo + 1}-{hi + 1}")
            self.select(cue)
        self._current = last

    def select_all(self) -> None:
        self.select(whole_video_cue(self._scenes))

    # ------------------------------------------------------------------ geometry
    def sizeHint(self) -> QSize:
        return QSize(400, self.SCENE_HEIGHT + self._band_height() + 2 * self.MARGIN)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, self.sizeHint().height())

    def _band_height(self) -> int:
        return self.fontMetrics().height() + 4

    def _x(self, seconds: float) -> float:
        width = self.width() - 2 * self.MARGIN
        return self.MARGIN + (seconds / self.duration * width if self.duration > 0 else 0.0)

    def time_at(self, x: float) -> float:
        width = max(1, self.width() - 2 * self.MARGIN)
        return float(np.clip((x - self.MARGIN) / width, 0.0, 1.0) * self.duration)

    def _rect(self, start: float, end: float, top: float, height: float) -> QRectF:
        return QRectF(self._x(start), top, max(1.0, self._x(end) - self._x(start)), height)

    def x_of(self, seconds: float) -> int:
        """The pixel column of ``seconds`` (for tests and tooltips)."""
        return round(self._x(seconds))

    # ------------------------------------------------------------------ colours
    def scene_colour(self, scene: Scene) -> QColor:
        """Its dominant emotion's hue, blended toward the background by how unsure the model is."""
        probs = None if scene.query is None else scene.query.emotion_probs
        base = self.palette().color(QPalette.ColorRole.Base)
        if probs is None:
            return self.palette().color(QPalette.ColorRole.Mid)
        top = int(np.argmax(probs))
        # confidence 1/5 (uniform) -> 30 % of the hue, 1 -> all of it
        strength = 0.3 + 0.7 * float(np.clip((probs[top] - 0.2) / 0.8, 0.0, 1.0))
        hue = EMOTION_COLOURS[Emotion(top)]
        mix = lambda a, b: round(a * strength + b * (1 - strength))  # noqa: E731
        return QColor(mix(hue.red(), base.red()), mix(hue.green(), base.green()), mix(hue.blue(), base.blue()))

    @staticmethod
    def _ink(fill: QColor) -> QColor:
        return QColor(Qt.GlobalColor.black) if fill.lightnessF() > 0.55 else QColor(Qt.GlobalColor.white)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        palette = self.palette()
        top, height = float(self.MARGIN), float(self.SCENE_HEIGHT)
        band_top, band = top + height + 1, float(self._band_height() - 1)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Window))
        if not self._scenes:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Scenes appear here once the video is analysed")
            return
        for scene in self._scenes:
            rect = self._rect(scene.start, scene.end, top, height)
            fill = self.scene_colour(scene)
            painter.fillRect(rect, fill)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Window), 1))
            painter.drawLine(rect.topLeft(), rect.bottomLeft())
            painter.setPen(self._ink(fill))
            label = self._scene_label(scene, rect.width())
            painter.drawText(rect.adjusted(3, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             label)
        accent = palette.color(QPalette.ColorRole.Highlight)
        for start, end, title in self._assigned:
            rect = self._rect(start, end, band_top, band)
            painter.fillRect(rect.adjusted(1, 0, -1, 0), palette.color(QPalette.ColorRole.AlternateBase))
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            shown = self.fontMetrics().elidedText(f"♪ {title}", Qt.TextElideMode.ElideRight, int(rect.width()) - 6)
            painter.drawText(rect.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignVCenter, shown)
        if self._cue is not None:
            painter.setPen(QPen(accent, 3 if self.hasFocus() else 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            outline = self._rect(self._cue.start, self._cue.end, top + 1, height + band - 1)
            painter.drawRect(outline.adjusted(1, 0, -1, 0))
        painter.setPen(QPen(palette.color(QPalette.ColorRole.WindowText), 2))
        x = self._x(self._playhead)
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))

    def _scene_label(self, scene: Scene, width: float) -> str:
        probs = None if scene.query is None else scene.query.emotion_probs
        mood = f" {Emotion(int(np.argmax(probs))).label}" if probs is not None else ""
        return self.fontMetrics().elidedText(f"{scene.index + 1}{mood}", Qt.TextElideMode.ElideRight, int(width) - 5)

    # ------------------------------------------------------------------ hover
    def tooltip_text(self, seconds: float) -> str:
        """What hovering at ``seconds`` shows: the scene, its span, the five probabilities, the chosen music."""
        k = self.scene_at(seconds)
        if k < 0:
            return ""
        scene = self._scenes[k]
        lines = [f"Scene {k + 1}: {_seconds(scene.start)}–{_seconds(scene.end)}"]
        probs = None if scene.query is None else scene.query.emotion_probs
        if probs is None:
            lines.append("no emotion yet" if scene.query is None else "the model predicts no emotions")
        else:
            lines += [f"{e.label} {text.percent(p)}" for e, p in zip(Emotion, probs)]
        lines += [f"♪ {title}" for start, end, title in self._assigned if start <= seconds < end]
        return "\n".join(lines)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = self.tooltip_text(self.time_at(event.pos().x()))
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
            return True
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if event.key() in _KEYS and self._scenes:
                event.accept()  # the window's own Left/Right (seek) give way while the strip has focus
                return True
        return super().event(event)

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self._scenes:
            return super().mousePressEvent(event)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._press, self._dragging = event.position(), False

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None:
            return
        if abs(event.position().x() - self._press.x()) > DRAG_PIXELS:
            self._dragging = True
            a, b = sorted((self.time_at(self._press.x()), self.time_at(event.position().x())))
            if b > a:
                self._cue = range_cue(self._scenes, a, b)
                self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press is None or event.button() != Qt.MouseButton.LeftButton:
            return
        press, self._press = self._press, None
        clicked = self.scene_at(self.time_at(event.position().x()))
        if self._dragging:
            a, b = sorted((self.time_at(press.x()), self.time_at(event.position().x())))
            if b > a:
                self._current = self.scene_at(a)
                self.select(range_cue(self._scenes, a, b))
        elif event.modifiers() & Qt.KeyboardModifier.ShiftModifier and self._anchor >= 0:
            self.select_scenes(self._anchor, clicked)
        else:
            self.select_scene(clicked)

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, shift = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if not self._scenes or key not in _KEYS:
            return super().keyPressEvent(event)
        step = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}.get(key)
        if step is not None:
            last = len(self._scenes) - 1
            target = max(0, min(last, self._current + step)) if self._current >= 0 else (0 if step > 0 else last)
            if shift and self._anchor >= 0:
                self.select_scenes(self._anchor, target)
            else:
                self.select_scene(target)
        elif key == Qt.Key.Key_Home:
            self.select_scene(0)
        elif key == Qt.Key.Key_End:
            self.select_scene(len(self._scenes) - 1)
        elif key == Qt.Key.Key_A:
            self.select_all()
        elif key == Qt.Key.Key_S:
            self.splitRequested.emit(self._playhead)
        elif key == Qt.Key.Key_M:
            index = self._current if self._current >= 0 else self.scene_at(self._playhead)
            self.mergeRequested.emit(index)
        event.accept()

    def _describe(self) -> None:
        if not self._scenes:
            self.setAccessibleDescription("no scenes yet")
            return
        selected = f"; selected: {self._cue.label}" if self._cue is not None else ""
        self.setAccessibleDescription(f"{len(self._scenes)} scenes{selected}")


class CuePanel(QWidget):
    """The strip and the cue's controls: what the cue is and has, use the selected track for it, nudge its
    section by a beat or a bar, play the scored cut."""

    useRequested = Signal()
    nudgeRequested = Signal(int, str)  # steps (±1), "beat" or "bar"
    previewRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout

        super().__init__(parent)
        self.strip = TimelineStrip(self)
        self.cue_label = QLabel("", self)
        self.cue_label.setAccessibleName("Selected cue")
        self.cue_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)

        def button(label: str, tip: str, accessible: str, signal, *args) -> QToolButton:
            b = QToolButton(self)
            b.setText(label)
            b.setToolTip(tip)
            b.setAccessibleName(accessible)
            b.clicked.connect(lambda _checked=False: signal.emit(*args))
            return b

        self.use_button = button("Use for this cue", "Assign the selected track and its section to the cue (Enter "
                                 "or double-click in the results)", "Use for this cue", self.useRequested)
        self.nudge_buttons = [
            button("◀ bar", "Start the section a bar earlier (Ctrl+Shift+[)", "Section a bar earlier",
                   self.nudgeRequested, -1, "bar"),
            button("◀ beat", "Start the section a beat earlier (Ctrl+[)", "Section a beat earlier",
                   self.nudgeRequested, -1, "beat"),
            button("beat ▶", "Start the section a beat later (Ctrl+])", "Section a beat later",
                   self.nudgeRequested, 1, "beat"),
            button("bar ▶", "Start the section a bar later (Ctrl+Shift+])", "Section a bar later",
                   self.nudgeRequested, 1, "bar"),
        ]
        self.preview_button = button("Preview cut", "Play the whole cut with every cue's chosen section",
                                     "Preview the scored cut", self.previewRequested)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.cue_label, 1)
        for b in (self.use_button, *self.nudge_buttons, self.preview_button):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(2)
        layout.addWidget(self.strip)
        layout.addLayout(row)
        self.set_cue(None, None)

    def set_cue(self, cue: Cue | None, chosen: str | None, *, can_use: bool = False) -> None:
        """Say which cue the results are for and what it has; enable what applies."""
        if cue is None:
            self.cue_label.setText("Click a scene, or drag a range, to score it")
        else:
            has = f" — ♪ {chosen}" if chosen else ""
            self.cue_label.setText(f"{cue.label}: {_seconds(cue.start)}–{_seconds(cue.end)}{has}")
        self.use_button.setEnabled(cue is not None and can_use)
        for b in self.nudge_buttons:
            b.setEnabled(bool(chosen))
