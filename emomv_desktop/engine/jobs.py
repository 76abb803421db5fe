"""Progress reporting and cooperative cancellation for long engine calls.

Every slow engine function takes ``progress`` (a callable receiving :class:`Progress`, may be None) and
``cancel`` (a :class:`CancelToken`, may be None) and checks the token between batches. The GUI's
worker turns these into Qt signals; the CLI prints them; tests just record them.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Callable

from .errors import Cancelled


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far a job is. ``total`` is None when unknown; ``message`` says what is being done now."""

    done: float
    total: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """A thread-safe cancel flag. ``cancel()`` from any thread; the job calls ``check()`` between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


def report(progress: ProgressCallback | None, done: float, total: float | None = None, message: str = "") -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(Progress(done, total, message))


def check(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set."""
    if cancel is not None:
        cancel.check()
