"""Queries beyond a video in the window: a temp track, stills or a mood board, more like this / not this.

They run on the inference lane through the same :class:`~emomv_desktop.ui.analysis.AnalysisController` as a
video (one request id sequence: a newer query of any kind supersedes an older one), and end in its
``finished`` signal with an :class:`~emomv_desktop.engine.service.Analysis` whose ``kind`` says what was asked.
Dropped files are told apart on the io lane by their content (``service.probe_input``).

Ratings re-rank from the original query (``InferenceSession.apply_feedback``, no decoding); each rating keeps
the analysis before it, so undo is showing that one again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from emomv_desktop.engine.queries import Feedback
from emomv_desktop.engine.service import Analysis, probe_input

from .analysis import AnalysisController
from .worker import Job, WorkerLane

SOUND_WEIGHT_STEPS = 100
REWEIGH_DELAY_MS = 150  # the slider re-ranks once it rests this long


def query_label(analysis: Analysis) -> Path:
    """The file a query shows as its name: the video, the temp track (or its library file), the first still."""
    if analysis.kind == "stills":
        return analysis.images[0]
    if analysis.kind == "temp_track":
        source = analysis.query.source
        return source if isinstance(source, Path) else Path(f"track {source}")
    return Path(analysis.query.path)


class SoundWeightBox(QWidget):
    """The temp track's blend: how the tracks feel (the model, left) against how they sound (VGGish, right)."""

    changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, SOUND_WEIGHT_STEPS)
        self.slider.setValue(SOUND_WEIGHT_STEPS // 2)
        self.slider.setAccessibleName("Sound weight")
        self.slider.setToolTip("Temp track: left ranks by how the music feels (the model's emotion space), "
                               "right by how it sounds (VGGish)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Feels like", self))
        layout.addWidget(self.slider, 1)
        layout.addWidget(QLabel("Sounds like", self))
        self._timer = QTimer(self, singleShot=True, interval=REWEIGH_DELAY_MS)
        self._timer.timeout.connect(lambda: self.changed.emit(self.weight))
        self.slider.valueChanged.connect(lambda _value: self._timer.start())

    @property
    def weight(self) -> float:
        return self.slider.value() / SOUND_WEIGHT_STEPS

    def show_weight(self, weight: float) -> None:
        """Show ``weight`` without asking for a re-ranking."""
        self.slider.blockSignals(True)
        self.slider.setValue(round(weight * SOUND_WEIGHT_STEPS))
        self.slider.blockSignals(False)


class QueryModes(QObject):
    """Temp-track and still queries, ratings with undo, the sound weight (see the module docstring)."""

    started = Signal(object, str)  # Path shown as the query's name, its kind
    video = Signal(object)  # Path: a dropped file is a video (the window opens it as before)

    def __init__(self, controller: AnalysisController, io_lane: WorkerLane, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.io_lane = io_lane
        self.weight_box = SoundWeightBox()
        self.weight_box.hide()
        self.weight_box.changed.connect(self.set_sound_weight)
        self._undo: list[Analysis] = []
        controller.finished.connect(self._finished)

    # ------------------------------------------------------------------ dropped or opened files
    def open(self, paths: Sequence[Path]) -> Job:
        """Tell ``paths`` apart on the io lane and start what they ask: several images or a folder: stills; one
        image: a still; an audio file: a temp track; anything else goes the video way (which reports it)."""
        paths = [Path(p) for p in paths]
        probe = Job(lambda _progress, _cancel: [probe_input(p) for p in paths], name="probe inputs")
        probe.returned.connect(lambda _id, kinds: self._dispatch(paths, kinds))
        probe.errored.connect(lambda _id, _exc: self.video.emit(paths[0]))
        return self.io_lane.submit(probe)

    def _dispatch(self, paths: list[Path], kinds: list[str]) -> None:
        if all(k == "images" for k in kinds):
            self.stills(paths)
        elif kinds[0] == "audio":
            self.temp_track(paths[0])
        else:
            self.video.emit(paths[0])

    # ------------------------------------------------------------------ queries
    def _submit(self, label: Path, kind: str, fn, *args, **kwargs) -> Job | None:
        c = self.controller
        running = c.run_query(label, kind, lambda progress, cancel: fn(*args, c.top, progress, cancel, **kwargs))
        if running is not None:
            self._undo.clear()
            self.started.emit(label, kind)
        return running

    def temp_track(self, source: Path | int, label: Path | None = None) -> Job | None:
        """Rank the library for a temp track: an audio file, or a library track ("More like this track")."""
        label = label or (source if isinstance(source, Path) else Path(f"track {source}"))
        return self._submit(label, "temp_track", self.controller.session.query_temp_track, source,
                            sound_weight=self.weight_box.weight)

    def stills(self, paths: Sequence[Path]) -> Job | None:
        """Rank the library for one still, several, or a folder of them (one query)."""
        paths = list(paths)
        return self._submit(paths[0], "stills", self.controller.session.query_stills,
                            paths if len(paths) > 1 else paths[0])

    # ------------------------------------------------------------------ re-ranking the current query
    def rate(self, track_id: int, liked: bool | None) -> Job | None:
        """More like this track (``liked``), less like it (``not liked``), or take the rating back (None)."""
        current = self.controller.analysis
        if current is None:
            return None
        feedback = current.feedback or Feedback()
        feedback = feedback.clear(track_id) if liked is None else (
            feedback.like(track_id) if liked else feedback.dislike(track_id))
        previous = current
        running = self.controller.rerank_query(
            lambda analysis, top, progress, cancel: self.controller.session.apply_feedback(
                analysis, feedback, top, progress, cancel))
        if running is not None:
            running.returned.connect(lambda _id, _result: self._undo.append(previous))
        return running

    def undo(self) -> bool:
        """Show the ranking before the last rating again (instant: it is kept)."""
        if not self._undo or self.controller.busy:
            return False
        self.controller.show_again(self._undo.pop())
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def set_sound_weight(self, weight: float) -> Job | None:
        current = self.controller.analysis
        if current is None or current.kind != "temp_track" or current.sound_weight == weight:
            return None
        return self.controller.rerank_query(lambda analysis, top, progress, cancel: self.controller.session.requery(
            analysis, top, progress, cancel, sound_weight=weight))

    def rerank_library_changed(self) -> Job | None:
        """The library changed: rank the current query again, whatever its kind."""
        current = self.controller.analysis
        if current is None or current.kind == "video":
            return self.controller.rerank()
        return self.controller.rerank_query(self.controller.session.requery)

    def _finished(self, analysis: Analysis) -> None:
        self.weight_box.setVisible(analysis.kind == "temp_track")
        if analysis.sound_weight is not None:
            self.weight_box.show_weight(analysis.sound_weight)
