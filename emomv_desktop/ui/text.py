"""How numbers, times and tracks are written in the GUI (one place, so every view says it the same way).

Times come from :mod:`emomv_desktop.engine.text`, which the CLI uses too.
"""

from __future__ import annotations

import math
from pathlib import Path

from emomv_desktop.engine.text import clock, damage_note, section  # noqa: F401 - re-exported for the views


def track_title(title: str | None, artist: str | None, path: Path | str) -> str:
    """``Title — Artist`` from the tags, else the file name."""
    title = (title or "").strip()
    artist = (artist or "").strip()
    if title and artist:
        return f"{title} — {artist}"
    return title or Path(path).name


def percent(fraction: float) -> str:
    return f"{100.0 * fraction:.0f}%"


def file_size(num_bytes: int) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as file managers show them)."""
    size = float(num_bytes)
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


def remaining(seconds: float | None) -> str:
    """A rough time left: ``"less than a minute"``, ``"about 4 min"``, ``"about 2 h 5 min"``."""
    if seconds is None or not math.isfinite(seconds):
        return "time left unknown"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min left" if hours else f"about {minutes} min left"
