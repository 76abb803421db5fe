"""The selected track's waveform under the picture: its section shaded, the playhead, scrubbing, moving the section.

:class:`WaveformView` paints and takes the mouse and keys; it knows only the track's timeline (seconds into the
track file). Its shaded section is what plays against the picture from its cue's start: ``audio position =
section start + video position - cue start``. Dragging the section moves its start (its length, the cue's, is
kept; it stays inside the track); a click (on the section or off it) or a drag off it scrubs: the picture goes to
``time - section start + cue start``, clamped
to the video (left of the section: its start), and the sound with it. Keys: Left/Right move the section by
:data:`STEP_SECONDS`, with Shift by a beat (the track's beat grid, else its tempo) or :data:`SHIFT_STEP_SECONDS`
when the track has neither; Home puts it back on the best section.

:class:`WaveformController` reads the peaks in a worker (``service.track_waveform`` on its lane; a newer track
cancels the older read and its late result is dropped), keeps the view's playhead on the player, and applies a
moved section to the player at once (:meth:`Player.set_offset`: one seek of the track, no reload). The sound
follows when the drag is released, not on every mouse move: each seek restarts the sound device, and a track
re-seeked continuously is heard in fragments.

:class:`SectionEdits` remembers the moved sections per query, cue and track, so that every ranking of the same
cue shows them: the results' section column, the preview export, the cue's choice and the exported documents all
read the moved suggestion.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Hashable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QHelpEvent, QKeyEvent, QMouseEvent, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from emomv_desktop.engine import service
from emomv_desktop.engine.beats import nudge
from emomv_desktop.engine.errors import Cancelled, PathError

from . import text
from .player import Player
from .worker import Job, Requests, WorkerLane, describe_error, job

if TYPE_CHECKING:
    from emomv_desktop.engine.beats import Beats
    from emomv_desktop.engine.ranking import Suggestion
    from emomv_desktop.engine.waveform import Peaks

STEP_SECONDS = 1.0
SHIFT_STEP_SECONDS = 5.0
LOADING_TEXT = "Reading waveform…"
EMPTY_TEXT = "Select a track to see its waveform"
TOOLTIP = ("The selected track's sound. The shaded part plays with the picture: drag it to start the music "
           "elsewhere (Left / Right: 1 s, with Shift: a beat; Home: back to the best part). Click to jump the "
           "picture and the sound there.")
_KEYS = {Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home}
DRAG_PIXELS = 4
"""A press on the section that moves further than this drags it; a shorter one is a click (scrub)."""


class WaveformView(QWidget):
    """See the module docstring. Empty (a hint) until :meth:`set_track`."""

    sectionMoved = Signal(float)  # the section's new start (s into the track): a drag released, a key
    scrubRequested = Signal(float)  # a time in the track (s) clicked or dragged to outside the section

    MARGIN = 3

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._peaks: Peaks | None = None
        self._duration = 0.0
        self._start = self._length = self._best = 0.0
        self._playhead: float | None = None
        self._message = EMPTY_TEXT
        self._beats: Beats | None = None
        self._bpm: float | None = None
        self._grab: float | None = None  # pressed on the section: where in it the mouse took it
        self._press_x: float | None = None  # ... and where, until it moves further than DRAG_PIXELS
        self._scrub: float | None = None  # scrubbing: where the mouse is (s)
        self._cached: tuple[tuple, QPixmap] | None = None  # (what it shows, the picture): see _picture
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Track waveform")
        self.setToolTip(TOOLTIP)
        self._describe()

    # ------------------------------------------------------------------ state
    def set_track(self, duration: float, start: float, length: float, best: float | None = None) -> None:
        """A track ``duration`` s long whose section ``[start, start + length)`` plays (``best``: Home's start)."""
        self._peaks, self._playhead, self._grab, self._scrub = None, None, None, None
        self._duration, self._length = max(0.0, float(duration)), max(0.0, float(length))
        self._start = self._clamped(float(start))
        self._best = self._start if best is None else self._clamped(float(best))
        self._beats, self._bpm = None, None
        self._message = LOADING_TEXT
        self.setToolTip(TOOLTIP)
        self._describe()
        self.update()

    def clear(self) -> None:
        self.set_track(0.0, 0.0, 0.0)
        self._message = EMPTY_TEXT
        self.update()

    def set_peaks(self, peaks: "Peaks") -> None:
        self._peaks, self._message = peaks, ""
        if not self._duration:
            self._duration = peaks.duration
        self.update()

    def set_message(self, message: str, tip: str = "") -> None:
        """Show ``message`` instead of the waveform (one line, cut to fit; ``tip`` the whole story)."""
        self._peaks, self._message = None, message
        self.setToolTip(f"{tip}\n\n{TOOLTIP}" if tip else TOOLTIP)
        self.update()

    def set_beats(self, beats: "Beats | None", bpm: float | None) -> None:
        """What Shift+Left/Right step by: the beat grid where known, else the tempo."""
        self._beats, self._bpm = beats, bpm

    def set_playhead(self, seconds: float | None) -> None:
        """Where the sound is, in seconds into the track (None: no playhead)."""
        self._playhead = seconds
        self.update()

    def message(self) -> str:
        return self._message

    def peaks(self) -> "Peaks | None":
        return self._peaks

    def section_start(self) -> float:
        return self._start

    def section_length(self) -> float:
        return self._length

    def move_section(self, start: float) -> float:
        """Move the section to ``start`` (clamped: it stays inside the track) and say so; returns the start."""
        start = self._clamped(start)
        if start != self._start:
            self._start = start
            self._describe()
            self.update()
        self.sectionMoved.emit(start)
        return start

    def _clamped(self, start: float) -> float:
        return float(np.clip(start, 0.0, max(0.0, self._duration - self._length)))

    # ------------------------------------------------------------------ geometry
    def sizeHint(self) -> QSize:
        return QSize(400, 56)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, 40)

    def x_of(self, seconds: float) -> float:
        """The x of ``seconds`` into the track."""
        width = self.width() - 2 * self.MARGIN
        return self.MARGIN + (seconds / self._duration * width if self._duration > 0 else 0.0)

    def time_at(self, x: float) -> float:
        """Seconds into the track at ``x`` (clamped to the track)."""
        width = max(1, self.width() - 2 * self.MARGIN)
        return float(np.clip((x - self.MARGIN) / width, 0.0, 1.0) * self._duration)

    def section_rect(self) -> QRectF:
        x0, x1 = self.x_of(self._start), self.x_of(self._start + self._length)
        return QRectF(x0, 0.0, max(2.0, x1 - x0), float(self.height()))

    # ------------------------------------------------------------------ painting
    def _columns(self, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pixel column: the lowest minimum, highest maximum and largest RMS of its buckets (a column
        narrower than a bucket takes its bucket's)."""
        peaks = self._peaks
        n = peaks.buckets
        seconds = np.arange(width) / width * self._duration
        starts = np.minimum((seconds / max(peaks.duration, 1e-9) * n).astype(np.int64), n - 1)
        return (np.minimum.reduceat(peaks.minimum, starts), np.maximum.reduceat(peaks.maximum, starts),
                np.maximum.reduceat(peaks.rms, starts))

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._picture())
        playhead = self._scrub if self._scrub is not None else self._playhead
        if playhead is not None and self._duration > 0:
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.WindowText), 2))
            x = self.x_of(playhead)
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))

    def _picture(self) -> QPixmap:
        """Everything but the playhead, drawn again only when it changes (the playhead moves many times a second)."""
        key = (self.size().toTuple(), self.devicePixelRatioF(), self._start, self._length, self._duration,
               id(self._peaks), self._message, self.hasFocus(), self.palette().cacheKey())
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(round(self.width() * ratio), round(self.height() * ratio))
        pixmap.setDevicePixelRatio(ratio)
        painter = QPainter(pixmap)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        accent = palette.color(QPalette.ColorRole.Highlight)
        section = self._duration > 0 and self._length > 0
        if section:
            shade = QColor(accent)
            shade.setAlpha(70)
            painter.fillRect(self.section_rect(), shade)
        if self._peaks is not None and self._peaks.buckets:
            self._paint_peaks(painter, palette, accent)
        elif self._message:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            shown = self.fontMetrics().elidedText(self._message, Qt.TextElideMode.ElideRight, self.width() - 8)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, shown)
        if section:
            painter.setPen(QPen(accent, 3 if self.hasFocus() else 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self.section_rect().adjusted(1, 1, -1, -1))
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            label = text.section(self._start, self._start + self._length)
            room = self.section_rect().adjusted(4, 1, -2, 0)
            if self.fontMetrics().horizontalAdvance(label) < room.width():
                painter.drawText(room, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, label)
        painter.end()
        self._cached = (key, pixmap)
        return pixmap

    def _paint_peaks(self, painter: QPainter, palette: QPalette, accent: QColor) -> None:
        width = max(1, self.width() - 2 * self.MARGIN)
        low, high, rms = self._columns(width)
        middle, half = self.height() / 2.0, self.height() / 2.0 - self.MARGIN
        x0, x1 = self.x_of(self._start), self.x_of(self._start + self._length)
        xs = self.MARGIN + np.arange(width) + 0.5
        inside = (xs >= x0) & (xs <= x1)
        outside_ink = palette.color(QPalette.ColorRole.Text)
        outside_ink.setAlpha(110)
        for ink, columns in ((outside_ink, ~inside), (accent, inside)):
            painter.setPen(ink)
            painter.drawLines([QLineF(x, middle - hi * half, x, middle - lo * half)
                               for x, lo, hi in zip(xs[columns], low[columns], high[columns])])
        painter.setPen(accent.darker(150))  # the loudness, darker, in the section: where the music swells
        painter.drawLines([QLineF(x, middle - r * half, x, middle + r * half)
                           for x, r in zip(xs[inside], rms[inside])])

    # ------------------------------------------------------------------ hover
    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent) and self._duration > 0:
            at = text.clock(self.time_at(event.pos().x()))
            QToolTip.showText(event.globalPos(), f"{at} into the track\n\n{self.toolTip()}", self)
            return True
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if event.key() in _KEYS and self._duration > 0:
                event.accept()  # the window's Left/Right (seek the picture) give way while the waveform has focus
                return True
        return super().event(event)

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._duration <= 0:
            return super().mousePressEvent(event)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        x = event.position().x()
        if self._length > 0 and self.section_rect().left() <= x <= self.section_rect().right():
            self._grab, self._press_x = self.time_at(x) - self._start, x
        else:
            self._scrub = self.time_at(x)
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        at = self.time_at(x)
        if self._press_x is not None and abs(x - self._press_x) > DRAG_PIXELS:
            self._press_x = None  # a drag, not a click
        if self._grab is not None and self._press_x is None:
            self._start = self._clamped(at - self._grab)
            self._describe()
            self.update()
        elif self._scrub is not None:
            self._scrub = at
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self._grab is not None:
            clicked, self._grab, self._press_x = self._press_x is not None, None, None
            if clicked:  # a click on the section: jump there, like anywhere else
                self.scrubRequested.emit(self.time_at(event.position().x()))
            else:
                self.move_section(self._start)
        elif self._scrub is not None:
            at, self._scrub = self.time_at(event.position().x()), None
            self.update()
            self.scrubRequested.emit(at)

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key not in _KEYS or self._duration <= 0:
            return super().keyPressEvent(event)
        if key == Qt.Key.Key_Home:
            self.move_section(self._best)
        else:
            sign = 1 if key == Qt.Key.Key_Right else -1
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.move_section(self._beat_step(sign))
            else:
                self.move_section(self._start + sign * STEP_SECONDS)
        event.accept()

    def _beat_step(self, sign: int) -> float:
        if self._beats is not None and self._beats.found:
            return nudge(self._beats, self._start, sign, "beat")
        step = 60.0 / self._bpm if self._bpm else SHIFT_STEP_SECONDS
        return self._start + sign * step

    def _describe(self) -> None:
        if self._duration <= 0:
            self.setAccessibleDescription("no track selected")
            return
        self.setAccessibleDescription(f"section {text.section(self._start, self._start + self._length)} of a "
                                      f"{text.clock(self._duration)} track")


class WaveformController(QObject):
    """The view for the player's current track: peaks read on ``lane``, playhead and section kept on the player.

    ``sectionMoved(path, start)``: the user moved the section of the track at ``path``; the player already
    plays from it, the window makes it the result's section.
    """

    sectionMoved = Signal(object, float)  # Path, the new start (s)

    def __init__(self, player: Player, lane: WorkerLane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player, self.lane = player, lane
        self.view = WaveformView(parent)
        self.requests = Requests()
        self._job: Job | None = None
        self._path: Path | None = None
        self.view.sectionMoved.connect(self._moved)
        self.view.scrubRequested.connect(self._scrub)
        player.positionChanged.connect(lambda _seconds: self._follow())
        player.trackChanged.connect(lambda *_track: self._follow())

    def show(self, track: "Suggestion", best: float | None = None, beats: "Beats | None" = None) -> Job | None:
        """Show ``track`` with its section (``best``: where Home goes); its peaks are read in the background."""
        path = Path(track.path)
        length = float(track.best_end) - float(track.best_start)
        self.view.set_track(float(track.duration or track.best_end), float(track.best_start), length, best)
        self.view.set_beats(beats, getattr(track, "bpm", None))
        self._follow()
        if self._job is not None:
            self._job.cancel()
        self._path = path
        request = self.requests.issue()
        reading = Job(job(service.track_waveform, path, None), request_id=request, name="read waveform")
        reading.returned.connect(self._read)
        reading.errored.connect(self._failed)
        reading.finished.connect(lambda rid: self._finished(rid))
        self._job = self.lane.submit(reading)
        return self._job

    def clear(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self.requests.invalidate()
        self._path = None
        self.view.clear()

    def _read(self, request: int, peaks: "Peaks") -> None:
        if self.requests.is_current(request):
            self.view.set_peaks(peaks)

    def _failed(self, request: int, exc: BaseException) -> None:
        if not self.requests.is_current(request) or isinstance(exc, Cancelled):
            return
        reason = exc.reason if isinstance(exc, PathError) else describe_error(exc)
        self.view.set_message(f"No waveform: {reason}", describe_error(exc))

    def _finished(self, request: int) -> None:
        if self._job is not None and self._job.request_id == request:
            self._job = None

    def _follow(self) -> None:
        """The playhead where the sound is: the player's offset (the section's start minus its cue's start on the
        video) + the video's position."""
        playing_this = self._path is not None and self.player.track_path == self._path
        self.view.set_playhead(self.player.track_offset + self.player.position() if playing_this else None)

    def _moved(self, start: float) -> None:
        if self._path is None:
            return
        if self.player.track_path == self._path:
            self.player.set_offset(start - self.player.section_anchor)
        self.sectionMoved.emit(self._path, start)

    def _scrub(self, seconds: float) -> None:
        """A time in the track outside the section: the picture goes where the sound is that time."""
        video = seconds - self.view.section_start() + self.player.section_anchor
        end = self.player.duration()
        self.player.seek(max(0.0, min(video, end) if end > 0 else video))


class SectionEdits:
    """Sections moved by the user, per context (the query and cue) and track: applied to each ranking shown."""

    def __init__(self) -> None:
        self._moved: dict[tuple[Hashable, Path], float] = {}

    def move(self, context: Hashable, track: "Suggestion", start: float) -> "Suggestion":
        """``track`` with its section moved to ``start`` (its length kept), remembered for ``context``."""
        self._moved[(context, Path(track.path))] = float(start)
        return moved(track, start)

    def apply(self, context: Hashable, suggestions: Sequence["Suggestion"]) -> list["Suggestion"]:
        """``suggestions`` with the sections moved for ``context``."""
        return [moved(s, self._moved[key]) if (key := (context, Path(s.path))) in self._moved else s
                for s in suggestions]


def moved(track: "Suggestion", start: float) -> "Suggestion":
    """``track`` with its section starting at ``start`` (its length kept)."""
    start = max(0.0, float(start))
    return dataclasses.replace(track, best_start=start, best_end=start + float(track.best_end - track.best_start))
