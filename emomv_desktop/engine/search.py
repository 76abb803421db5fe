"""Search the ranked tracks by words: every word must match, in any order.

A word matches a track when it is part of its title, artist, album or file name (case and accents' width forms
ignored, NFKC). A number also matches a track whose tempo is within :data:`BPM_TOLERANCE` BPM of it, when the
track has a tempo (``bpm``), so ``studio nine 60`` finds "Studio Nine" at 60 BPM (and at 61), as well as a
"60s Studio Nine" without a tempo.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

__all__ = ["BPM_TOLERANCE", "matches", "words"]

BPM_TOLERANCE = 2.0
"""How far a searched number may be from the track's tempo (detected tempi wobble by a beat or two)."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def words(query: str) -> tuple[str, ...]:
    """The search's words (folded), empty for a blank query."""
    return tuple(_fold(query).split())


def _number(word: str) -> float | None:
    try:
        return float(word)
    except ValueError:
        return None


def matches(track: Any, query_words: tuple[str, ...]) -> bool:
    """Whether every word matches ``track`` (anything with ``title``, ``artist``, ``album``, ``path`` and
    optionally ``bpm``, e.g. a ranking's ``Suggestion``)."""
    if not query_words:
        return True
    name = os.path.basename(os.fspath(track.path))
    haystack = _fold(" ".join(str(v) for v in (track.title, track.artist, track.album, name) if v))
    bpm = getattr(track, "bpm", None)
    for word in query_words:
        if word in haystack:
            continue
        number = _number(word)
        if number is None or bpm is None or abs(float(bpm) - number) > BPM_TOLERANCE:
            return False
    return True
