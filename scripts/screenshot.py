#!/usr/bin/env python
"""Screenshots of the main window, the emotion map and a temp-track query, for the README and the docs.

Builds a small generated music library and a generated multi-scene cut (hard cuts between differently coloured
shots) in a temporary folder, indexes the library with random-init backbones (the window shows its "random
weights (test mode)" marker), analyses the cut, splits scenes at the true cuts the random model merged (as a
user would, with S), chooses music for three cues, selects a cue, previews a track and saves, for every colour
scheme and screen size, ``main-window-WxH[-dark].png`` (the whole window, its frame included, laid out as at a
first launch); then ``emotion-map[-dark].png`` (the Emotion map dock, floated, the results ringed) and
``temp-track[-dark].png`` (the window after a temp track from outside the library was dropped). Needs a real X display for the video picture, larger than the largest size plus
the window frame, with a window manager, e.g.:

    xvfb-run -a -s "-screen 0 2048x1280x24" sh -c 'openbox & .venv/bin/python scripts/screenshot.py'

Every app folder points into the temporary folder: the user's own library and settings are never touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ("1024x700", "1280x800", "1920x1080")
SCHEMES = ("light", "dark")
MAP_SIZE = "1280x800"  # the window size of the map and temp-track pictures
MAP_DOCK_SIZE = (620, 480)  # the floated Emotion map's picture
MAX_PNG_BYTES = 300_000
WAIT_SECONDS = 600
SHOTS = (6.0, 5.0, 7.0, 6.0)  # seconds per shot of the generated cut

# (file, title, artist, seconds): a plausible production-music folder
LIBRARY = (
    ("morning-light.flac", "Morning Light", "String Trio", 150),
    ("chase-sequence.mp3", "Chase Sequence", "Drum Unit", 95),
    ("slow-rain.flac", "Slow Rain", "Ambient Works", 180),
    ("city-at-night.flac", "City at Night", "Synth Club", 125),
    ("the-long-goodbye.wav", "The Long Goodbye", "Piano Solo", 110),
    ("field-recording-04.wav", None, None, 60),
    ("short-sting.ogg", "Short Sting", "Cue Library", 4),
    ("uplift.m4a", "Uplift", "Brass Ensemble", 140),
)


def _wait(app, condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    print(f"waiting for {what}", flush=True)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def _settle(app, seconds: float) -> None:
    """Let Qt lay out and paint (and the video widget show its frame)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def _make_media(folder: Path) -> tuple[Path, Path, list[float]]:
    from tests import media_factory

    music = folder / "Music"
    music.mkdir()
    for seed, (name, title, artist, seconds) in enumerate(LIBRARY):
        tags = {"title": title, "artist": artist, "album": "Demo Library"} if title else None
        media_factory.write_audio(music / name, seconds=seconds, seed=seed, tags=tags)
    (music / "readme.mp3").write_text("licence terms, not music\n", encoding="utf-8")  # shows in Failed files
    video, cuts = media_factory.write_cut_video(folder / "reel-03-cut-2.mp4", SHOTS, fps=25, width=960, height=540)
    return music, video, cuts


def _grab(app, window, width: int, height: int, out: Path, part=None, prepare: Callable[[], None] | None = None
          ) -> Path:
    """Size ``window`` so that its frame is ``width`` x ``height`` at the screen's corner (then call ``prepare``)
    and save that rectangle (or ``part``'s, a child widget) of the screen as ``out``, quantised to a palette when
    ImageMagick is there."""
    from PySide6.QtCore import QRect

    window.resize(width, height)
    window.move(0, 0)
    _settle(app, 0.5)
    frame, inner = window.frameGeometry(), window.geometry()
    window.resize(width - (frame.width() - inner.width()), height - (frame.height() - inner.height()))
    window.move(0, 0)
    if prepare is not None:
        prepare()
    _settle(app, 1.5)
    frame, screen = window.frameGeometry(), app.primaryScreen()
    if (frame.width(), frame.height()) != (width, height) or not screen.geometry().contains(frame):
        raise SystemExit(f"the window's frame is {frame} on a screen of {screen.geometry()}, not {width}x{height} "
                         "inside it: use a larger display")
    area = frame if part is None else QRect(part.mapToGlobal(part.rect().topLeft()), part.size())
    image = screen.grabWindow(0, area.x(), area.y(), area.width(), area.height())
    image.save(str(out), "PNG", 9)
    if shutil.which("convert"):  # a UI's few colours fit a palette: a third of the bytes
        subprocess.run(["convert", str(out), "-colors", "256", f"PNG8:{out}"], check=True)
    size = out.stat().st_size
    print(f"{out} {area.width()}x{area.height()} {size / 1000:.0f} kB")
    if size > MAX_PNG_BYTES:
        print(f"warning: {out.name} is larger than {MAX_PNG_BYTES / 1000:.0f} kB", file=sys.stderr)
    return out


def _score(app, window, cuts: list[float]) -> None:
    """Split at the true cuts the model merged, choose music for three cues, and select the second scene."""
    strip = window.timeline
    for cut in cuts:
        if all(abs(s.start - cut) > 0.05 for s in strip.scenes()):
            edits = [0]
            window.analysis.scenesReady.connect(lambda _found: edits.append(1))
            window.split_scene_at(cut)
            _wait(app, lambda: len(edits) > 1, f"the split at {cut:.1f} s")
    for k, row in ((0, 2), (1, 0), (3, 1)):
        ranked = []
        window.analysis.finished.connect(lambda analysis: ranked.append(analysis))
        strip.select_scene(k)
        _wait(app, lambda: bool(ranked), f"the ranking for scene {k + 1}")
        window.table.selectRow(row)
        window.use_for_cue()
    ranked = []
    window.analysis.finished.connect(lambda analysis: ranked.append(analysis))
    strip.select_scene(2)
    _wait(app, lambda: bool(ranked), "the ranking for scene 3")


def _schemes(window, schemes: list[str]):
    """Switch the window to each colour scheme in turn; yields the file-name suffix ("" or "-dark")."""
    for scheme in schemes:
        window.set_color_scheme(scheme)
        yield "" if scheme == "light" else f"-{scheme}"


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def _temp_track(app, window, folder: Path) -> None:
    """Drop a temp track from outside the library (as an editor drops the track the cut was made to)."""
    from tests import media_factory

    track = media_factory.write_audio(folder / "temp-track-from-the-edit.wav", seconds=75, seed=42)
    ranked = []
    window.analysis.finished.connect(lambda analysis: ranked.append(analysis))
    window.modes.temp_track(track)
    _wait(app, lambda: any(a.kind == "temp_track" for a in ranked), "the temp-track ranking")
    window.table.selectRow(0)
    _settle(app, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="WIDTHxHEIGHT, one PNG each")
    parser.add_argument("--schemes", nargs="+", choices=SCHEMES, default=list(SCHEMES), help="colour schemes")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))

    with tempfile.TemporaryDirectory(prefix="emomv-shot-") as tmp:
        tmp_path = Path(tmp)
        for name in ("DATA", "CACHE", "CONFIG"):
            os.environ[f"EMOMV_{name}_DIR"] = str(tmp_path / name.lower())
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication

        from emomv_desktop.ui.compat import protect_singletons
        from emomv_desktop.ui.main_window import LIBRARY_DOCK_HEIGHT, MainWindow
        from tests.ui.helpers import PrebuiltBackends, index_and_make_model, random_extractors

        music, video, cuts = _make_media(tmp_path)
        extractors = random_extractors()
        db, model = tmp_path / "library.sqlite3", tmp_path / "demo-model.pt"
        card = {"name": "demo model (random weights)", "trained_on": "nothing: screenshot only"}
        index_and_make_model(music, db, model, extractors[1], card)

        protect_singletons()
        app = QApplication.instance() or QApplication(["emomv-desktop"])
        window = MainWindow(PrebuiltBackends(device="cpu", allow_random=True, model_path=model, library_path=db,
                                             extractors=extractors))
        try:
            window.show()
            window.start(video, rescan=True)
            panel = window.library_panel
            _wait(app, lambda: window.analysis.analysis is not None, "the analysis")
            _wait(app, lambda: not panel.indexing and panel.last_report is not None, "the library rescan")
            _score(app, window, cuts)
            row = max(range(min(4, window.proxy.rowCount())), key=lambda r: window.proxy.suggestion(r).best_start)
            window.table.selectRow(row)
            window.player.seek(3.0)
            window.player.play()  # a paused player may not have drawn a frame yet
            _settle(app, 1.5)
            window.player.pause()
            first_launch = lambda: window.resizeDocks(  # noqa: E731 - each size as a first launch lays it out
                [window.library_dock], [LIBRARY_DOCK_HEIGHT], Qt.Orientation.Vertical)
            for suffix in _schemes(window, args.schemes):
                for size in args.sizes:
                    width, height = _size(size)
                    _grab(app, window, width, height, args.out / f"main-window-{width}x{height}{suffix}.png",
                          prepare=first_launch)
            dock = window.map_dock  # floated to a readable size for its picture, then docked again
            dock.setFloating(True)
            _wait(app, lambda: bool(window.va_map.scene().items()), "the emotion map")
            for suffix in _schemes(window, args.schemes):
                _grab(app, window, *_size(MAP_SIZE), args.out / f"emotion-map{suffix}.png", part=dock,
                      prepare=lambda: dock.setGeometry(120, 160, *MAP_DOCK_SIZE))
            dock.setFloating(False)
            window.tabifyDockWidget(window.library_dock, dock)
            window.library_dock.raise_()
            _temp_track(app, window, tmp_path)
            for suffix in _schemes(window, args.schemes):
                _grab(app, window, *_size(MAP_SIZE), args.out / f"temp-track{suffix}.png", prepare=first_launch)
        finally:
            window.close()  # its workers stop before the interpreter does
    return 0


if __name__ == "__main__":
    sys.exit(main())
