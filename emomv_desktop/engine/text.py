"""How both front-ends write times and errors: one clock format, one line per error.

The CLI prints these, the GUI shows them; neither formats a time or an error message itself.
"""

from __future__ import annotations

import math

UNKNOWN = "–"


def clock(seconds: float | None) -> str:
    """``75.4`` -> ``"1:15"``; an hour or more -> ``"1:02:03"``; unknown -> ``"–"``.

    Whole seconds are cut, not rounded, as media players count: a section ending at 64.8 s ends in "1:04".
    """
    if seconds is None or not math.isfinite(seconds):
        return UNKNOWN
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def section(start: float, end: float) -> str:
    """A best section as ``m:ss-m:ss``."""
    return f"{clock(start)}-{clock(end)}"


def error_line(exc: BaseException) -> str:
    """The one-line message a user sees for an :class:`EngineError` (whitespace folded; the type when empty)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def damage_note(skipped_clips: int, skipped_seconds: float) -> str | None:
    """What the front-ends say when part of a video could not be decoded and was analysed around (else None)."""
    if not skipped_clips:
        return None
    clips = "1 clip" if skipped_clips == 1 else f"{skipped_clips} clips"
    return f"part of the video could not be decoded: {clips} ({skipped_seconds:.1f} s) skipped, the rest analysed"
