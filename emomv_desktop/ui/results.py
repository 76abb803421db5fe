"""The ranked tracks: a table model of the engine's suggestions and the proxy that sorts and filters them.

The model presents ``engine.ranking.Suggestion`` objects: identical files folded into one row and versions
cross-linked (``engine.grouping``), the score on the model's 0-100 scale when its card has one
(``engine.scale``), the user's stars for the video (``engine.shortlist``). Rows can be dragged out of the app
as file URLs (into an editor's timeline or a file manager).
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QUrl,
)

from emomv_desktop.engine import search
from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.grouping import Entry, group_suggestions
from emomv_desktop.engine.scale import ScoreScale
from emomv_desktop.engine.shortlist import Shortlists

from . import text

if TYPE_CHECKING:
    from emomv_desktop.engine.ranking import Suggestion

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # a number or lower-case text to sort by
SUGGESTION_ROLE = Qt.ItemDataRole.UserRole + 2  # the Suggestion object of the row
URI_LIST_MIME = "text/uri-list"
OWN_DRAG_MIME = "application/x-emomv-desktop-tracks"  # marks a drag that starts in the app: not a drop
MATCH_MARK = "✓"
STAR = "★"

AnyIndex = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    RANK = 0
    TITLE = 1
    SCORE = 2
    SECTION = 3
    EMOTION = 4
    DURATION = 5
    ALBUM = 6
    STAR = 7

    @property
    def title(self) -> str:
        return _COLUMN_TITLES[self]


_COLUMN_TITLES = {
    Column.RANK: "#",
    Column.TITLE: "Title / artist",
    Column.SCORE: "Match",
    Column.SECTION: "Section",
    Column.EMOTION: "Emotion",
    Column.DURATION: "Length",
    Column.ALBUM: "Album",
    Column.STAR: STAR,
}

_COLUMN_TIPS = {
    Column.RANK: "Rank by match score (1 = best)",
    Column.TITLE: "Title and artist from the file's tags, else its file name",
    Column.SCORE: ("How well the track's best section matches the video, 0-100: higher than that share of the "
                   "pairings of real videos and music the model was calibrated on (the raw score is in each "
                   "cell's tooltip)"),
    Column.SECTION: "The section of the track that matches the video best; the preview starts there",
    Column.EMOTION: "The track's predicted emotion (✓: same as the video's)",
    Column.DURATION: "Length of the whole track",
    Column.ALBUM: "The album from the file's tags, else the folder that holds it",
    Column.STAR: "Shortlist: star the tracks to keep (Ctrl+D); they are remembered for this video",
}

_NUMERIC = {Column.RANK, Column.SCORE, Column.SECTION, Column.DURATION}


def explain(s: "Suggestion", video_emotion: Emotion | None) -> str:
    """A match in words: "sad scene, sad track; tempo 72" (the parts the model and the library know)."""
    parts = []
    if video_emotion is not None and s.emotion is not None:
        parts.append(f"{video_emotion.label} scene, {Emotion(s.emotion).label} track")
    if (bpm := getattr(s, "bpm", None)) is not None:
        parts.append(f"tempo {round(float(bpm))}")
    return "; ".join(parts)


class ResultsModel(QAbstractTableModel):
    """Read-only table of suggestions, one row per track, in the engine's rank order."""

    def __init__(self, parent: QObject | None = None, shortlists: Shortlists | None = None) -> None:
        super().__init__(parent)
        self._entries: list[Entry] = []
        self._rows: list[Suggestion] = []
        self._video_emotion: Emotion | None = None
        self._video: Path | None = None
        self._scale: ScoreScale | None = None
        self._shortlists = shortlists

    # ---- contents
    def set_results(self, suggestions: Sequence["Suggestion"], video_emotion: Emotion | None,
                    video: Path | None = None) -> None:
        """Show ``suggestions`` (identical files folded into one row) for ``video`` (its stars are shown)."""
        self.beginResetModel()
        self._entries = group_suggestions(suggestions)
        self._rows = [e.suggestion for e in self._entries]
        self._video_emotion = video_emotion
        self._video = video
        self.endResetModel()
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, Column.EMOTION, Column.EMOTION)

    def set_scale(self, scale: ScoreScale | None) -> None:
        """The model's 0-100 scale (None: show raw scores)."""
        self._scale = scale
        if self._rows:
            self.dataChanged.emit(self.index(0, Column.SCORE), self.index(len(self._rows) - 1, Column.SCORE))

    def clear(self) -> None:
        self.set_results([], None)

    def replace_suggestion(self, row: int, suggestion: "Suggestion") -> None:
        """Show ``suggestion`` in ``row`` instead (the same track with its section moved)."""
        self._entries[row] = dataclasses.replace(self._entries[row], suggestion=suggestion)
        self._rows[row] = suggestion
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    def suggestion(self, row: int) -> "Suggestion":
        return self._rows[row]

    def entry(self, row: int) -> Entry:
        return self._entries[row]

    def suggestions(self) -> list["Suggestion"]:
        return list(self._rows)

    # ---- the shortlist
    def is_starred(self, row: int) -> bool:
        if self._shortlists is None or self._video is None:
            return False
        return self._shortlists.is_starred(self._video, self._rows[row].path)

    def set_starred(self, row: int, starred: bool) -> bool:
        """Star or unstar a row (remembered for the video); False when there is no video to remember it for."""
        if self._shortlists is None or self._video is None:
            return False
        self._shortlists.set_starred(self._video, self._rows[row].path, starred)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))
        return True

    def starred_paths(self) -> set[Path]:
        """The starred tracks of the current video."""
        if self._shortlists is None or self._video is None:
            return set()
        return {Path(p) for p in self._shortlists.starred(self._video)}

    @property
    def video_emotion(self) -> Emotion | None:
        return self._video_emotion

    # ---- QAbstractTableModel
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        column = Column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == Column.EMOTION and self._video_emotion is not None:
                return f"Emotion (video: {self._video_emotion.label})"
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.EMOTION and self._video_emotion is not None:
                return f"The video feels {self._video_emotion.label}. {_COLUMN_TIPS[column]}"
            return _COLUMN_TIPS[column]
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.InitialSortOrderRole and column == Column.SCORE:
            return Qt.SortOrder.DescendingOrder.value  # a first click on Match: best first
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        s = self._rows[index.row()]
        column = Column(index.column())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._display(index.row(), column)
        if role == SORT_ROLE:
            return self._sort_key(index.row(), column)
        if role == SUGGESTION_ROLE:
            return s
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(index.row(), column)
        if role == Qt.ItemDataRole.CheckStateRole and column == Column.STAR:
            return Qt.CheckState.Checked if self.is_starred(index.row()) else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
        if index.column() == Column.STAR and self._shortlists is not None and self._video is not None:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def setData(self, index: AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.column() != Column.STAR or role != Qt.ItemDataRole.CheckStateRole:
            return False
        return self.set_starred(index.row(), Qt.CheckState(value) == Qt.CheckState.Checked)

    # ---- drag out
    def mimeTypes(self) -> list[str]:
        return [URI_LIST_MIME, OWN_DRAG_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """The dragged rows' files as ``file://`` URLs (each track once, in row order), marked as the app's own."""
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(self._rows[r].path)) for r in rows])
        mime.setData(OWN_DRAG_MIME, b"1")
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    # ---- cell contents
    def _emotion_text(self, s: "Suggestion") -> str:
        if s.emotion is None:
            return "–"  # a single-task model predicts no emotions
        emotion = Emotion(s.emotion)
        mark = f" {MATCH_MARK}" if emotion == self._video_emotion else ""
        return f"{emotion.label}{mark}"

    def match(self, s: "Suggestion") -> int | None:
        """The 0-100 match of a suggestion, None without a scale."""
        return None if self._scale is None else round(self._scale.percent(s.score))

    def _title(self, entry: Entry) -> str:
        s = entry.suggestion
        title = text.track_title(s.title, s.artist, s.path)
        if entry.copies:
            title += f"  · {len(entry.copies) + 1} copies"
        if entry.versions:
            n = len(entry.versions)
            title += f"  · {n} more version{'s' if n > 1 else ''}" if entry.leads_versions else "  · another version"
        return title

    def _display(self, row: int, column: Column) -> str:
        s = self._rows[row]
        if column == Column.RANK:
            return str(s.rank)
        if column == Column.TITLE:
            return self._title(self._entries[row])
        if column == Column.SCORE:
            match = self.match(s)
            return f"{s.score:.3f}" if match is None else str(match)
        if column == Column.ALBUM:
            return s.album or Path(s.path).parent.name
        if column == Column.STAR:
            return STAR if self.is_starred(row) else ""
        if column == Column.SECTION:
            return text.section(s.best_start, s.best_end)
        if column == Column.EMOTION:
            return self._emotion_text(s)
        return text.clock(s.duration)

    def _sort_key(self, row: int, column: Column) -> Any:
        s = self._rows[row]
        if column == Column.RANK:
            return s.rank
        if column in (Column.SCORE, Column.STAR):  # the star column: starred first, then by score
            starred = column == Column.STAR and self.is_starred(row)
            return float(s.score) + (1e6 if starred else 0.0)
        if column == Column.SECTION:
            return float(s.best_start)
        if column == Column.DURATION:
            return float(s.duration or 0.0)
        return self._display(row, column).lower()

    def _tooltip(self, row: int, column: Column) -> str:
        entry = self._entries[row]
        s = entry.suggestion
        why = explain(s, self._video_emotion)
        if column == Column.SCORE:
            match = self.match(s)
            lines = [why.capitalize()] if why else []
            if match is not None:
                lines.append(f"Match {match}/100: better than {match}% of the pairings of real videos and music "
                             "the model was calibrated on")
            lines.append(f"Raw score {s.score:.3f}")
            return "\n".join(lines)
        if column == Column.EMOTION:
            if s.emotion_probs is None:
                return "This model predicts no emotions"
            probs = "Track: " + ", ".join(f"{e.label} {text.percent(float(p))}" for e, p in zip(Emotion, s.emotion_probs))
            return f"{why.capitalize()}\n{probs}" if why else probs
        if column == Column.STAR:
            return "Starred: on the shortlist (Ctrl+D)" if self.is_starred(row) else "Star to shortlist (Ctrl+D)"
        if column == Column.ALBUM:
            return f"Album: {s.album}" if s.album else f"Folder: {Path(s.path).parent}"
        lines = [str(s.path)]
        if entry.copies:
            lines.append("Identical copies (same audio):")
            lines += [f"  {c.path}" for c in entry.copies]
        if entry.versions:
            lines.append("Other versions:")
            lines += [f"  #{v.rank} {text.track_title(v.title, v.artist, v.path)}  ({v.path})" for v in entry.versions]
        return "\n".join(lines)


class ResultsFilter(QSortFilterProxyModel):
    """Sorts by :data:`SORT_ROLE` and keeps the rows that pass the emotion, length and text filters."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self._emotion: Emotion | None = None
        self._min_duration: float | None = None
        self._words: tuple[str, ...] = ()
        self._shortlist_only = False

    def _change_filter(self, name: str, value: Any) -> None:
        """Set one filter attribute and re-filter the rows (Qt >= 6.9 API when there, else the older one)."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            setattr(self, name, value)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # PySide6 < 6.9
            setattr(self, name, value)
            self.invalidateFilter()

    def set_emotion(self, emotion: Emotion | None) -> None:
        self._change_filter("_emotion", emotion)

    def set_min_duration(self, seconds: float | None) -> None:
        """Keep only tracks at least this long (None: any length)."""
        self._change_filter("_min_duration", seconds)

    def set_text(self, needle: str) -> None:
        """Search: every word must match the title, artist, album or file name (a number: or the tempo)."""
        self._change_filter("_words", search.words(needle))

    def set_shortlist_only(self, on: bool) -> None:
        """The Shortlist view: only the starred tracks."""
        self._change_filter("_shortlist_only", bool(on))

    def suggestion(self, proxy_row: int) -> "Suggestion":
        return self.index(proxy_row, 0).data(SUGGESTION_ROLE)

    def _hidden_by(self, source_row: int, s: "Suggestion") -> str | None:
        """The first filter (as the user reads it) that hides the row, None when it is shown."""
        if self._shortlist_only and not self.sourceModel().is_starred(source_row):
            return "the Shortlist view"
        if self._emotion is not None and (s.emotion is None or Emotion(s.emotion) != self._emotion):
            return "the emotion filter"
        if self._min_duration is not None and (s.duration or 0.0) < self._min_duration:
            return "'at least as long as the video'"
        if not search.matches(s, self._words):
            return "the search"
        return None

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        s = self.sourceModel().index(source_row, 0, source_parent).data(SUGGESTION_ROLE)
        return s is not None and self._hidden_by(source_row, s) is None

    def hidden_counts(self) -> dict[str, int]:
        """How many rows each filter hides (each row counted once, by the first filter that hides it)."""
        counts: dict[str, int] = {}
        source = self.sourceModel()
        for row in range(source.rowCount()):
            if (reason := self._hidden_by(row, source.suggestion(row))) is not None:
                counts[reason] = counts.get(reason, 0) + 1
        return counts

    def hidden_summary(self) -> str:
        """E.g. "12 tracks hidden: 9 by 'at least as long as the video', 3 by the search" ("" when none)."""
        counts = self.hidden_counts()
        total = sum(counts.values())
        if not total:
            return ""
        parts = ", ".join(f"{n} by {reason}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        return f"{total} track{'s' if total > 1 else ''} hidden: {parts}"
