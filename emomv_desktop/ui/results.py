"""The ranked tracks: a table model of the engine's suggestions and the proxy that sorts and filters them.

The model only presents ``engine.ranking.Suggestion`` objects; it computes nothing about them. Rows can be
dragged out of the app as file URLs (into an editor's timeline or a file manager).
"""

from __future__ import annotations

import enum
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

from emomv_desktop.engine.emotions import Emotion

from . import text

if TYPE_CHECKING:
    from emomv_desktop.engine.ranking import Suggestion

SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # a number or lower-case text to sort by
SUGGESTION_ROLE = Qt.ItemDataRole.UserRole + 2  # the Suggestion object of the row
URI_LIST_MIME = "text/uri-list"
OWN_DRAG_MIME = "application/x-emomv-desktop-tracks"  # marks a drag that starts in the app: not a drop
MATCH_MARK = "✓"

AnyIndex = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    RANK = 0
    TITLE = 1
    SCORE = 2
    SECTION = 3
    EMOTION = 4
    DURATION = 5

    @property
    def title(self) -> str:
        return _COLUMN_TITLES[self]


_COLUMN_TITLES = {
    Column.RANK: "#",
    Column.TITLE: "Title / artist",
    Column.SCORE: "Match",
    Column.SECTION: "Best section",
    Column.EMOTION: "Emotion",
    Column.DURATION: "Duration",
}

_COLUMN_TIPS = {
    Column.RANK: "Rank by match score (1 = best)",
    Column.TITLE: "Title and artist from the file's tags, else its file name",
    Column.SCORE: ("The model's match score of the video and the track's best section: their cosine similarity in "
                   "the shared space (-1…1), plus their emotion agreement if the model blends it in"),
    Column.SECTION: "The section of the track that matches the video best; the preview starts there",
    Column.EMOTION: "The track's predicted emotion (✓: same as the video's)",
    Column.DURATION: "Length of the whole track",
}

_NUMERIC = {Column.RANK, Column.SCORE, Column.SECTION, Column.DURATION}


class ResultsModel(QAbstractTableModel):
    """Read-only table of suggestions, one row per track, in the engine's rank order."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Suggestion] = []
        self._video_emotion: Emotion | None = None

    # ---- contents
    def set_results(self, suggestions: Sequence["Suggestion"], video_emotion: Emotion | None) -> None:
        self.beginResetModel()
        self._rows = list(suggestions)
        self._video_emotion = video_emotion
        self.endResetModel()
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, Column.EMOTION, Column.EMOTION)

    def clear(self) -> None:
        self.set_results([], None)

    def suggestion(self, row: int) -> "Suggestion":
        return self._rows[row]

    def suggestions(self) -> list["Suggestion"]:
        return list(self._rows)

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
            return self._display(s, column)
        if role == SORT_ROLE:
            return self._sort_key(s, column)
        if role == SUGGESTION_ROLE:
            return s
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(s, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

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

    def _display(self, s: "Suggestion", column: Column) -> str:
        if column == Column.RANK:
            return str(s.rank)
        if column == Column.TITLE:
            return text.track_title(s.title, s.artist, s.path)
        if column == Column.SCORE:
            return f"{s.score:.3f}"
        if column == Column.SECTION:
            return text.section(s.best_start, s.best_end)
        if column == Column.EMOTION:
            return self._emotion_text(s)
        return text.clock(s.duration)

    def _sort_key(self, s: "Suggestion", column: Column) -> Any:
        if column == Column.RANK:
            return s.rank
        if column == Column.SCORE:
            return float(s.score)
        if column == Column.SECTION:
            return float(s.best_start)
        if column == Column.DURATION:
            return float(s.duration or 0.0)
        return self._display(s, column).lower()

    def _tooltip(self, s: "Suggestion", column: Column) -> str:
        if column == Column.EMOTION:
            if s.emotion_probs is None:
                return "This model predicts no emotions"
            return "Track: " + ", ".join(
                f"{e.label} {text.percent(float(p))}" for e, p in zip(Emotion, s.emotion_probs)
            )
        return str(s.path)


class ResultsFilter(QSortFilterProxyModel):
    """Sorts by :data:`SORT_ROLE` and keeps the rows that pass the emotion, length and text filters."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self._emotion: Emotion | None = None
        self._min_duration: float | None = None
        self._text = ""

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
        """Case-insensitive search in title, artist, album and path."""
        self._change_filter("_text", needle.strip().casefold())

    def suggestion(self, proxy_row: int) -> "Suggestion":
        return self.index(proxy_row, 0).data(SUGGESTION_ROLE)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        s = self.sourceModel().index(source_row, 0, source_parent).data(SUGGESTION_ROLE)
        if s is None:
            return False
        if self._emotion is not None and (s.emotion is None or Emotion(s.emotion) != self._emotion):
            return False
        if self._min_duration is not None and (s.duration or 0.0) < self._min_duration:
            return False
        if self._text:
            haystack = " ".join(str(v or "") for v in (s.title, s.artist, s.album, s.path)).casefold()
            if self._text not in haystack:
                return False
        return True
