"""The GUI entry point: ``emomv-desktop`` with no command (or a video path) lands here via ``cli.main``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

APP_ID = "emomv-desktop"


def run_gui(video: str | Path | None = None, argv: Sequence[str] | None = None, library: str | Path | None = None) -> int:
    """Open the main window (analysing ``video`` once the models are loaded) on ``library`` (the command line's
    ``--library``; default ``EMOMV_LIBRARY_DB`` or the user data folder's); returns the exit code.

    ``argv`` goes to ``QApplication`` (Qt options such as ``-platform offscreen``); default ``sys.argv[:1]``.
    Production path: pretrained weights only — a missing file disables analysis and opens the setup dialog —
    unless ``EMOMV_RANDOM_NETWORKS=1`` asks for the demo mode (random backbones, marked in the status bar).
    Warnings, from worker threads too, go to the log file as well as to stderr.
    """
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from emomv_desktop.engine import logs, paths
    from emomv_desktop.engine.loading import Backends, silence_library_warnings

    from .ui.appearance import apply_color_scheme
    from .ui.compat import protect_singletons
    from .ui.settings import Key, Settings
    from .ui.main_window import APP_TITLE, MainWindow

    protect_singletons()  # before any other Qt call: see ui/compat.py
    silence_library_warnings()
    logs.capture_warnings()
    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(APP_TITLE)
    app.setDesktopFileName(APP_ID)
    icon = paths.resources_dir() / "icons" / "emomv-desktop.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    apply_color_scheme(app, Settings().get(Key.COLOR_SCHEME, "system"))
    window = MainWindow(Backends.from_environment(library_path=Path(library) if library else None))
    window.show()
    window.start(video)
    return app.exec()
