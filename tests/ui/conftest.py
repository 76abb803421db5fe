"""Fixtures for driving the real window: generated media, a library indexed by random-init VGGish, a test model.

Building the random-init backbones (the engine's own constructors, ``state_dict=None``) and indexing the small
library take seconds, so both happen once per session; every window test gets its own copy of the database.
The window is then built with :class:`PrebuiltBackends`, which hands it those extractors; the window marks
itself "random weights (test mode)" because their ``pretrained`` flag is False.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from emomv_desktop.ui.compat import protect_singletons
from emomv_desktop.ui.main_window import MainWindow
from emomv_desktop.ui.worker import WorkerLane
from emomv_desktop.engine.service import Backends
from tests import media_factory
from tests.ui.helpers import PrebuiltBackends, index_and_make_model, random_extractors


@dataclasses.dataclass(frozen=True)
class Track:
    name: str
    seconds: float
    title: str | None = None
    artist: str | None = None


# Lengths chosen so that: one track is shorter than the videos (the length filter has something to hide),
# several span many 30 s windows (best sections away from 0:00), one has no tags (title = file name).
TRACKS = (
    Track("morning.flac", 70, "Morning Light", "String Trio"),
    Track("chase.mp3", 45, "Chase", "Drum Unit"),
    Track("field-recording.wav", 20),
    Track("sting.ogg", 2, "Short Sting", "Cue Library"),
    Track("night.flac", 95, "Night Drive", "Synth Club"),
)
BAD_TRACK = "notes.mp3"  # text with an audio suffix: the library lists it as failed


@dataclasses.dataclass(frozen=True)
class UiMedia:
    music: Path
    video: Path  # 3.5 s
    other_video: Path  # 3.5 s, different picture
    long_video: Path  # 65 s: three analysis windows, for cancel
    audio_only_mp4: Path  # a ".mp4" without a video stream
    text_file: Path


@dataclasses.dataclass(frozen=True)
class IndexedLibrary:
    db: Path
    model: Path
    tracks: int  # indexed (good) tracks


@pytest.fixture(scope="session", autouse=True)
def _protected_singletons():
    """The bindings' reference leaks would abort a long session (see emomv_desktop/ui/compat.py)."""
    protect_singletons()


LANE_STOP_MS = 180_000  # a cancelled job stops at its next check: one SlowFast clip, slow on a busy machine
_STUCK_LANES: list[WorkerLane] = []  # lanes that did not stop: kept, so their running threads are not destroyed


@pytest.fixture(autouse=True)
def _no_worker_left_running(monkeypatch):
    """Every worker lane a test started is cancelled and joined when the test ends, passed or failed.

    A test that fails mid-analysis leaves a job running; the window's close waits for it only so long, and a
    QThread destroyed while it runs aborts the whole interpreter (rc 134) instead of reporting the failure.
    This runs after pytest-qt has closed the test's widgets.
    """
    lanes: list[WorkerLane] = []
    construct = WorkerLane.__init__

    def record(self, *args, **kwargs):
        construct(self, *args, **kwargs)
        lanes.append(self)

    monkeypatch.setattr(WorkerLane, "__init__", record)
    yield
    stuck = [lane for lane in lanes if not lane.shutdown(LANE_STOP_MS)]
    if stuck:
        _STUCK_LANES.extend(stuck)
        pytest.fail(f"worker lanes {[lane.name for lane in stuck]} still ran {LANE_STOP_MS / 1000:.0f} s after "
                    "being cancelled")


def _die_with_parent() -> None:
    """In the child: Linux sends it SIGTERM when the test process dies, even killed (no server left behind)."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture(scope="session", autouse=True)
def _null_audio_sink(tmp_path_factory):
    """A private PulseAudio server with one null sink, when ``pulseaudio`` is installed: a real audio device.

    A real device matters: its sink takes time to start after every play or seek, which is what the preview
    must cope with (with no device at all QtMultimedia's audio position is driven by a timer and never lags).
    It has to run before QtMultimedia first looks for devices (once per process), hence session-wide. The
    null sink plays nothing aloud, and the server is private: the user's own sound server is not touched.
    Yields the server's address, or None without ``pulseaudio``.
    """
    if not shutil.which("pulseaudio"):
        yield None
        return
    run = tmp_path_factory.mktemp("pulse")
    socket = run / "native"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run), PULSE_RUNTIME_PATH=str(run), PULSE_STATE_PATH=str(run),
               HOME=str(run))
    server = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
         "--load=module-null-sink sink_name=null"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + 10
    while not socket.exists() and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    address = f"unix:{socket}" if socket.exists() else None
    with pytest.MonkeyPatch.context() as patch:
        if address:
            patch.setenv("PULSE_SERVER", address)
        yield address
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def audio_device(_null_audio_sink):
    """The null sink's server (see above); skips without one, except in CI (``EMOMV_REQUIRE_DATA``: no skips)."""
    if _null_audio_sink is None:
        reason = "no audio device for the sync tests: install pulseaudio (scripts/setup.sh --test does)"
        if os.environ.get("EMOMV_REQUIRE_DATA"):
            pytest.fail(reason)
        pytest.skip(reason)
    return _null_audio_sink


@pytest.fixture(scope="session")
def ui_media(tmp_path_factory) -> UiMedia:
    root = tmp_path_factory.mktemp("ui-media")
    music = root / "music"
    music.mkdir()
    for i, track in enumerate(TRACKS):
        tags = {"title": track.title, "artist": track.artist} if track.title else None
        media_factory.write_audio(music / track.name, seconds=track.seconds, seed=i, tags=tags)
    (music / BAD_TRACK).write_text("not music\n" * 100, encoding="utf-8")
    text_file = root / "notes.txt"
    text_file.write_text("a shot list, not a video\n", encoding="utf-8")
    return UiMedia(
        music=music,
        video=media_factory.write_video(root / "cut-a.mp4", seconds=3.5, seed=1),
        other_video=media_factory.write_video(root / "cut-b.mp4", seconds=3.5, seed=2),
        long_video=media_factory.write_video(root / "long.mp4", seconds=65, fps=8, width=160, height=120, seed=3),
        audio_only_mp4=media_factory.write_audio_only_mp4(root / "voice-over.mp4"),
        text_file=text_file,
    )


@pytest.fixture(scope="session")
def test_extractors():
    return random_extractors()


@pytest.fixture(scope="session")
def indexed_library(tmp_path_factory, ui_media, test_extractors) -> IndexedLibrary:
    """The music indexed with random VGGish, and a random retrieval model fitted to it (see the helper)."""
    root = tmp_path_factory.mktemp("ui-library")
    db, model = root / "library.sqlite3", root / "test-model.pt"
    card = {"name": "random test model", "trained_on": "nothing (tests only)", "metrics": {"mAP": None}}
    report = index_and_make_model(ui_media.music, db, model, test_extractors[1], card)
    assert report.indexed == len(TRACKS) and report.failed == 1, report
    return IndexedLibrary(db, model, report.indexed)


@pytest.fixture
def make_window(qtbot, tmp_path, indexed_library, test_extractors) -> Callable[..., MainWindow]:
    """Build a shown main window over a copy of the indexed library (or an empty one) and start it."""
    windows: list[MainWindow] = []

    def make(*, empty_library: bool = False, multimedia: bool = True, backends: Backends | None = None,
             size: tuple[int, int] | None = (1280, 800)) -> MainWindow:
        """``size=None`` keeps the geometry the window restored from the settings."""
        db = tmp_path / f"library-{len(windows)}.sqlite3"
        if not empty_library:
            shutil.copyfile(indexed_library.db, db)
        backends = backends or PrebuiltBackends(
            device="cpu", allow_random=True, model_path=indexed_library.model, library_path=db,
            extractors=test_extractors,
        )
        window = MainWindow(backends, multimedia=multimedia)
        qtbot.addWidget(window)
        if size is not None:
            window.resize(*size)
        window.show()
        window.start(rescan=False)
        qtbot.waitUntil(lambda: window.analysis.ready, timeout=60_000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
