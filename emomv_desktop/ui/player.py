"""The preview player: the muted video with a track's audio from its best section, in sync.

:class:`Player` wraps two ``QMediaPlayer`` objects behind its own signals:

* the **video** player has no audio output at all (the cut is shown muted) and is the master clock;
* the **audio** player plays the selected track, offset so that the start of the track's best section
  sounds at its cue's start on the video (video time 0 for the whole video): ``audio position = offset +
  video position``, ``offset = section start - cue start`` (negative when the section starts earlier in the
  track than the cue in the video: before the track's own beginning the picture plays alone).

Keeping them in sync: a track's audio does not sound the moment it is told to play or seek. The FFmpeg
backend restarts its audio sink and reports the seek target until sound flows again, which takes from a
few tens of milliseconds to seconds on a busy machine (with no audio device at all it is immediate). A
player that re-seeks whenever the audio "lags" therefore re-seeks for ever and the track is heard in
0.1 s fragments. So the picture waits for the sound instead: whenever the track (re)starts (play, a seek,
a new track) the video is held paused until the track's position moves past where it started, then both
run. Pausing keeps both where they are, so resuming needs no seek unless they stand more than
:data:`SYNC_TOLERANCE_MS` apart. While playing, the drift is the median of the last :data:`DRIFT_SAMPLES`
differences (the audio position moves in ~93 ms steps). The sound is never interrupted to follow the
picture: a drift beyond :data:`NUDGE_MS` changes the *picture's* rate by :data:`NUDGE` (the video is
muted, so no pitch changes) until it has caught up; a picture more than :data:`MAX_DRIFT_MS` behind (a
machine too busy to decode in time) jumps to the sound. Only a track more than :data:`MAX_DRIFT_MS`
behind the picture (its sink stalled) is re-aligned, the way it starts.
Switching tracks keeps the video position; moving the track's section (:meth:`Player.set_offset`) moves only
the track, without reloading it. A ``QMediaPlayer`` ignores ``setPosition`` while its media is
still loading, so seeks made then are kept and applied when it has loaded.

Levels: the track's output volume is the volume times a gain (:meth:`Player.set_track_gain`: the window's
loudness matching) minus a duck (:meth:`Player.set_duck_curve`: the music under the cut's own sound), never
above 1, i.e. never louder than the file's own samples, so a boost cannot clip; a boost the volume leaves no
headroom for is cut short (:meth:`Player.applied_gain_db` says what was applied). The cut's own sound is
heard only when :meth:`Player.set_cut_sound` gives the video player an audio output (off by default: the
app's purpose is music for a muted cut); the duck then follows the video's position (the curve is
precomputed, so seeks need no state).

QtMultimedia is optional at run time: if it cannot be imported or has no backend, :attr:`Player.available`
is False, :attr:`Player.unavailable_reason` says why, every method is a harmless no-op, and the rest of
the app works as before.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import deque
from pathlib import Path

import numpy as np

from PySide6.QtCore import QObject, QTimer, QUrl, Signal

try:
    from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

    _IMPORT_PROBLEM: str | None = None
except ImportError as exc:  # the PySide6-Addons wheel or a system library (libpulse0) is missing
    QAudioOutput = QMediaPlayer = None  # type: ignore[assignment,misc]
    _IMPORT_PROBLEM = f"QtMultimedia cannot be loaded ({exc}); install PySide6-Addons and libpulse0"

_log = logging.getLogger(__name__)

# While playing (see the module's docstring): a median drift beyond NUDGE_MS runs the picture at 1 ± NUDGE,
# one beyond MAX_DRIFT_MS moves the picture to the sound (or the sound to the picture when the sound is late).
MAX_DRIFT_MS = 300
NUDGE_MS = 40
NUDGE = 0.1
DRIFT_SAMPLES = 7
# On play, a track paused further than this from the video's position is moved there first.
SYNC_TOLERANCE_MS = 60
# A held picture starts anyway after this long if the track never sounds (a broken sink, its own end).
HOLD_TIMEOUT_MS = 3000
DEFAULT_VOLUME = 0.8


def multimedia_problem() -> str | None:
    """Why the preview cannot work on this machine, or None when it can."""
    if _IMPORT_PROBLEM:
        return _IMPORT_PROBLEM
    if not QMediaPlayer().isAvailable():
        return "QtMultimedia has no media backend on this machine"
    return None


# The two players and the audio output are made by QML, i.e. by C++: see _native_players.
_PLAYERS_QML = b"""
import QtQuick
import QtMultimedia
Item {
    property MediaPlayer video: MediaPlayer { objectName: "video" }
    property MediaPlayer audio: MediaPlayer { objectName: "audio"; audioOutput: AudioOutput { } }
    property AudioOutput cut: AudioOutput { objectName: "cut" }
}
"""


def _native_players(parent: QObject) -> tuple["QMediaPlayer", "QMediaPlayer", "QAudioOutput"]:
    """The video player (no audio output: muted), the track's player (with an output) and an output for the
    cut's own sound (attached to the video player only on request), made by C++.

    Why not ``QMediaPlayer()`` from Python: the FFmpeg backend tears its renderers down in their own threads,
    disconnecting from the player and its QAudioOutput, and Qt then calls ``disconnectNotify`` on those with
    an internal connection mutex held. On objects created from Python that virtual asks for the GIL (to look
    for a Python override). When the GUI thread holds the GIL and waits for the same mutex (any QMediaPlayer
    call, any signal connection made meanwhile) both threads wait for ever: this deadlock was seen here once
    every few dozen track switches. Objects created by QML have no Python overrides, so a renderer thread
    never needs the GIL. Falls back to Python-made objects (and logs why) if QML is not available.
    """
    try:
        from PySide6.QtQml import QQmlComponent, QQmlEngine

        engine = QQmlEngine()
        component = QQmlComponent(engine)
        component.setData(_PLAYERS_QML, QUrl())
        holder = component.create()
        if holder is None:
            raise RuntimeError(component.errorString().strip())
    except (ImportError, RuntimeError) as exc:
        _log.warning("QML multimedia unavailable (%s); preview players made from Python", exc)
        video, audio = QMediaPlayer(parent), QMediaPlayer(parent)
        audio.setAudioOutput(QAudioOutput(audio))
        return video, audio, QAudioOutput(video)
    video, audio = (holder.findChild(QMediaPlayer, name) for name in ("video", "audio"))
    cut = holder.findChild(QAudioOutput, "cut")
    if video is None or audio is None or cut is None:
        raise RuntimeError("the QML players were not created")
    holder.setParent(parent)  # the players belong to the holder; owned by the Player from now on
    engine.setParent(parent)  # added after the holder: deleted after it
    return video, audio, cut


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000.0))


class _Seekable:
    """One QMediaPlayer plus the seek it could not take yet because its media was still loading."""

    _READY = ()  # filled in below when QtMultimedia is present

    def __init__(self, player: "QMediaPlayer") -> None:
        self.player = player
        self.pending_ms: int | None = None
        player.mediaStatusChanged.connect(self._on_status)

    def loaded(self) -> bool:
        return self.player.mediaStatus() in self._READY

    def seek(self, ms: int) -> None:
        ms = max(0, ms)
        if self.loaded():
            self.pending_ms = None
            self.player.setPosition(ms)
        else:
            self.pending_ms = ms

    def position_ms(self) -> int:
        """Where the player is, or where it will be once loaded."""
        return self.pending_ms if self.pending_ms is not None else self.player.position()

    def set_source(self, path: str | Path | None, start_ms: int = 0) -> None:
        self.pending_ms = start_ms
        self.player.setSource(QUrl.fromLocalFile(str(path)) if path else QUrl())

    def _on_status(self, status) -> None:
        if status in self._READY and self.pending_ms is not None:
            ms, self.pending_ms = self.pending_ms, None
            self.player.setPosition(ms)


if QMediaPlayer is not None:
    _Seekable._READY = (
        QMediaPlayer.MediaStatus.LoadedMedia,
        QMediaPlayer.MediaStatus.BufferingMedia,
        QMediaPlayer.MediaStatus.BufferedMedia,
        QMediaPlayer.MediaStatus.EndOfMedia,
    )


class Player(QObject):
    """Muted video + offset track audio, kept in sync. Times in the API are seconds on the video's timeline."""

    positionChanged = Signal(float)
    durationChanged = Signal(float)
    playingChanged = Signal(bool)
    trackChanged = Signal(str, float)  # track path ("" when none), offset into the track (s)
    volumeChanged = Signal(float)
    errorOccurred = Signal(str)

    def __init__(self, parent: QObject | None = None, *, unavailable_reason: str | None = None) -> None:
        """``unavailable_reason`` forces the player off (used when the caller already knows it cannot work)."""
        super().__init__(parent)
        self.unavailable_reason = unavailable_reason or multimedia_problem()
        self._playing = False
        self._video_path: Path | None = None
        self._track_path: Path | None = None
        self._offset = 0.0
        self._anchor = 0.0  # the video time at which the track's section starts (the cue's start)
        self._before_track = False  # playing a part of the video before the track has begun
        self._volume = DEFAULT_VOLUME
        self._held_from_ms: int | None = None  # the video waits until the track passes this position
        self._drift: deque[int] = deque(maxlen=DRIFT_SAMPLES)
        self._gain_db = 0.0
        self._duck: tuple[np.ndarray, float] | None = None  # (dB down per step, step in s) on the video's timeline
        if self.unavailable_reason:
            self._video = self._audio = None
            return
        video, audio, self._cut_output = _native_players(self)
        self._video = _Seekable(video)  # no QAudioOutput: the cut plays muted
        self._audio = _Seekable(audio)
        self._output = audio.audioOutput()
        self._apply_volume()
        video = self._video.player
        video.positionChanged.connect(self._on_video_position)
        video.durationChanged.connect(lambda ms: self.durationChanged.emit(ms / 1000.0))
        video.mediaStatusChanged.connect(self._on_video_status)
        video.playbackStateChanged.connect(self._on_video_state)
        audio.positionChanged.connect(self._on_audio_position)
        self.positionChanged.connect(self._follow_duck)  # plays and seeks alike
        self._hold_timer = QTimer(self, singleShot=True, interval=HOLD_TIMEOUT_MS)
        self._hold_timer.timeout.connect(self._on_hold_timeout)
        for seekable in (self._video, self._audio):
            seekable.player.errorOccurred.connect(self._on_error)

    # ---------------------------------------------------------------- state
    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def video_path(self) -> Path | None:
        return self._video_path

    @property
    def track_path(self) -> Path | None:
        return self._track_path

    @property
    def track_offset(self) -> float:
        """Seconds into the track at video time 0: ``audio position = offset + video position`` (negative when
        the section starts later in the video than in the track)."""
        return self._offset

    @property
    def section_anchor(self) -> float:
        """The video time at which the track's section starts (:meth:`set_track`'s ``at``)."""
        return self._anchor

    @property
    def holding(self) -> bool:
        """True while the picture waits for the track to start sounding."""
        return self._held_from_ms is not None

    @property
    def volume(self) -> float:
        return self._volume

    def position(self) -> float:
        """Seconds into the video."""
        return self._video.position_ms() / 1000.0 if self._video else 0.0

    def duration(self) -> float:
        return self._video.player.duration() / 1000.0 if self._video else 0.0

    def audio_position(self) -> float:
        """Seconds into the track file (offset + video position, once loaded)."""
        return self._audio.position_ms() / 1000.0 if self._audio else 0.0

    def video_player(self) -> "QMediaPlayer | None":
        """The video's QMediaPlayer, to attach a QVideoWidget with ``setVideoOutput``."""
        return self._video.player if self._video else None

    # ---------------------------------------------------------------- commands
    def set_video(self, path: str | Path | None) -> None:
        """Load a video (or clear it with None): stops playback, drops the track, starts at 0."""
        self.pause()
        self._video_path = Path(path) if path else None
        self.set_track(None)
        if self._video:
            self._video.set_source(self._video_path)
        self.positionChanged.emit(0.0)

    def set_track(self, path: str | Path | None, start: float = 0.0, *, at: float = 0.0) -> None:
        """Play ``path`` so that ``start`` s into it sounds at video time ``at`` (a cue's section against the
        cue's scene: ``at`` is the cue's start); the video keeps its position. Before the track's own beginning
        the picture plays without it.

        The track already playing from that offset plays on undisturbed (a re-ranked list selects it again)."""
        path = Path(path) if path else None
        anchor = max(0.0, float(at)) if path else 0.0
        offset = max(0.0, float(start)) - anchor if path else 0.0
        self._anchor = anchor
        if path == self._track_path and offset == self._offset:
            return
        self._track_path, self._offset = path, offset
        if self._audio:
            self._audio.player.stop()
            self._audio.set_source(self._track_path, max(0, self._target_audio_ms()))
            if self._playing:
                self._start()
        self.trackChanged.emit(str(self._track_path or ""), self._offset)

    def set_offset(self, offset: float) -> None:
        """The current track at ``offset`` + the video's position (its section moved): the track is not
        reloaded, only moved; the video keeps its place (while playing it waits for the track, as after any
        seek). ``offset`` is :attr:`track_offset`'s: the section's new start minus :attr:`section_anchor`."""
        offset = float(offset)
        if self._track_path is None or offset == self._offset:
            return
        self._offset = offset
        if self._audio:
            self._start() if self._playing else self._audio.seek(self._target_audio_ms())
        self.trackChanged.emit(str(self._track_path), self._offset)

    def play(self) -> None:
        if not self._video or self._video_path is None:
            return
        if self._video.player.mediaStatus() == QMediaPlayer.MediaStatus.EndOfMedia:
            self.seek(0.0)
        if not self._playing:
            self._set_playing(True)
            self._start()

    def pause(self) -> None:
        self._before_track = False
        if self._video:
            self._release_hold()
            self._video.player.pause()
            self._audio.player.pause()
        self._set_playing(False)

    def toggle(self) -> None:
        self.pause() if self._playing else self.play()

    def seek(self, seconds: float) -> None:
        """Move both players to ``seconds`` on the video's timeline."""
        if not self._video:
            return
        self._video.seek(_ms(seconds))
        self._audio.seek(self._target_audio_ms())
        if self._playing:
            self._start()
        self.positionChanged.emit(self.position())

    def set_volume(self, volume: float) -> None:
        self._volume = min(1.0, max(0.0, float(volume)))
        self._apply_volume()
        self.volumeChanged.emit(self._volume)

    def stop(self) -> None:
        """Stop and release both media (before the window closes)."""
        self.pause()
        if self._video:
            self._video.player.setSource(QUrl())
            self._audio.player.setSource(QUrl())

    # ---------------------------------------------------------------- levels: the track's gain, the cut's sound
    def set_track_gain(self, db: float) -> None:
        """Play the track ``db`` dB above (below, when negative) the volume: the loudness-matching gain."""
        self._gain_db = float(db)
        self._apply_volume()

    def applied_gain_db(self) -> float:
        """The gain really applied to the track, without the duck: :meth:`set_track_gain`'s, unless the output
        had no headroom left for it (the output never exceeds 1)."""
        if self._volume <= 0.0:
            return self._gain_db
        return min(self._gain_db, -20.0 * math.log10(self._volume))

    def output_volume(self) -> float:
        """The track's output volume now (linear, 0-1): volume x gain x duck."""
        return self._output.volume() if self._audio else 0.0

    def cut_volume(self) -> float:
        """The volume of the cut's own sound (0 when it is not played)."""
        return self._cut_output.volume() if self.cut_sound else 0.0

    @property
    def cut_sound(self) -> bool:
        """Whether the video's own sound plays (the video player has an audio output)."""
        return bool(self._video) and self._video.player.audioOutput() is not None

    def set_cut_sound(self, on: bool) -> None:
        """Play the video's own sound under the music (``on``) or keep the cut muted (the default)."""
        if not self._video or on == self.cut_sound:
            return
        video = self._video.player
        if on and video.pitchCompensationAvailability() != QMediaPlayer.PitchCompensationAvailability.Unavailable:
            video.setPitchCompensation(True)  # a nudged picture rate (see the drift) must not bend voices
        video.setAudioOutput(self._cut_output if on else None)
        self._apply_volume()

    def set_duck_curve(self, decibels: np.ndarray | None, step: float = 0.1) -> None:
        """How many dB the music goes down at each ``step`` s of the video while the cut's sound plays (None:
        no ducking), e.g. ``engine.loudness.duck_curve``."""
        self._duck = None if decibels is None or len(decibels) == 0 else (np.asarray(decibels, np.float64), step)
        self._apply_volume()

    def duck_db(self) -> float:
        """How far the music is ducked now (0 unless the cut's sound plays and has a curve)."""
        if self._duck is None or not self.cut_sound:
            return 0.0
        curve, step = self._duck
        return float(np.interp(self.position() / step, np.arange(curve.size), curve))

    def _follow_duck(self, _seconds: float) -> None:
        if self._duck is not None and self.cut_sound:
            self._apply_volume()

    def _apply_volume(self) -> None:
        if not self._audio:
            return
        if self.cut_sound:
            self._cut_output.setVolume(self._volume)
        level = self._volume * 10.0 ** ((self._gain_db - self.duck_db()) / 20.0)
        self._output.setVolume(min(1.0, level))

    # ---------------------------------------------------------------- internals
    def _target_audio_ms(self) -> int:
        return _ms(self._offset) + (self._video.position_ms() if self._video else 0)

    def _set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            self.playingChanged.emit(playing)

    def _start(self) -> None:
        """Run both from the video's position: the track first, the picture once the track sounds."""
        self._release_hold()
        self._drift.clear()
        self._video.player.setPlaybackRate(1.0)
        target = self._target_audio_ms()
        audio = self._audio.player
        self._before_track = bool(self._track_path) and target < 0
        if not self._track_path or target < 0 or (audio.duration() > 0 and target >= audio.duration()):
            # no track, or this point of the video lies before the track begins (it starts when the picture
            # gets there) or after it has ended: picture only
            audio.pause()
            if self._before_track:
                self._audio.seek(0)
            self._video.player.play()
            return
        if abs(self._audio.position_ms() - target) > SYNC_TOLERANCE_MS:
            self._audio.seek(target)
        self._video.player.pause()
        self._held_from_ms = self._audio.position_ms()
        self._hold_timer.start()
        audio.play()

    def _release_hold(self) -> None:
        self._held_from_ms = None
        self._hold_timer.stop()

    def _on_audio_position(self, ms: int) -> None:
        if not self._playing:
            return
        if self._held_from_ms is not None:
            # Sound flows once the position moves on from where it (re)started; a report of the position
            # before a seek is further away and ignored.
            if self._held_from_ms < ms <= self._held_from_ms + HOLD_TIMEOUT_MS:
                self._release_hold()
                self._video.player.play()
            return
        self._drift.append(ms - self._target_audio_ms())
        if len(self._drift) < DRIFT_SAMPLES:
            return
        drift = statistics.median(self._drift)
        if drift < -MAX_DRIFT_MS:
            _log.info("the track is %d ms behind the picture: re-aligned", -drift)
            self._start()
        elif drift > MAX_DRIFT_MS:
            _log.info("the picture is %d ms behind the track: moved to it", drift)
            self._drift.clear()
            self._video.seek(ms - _ms(self._offset))
        else:
            rate = 1.0 + NUDGE if drift > NUDGE_MS else 1.0 - NUDGE if drift < -NUDGE_MS else 1.0
            if rate != self._video.player.playbackRate():
                self._video.player.setPlaybackRate(rate)

    def _on_hold_timeout(self) -> None:
        if self._playing and self._held_from_ms is not None:
            _log.warning("the track did not start within %d ms: the picture plays without waiting", HOLD_TIMEOUT_MS)
            self._release_hold()
            self._video.player.play()

    def _on_video_position(self, ms: int) -> None:
        self.positionChanged.emit(ms / 1000.0)
        if self._before_track and self._playing and ms + _ms(self._offset) >= 0:
            self._start()  # the picture has reached the track's beginning

    def _on_video_status(self, status) -> None:
        if status == QMediaPlayer.MediaStatus.LoadedMedia and not self._playing:
            self._video.player.pause()  # paused, not stopped: the picture at the playhead shows (and seeks show)
        elif status == QMediaPlayer.MediaStatus.EndOfMedia:
            self._release_hold()
            self._audio.player.pause()
            self._set_playing(False)
        elif status == QMediaPlayer.MediaStatus.InvalidMedia:
            self._set_playing(False)

    def _on_video_state(self, state) -> None:
        """The video stopped by itself (its end, an error): the track stops with it."""
        if state == QMediaPlayer.PlaybackState.StoppedState and self._playing:
            self._audio.player.pause()
            self._set_playing(False)

    def _on_error(self, _error, message: str) -> None:
        if message:
            self.errorOccurred.emit(message)
