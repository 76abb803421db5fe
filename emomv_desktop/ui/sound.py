"""Levels while auditioning: loudness matching of the tracks, and the cut's own sound with the music ducked.

:class:`SoundControl` owns two View-menu actions and tells the :class:`~emomv_desktop.ui.player.Player` what
to do; the numbers are the engine's (``engine.loudness``):

* **Match loudness** (on by default, remembered): each track plays at ``TARGET_LUFS`` (-23 LUFS) from the
  integrated loudness the indexer measured, at most ``MAX_BOOST_DB`` (12 dB) up; the status bar and the
  action's tooltip say the gain applied. A track without a measurement (silent, or indexed before loudness
  existed and not rescanned yet) plays as it is, and says so.
* **Play the cut's sound under the music** (off by default: the app is for music under a muted cut; not
  remembered, so every session starts muted): when a video is loaded its sound is measured once on the io
  lane (``service.cut_sound``: the momentary loudness every 100 ms); the action is disabled, with a tooltip
  saying why, while that runs and for a video without sound. On, the video player gets an audio output and
  the music follows ``engine.loudness.duck_curve`` (down ``DUCK_DEPTH_DB`` under speech and effects,
  attack 0.1 s, release 0.8 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

from emomv_desktop.engine import loudness, service

from .player import Player
from .settings import Key, Settings
from .worker import Job, Requests, WorkerLane, describe_error, job

MESSAGE_MS = 6000

CUT_SOUND_TIP = (f"Play the video's own sound (dialogue, effects) with the music ducked under it by up to "
                 f"{loudness.DUCK_DEPTH_DB:.0f} dB")
MATCH_TIP = (f"Play every track at {loudness.TARGET_LUFS:.0f} LUFS (EBU R128 loudness measured when it was "
             f"indexed), so switching tracks does not jump in level")


def _db(value: float) -> str:
    return f"{value:+.1f} dB".replace("-", "−")


class SoundControl(QObject):
    """The window's "Match loudness" and "Play the cut's sound" actions and what they do to the player."""

    message = Signal(str, int)  # a status-bar line and how long it shows (ms)

    def __init__(self, player: Player, io_lane: WorkerLane, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.io_lane = io_lane
        self.settings = settings
        self._loudness: float | None = None
        self._has_track = False
        self._requests = Requests()
        self.sound: loudness.CutSound | None = None
        self.match_action = QAction("Match &loudness", self, checkable=True)
        self.match_action.setChecked(bool(settings.get(Key.MATCH_LOUDNESS, True)))
        self.match_action.setToolTip(MATCH_TIP)
        self.match_action.toggled.connect(self._match_toggled)
        self.cut_sound_action = QAction("Play the cut's sound &under the music", self, checkable=True)
        self.cut_sound_action.toggled.connect(self._cut_sound_toggled)
        self._no_cut_sound("Open a video first")

    def actions(self) -> list[QAction]:
        return [self.match_action, self.cut_sound_action]

    @property
    def matching(self) -> bool:
        return self.match_action.isChecked()

    # ---------------------------------------------------------------- the track's gain
    def track_selected(self, suggestion: Any | None) -> None:
        """The track now auditioned (a ranking's ``Suggestion``, or None for one the library did not measure,
        e.g. the rendered scored cut): its gain."""
        self._has_track = True
        self._loudness = getattr(suggestion, "loudness", None)
        self._apply_gain()

    def gain_text(self) -> str:
        """What the level matching does to the current track, in words."""
        if not self.matching:
            return "Loudness matching is off: tracks play at their own level"
        if self._loudness is None:
            return "Loudness: not measured for this track (played at its own level; a rescan measures it)"
        wanted = loudness.matching_gain_db(self._loudness)
        applied = self.player.applied_gain_db()
        text = (f"Loudness matched: {_db(applied)} (the track measures {self._loudness:.1f} LUFS, every track "
                f"plays at {loudness.TARGET_LUFS:.0f} LUFS)").replace("-", "−")
        if applied < wanted - 0.05:
            text += f"; {_db(wanted)} wanted, the volume leaves no more headroom"
        return text

    def _apply_gain(self) -> None:
        gain = loudness.matching_gain_db(self._loudness) if self.matching else 0.0
        self.player.set_track_gain(gain)
        tip = f"{MATCH_TIP}. {self.gain_text()}" if self._has_track else MATCH_TIP
        self.match_action.setToolTip(tip)
        if self._has_track:
            self.message.emit(self.gain_text(), MESSAGE_MS)

    def _match_toggled(self, on: bool) -> None:
        self.settings.set(Key.MATCH_LOUDNESS, on)
        self._apply_gain()

    # ---------------------------------------------------------------- the cut's sound
    def video_changed(self, path: Path | None) -> Job | None:
        """A new video is loaded: keep it muted and measure its sound in the background."""
        request = self._requests.issue()
        self.sound = None
        self.player.set_duck_curve(None)
        if path is None or not self.player.available:
            self._no_cut_sound("Open a video first" if self.player.available else "The preview is unavailable")
            return None
        self._no_cut_sound("Measuring the cut's sound…")
        measuring = Job(job(service.cut_sound, Path(path)), request_id=request, name="measure the cut's sound")
        measuring.returned.connect(self._measured)
        measuring.errored.connect(lambda rid, exc: self._requests.is_current(rid) and self._no_cut_sound(
            f"The cut's sound could not be read: {describe_error(exc)}"))
        return self.io_lane.submit(measuring)

    def _measured(self, request: int, sound: "loudness.CutSound | None") -> None:
        if not self._requests.is_current(request):
            return  # another video was loaded meanwhile
        if sound is None:
            self._no_cut_sound("This cut has no sound track")
            return
        if sound.silent:
            self._no_cut_sound("This cut's sound track is silent")
            return
        self.sound = sound
        self.player.set_duck_curve(loudness.duck_curve(sound.levels), loudness.STEP_SECONDS)
        self.cut_sound_action.setEnabled(True)
        self.cut_sound_action.setToolTip(f"{CUT_SOUND_TIP} (its sound measures {sound.loudness:.1f} LUFS)"
                                         .replace("-", "−"))

    def _no_cut_sound(self, why: str) -> bool:
        self.cut_sound_action.setChecked(False)
        self.cut_sound_action.setEnabled(False)
        self.cut_sound_action.setToolTip(f"{CUT_SOUND_TIP}. {why}.".replace("….", "…"))
        return True

    def _cut_sound_toggled(self, on: bool) -> None:
        self.player.set_cut_sound(on)
        if on:
            self.message.emit(f"The cut's sound plays; the music is ducked by up to "
                              f"{loudness.DUCK_DEPTH_DB:.0f} dB while it is loud", MESSAGE_MS)
