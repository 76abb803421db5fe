"""Domain exceptions. Every error a user can cause or fix is one of these, with a readable message.

The CLI prints ``str(exc)`` on one line and exits 1; the GUI shows it beside the file or in a dialog.
"""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base class of the errors the engine reports to users (not programming errors)."""


class PathError(EngineError):
    """An error about one file: carries the path and the cause."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class DecodeError(PathError):
    """A media file could not be decoded (missing, unreadable, not media, no stream of the needed kind)."""


class ModelFileError(PathError):
    """A model file or its card is missing, corrupt, or does not fit this engine."""


class WeightsError(EngineError):
    """A pretrained backbone's weights are missing, corrupt, or could not be fetched.

    ``str(exc)`` is the CLI's message (paths, commands to run); ``plain`` says the same for a window, in
    words and without command lines (it falls back to the CLI message when not given).
    """

    def __init__(self, message: str, plain: str | None = None) -> None:
        super().__init__(message)
        self.plain = plain or message


class Cancelled(EngineError):
    """The operation was cancelled through its cancel flag."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
