"""The error log: unexpected failures (with their tracebacks) and warnings, in a rotating file.

The file is ``paths.log_dir()/emomv-desktop.log`` (``EMOMV_LOG_DIR`` overrides the folder); the folder and
file are created only when something is written. The GUI's worker and the CLI call :func:`log_unexpected`
for every failure that is not an :class:`~emomv_desktop.engine.errors.EngineError` (a bug, not bad input),
and tell the user where the file is. Nothing here runs at import.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from . import paths

LOG_FILE_NAME = "emomv-desktop.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
LOGGER = "emomv_desktop"
_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def log_file() -> Path:
    return paths.log_dir() / LOG_FILE_NAME


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """Opens (and creates its folder) on the first record, never before."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter(_FORMAT))

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def _install(logger: logging.Logger) -> None:
    """Attach the file handler for the current :func:`log_file` (replacing one for an older location)."""
    target = str(log_file().absolute())
    for handler in list(logger.handlers):
        if isinstance(handler, _RotatingFile):
            if handler.baseFilename == target:
                return
            logger.removeHandler(handler)
            handler.close()
    logger.addHandler(_RotatingFile(Path(target)))
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)


def install() -> logging.Logger:
    """The app's logger, writing WARNING and above to :func:`log_file` (idempotent)."""
    logger = logging.getLogger(LOGGER)
    _install(logger)
    return logger


def capture_warnings() -> None:
    """Route :mod:`warnings` (from any thread, workers included) to the log file as well as to stderr."""
    logging.captureWarnings(False)  # re-arm: someone (a test harness) may have put warnings.showwarning back
    logging.captureWarnings(True)
    logger = logging.getLogger("py.warnings")
    _install(logger)
    if not any(type(h) is logging.StreamHandler for h in logger.handlers):
        logger.addHandler(logging.StreamHandler())  # stderr, as warnings show without logging


def log_unexpected(what: str, exc: BaseException) -> Path:
    """Write ``what`` and ``exc``'s traceback to the log; returns the log file's path for the message."""
    install().error("%s", what, exc_info=(type(exc), exc, exc.__traceback__))
    return log_file()
