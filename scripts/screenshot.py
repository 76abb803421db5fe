#!/usr/bin/env python
"""Screenshots of the main window with results, for the README and docs/gui.md.

Builds a small generated music library and a generated video in a temporary folder, indexes the library with
random-init backbones (the window shows its "random weights (test mode)" marker), analyses the video, previews
a track and saves one PNG per screen size and colour scheme (light, dark), plus the first-run welcome
(the model-setup dialog, shown as on a machine without the pretrained networks). Needs a real X display for the video picture, e.g. Xvfb:

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshot.py

Every app folder points into the temporary folder: the user's own library and settings are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ("1280x800", "1024x700", "1920x1080")
DEFAULT_SCHEMES = ("light", "dark")
MAX_PNG_BYTES = 300_000
WAIT_SECONDS = 600

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


def _make_media(folder: Path) -> tuple[Path, Path]:
    from tests import media_factory

    music = folder / "Music"
    music.mkdir()
    for seed, (name, title, artist, seconds) in enumerate(LIBRARY):
        tags = {"title": title, "artist": artist, "album": "Demo Library"} if title else None
        media_factory.write_audio(music / name, seconds=seconds, seed=seed, tags=tags)
    (music / "readme.mp3").write_text("licence terms, not music\n", encoding="utf-8")  # shows in Failed files
    video = media_factory.write_video(folder / "scene-12-take-3.mp4", seconds=12, fps=25, width=960, height=540)
    return music, video


def _grab(app, window, width: int, height: int, out: Path) -> Path:
    window.resize(width, height)
    window.move(0, 0)
    _settle(app, 1.5)
    screen = app.primaryScreen()
    image = screen.grabWindow(0, 0, 0, width, height).toImage()
    image.save(str(out), "PNG", 9)
    size = out.stat().st_size
    print(f"{out} {width}x{height} {size / 1000:.0f} kB")
    if size > MAX_PNG_BYTES:
        print(f"warning: {out.name} is larger than {MAX_PNG_BYTES / 1000:.0f} kB", file=sys.stderr)
    return out


def _grab_welcome(app, window, out: Path) -> Path:
    """The model-setup dialog as a first run shows it (statuses shown as missing: nothing is downloaded)."""
    from emomv_desktop.engine import weights
    from emomv_desktop.ui.model_setup import ModelSetupDialog

    dialog = ModelSetupDialog(window.lanes.io, window.lanes.transfer, window.settings, window)
    dialog._show_statuses([weights.weight_status(key) for key in weights.REGISTRY])
    dialog.show()
    dialog.move(0, 0)
    _settle(app, 1.0)
    dialog.grab().save(str(out), "PNG", 9)
    print(f"{out} {dialog.width()}x{dialog.height()} {out.stat().st_size / 1000:.0f} kB")
    dialog.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="WIDTHxHEIGHT, one PNG each")
    parser.add_argument("--schemes", nargs="+", default=list(DEFAULT_SCHEMES), choices=("light", "dark"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))

    with tempfile.TemporaryDirectory(prefix="emomv-shot-") as tmp:
        tmp_path = Path(tmp)
        for name in ("DATA", "CACHE", "CONFIG"):
            os.environ[f"EMOMV_{name}_DIR"] = str(tmp_path / name.lower())
        from PySide6.QtWidgets import QApplication

        from emomv_desktop.ui.compat import protect_singletons
        from emomv_desktop.ui.main_window import MainWindow
        from tests.ui.helpers import PrebuiltBackends, index_and_make_model, random_extractors

        music, video = _make_media(tmp_path)
        extractors = random_extractors()
        db, model = tmp_path / "library.sqlite3", tmp_path / "demo-model.pt"
        card = {"name": "demo model (random weights)", "trained_on": "nothing: screenshot only"}
        index_and_make_model(music, db, model, extractors[1], card)

        protect_singletons()
        app = QApplication.instance() or QApplication(["emomv-desktop"])
        window = MainWindow(PrebuiltBackends(device="cpu", allow_random=True, model_path=model, library_path=db,
                                             extractors=extractors))
        window.show()
        window.start(video, rescan=True)
        panel = window.library_panel
        _wait(app, lambda: window.analysis.analysis is not None, "the analysis")
        _wait(app, lambda: not panel.indexing and panel.last_report is not None, "the library rescan")
        row = max(range(min(4, window.proxy.rowCount())), key=lambda r: window.proxy.suggestion(r).best_start)
        window.table.selectRow(row)
        window.player.seek(3.0)
        window.player.play()  # a paused player may not have drawn a frame yet
        _settle(app, 1.5)
        window.player.pause()
        from emomv_desktop.ui.appearance import apply_color_scheme

        for scheme in args.schemes:
            apply_color_scheme(app, scheme)
            suffix = "" if scheme == "light" else f"-{scheme}"
            for size in args.sizes:
                width, height = (int(v) for v in size.lower().split("x"))
                _grab(app, window, width, height, args.out / f"main-window-{width}x{height}{suffix}.png")
            _grab_welcome(app, window, args.out / f"welcome{suffix}.png")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
