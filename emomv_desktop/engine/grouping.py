"""Identical files shown once, versions of a song grouped: post-processing of a ranking's suggestions.

*Identical files* are copies of the same audio: the same decoded sound gives the same stored VGGish features,
hence a bit-identical best score, best section, duration and emotion probabilities in one ranking. Two
different recordings agreeing on all of these to the last bit does not happen in practice, so that tuple is
the content key (the library stores no content hash; file sizes differ between a copy and a re-tagged copy of
the same audio, which should count as a copy too). The best-ranked file of a set is shown, the others are
listed as its copies.

*Versions* are tracks whose normalised title and artist are equal: case, accents' width forms (NFKC),
punctuation and spacing ignored, and a trailing qualifier such as "(Instrumental)", "[Radio edit]" or
"- 30 s cut" dropped. Untitled tracks are never versions of each other. Versions stay separate rows (each has
its own score and section); every row knows its group so the results can show them together.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .ranking import Suggestion

__all__ = ["Entry", "group_suggestions", "version_key"]

_QUALIFIER = re.compile(r"\s*(?:\([^()]*\)|\[[^\[\]]*\]|\s-\s.*)\s*$")
_NON_WORD = re.compile(r"[\W_]+")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row: ``suggestion`` (the best-ranked of its identical files), its ``copies`` (the other files with the
    same content, in rank order) and ``versions`` (the other rows with the same title and artist, in rank
    order; empty when it has none)."""

    suggestion: "Suggestion"
    copies: tuple["Suggestion", ...] = ()
    versions: tuple["Suggestion", ...] = ()

    @property
    def leads_versions(self) -> bool:
        """True for the best-ranked version of a group (or a row without versions)."""
        return all(v.rank > self.suggestion.rank for v in self.versions)


def _normal(text: str) -> str:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def version_key(title: str | None, artist: str | None) -> tuple[str, str] | None:
    """The normalised (title, artist) of a track, or None for an untitled one."""
    if not title or not title.strip():
        return None
    bare = title
    while (stripped := _QUALIFIER.sub("", bare)) != bare and stripped.strip():
        bare = stripped
    name = _normal(bare)
    return (name, _normal(artist or "")) if name else None


def _content_key(s: "Suggestion") -> tuple:
    probs = None if s.emotion_probs is None else tuple(float(p) for p in s.emotion_probs)
    return (s.score, s.best_start, s.best_end, s.duration, probs)


def group_suggestions(suggestions: Sequence["Suggestion"]) -> list[Entry]:
    """Rows for ``suggestions`` (in their order): identical files folded into one row, versions cross-linked."""
    leaders: dict[tuple, "Suggestion"] = {}
    copies: dict[int, list["Suggestion"]] = {}
    for s in suggestions:
        leader = leaders.setdefault(_content_key(s), s)
        if leader is not s:
            copies.setdefault(id(leader), []).append(s)
    rows = [s for s in suggestions if leaders[_content_key(s)] is s]
    families: dict[tuple[str, str], list["Suggestion"]] = {}
    for s in rows:
        if (key := version_key(s.title, s.artist)) is not None:
            families.setdefault(key, []).append(s)
    entries = []
    for s in rows:
        key = version_key(s.title, s.artist)
        family = families.get(key, []) if key is not None else []
        versions = tuple(sorted((v for v in family if v is not s), key=lambda v: v.rank))
        entries.append(Entry(s, tuple(sorted(copies.get(id(s), []), key=lambda c: c.rank)), versions))
    return entries
